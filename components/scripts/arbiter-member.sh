#!/usr/bin/env bash
# The arbiter's voter membership follows the config (README "Automatic failover"): run in every arbiter
# pod with the set's database image (bash; etcd's own image has no shell), speaking etcd's JSON gateway
# through lib-arbiter.sh. Decisions: lib-arbiter-member.sh. Two modes:
#   arbiter-member.sh join FLAGS...  (init container) writes etcd's configuration file
#       ($MMC_ARB_ETCD_CONFIG) from etcd's flags, with the initial cluster decided: a voter with data
#       keeps its identity; a voter new to a running arbiter adds itself (member add) and starts
#       "existing" with the members the arbiter returned; the arbiter's first start bootstraps from the
#       ConfigMap; a joining voter that reaches no running voter waits (never a cluster of its own).
#   arbiter-member.sh watch           (sidecar) every MMC_ARB_WATCH_SECONDS: a member whose cluster left
#       the voter set (the mounted ConfigMap's initial-cluster) is removed, one at a time, never below 3
#       voters, only while the voters that stay have a quorum (etcd's strict reconfiguration check
#       refuses the rest too).
# Inputs: MMC_ARB_NAME (this voter's name: its cluster), MMC_ARB_CONFIG_DIR (the ConfigMap `<set>-arbiter`
# mounted: initial-cluster, initial-cluster-state), MMC_ARB_DATA_DIR (etcd's data directory),
# MMC_ARB_ETCD_CONFIG (join: the file to write), MMC_ARB_CLIENT_PORT (2379), MMC_ARB_LOCAL (watch: this
# voter's client host:port, default 127.0.0.1:2379), MMC_ARB_WATCH_SECONDS (10), MMC_ARB_TIMEOUT.
# shellcheck source=lib-arbiter.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-arbiter.sh"
# shellcheck source=lib-arbiter-member.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-arbiter-member.sh"

log() { printf '%s [arbiter-member] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$*" >&2; }
die() { log "$*"; exit 2; }

desired() { # -> the ConfigMap's initial-cluster (re-read: the kubelet refreshes a mounted ConfigMap)
    local d
    d=$(cat "$CFG/initial-cluster" 2>/dev/null) && [ -n "$d" ] || { log "the ConfigMap's initial-cluster is unreadable or empty"; return 1; }
    echo "$d"
}

# arb_at ENDPOINTS PATH JSON : mmc_arb_call against those endpoints only, in that order (the answer in
# MMC_ARB_OUT).
arb_at() {
    # shellcheck disable=SC2034 # read by mmc_arb_call (lib-arbiter.sh)
    local MMC_ARBITER_ENDPOINTS=$1 MMC_ARB_LAST=""
    mmc_arb_call "$2" "$3"
}
# members_of ENDPOINTS -> mmc_am_members lines from the first voter that answers (a linearizable read:
# only a voter inside a quorum answers, so an answer means a running arbiter); status 1: none did.
members_of() {
    arb_at "$1" /v3/cluster/member/list '{"linearizable":true}' || return 1
    mmc_am_members "$MMC_ARB_OUT"
}

join() {
    local d state url data=0 members verdict last="" others="" n init v
    [ -n "${MMC_ARB_ETCD_CONFIG:-}" ] || die "MMC_ARB_ETCD_CONFIG must name etcd's configuration file"
    [ -n "${MMC_ARB_DATA_DIR:-}" ] || die "MMC_ARB_DATA_DIR must name etcd's data directory"
    d=$(desired) || exit 1
    state=$(cat "$CFG/initial-cluster-state" 2>/dev/null)
    case $state in new | existing) ;; *) die "the ConfigMap's initial-cluster-state must be new or existing, got '$state'" ;; esac
    url=$(mmc_am_desired_url "$d" "$ME") || die "voter $ME is not in the ConfigMap's initial-cluster ($d)"
    [ -d "$MMC_ARB_DATA_DIR/member" ] && data=1
    while :; do
        members=""
        if [ "$data" = 0 ]; then
            others=""
            for n in $(mmc_am_desired_names "$d"); do
                [ "$n" = "$ME" ] || others+=" $(mmc_am_client_of "$(mmc_am_desired_url "$d" "$n")" "$PORT")"
            done
            members=$(members_of "$others") || members=""
        fi
        verdict=$(mmc_am_join_verdict "$data" "$state" "$members" "$ME" "$url")
        case $verdict in
            keep) init=$d state=existing ;;
            bootstrap) init=$d ;;
            join) init=$(mmc_am_initial_cluster "$members" "$d" "$ME" "$url") state=existing ;;
            add)
                if ! arb_at "$others" /v3/cluster/member/add "{\"peerURLs\":[\"$url\"]}"; then
                    v="the arbiter refused or did not answer member add of $ME ($url): ${MMC_ARB_OUT:-no answer}"
                    [ "$v" = "$last" ] || log "$v; trying again"
                    last=$v; sleep 5; continue
                fi
                members=$(mmc_am_members "$MMC_ARB_OUT") || { log "member add answered without a member list"; sleep 5; continue; }
                log "added $ME ($url) to the running arbiter"
                init=$(mmc_am_initial_cluster "$members" "$d" "$ME" "$url") state=existing
                ;;
            *)
                [ "$verdict" = "$last" ] || log "${verdict#wait: }"
                last=$verdict; sleep 5; d=$(desired) || exit 1; continue
                ;;
        esac
        break
    done
    mmc_am_etcd_config "$ME" "$init" "$state" "$@" >"$MMC_ARB_ETCD_CONFIG.new" && mv -f "$MMC_ARB_ETCD_CONFIG.new" "$MMC_ARB_ETCD_CONFIG" || die "cannot write $MMC_ARB_ETCD_CONFIG"
    log "voter $ME: $verdict; etcd starts $state with initial cluster $init"
}

