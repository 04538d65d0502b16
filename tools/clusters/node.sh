#!/usr/bin/env bash
# Fault injection for the real-node tier (test infrastructure): stop or start ONE real node of the
# clusters that `up.sh --nodes real` started, as a machine that loses power and comes back would.
#   node.sh stop <node>    kubelet and kube-proxy killed, containerd killed, then every process left in
#                          the node's cgroups (the pods' containers) SIGKILLed. The API objects, the
#                          node's network namespace and its volumes (/data/mysql) stay.
#   node.sh start <node>   containerd, kubelet, kube-proxy started again; kubelet restarts the pods
#                          bound to the node from their API objects.
#   MMC_CLUSTERS_DIR       the real clusters' state directory (as for up.sh)
# No -e: the sourced helpers (node_cluster, node_stop) use status-returning tests.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=nodes.sh
source "$HERE/nodes.sh"
action="${1:-}" n="${2:-}"
[[ "$action" == stop || "$action" == start ]] || die "usage: node.sh stop|start <node>"
c="$(node_cluster "$n" || true)"
[[ -n "$c" ]] || die "node: \"$n\" is not a node of ${CLUSTERS[*]}"
[[ -f "$MMC_CLUSTERS_DIR/nodes-mode" && "$(cat "$MMC_CLUSTERS_DIR/nodes-mode")" == real ]] \
  || die "MMC_CLUSTERS_DIR=$MMC_CLUSTERS_DIR: no real-node clusters there (npm run clusters:up -- --nodes real)"
(( EUID == 0 )) || die "node.sh: needs root"
case "$action" in
  stop)
    log "$c: stopping real node $n (kubelet, kube-proxy, containerd, every container)"
    node_stop "$n" || die "$n: processes left in its cgroups: $(node_cgroup_pids "$n" | paste -sd' ')" ;;
  start)
    bin="$(bash "$HERE/../toolchain/nodes.sh" | sed -n 1p)"
    [[ -x "$bin/kubelet" ]] || die "no kubelet build (tools/toolchain/nodes.sh)"
    node_start "$n" "$c" "$bin"
    for _ in $(seq 1 100); do [[ -n "$(node_launcher_pid "$n")" ]] && break; sleep 0.1; done
    [[ -n "$(node_launcher_pid "$n")" ]] || die "$n: did not start (see $(node_dir "$n")/logs/node.log)" ;;
esac
