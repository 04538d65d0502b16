# shellcheck shell=bash disable=SC2034  # settings used by up.sh and down.sh
# Shared settings for tools/clusters/{up,down}.sh (sourced, not executed).
# Three single-node-control-plane clusters on 127.0.0.1, each with its own
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a KWOK
# controller that plays the kubelets of the fake nodes.

MMC_CLUSTERS_DIR="${MMC_CLUSTERS_DIR:-$HOME/.cache/mysql-multicluster/clusters}"
# Ports of cluster N are MMC_PORT_BASE + N*1000 + {379 etcd client, 380 etcd peer,
# 443 apiserver, 257 controller-manager, 259 scheduler, 247 kwok metrics}.
MMC_PORT_BASE="${MMC_PORT_BASE:-20000}"
CLUSTERS=(cluster1 cluster2 cluster3)
# Node names the dev stack uses (Pulumi.dev.yaml), two per cluster.
declare -A CLUSTER_NODES=(
  [cluster1]="kosmoscluster1-1 kosmoscluster1-2"
  [cluster2]="kosmoscluster2-1 kosmoscluster2-2"
  [cluster3]="kosmoscluster3-1 kosmoscluster3-2"
)
# Start order; down.sh stops in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { echo "[clusters $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cluster_index() { echo "${1#cluster}"; }
port() { # port <cluster> <suffix>
  echo $(( MMC_PORT_BASE + $(cluster_index "$1") * 1000 + $2 ))
}
context_name() { echo "kosmos-$1"; }

# pid of a running component, or nothing. A pid only counts if the process
# still runs the binary we started (guards against pid reuse).
component_pid() { # component_pid <cluster> <component>
  local pf="$MMC_CLUSTERS_DIR/$1/run/$2.pid" pid exe
  [[ -f "$pf" ]] || return 0
  pid="$(cat "$pf")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
  exe="$(tr '\0' '\n' < "/proc/$pid/cmdline" | head -n1)"
  if [[ "$exe" == */"$2" ]] && tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qF -- "$MMC_CLUSTERS_DIR/$1/"; then
    echo "$pid"
  fi
}

# Processes whose command line references the state directory: what must be
# empty after down.sh.
leftover_pids() { pgrep -f -- "$MMC_CLUSTERS_DIR/cluster[0-9]/" || true; }
