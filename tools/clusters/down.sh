#!/usr/bin/env bash
# npm run clusters:down — stop every process tools/clusters/up.sh started
# (by the pids it recorded), then check that none is left.
#   --purge   also delete the clusters' state (etcd data, certificates, logs)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
PURGE=0
for a in "$@"; do
  case "$a" in
    --purge) PURGE=1 ;;
    *) die "unknown argument $a (usage: down.sh [--purge])" ;;
  esac
done

# gone_within <tenths of a second> <label=pid>...: true once none of the processes is alive.
gone_within() {
  local n=$1 item alive; shift
  for _ in $(seq 1 "$n"); do
    alive=0
    for item in "$@"; do kill -0 "${item#*=}" 2>/dev/null && alive=1; done
    (( alive )) || return 0
    sleep 0.1
  done
  return 1
}

# stop_all <label=pid>...: SIGTERM to all, wait up to 15s, then SIGKILL the rest.
stop_all() {
  local item pid
  for item in "$@"; do
    log "stopping ${item%=*} (${item#*=})"
    kill -TERM "${item#*=}" 2>/dev/null || true
  done
  gone_within 150 "$@" && return 0
  for item in "$@"; do
    pid="${item#*=}"
    if kill -0 "$pid" 2>/dev/null; then
      log "${item%=*} ($pid) ignored SIGTERM for 15s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  gone_within 50 "$@" && return 0
  die "processes do not exit: $*"
}

# Real nodes first (up.sh --nodes real): their kubelets would otherwise restart what is stopped.
# Only when THIS state directory runs them: the KWOK tier's down.sh (another directory) must leave the
# real-node clusters (their bridge mmcbr0, namespaces, kubelets) alone.
if [[ -d "$MMC_CLUSTERS_DIR" ]] && [[ "$(cat "$MMC_CLUSTERS_DIR/nodes-mode" 2>/dev/null)" == real ]]; then
  # shellcheck source=nodes.sh
  source "$HERE/nodes.sh"
  real_nodes_down || die "real nodes did not stop cleanly"
fi

# Tiers, stopped in parallel across clusters: kwok/scheduler/controller-manager
# first, then the API servers, then etcd.
if [[ -d "$MMC_CLUSTERS_DIR" ]]; then
  for tier in "kwok kube-scheduler kube-controller-manager" "kube-apiserver" "etcd"; do
    items=()
    for c in "${CLUSTERS[@]}"; do
      for comp in $tier; do
        pid="$(component_pid "$c" "$comp")"
        [[ -n "$pid" ]] && items+=("$c/$comp=$pid")
      done
    done
    (( ${#items[@]} )) && stop_all "${items[@]}"
    for c in "${CLUSTERS[@]}"; do
      for comp in $tier; do rm -f "$MMC_CLUSTERS_DIR/$c/run/$comp.pid"; done
    done
  done
fi

left="$(leftover_pids)"
if [[ -n "$left" ]]; then
  log "processes still running with state under $MMC_CLUSTERS_DIR:"
  ps -o pid,args -p "$(echo "$left" | paste -sd,)" >&2 || true
  die "clusters are not fully down (these were not started by this up.sh run's pid files; stop them by pid)"
fi
if (( PURGE )); then
  rm -rf "$MMC_CLUSTERS_DIR"
  log "state removed: $MMC_CLUSTERS_DIR"
fi
log "all clusters are down (pgrep finds no process using $MMC_CLUSTERS_DIR)"
