#!/usr/bin/env bash
# Build actionlint (the GitHub Actions workflow linter) from its Go module, no release download:
#   github.com/rhysd/actionlint/cmd/actionlint@$MMC_ACTIONLINT_VERSION
# Output: ${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}/actionlint-<version>-<go version>/bin/actionlint
# A completed build is marked with a stamp file; later runs only verify it (under a second).
# Prints the binary's path on the last line of stdout.
set -euo pipefail

VERSION="${MMC_ACTIONLINT_VERSION:-v1.7.12}"
CACHE_ROOT="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}"
GO_VERSION="$(GOTOOLCHAIN=local go env GOVERSION)"
DIR="$CACHE_ROOT/actionlint-${VERSION}-${GO_VERSION}"
BIN="$DIR/bin/actionlint"
STAMP="$DIR/.complete"

log() { echo "[toolchain/actionlint] $*" >&2; }

verify() {
  [[ -x "$BIN" ]] || return 1
  local v
  v="$("$BIN" -version)"
  grep -q "^${VERSION}$" <<<"$v" || { log "$BIN -version says '$v', want $VERSION"; return 1; }
}

if [[ -f "$STAMP" ]] && verify; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$DIR"
exec 9>"$DIR.lock"
flock 9
if [[ -f "$STAMP" ]] && verify; then
  echo "$BIN"
  exit 0
fi
log "building github.com/rhysd/actionlint/cmd/actionlint@$VERSION with $GO_VERSION"
rm -f "$STAMP"
(cd /tmp && GOTOOLCHAIN=local GOFLAGS=-mod=mod GOBIN="$DIR/bin" \
  go install -ldflags "-s -w -X github.com/rhysd/actionlint.version=$VERSION" "github.com/rhysd/actionlint/cmd/actionlint@$VERSION")
verify
touch "$STAMP"
log "built $BIN"
echo "$BIN"
