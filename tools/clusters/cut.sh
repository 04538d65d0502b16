#!/usr/bin/env bash
# Fault injection for the real-node tier (test infrastructure): cut ONE cluster of the clusters that
# `up.sh --nodes real` started off from the others, as a lost inter-site link would, and heal it.
#   cut.sh cut <cluster>     every node of <cluster> drops all traffic from and to the other clusters'
#                            nodes and pods (Services to them included; established connections too).
#                            Inside the cluster, and to its own API server, everything still flows.
#   cut.sh heal <cluster>    the rules removed (nothing to do when the cluster is not cut).
#   cut.sh state <cluster>   prints "cut" or "healed".
#   MMC_CLUSTERS_DIR         the real clusters' state directory (as for up.sh)
# The rules live in the nodes' network namespaces (tools/clusters/nodes.sh cluster_cut): down.sh's
# removal of the namespaces removes them too.
# No -e: the sourced helpers use status-returning tests.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=nodes.sh
source "$HERE/nodes.sh"
action="${1:-}" c="${2:-}"
[[ "$action" == cut || "$action" == heal || "$action" == state ]] || die "usage: cut.sh cut|heal|state <cluster>"
[[ " ${CLUSTERS[*]} " == *" $c "* ]] || die "cluster: \"$c\" is not one of ${CLUSTERS[*]}"
[[ -f "$MMC_CLUSTERS_DIR/nodes-mode" && "$(cat "$MMC_CLUSTERS_DIR/nodes-mode")" == real ]] \
  || die "MMC_CLUSTERS_DIR=$MMC_CLUSTERS_DIR: no real-node clusters there (npm run clusters:up -- --nodes real)"
(( EUID == 0 )) || die "cut.sh: needs root"
case "$action" in
  cut) cluster_cut "$c" || die "$c: cutting it off failed"
       log "$c: cut off from $(cluster_cut_ranges "$c" | paste -sd' ')" ;;
  heal) cluster_heal "$c" || die "$c: healing failed (rules left: nsenter --net=/run/netns/mmc-<node> iptables -S $CUT_CHAIN)"
        log "$c: healed" ;;
  state) cluster_cut_state "$c" ;;
esac
