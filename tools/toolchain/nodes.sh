#!/usr/bin/env bash
# Build what real kubelet nodes need (tools/clusters/up.sh --nodes real), from Go modules and
# Debian's C compiler, each cached by version under ${MMC_CACHE_DIR:-~/.cache/mysql-multicluster}:
#   k8s-nodes-<k8s>/bin/{kubelet,kube-proxy}  <- k8s.io/kubernetes, the same wrapper module and
#                                               ldflags as tools/toolchain/k8s.sh (shared Go cache)
#   coredns-<v>/bin/coredns                   <- github.com/coredns/coredns
#   pause-<sha of pause.c>/pause              <- tools/nodes/pause.c, static
# Prints three lines: the node bin dir, the coredns bin dir, the pause binary.
# Needs the control-plane toolchain first (its wrapper go.mod): run tools/toolchain/k8s.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
K8S_VERSION="${MMC_K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${MMC_ETCD_VERSION:-v3.6.5}"
KWOK_VERSION="${MMC_KWOK_VERSION:-v0.8.0}"
COREDNS_VERSION="${MMC_COREDNS_VERSION:-v1.14.7}"
CACHE_ROOT="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}"
CP_DIR="$CACHE_ROOT/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}"
NODE_DIR="$CACHE_ROOT/k8s-nodes-${K8S_VERSION}"
DNS_DIR="$CACHE_ROOT/coredns-${COREDNS_VERSION}"
PAUSE_SRC="$ROOT/tools/nodes/pause.c"
PAUSE_DIR="$CACHE_ROOT/pause-$(sha256sum "$PAUSE_SRC" | cut -c1-12)"

log() { echo "[toolchain/nodes] $*" >&2; }
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0

build_node_binaries() {
  if [[ -f "$NODE_DIR/.complete" ]] && [[ "$("$NODE_DIR/bin/kubelet" --version 2>/dev/null)" == "Kubernetes $K8S_VERSION" ]] \
     && [[ "$("$NODE_DIR/bin/kube-proxy" --version 2>/dev/null)" == "Kubernetes $K8S_VERSION" ]]; then
    log "cached: $NODE_DIR/bin"; return 0
  fi
  [[ -f "$CP_DIR/.complete" && -f "$CP_DIR/src/go.mod" ]] \
    || { log "the control-plane toolchain is not built ($CP_DIR): run tools/toolchain/k8s.sh first"; return 1; }
  local start work ldflags pkg major minor
  start=$(date +%s)
  work="$NODE_DIR/src"
  rm -rf "$work"; mkdir -p "$work" "$NODE_DIR/bin"
  # The same module graph as the control plane: the Go build cache is shared.
  cp "$CP_DIR/src/go.mod" "$work/go.mod"
  [[ -f "$CP_DIR/src/go.sum" ]] && cp "$CP_DIR/src/go.sum" "$work/go.sum"
  major="${K8S_VERSION#v}"; major="${major%%.*}"
  minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-$K8S_VERSION"
  done
  log "building kubelet kube-proxy $K8S_VERSION"
  (cd "$work" && go build -mod=mod -trimpath -ldflags "$ldflags" -o "$NODE_DIR/bin/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  [[ "$("$NODE_DIR/bin/kubelet" --version)" == "Kubernetes $K8S_VERSION" ]] || { log "kubelet reports a wrong version"; return 1; }
  echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - start ))s" > "$NODE_DIR/.complete"
  log "kubelet, kube-proxy built in $(( $(date +%s) - start ))s"
}

build_coredns() {
  if [[ -f "$DNS_DIR/.complete" ]] && [[ "$("$DNS_DIR/bin/coredns" -version 2>/dev/null)" == *"CoreDNS-${COREDNS_VERSION#v}"* ]]; then
    log "cached: $DNS_DIR/bin/coredns"; return 0
  fi
  local start; start=$(date +%s)
  mkdir -p "$DNS_DIR/bin"
  log "building coredns $COREDNS_VERSION (a few minutes cold)"
  GOBIN="$DNS_DIR/bin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  [[ "$("$DNS_DIR/bin/coredns" -version)" == *"CoreDNS-${COREDNS_VERSION#v}"* ]] || { log "coredns reports a wrong version"; return 1; }
  echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - start ))s" > "$DNS_DIR/.complete"
}

build_pause() {
  [[ -x "$PAUSE_DIR/pause" ]] && { log "cached: $PAUSE_DIR/pause"; return 0; }
  command -v gcc >/dev/null || { log "gcc is required for the pause binary (apt-get install gcc libc6-dev)"; return 1; }
  mkdir -p "$PAUSE_DIR"
  gcc -Os -static -o "$PAUSE_DIR/pause.tmp" "$PAUSE_SRC"
  mv "$PAUSE_DIR/pause.tmp" "$PAUSE_DIR/pause"
}

case "${1:-all}" in
  all) build_node_binaries; build_coredns; build_pause ;;
  coredns) build_coredns ;;
  *) log "usage: nodes.sh [all|coredns]"; exit 2 ;;
esac
echo "$NODE_DIR/bin"
echo "$DNS_DIR/bin"
echo "$PAUSE_DIR/pause"
