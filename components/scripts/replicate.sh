#!/usr/bin/env bash
# replicate sidecar: decides, once per server start, what this member is, then watches it.
#
# Decision (the server always starts read-only, see init.sh):
#   * it has a replication channel (persisted in the data directory)   -> replica, keep it;
#   * a freshly seeded volume (.mmc-seed-gtid)                          -> take the donor's GTID position;
#   * another member is writable                                         -> replica of that primary;
#   * this is MMC_PRIMARY_ORDINAL, or MMC_WRITE_HOST is this server      -> primary: users, semi-sync, writable;
#   * otherwise                                                          -> replica of MMC_WRITE_HOST.
# Demotion never happens here (only switchover.sh demotes), so there is never a second writer.
# Watching: a replica whose primary no longer serves its GTID position (error 1236: purged binlogs,
# diverged history) marks the volume untrusted and shuts the server down: run.sh/init.sh re-seed it.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INTERVAL=${MMC_REPLICATE_INTERVAL_SECONDS:-2}
DECIDED_FOR=""

server_instance() { # changes on every server start
    local pidf="$MMC_RUN_DIR/mysqld.pid"
    [ -f "$pidf" ] || { echo none; return; }
    printf '%s-%s' "$(cat "$pidf" 2>/dev/null)" "$(stat -c %Y "$pidf" 2>/dev/null)"
}

# Finds a writable member other than this one; prints its host.
writable_peer() {
    mmc_repl_cred
    local kv o h out me
    me=$(mmc_server_id)
    for kv in ${MMC_PEERS:-}; do
        o=${kv%%=*} h=${kv#*=}
        [ "$o" = "$(mmc_ordinal)" ] && continue
        out=$(MMC_SQL_TIMEOUT=5 mmc_qr "$MMC_REPL_CRED" "$h" "SELECT @@GLOBAL.read_only, @@GLOBAL.server_id" 2>/dev/null) || continue
        read -r ro sid <<<"$out"
        if [ "$ro" = 0 ] && [ "$sid" != "$me" ]; then echo "$h"; return 0; fi
    done
    return 1
}

apply_seed_position() {
    [ -f "$MMC_SEED_GTID" ] || return 0
    local g; g=$(tr -d ' \n' <"$MMC_SEED_GTID")
    if [ "$MMC_ENGINE" = mariadb ]; then
        # binlogs are not part of the copy: start this server's GTID history at the donor's position
        local sql="STOP SLAVE; RESET SLAVE ALL; RESET MASTER;"
        [ -n "$g" ] && sql+=" SET GLOBAL gtid_binlog_state = $(mmc_lit "$g"); SET GLOBAL gtid_slave_pos = $(mmc_lit "$g");"
        mmc_q "$sql" || { mmc_log "could not apply the seed GTID position '$g'"; return 1; }
    else
        mmc_q "STOP REPLICA; RESET REPLICA ALL;" || return 1
    fi
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
    local ro; ro=$(mmc_q 'SELECT @@GLOBAL.read_only')
    [ "$ro" = 0 ] || { mmc_log "promotion did not take"; return 1; }
}

decide() {
    apply_seed_position || return 1
    declare -A RS
    mmc_read_replica_status || return 1
    if [ -n "${RS[host]:-}" ]; then
        mmc_log "replica of ${RS[host]} (channel kept from the data directory)"
        if [ "${RS[io]}" != Yes ] || [ "${RS[sql]}" != Yes ]; then
            if [ "$MMC_ENGINE" = mysql ]; then mmc_q 'START REPLICA' || true; else mmc_q 'START SLAVE' || true; fi
        fi
        return 0
    fi
    local ro; ro=$(mmc_q 'SELECT @@GLOBAL.read_only') || return 1
    if [ "$ro" = 0 ]; then mmc_log "already writable primary"; return 0; fi
    local w wh_ro="" wh_sid="" me out
    me=$(mmc_server_id)
    mmc_repl_cred
    if out=$(MMC_SQL_TIMEOUT=5 mmc_qr "$MMC_REPL_CRED" "${MMC_WRITE_HOST:-}" "SELECT @@GLOBAL.read_only, @@GLOBAL.server_id" 2>/dev/null); then
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
    [ -n "${MMC_WRITE_HOST:-}" ] || { mmc_log "MMC_WRITE_HOST is not set"; return 1; }
    become_replica_of "$MMC_WRITE_HOST"
}

# Is this replica strictly ahead of its primary (then the primary lost data: never re-seed from it)?
ahead_of_primary() {
    local host=$1 theirs mine
    mmc_repl_cred
    if [ "$MMC_ENGINE" = mysql ]; then
        theirs=$(mmc_qr "$MMC_REPL_CRED" "$host" 'SELECT @@GLOBAL.gtid_executed' | tr -d '\n') || return 1
        mine=$(mmc_local_gtid) || return 1
        [ "$(mmc_q "SELECT GTID_SUBSET($(mmc_lit "$theirs"), $(mmc_lit "$mine")) AND NOT GTID_SUBSET($(mmc_lit "$mine"), $(mmc_lit "$theirs"))")" = 1 ]
    else
        theirs=$(mmc_qr "$MMC_REPL_CRED" "$host" 'SELECT @@GLOBAL.gtid_binlog_pos') || return 1
        mine=$(mmc_q 'SELECT @@GLOBAL.gtid_slave_pos') || return 1
        [ "$(mmc_gtid_seq "$mine" "$MMC_GTID_DOMAIN_ID")" -gt "$(mmc_gtid_seq "$theirs" "$MMC_GTID_DOMAIN_ID")" ]
    fi
}

request_reseed() {
    local why=$1
    mmc_log "re-seed needed: $why"
    printf '%s at %s\n' "$why" "$(date -u +%FT%TZ)" >"$MMC_UNTRUSTED"
    sync -- "$MMC_UNTRUSTED" "$MMC_DATADIR" 2>/dev/null || sync
    mmc_q 'SHUTDOWN' || true
    DECIDED_FOR=""
}

watch() {
    declare -A RS
    mmc_read_replica_status || return 0
    [ -n "${RS[host]:-}" ] || return 0
    local ioe=${RS[io_errno]:-0} sqle=${RS[sql_errno]:-0} msg="${RS[io_error]:-} ${RS[sql_error]:-}"
    # 1236: the source cannot serve the requested position (purged / diverged);
    # 13114: MySQL's wrapper of it; 1950/1951/1948: MariaDB GTID strict-mode order/holes/conflicts
    case " $ioe $sqle " in
        *" 1236 "*|*" 13114 "*|*" 1950 "*|*" 1951 "*|*" 1948 "*)
            if ahead_of_primary "${RS[host]}"; then
                mmc_log "ERROR: primary ${RS[host]} is behind this replica; NOT re-seeding from it (would lose data): $msg"
                return 0
            fi
            request_reseed "primary ${RS[host]} no longer serves this position: io=$ioe sql=$sqle $msg"
            ;;
    esac
}

mmc_log "started (ordinal $(mmc_ordinal), primary ordinal $MMC_PRIMARY_ORDINAL, write host ${MMC_WRITE_HOST:-?})"
while :; do
    mmc_load_topology
    if mmc_local_alive; then
        inst=$(server_instance)
        if [ "$inst" != "$DECIDED_FOR" ]; then
            if decide; then DECIDED_FOR=$inst; else mmc_log "decision failed; retrying"; fi
        else
            watch
        fi
    fi
    if [ -n "${MMC_REPLICATE_ONCE:-}" ]; then break; fi
    sleep "$INTERVAL"
done
