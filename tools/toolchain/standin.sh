#!/usr/bin/env bash
# Build (or reuse) one of this repo's TEST-ONLY provider stand-ins (tools/toolchain/<name>-standin, Go)
# and install it where the engine looks for the real provider. random-standin.sh and tls-standin.sh call it.
#
#   bash tools/toolchain/standin.sh <name> <plugins dir> <version> <pulumi sdk version>
#       builds into $CACHE/<name>-standin-<key>/ (key: the hash of its sources and standin-base's, the version, Go's version)
#       and installs <plugins dir>/resource-<name>-v<version>/pulumi-resource-<name> (+ STAND-IN.txt)
#   bash tools/toolchain/standin.sh <name> --test      # go test of the stand-in
#
# The stand-in's go.mod must require github.com/pulumi/pulumi/sdk/v3 at the CLI's release: checked here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAME="${1:?stand-in name (random, tls)}"
shift
SRC="$HERE/$NAME-standin"
CACHE="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}"
note() { printf '[%s-standin] %s\n' "$NAME" "$*" >&2; }

[[ -f "$SRC/go.mod" ]] || { note "no stand-in source at $SRC"; exit 1; }
command -v go >/dev/null || { note "go is not installed: the stand-in cannot be built or tested"; exit 1; }
export GOFLAGS="-buildvcs=false -mod=readonly"
# As in pulumi.sh: the checksum database here answers 404 for recent github.com/pulumi modules;
# they are checked against the committed go.sum.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/pulumi/*"
export CGO_ENABLED=0 GOTOOLCHAIN=local

if [[ "${1:-}" == "--test" ]]; then
  cd "$SRC" && exec go test -count=1 ./...
fi

PLUGINS="${1:?plugins dir}" VERSION="${2:?version}" SDK="${3:?pulumi sdk version}"
if ! grep -qE "^[[:space:]]*(require[[:space:]]+)?github.com/pulumi/pulumi/sdk/v3 v${SDK//./\\.}\$" "$SRC/go.mod"; then
  note "$NAME-standin/go.mod does not require github.com/pulumi/pulumi/sdk/v3 v$SDK (the CLI's release): update it (go get ...@v$SDK && go mod tidy)"
  exit 1
fi
# The key covers the stand-in's own sources and the plumbing they share (standin-base, without its test helpers).
sources() { local f; for f in go.mod go.sum schema.json *.go ../standin-base/go.mod ../standin-base/*.go; do [[ "$f" == *_test.go ]] || printf '%s\n' "$f"; done; }
KEY="$(cd "$SRC" && sources | xargs cat | sha256sum | cut -c1-16)-v$VERSION-$(go env GOVERSION)"
OUT="$CACHE/$NAME-standin-$KEY"
BIN="$OUT/pulumi-resource-$NAME"
if [[ ! -x "$BIN" ]]; then
  mkdir -p "$OUT"
  t0=$(date +%s)
  note "building the stand-in v$VERSION (sdk v$SDK) -> $BIN"
  (cd "$SRC" && go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$BIN.tmp" .) >"$OUT/build.log" 2>&1 \
    || { tail -n 30 "$OUT/build.log" >&2; note "build failed (log $OUT/build.log)"; exit 1; }
  mv "$BIN.tmp" "$BIN"
  note "built in $(($(date +%s) - t0))s"
fi
DEST="$PLUGINS/resource-$NAME-v$VERSION"
if [[ ! -x "$DEST/pulumi-resource-$NAME" || "$(head -1 "$DEST/STAND-IN.txt" 2>/dev/null)" != "$KEY" ]]; then
  mkdir -p "$DEST"
  cp "$BIN" "$DEST/pulumi-resource-$NAME.tmp" && mv "$DEST/pulumi-resource-$NAME.tmp" "$DEST/pulumi-resource-$NAME"
  printf '%s\nTEST-ONLY STAND-IN for pulumi-resource-%s v%s, built from mysql-multicluster tools/toolchain/%s-standin (not the real provider).\n' "$KEY" "$NAME" "$VERSION" "$NAME" >"$DEST/STAND-IN.txt"
fi
echo "$DEST/pulumi-resource-$NAME"
