#!/usr/bin/env bash
# replicate sidecar: decides, once per server start, what this member is, then watches it.
#
# Decision (the server always starts read-only, see the base config):
#   * it has a replication channel (persisted in the data directory)   -> replica, keep it;
#   * a freshly seeded volume (.mmc-seed-gtid)                          -> take the donor's GTID position;
#   * another member is writable                                         -> replica of that primary;
#   * this is MMC_PRIMARY_ORDINAL, or MMC_WRITE_HOST is this server      -> primary: users, semi-sync, writable;
#   * otherwise                                                          -> replica of MMC_WRITE_HOST.
# Demotion never happens here (only switchover.sh demotes), so there is never a second writer.
# Watching: a replica whose primary no longer serves its GTID position (error 1236: purged binlogs,
# diverged history) marks the volume untrusted and shuts the server down: run.sh/init.sh re-seed it.
# shellcheck source=lib-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=lib-sql.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-sql.sh"
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
# shellcheck source=lib-repl.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-repl.sh"

server_instance() { # changes on every server start
    local pidf="$MMC_RUN_DIR/mysqld.pid"
    [ -f "$pidf" ] || { echo none; return; }
    printf '%s-%s' "$(cat "$pidf" 2>/dev/null)" "$(stat -c %Y "$pidf" 2>/dev/null)"
}

# Finds a writable member other than this one; prints its host.
writable_peer() {
    local cred kv o h out me ro sid
    cred=$(mmc_repl_cred) || return 1
    me=$(mmc_server_id)
    for kv in $MMC_PEERS; do
        o=${kv%%=*} h=${kv#*=}
        [ "$o" = "$(mmc_ordinal)" ] && continue
        out=$(mmc_ro_and_id "$cred" "$h" 2>/dev/null) || continue
        read -r ro sid <<<"$out"
        if [ "$ro" = 0 ] && [ "$sid" != "$me" ]; then echo "$h"; return 0; fi
    done
    return 1
}

apply_seed_position() {
    [ -f "$MMC_SEED_GTID" ] || return 0
    local g
    g=$(tr -d ' \n' <"$MMC_SEED_GTID")
    mmc_q "$(mmc_sql_seed_position "$g")" || { mmc_log "could not apply the seed GTID position '$g'"; return 1; }
    rm -f "$MMC_SEED_GTID"
    mmc_log "seeded volume starts at GTID position '${g:-from clone}'"
}

become_replica_of() {
    local host=$1 mode=${2:-slave_pos}
    mmc_log "replicating from $host (GTID, $mode)"
    { mmc_sql_demote; mmc_sql_point_to "$host" "$mode"; } | mmc_sql_local --force 2>&1 | mmc_redact | grep -v -i 'no master connection\|not configured\|slave is not running\|replica is not running' >&2
}

become_primary() {
    mmc_log "this member is the primary: ensuring users, semi-sync, writable"
    mmc_sql_users | mmc_sql_local || { mmc_log "could not create users"; return 1; }
    mmc_sql_promote | mmc_sql_local --force 2>/dev/null
    local ro
    ro=$(mmc_q 'SELECT @@GLOBAL.read_only')
    [ "$ro" = 0 ] || { mmc_log "promotion did not take"; return 1; }
}

decide() {
    apply_seed_position || return 1
    local st
    st=$(mmc_replica_status) || return 1
    if [ -n "$(mmc_field host "$st")" ]; then
        mmc_log "replica of $(mmc_field host "$st") (channel kept from the data directory)"
        if [ "$(mmc_field io "$st")" != Yes ] || [ "$(mmc_field sql "$st")" != Yes ]; then
            mmc_q "$(mmc_sql_start_replica)" || true
        fi
        return 0
    fi
    local ro
    ro=$(mmc_q 'SELECT @@GLOBAL.read_only') || return 1
    if [ "$ro" = 0 ]; then mmc_log "already writable primary"; return 0; fi
    local w wh_ro="" wh_sid="" me out cred
    me=$(mmc_server_id)
    cred=$(mmc_repl_cred) || return 1
    if out=$(mmc_ro_and_id "$cred" "$MMC_WRITE_HOST" 2>/dev/null); then
        read -r wh_ro wh_sid <<<"$out"
    fi
    if w=$(writable_peer); then
        if [ "$wh_ro" = 0 ] && [ -n "$wh_sid" ] && [ "$wh_sid" != "$me" ]; then
            mmc_log "the write host is writable: this member replicates from it"
            become_replica_of "$MMC_WRITE_HOST"
        else
            mmc_log "member $w is writable (the write host is not): this member replicates from it"
            become_replica_of "$w"
        fi
        return 0
    fi
    if mmc_is_primary_ordinal || [ "$wh_sid" = "$me" ]; then
        become_primary
        return
    fi
    become_replica_of "$MMC_WRITE_HOST"
}

request_reseed() {
    local why=$1
    mmc_log "re-seed needed: $why"
    printf '%s at %s\n' "$why" "$(date -u +%FT%TZ)" >"$MMC_UNTRUSTED"
    sync -- "$MMC_UNTRUSTED" "$MMC_DATADIR" 2>/dev/null || sync
    mmc_q 'SHUTDOWN' || true
}

# Watches a decided member. Status 10: it asked for a re-seed (decide again after the restart).
watch() {
    local st host msg cred
    st=$(mmc_replica_status) || return 0
    host=$(mmc_field host "$st")
    [ -n "$host" ] || return 0
    mmc_needs_reseed "$st" || return 0
    msg="$(mmc_field io_error "$st") $(mmc_field sql_error "$st")"
    cred=$(mmc_repl_cred) || return 0
    if mmc_engine_ahead_of_primary "$cred" "$host"; then
        mmc_log "ERROR: primary $host is behind this replica; NOT re-seeding from it (would lose data): $msg"
        return 0
    fi
    request_reseed "primary $host no longer serves this position: io=$(mmc_field io_errno "$st") sql=$(mmc_field sql_errno "$st") $msg"
    return 10
}

main() {
    set -uo pipefail
    mmc_env_load replicate || exit 2
    mmc_tmp_init || exit 1
    local interval=${MMC_REPLICATE_INTERVAL_SECONDS:-2} decided_for="" inst
    mmc_log "started (ordinal $(mmc_ordinal), primary ordinal $MMC_PRIMARY_ORDINAL, write host $MMC_WRITE_HOST)"
    while :; do
        mmc_load_topology || mmc_log "topology file unreadable; keeping the values read before"
        if mmc_local_alive; then
            inst=$(server_instance)
            if [ "$inst" != "$decided_for" ]; then
                if decide; then decided_for=$inst; else mmc_log "decision failed; retrying"; fi
            else
                watch || decided_for=""
            fi
        fi
        if [ -n "${MMC_REPLICATE_ONCE:-}" ]; then break; fi
        mmc_sleep "$interval"
    done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
