#!/usr/bin/env bash
# Planned switchover (Job): MMC_OLD_PRIMARY_HOST -> MMC_NEW_PRIMARY_HOST, MMC_REPLICA_HOSTS repointed.
#   0. preflight: old is the writable primary, new is a healthy replica; wait (writes still on) until the
#      new one is nearly caught up, so the write pause below stays short;
#   1. demote old: read-only, cut application sessions; read its final GTID position;
#   2. wait until new has applied exactly that position (MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET);
#   3. re-check old is still there and read-only, then promote new (point of no return);
#   4. repoint old (it becomes a replica of new) and the other replicas.
# Any failure before 3 makes old writable again and restarts new's replication: there is always
# exactly one writable primary. A failure after 3 leaves new as primary; a member that was not
# repointed finds the writable primary itself when it restarts (replicate.sh).
# Exit 0: new is the primary. Exit 1: old is still the primary (nothing changed). Exit 2: bad input.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OLD=${MMC_OLD_PRIMARY_HOST:-}
NEW=${MMC_NEW_PRIMARY_HOST:-}
OTHERS=${MMC_REPLICA_HOSTS:-}
TIMEOUT=${MMC_SWITCHOVER_TIMEOUT_SECONDS:-60}
[ -n "$OLD" ] && [ -n "$NEW" ] || { mmc_log "MMC_OLD_PRIMARY_HOST and MMC_NEW_PRIMARY_HOST are required"; exit 2; }
[ "$OLD" != "$NEW" ] || { mmc_log "old and new primary are the same host"; exit 2; }
DEADLINE=$((SECONDS + TIMEOUT))
remaining() { local r=$((DEADLINE - SECONDS)); [ "$r" -gt 0 ] && echo "$r" || echo 0; }
# The new primary's name as member H's cluster resolves it (MMC_SOURCE_FOR "h=src ..."), else NEW.
source_for() { # HOST [DEFAULT]
    local kv
    for kv in ${MMC_SOURCE_FOR:-}; do
        if [ "${kv%%=*}" = "$1" ]; then echo "${kv#*=}"; return; fi
    done
    echo "${2:-$NEW}"
}
now_ms() { local t=$EPOCHREALTIME; echo "${t/./}" | cut -c1-13; }

mmc_admin_cred
A=$MMC_ADMIN_CRED
q() { MMC_SQL_TIMEOUT=${2:-10} mmc_sql_remote "$A" "$1"; }   # SQL on stdin
qf() { MMC_SQL_TIMEOUT=${2:-10} mmc_sql_remote "$A" "$1" --force; }   # continue past errors (e.g. STOP on no channel)

read_only_of() { echo "SELECT @@GLOBAL.read_only" | q "$1" 5; }
has_channel() { declare -A RS; mmc_read_replica_status "$A" "$1" && [ -n "${RS[host]:-}" ]; }

STAGE=preflight
rollback() {
    mmc_log "switchover failed at stage '$STAGE': restoring $OLD as the only writable primary"
    if [ "$STAGE" = demoted ] || [ "$STAGE" = caught-up ]; then
        local sql
        if [ "$MMC_ENGINE" = mysql ]; then sql="SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF;"
        else sql="SET GLOBAL read_only = OFF;"; fi
        if echo "$sql" | q "$OLD" 5; then mmc_log "$OLD is writable again"
        else mmc_log "$OLD is unreachable: it becomes writable again when it restarts (it still has no channel)"; fi
    fi
    if [ "$MMC_ENGINE" = mysql ]; then echo "START REPLICA;" | q "$NEW" 5 >/dev/null 2>&1
    else echo "START SLAVE;" | q "$NEW" 5 >/dev/null 2>&1; fi
    exit 1
}

# ---- 0. preflight ----
ro_old=$(read_only_of "$OLD") || { mmc_log "old primary $OLD unreachable"; exit 1; }
ro_new=$(read_only_of "$NEW") || { mmc_log "new primary $NEW unreachable"; exit 1; }
if [ "$ro_new" = 0 ] && ! has_channel "$NEW" && [ "$ro_old" = 1 ]; then
    mmc_log "$NEW is already the writable primary; nothing to do"
    exit 0
fi
[ "$ro_old" = 0 ] || { mmc_log "$OLD is not a writable primary"; exit 1; }
declare -A RS
mmc_read_replica_status "$A" "$NEW" || { mmc_log "cannot read replica status of $NEW"; exit 1; }
[ -n "${RS[host]:-}" ] || { mmc_log "$NEW has no replication channel"; exit 1; }
if [ "${RS[io]}" != Yes ] || [ "${RS[sql]}" != Yes ]; then
    mmc_log "$NEW does not replicate (io=${RS[io]} sql=${RS[sql]}: ${RS[io_error]} ${RS[sql_error]})"; exit 1
