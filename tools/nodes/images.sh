#!/usr/bin/env bash
# The images the real test nodes run, as OCI tars, cached by their inputs under
# ${MMC_CACHE_DIR:-~/.cache/mysql-multicluster}/images/:
#   registry.k8s.io/pause:3.10.1           <- tools/nodes/pause.c (static)
#   registry.k8s.io/coredns/coredns:<v>    <- the CoreDNS binary built from its Go module
#   <migration.kubectlImage default>       <- the toolchain's kubectl (the retire Job's image)
#   <failover.arbiterImage default>        <- the toolchain's etcd (the automatic failover's voters)
#   docker.io/library/mariadb:10.11        <- tools/images/rootfs.sh mariadb (Debian packages)
# usage: images.sh <node bin dir> <coredns bin dir> <pause binary> <kubectl binary> <etcd binary>
# Prints one tar path per line.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DNS_BIN="$2" PAUSE="$3" KUBECTL="$4" ETCD="$5"
CACHE="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}/images"
mkdir -p "$CACHE"
log() { echo "[nodes/images] $*" >&2; }
# The retire Job's image is the program's default (components/config.ts): one source of truth.
KUBECTL_REF="$(sed -n 's/.*kubectlImage.*default("\([^"]*\)").*/\1/p' "$ROOT/components/config.ts" | head -n1)"
[[ -n "$KUBECTL_REF" ]] || { log "cannot read the kubectlImage default from components/config.ts"; exit 1; }
ETCD_REF="$(sed -n 's/.*AUTO_FAILOVER_DEFAULTS.*arbiterImage: "\([^"]*\)".*/\1/p' "$ROOT/components/config.ts" | head -n1)"
[[ -n "$ETCD_REF" ]] || { log "cannot read the arbiterImage default (AUTO_FAILOVER_DEFAULTS) from components/config.ts"; exit 1; }
COREDNS_REF="registry.k8s.io/coredns/coredns:v$("$DNS_BIN/coredns" -version | sed -n 's/^CoreDNS-\([0-9.]*\).*/\1/p')"

key() { cat "$@" "$HERE/oci.sh" | sha256sum | cut -c1-12; }
# single_binary <ref> <binary> <path in image> <entrypoint JSON>
single_binary() {
  local ref="$1" b="$2" at="$3" ep="$4" out
  out="$CACHE/$(echo "$ref" | tr '/:' '__')-$(key "$b").tar"
  if [[ ! -s "$out" ]]; then
    local fs; fs="$(mktemp -d "$CACHE/fs.XXXX")"
    mkdir -p "$fs$(dirname "$at")" "$fs/tmp" "$fs/etc"
    chmod 1777 "$fs/tmp"
    cp "$b" "$fs$at"
    echo "nobody:x:65534:65534:nobody:/:/bin/false" > "$fs/etc/passwd"
    bash "$HERE/oci.sh" "$fs" "$out" "$ref" "$ep"
    rm -rf "$fs"
    log "built $ref"
  fi
  echo "$out"
}
single_binary registry.k8s.io/pause:3.10.1 "$PAUSE" /pause '["/pause"]'
single_binary "$COREDNS_REF" "$DNS_BIN/coredns" /coredns '["/coredns"]'
single_binary "$KUBECTL_REF" "$KUBECTL" /usr/local/bin/kubectl null
single_binary "$ETCD_REF" "$ETCD" /usr/local/bin/etcd '["/usr/local/bin/etcd"]'

# MMC_MARIADB_ROOTFS: an already built root filesystem (tools/images/rootfs.sh's output) instead.
if [[ -n "${MMC_MARIADB_ROOTFS:-}" ]]; then
  ROOTFS="$MMC_MARIADB_ROOTFS"
elif [[ -f "$ROOT/tools/images/rootfs.sh" ]]; then
  ROOTFS="$(bash "$ROOT/tools/images/rootfs.sh" mariadb | tail -n1)"
else
  log "tools/images/rootfs.sh is missing: no MariaDB image (the database pods cannot start)"
  exit 0
fi
[[ -d "$ROOTFS" ]] || { log "no MariaDB root filesystem at '$ROOTFS'"; exit 1; }
out="$CACHE/mariadb_10.11-$(basename "$ROOTFS")-$(key "$HERE/images.sh").tar"
if [[ ! -s "$out" ]]; then
  bash "$HERE/oci.sh" "$ROOTFS" "$out" docker.io/library/mariadb:10.11 null '["mariadbd"]'
  log "built docker.io/library/mariadb:10.11 from $ROOTFS"
fi
echo "$out"
