#!/usr/bin/env bash
# npm run toolchain: build every external tool the project's tests need, from
# package registries only, into ${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}.
# Each script is idempotent and returns in seconds when its cache is complete.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/k8s.sh"
if [[ -f "$here/pulumi.sh" ]]; then
  bash "$here/pulumi.sh"
fi