fi
# catch up while writes continue: bounded by half the timeout
for ((i = 0; i < 100; i++)); do
    pos=$(mmc_sql_gtid_pos | q "$OLD") || { mmc_log "old primary $OLD unreachable"; exit 1; }
    half=$(( $(remaining) / 2 )); [ "$half" -ge 1 ] || half=1
    w=$(mmc_sql_gtid_wait "$pos" "$half" | q "$NEW" $((half + 5))) || w=-1
    [ "$w" = 0 ] && break
    [ "$(remaining)" -gt 2 ] || { mmc_log "$NEW did not catch up before the timeout; nothing changed"; exit 1; }
done

# ---- 1. demote ----
t_demote=$(now_ms)
STAGE=demoted
ro_expr=$([ "$MMC_ENGINE" = mysql ] && echo '@@GLOBAL.super_read_only' || echo '@@GLOBAL.read_only')
# read-only first, then cut application sessions (none can write or hold a transaction during the
# handover; pooled clients reconnect through the write name), then read the final position
kills=$( { mmc_sql_demote
           echo "SELECT CONCAT('KILL CONNECTION ', id, ';') FROM information_schema.PROCESSLIST WHERE user NOT IN ($(mmc_system_users_sql_list)) AND id <> CONNECTION_ID();"
         } | q "$OLD") || { mmc_log "could not demote $OLD"; rollback; }
out=$( { printf '%s\n' "$kills"; echo "SELECT $ro_expr, $(mmc_sql_gtid_expr);"; } | qf "$OLD" 2>/dev/null | tail -n 1)
read -r ro pos <<<"$out"
[ "$ro" = 1 ] && [ -n "$pos" ] || { mmc_log "could not demote $OLD or read its position"; rollback; }
mmc_log "demoted $OLD at GTID position $pos (+$(( $(now_ms) - t_demote )) ms)"

# ---- 2. catch up ----
w=$(mmc_sql_gtid_wait "$pos" "$(remaining)" | q "$NEW" $(( $(remaining) + 5 ))) || w=-1
[ "$w" = 0 ] || { mmc_log "$NEW did not apply $pos in time (result $w)"; rollback; }
STAGE=caught-up
mmc_log "$NEW applied $pos (+$(( $(now_ms) - t_demote )) ms)"

# ---- 3. promote (point of no return) ----
out=$(echo "SELECT $ro_expr, $(mmc_sql_gtid_expr);" | q "$OLD" 5) || { mmc_log "$OLD became unreachable"; rollback; }
read -r ro2 pos2 <<<"$out"
[ "$ro2" = 1 ] && [ "$pos2" = "$pos" ] || { mmc_log "$OLD is no longer read-only at $pos (now: $out)"; rollback; }
res=$( { mmc_sql_promote; echo "SELECT @@GLOBAL.read_only;"; } | q "$NEW" 2>/dev/null | tail -n 1)
if [ "$res" != 0 ] || has_channel "$NEW"; then
    mmc_log "promotion of $NEW did not take"
    # make sure it is not writable before handing writes back to the old primary
    mmc_sql_demote | q "$NEW" 5 >/dev/null 2>&1
    if [ "$(read_only_of "$NEW")" = 1 ]; then
        mmc_sql_point_to "$(source_for "$NEW" "$OLD")" slave_pos | qf "$NEW" 5 >/dev/null 2>&1
        rollback
    fi
    mmc_log "ERROR: $NEW is in an unknown state; leaving $OLD read-only to avoid two writers"; exit 1
fi
STAGE=promoted
t_promote=$(now_ms)
mmc_log "promoted $NEW (writes paused $((t_promote - t_demote)) ms on the database side)"

# ---- 4. repoint ----
rc=0
if mmc_sql_point_to "$(source_for "$OLD")" current_pos | qf "$OLD" >/dev/null 2>&1 && has_channel "$OLD"; then
    mmc_log "$OLD now replicates from $NEW"
else
    mmc_log "warning: could not repoint $OLD now; it joins $NEW as a replica when it restarts"
fi
for h in $OTHERS; do
    [ "$h" = "$OLD" ] || [ "$h" = "$NEW" ] && continue
    if { mmc_sql_demote; mmc_sql_point_to "$(source_for "$h")" slave_pos; } | qf "$h" >/dev/null 2>&1 && has_channel "$h"; then
        mmc_log "$h now replicates from $NEW"
    else
        mmc_log "warning: could not repoint $h (it keeps replicating through $OLD)"
    fi
done
mmc_log "switchover to $NEW done"
exit "$rc"
