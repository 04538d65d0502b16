#!/usr/bin/env bash
# Build (or reuse) the TEST-ONLY stand-in for pulumi-resource-random (tools/toolchain/random-standin)
# and install it where the engine looks for the real one.
#
#   bash tools/toolchain/random-standin.sh <plugins dir> <version> <pulumi sdk version>
#       builds into $CACHE/random-standin-<key>/ (key: the source's hash, the version, Go's version)
#       and installs <plugins dir>/resource-random-v<version>/pulumi-resource-random (+ STAND-IN.txt)
#   bash tools/toolchain/random-standin.sh --test      # go test of the stand-in
#
# The stand-in's go.mod must require github.com/pulumi/pulumi/sdk/v3 at the CLI's release: checked here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$HERE/random-standin"
CACHE="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}"
note() { printf '[random-standin] %s\n' "$*" >&2; }

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
  note "random-standin/go.mod does not require github.com/pulumi/pulumi/sdk/v3 v$SDK (the CLI's release): update it (go get ...@v$SDK && go mod tidy)"
  exit 1
fi
sources() { local f; for f in go.mod go.sum schema.json *.go; do [[ "$f" == *_test.go ]] || printf '%s\n' "$f"; done; }
KEY="$(cd "$SRC" && sources | xargs cat | sha256sum | cut -c1-16)-v$VERSION-$(go env GOVERSION)"
OUT="$CACHE/random-standin-$KEY"
BIN="$OUT/pulumi-resource-random"
if [[ ! -x "$BIN" ]]; then
  mkdir -p "$OUT"
  t0=$(date +%s)
  note "building the stand-in v$VERSION (sdk v$SDK) -> $BIN"
  (cd "$SRC" && go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$BIN.tmp" .) >"$OUT/build.log" 2>&1 \
    || { tail -n 30 "$OUT/build.log" >&2; note "build failed (log $OUT/build.log)"; exit 1; }
  mv "$BIN.tmp" "$BIN"
  note "built in $(($(date +%s) - t0))s"
fi
DEST="$PLUGINS/resource-random-v$VERSION"
if [[ ! -x "$DEST/pulumi-resource-random" || "$(cat "$DEST/STAND-IN.txt" 2>/dev/null | head -1)" != "$KEY" ]]; then
  mkdir -p "$DEST"
  cp "$BIN" "$DEST/pulumi-resource-random.tmp" && mv "$DEST/pulumi-resource-random.tmp" "$DEST/pulumi-resource-random"
  printf '%s\nTEST-ONLY STAND-IN for pulumi-resource-random v%s, built from mysql-multicluster tools/toolchain/random-standin (not the real provider).\n' "$KEY" "$VERSION" >"$DEST/STAND-IN.txt"
fi
echo "$DEST/pulumi-resource-random"
