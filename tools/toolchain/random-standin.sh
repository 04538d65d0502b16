#!/usr/bin/env bash
# Build (or reuse) the TEST-ONLY stand-in for pulumi-resource-random (tools/toolchain/random-standin)
# and install it where the engine looks for the real one (tools/toolchain/standin.sh does the work).
#
#   bash tools/toolchain/random-standin.sh <plugins dir> <version> <pulumi sdk version>
#       builds into $CACHE/random-standin-<key>/ (key: the source's hash, the version, Go's version)
#       and installs <plugins dir>/resource-random-v<version>/pulumi-resource-random (+ STAND-IN.txt)
#   bash tools/toolchain/random-standin.sh --test      # go test of the stand-in
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/standin.sh" random "$@"
