#!/usr/bin/env bash
# Build (or reuse) the TEST-ONLY stand-in for pulumi-resource-tls (tools/toolchain/tls-standin)
# and install it where the engine looks for the real one (tools/toolchain/standin.sh does the work).
#
#   bash tools/toolchain/tls-standin.sh <plugins dir> <version> <pulumi sdk version>
#       builds into $CACHE/tls-standin-<key>/ (key: the source's hash, the version, Go's version)
#       and installs <plugins dir>/resource-tls-v<version>/pulumi-resource-tls (+ STAND-IN.txt)
#   bash tools/toolchain/tls-standin.sh --test      # go test of the stand-in
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/standin.sh" tls "$@"
