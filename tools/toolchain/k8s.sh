#!/usr/bin/env bash
# Build the Kubernetes control-plane toolchain used by tools/clusters/*.sh and
# test/controlplane from Go modules (no release downloads):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  <- k8s.io/kubernetes
#   etcd                                                              <- go.etcd.io/etcd/server/v3
#   kwok                                                              <- sigs.k8s.io/kwok
# Output: ${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}/k8s-<k8s>-etcd-<etcd>-kwok-<kwok>/bin
# A completed build is marked with a stamp file; later runs only verify it.
# KWOK's standalone controller has no built-in behaviour: it needs Stage objects.
# We use the default stages that ship in the pinned sigs.k8s.io/kwok module
# (the ones kwokctl loads), extracted from the Go module cache at build time
# into <dir>/kwok-stages.yaml.
# Prints the bin directory on the last line of stdout.
set -euo pipefail

K8S_VERSION="${MMC_K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${MMC_ETCD_VERSION:-v3.6.5}"   # what k8s.io/kubernetes v1.35.x itself requires
KWOK_VERSION="${MMC_KWOK_VERSION:-v0.8.0}"

CACHE_ROOT="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}"
TOOLS_DIR="$CACHE_ROOT/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}"
BIN="$TOOLS_DIR/bin"
STAMP="$TOOLS_DIR/.complete"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

log() { echo "[toolchain/k8s] $*" >&2; }

verify() {
  local b
  for b in "${BINARIES[@]}"; do
    [[ -x "$BIN/$b" ]] || { log "missing $BIN/$b"; return 1; }
  done
  local v
  v="$("$BIN/kube-apiserver" --version)"
  [[ "$v" == "Kubernetes $K8S_VERSION" ]] || { log "kube-apiserver --version says '$v', want 'Kubernetes $K8S_VERSION'"; return 1; }
  # Outputs are captured before matching: `cmd | grep -q` under pipefail fails at random when grep
  # exits first and cmd dies of SIGPIPE, which made a complete cache look broken and rebuilt it.
  v="$("$BIN/kubectl" version --client -o json)"
  grep -q "\"gitVersion\": \"$K8S_VERSION\"" <<<"$v" \
    || { log "kubectl reports wrong version"; return 1; }
  v="$("$BIN/etcd" --version)"
  grep -q "etcd Version: ${ETCD_VERSION#v}" <<<"$v" || { log "etcd reports wrong version"; return 1; }
  "$BIN/kwok" --version >/dev/null 2>&1 || "$BIN/kwok" --help >/dev/null 2>&1 || { log "kwok does not run"; return 1; }
}

STAGES="$TOOLS_DIR/kwok-stages.yaml"
write_kwok_stages() {
  [[ -s "$STAGES" ]] && return 0
  local dir f
  dir="$(cd /tmp && GOTOOLCHAIN=local go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
  [[ -d "$dir/kustomize/stage" ]] || { log "kwok module source not found ($dir)"; return 1; }
  : > "$STAGES.tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -f "$dir/kustomize/stage/$f" ]] || { log "missing kwok stage $f"; return 1; }
    { echo "---"; cat "$dir/kustomize/stage/$f"; } >> "$STAGES.tmp"
  done
  mv "$STAGES.tmp" "$STAGES"
}

if [[ -f "$STAMP" ]] && verify; then
  write_kwok_stages
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

# One build per cache directory: the CI run, the data-plane tier (its etcd) and the control-plane tests
# may all ask at once; the others wait, then find the stamp.
mkdir -p "$CACHE_ROOT"
exec 9>"$TOOLS_DIR.lock"
flock 9
if [[ -f "$STAMP" ]] && verify 2>/dev/null; then
  write_kwok_stages
  log "cached (built meanwhile): $BIN"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { log "go not found on PATH"; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0
START=$(date +%s)
mkdir -p "$BIN"
WORK="$TOOLS_DIR/src"
rm -rf "$WORK"; mkdir -p "$WORK"

# --- Wrapper module for k8s.io/kubernetes -----------------------------------
# k8s.io/kubernetes replaces every k8s.io/* staging module with ./staging/src/...,
# which is not part of the published module, so a consumer must replace each
# of them with the matching published v0.Y.Z tag.
STAGING_VERSION="v0${K8S_VERSION#v1}"   # v1.35.4 -> v0.35.4
log "downloading k8s.io/kubernetes@$K8S_VERSION go.mod"
KMOD="$(cd "$WORK" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
[[ -f "$KMOD" ]] || { log "could not download k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
mapfile -t STAGING < <(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$KMOD")
(( ${#STAGING[@]} > 10 )) || { log "found only ${#STAGING[@]} staging replaces in $KMOD"; exit 1; }
GOLINE="$(grep -m1 '^go ' "$KMOD")"
{
  echo "module mmc.local/k8s-toolchain"
  echo
  echo "$GOLINE"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $K8S_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo ")"
  echo
  echo "replace ("
  for m in "${STAGING[@]}"; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} > "$WORK/go.mod"
log "wrapper go.mod: ${#STAGING[@]} staging replaces -> $STAGING_VERSION"

# Version stamping (what hack/lib/version.sh does for release builds).
BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
MAJOR="$(echo "$K8S_VERSION" | sed 's/^v\([0-9]*\)\..*/\1/')"
MINOR="$(echo "$K8S_VERSION" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/')"
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$MAJOR -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE -X $pkg.gitCommit=module-$K8S_VERSION"
done

cd "$WORK"
log "resolving modules (go mod download can take a few minutes cold)"
go mod download k8s.io/kubernetes go.etcd.io/etcd/server/v3
log "building kube-apiserver kube-controller-manager kube-scheduler kubectl"
go build -mod=mod -trimpath -ldflags "$LDFLAGS" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl
log "building etcd $ETCD_VERSION"
go build -mod=mod -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
log "installing kwok $KWOK_VERSION"
GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"

verify || { log "verification failed"; exit 1; }
write_kwok_stages
END=$(date +%s)
echo "built $(date -u +%FT%TZ) in $((END-START))s" > "$STAMP"
log "built in $((END-START))s: $BIN"
echo "$BIN"