watch() {
    local d members id name peer healthy verdict last="" every=${MMC_ARB_WATCH_SECONDS:-10}
    [[ $every =~ ^[1-9][0-9]*$ ]] || die "MMC_ARB_WATCH_SECONDS must be a positive integer, got '$every'"
    log "watching the voter set of $CFG/initial-cluster (voter $ME, every $every s)"
    while :; do
        if d=$(desired) && members=$(members_of "${MMC_ARB_LOCAL:-127.0.0.1:$PORT}") && [ -n "$members" ]; then
            healthy=""
            while read -r id name peer; do
                [ "$name" != - ] || continue
                if arb_at "$(mmc_am_client_of "$peer" "$PORT")" /v3/maintenance/status '{}' && [[ $MMC_ARB_OUT == *'"leader":"'[1-9]* ]]; then healthy+=" $id"; fi
            done <<<"$members"
            verdict=$(mmc_am_change_verdict "$ME" "$d" "$members" "$healthy")
            case $verdict in
                "remove "*)
                    read -r _ id name <<<"$verdict"
                    if arb_at "${MMC_ARB_LOCAL:-127.0.0.1:$PORT}" /v3/cluster/member/remove "{\"ID\":\"$id\"}"; then
                        log "removed voter $name (member $id): its cluster left the voter set"
                    else log "member remove of $name ($id) refused or unanswered; trying again"; fi
                    ;;
                *) [ "$verdict" = "$last" ] || log "voter set: $verdict" ;;
            esac
            last=$verdict
        fi
        sleep "$every"
    done
}

# Globals of main, seen by the functions above: ME (this voter), CFG (the ConfigMap's directory), PORT.
main() {
    set -uo pipefail
    ME=${MMC_ARB_NAME:-} CFG=${MMC_ARB_CONFIG_DIR:-} PORT=${MMC_ARB_CLIENT_PORT:-2379}
    [[ $ME =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "MMC_ARB_NAME must be a cluster name, got '$ME'"
    if [ -z "$CFG" ] || [ ! -d "$CFG" ]; then die "MMC_ARB_CONFIG_DIR must be the mounted arbiter ConfigMap, got '$CFG'"; fi
    [[ $PORT =~ ^[0-9]+$ ]] || die "MMC_ARB_CLIENT_PORT must be a port number, got '$PORT'"
    case ${1:-} in
        join) shift; join "$@" ;;
        watch) watch ;;
        *) die "usage: arbiter-member.sh join ETCD_FLAGS... | watch (got '${1:-}')" ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
