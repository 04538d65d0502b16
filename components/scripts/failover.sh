#!/usr/bin/env bash
# Failover (Job): the primary's members are lost (MMC_LOST_HOSTS: never contacted); MMC_NEW_PRIMARY_HOST
# becomes the primary at epoch MMC_EPOCH and the reachable others (MMC_REPLICA_HOSTS) replicate from it.
# A table of named phases, each with the rollback it needs (as switchover.sh):
#   check           every reachable member answers; none is writable (then the primary is not lost:
#                   use a switchover); none knows MMC_EPOCH or a newer epoch (unless this failover
#                   already promoted the new primary: a re-run).              rollback: none
#   stop_receiving  every reachable member stops receiving (a half-lost primary cannot send more).
#                                                          rollback: receiving restarted everywhere
#   drain           every reachable member applied all it received.          rollback: none
#   compare         the new primary has every GTID any reachable member has; else refuse, naming the
#                   member that is ahead.                                     rollback: none
#   promote         new: no channel, MMC_EPOCH recorded (mmc.epoch), writable (point of no return).
#                                                          rollback: new read-only again
#   repoint         every reachable replica replicates from new; one that cannot be repointed fails
#                   the Job (the rollback makes new read-only again, so the write endpoint never moves
#                   to a primary whose replicas are not all attached; a re-run converges).
# Exit 0: new is the only writable reachable member, at MMC_EPOCH, every reachable replica repointed.
# Exit 1: refused or failed; nothing was left writable (one line says why, naming the member).
# Exit 2: bad input.
# shellcheck source=lib-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=lib-sql.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-sql.sh"
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
# shellcheck source=lib-repl.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-repl.sh"
# shellcheck source=lib-job.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-job.sh"

failover_phases() {
    printf '%s\n' check:- stop_receiving:undo_stop_receiving drain:- compare:- promote:undo_promote repoint:-
}

# Context of one run (set once by main): NEW OTHERS LOST EPOCH DEADLINE ADMIN_CRED.
# The reachable members, the new primary first.
members() { echo "$NEW $OTHERS"; }
# The refusal or failure line (stdout of main's caller: the Job's log and termination message).
say() { mmc_log "$*"; printf '%s\n' "$*" >"$MMC_TMP/reason"; }

# -> "promoted" when this failover already promoted NEW (a re-run: only the repoint is left), else "go".
phase_check() {
    local h st ro sid e ep new_sid="" done=1
    for h in $(members); do
        if mmc_is_listed "$h" "$LOST"; then say "$h is both reachable and declared lost"; return 1; fi
    done
    for h in $(members); do
        st=$(mmc_member_state "$ADMIN_CRED" "$h") || { say "$h does not answer: it cannot be left behind; wait for it or declare it lost"; return 1; }
        read -r ro sid e ep <<<"$st"
        mmc_log "$h: read_only=$ro server_id=$sid epoch=$e"
        if [ "$h" = "$NEW" ]; then
            new_sid=$sid
            if [ "$ro" = 0 ] && [ "$e" = "$EPOCH" ] && [ "$ep" = "$sid" ] && ! mmc_has_channel "$ADMIN_CRED" "$h"; then continue; fi
            done=0
            if [ "$ro" = 0 ]; then say "$NEW is writable (epoch $e): it is the primary already; use a planned switchover to change the primary"; return 1; fi
        fi
        if [ "$e" -gt "$EPOCH" ] || { [ "$e" = "$EPOCH" ] && [ "$ep" != "$new_sid" ]; }; then
            say "$h already knows epoch $e (primary server_id $ep); this failover is to epoch $EPOCH: the config is stale"
            return 1
        fi
        if [ "$ro" = 0 ] && [ "$h" != "$NEW" ]; then
            say "$h is writable: the primary is not lost; use a planned switchover instead"
            return 1
        fi
    done
    if [ "$done" = 1 ]; then mmc_log "$NEW is already the writable primary at epoch $EPOCH; repointing the others"; echo promoted; else echo go; fi
}

phase_stop_receiving() {
    [ "$1" = promoted ] && { echo promoted; return 0; }
    local h
    # in parallel: a receiver still connecting to the lost primary's address can hold STOP until its
    # connect attempt times out; 5 s bound each
    for h in $(members); do
        (mmc_sql_stop_receiving | qf "$h" 5 >/dev/null 2>&1) &
    done
    wait
    for h in $(members); do
        [ "$(mmc_field io "$(mmc_replica_status "$ADMIN_CRED" "$h")")" != Yes ] || { say "$h did not stop receiving"; return 1; }
    done
    mmc_log "every reachable member stopped receiving"
    echo go
}

# A member has applied all it received: no channel, or its applier waits on an empty relay log.
applied_all() {
    local st state
    st=$(mmc_replica_status "$ADMIN_CRED" "$1") || return 2
    [ -n "$(mmc_field host "$st")" ] || return 0
    if [ "$(mmc_field sql "$st")" != Yes ]; then
        say "$1 does not apply what it received (error $(mmc_field sql_errno "$st"): $(mmc_field sql_error "$st"))"
        return 3
    fi
    state=$(mmc_field sql_state "$st")
    case "$state" in *"read all relay log"*) return 0 ;; *) return 1 ;; esac
}
phase_drain() {
    [ "$1" = promoted ] && { echo promoted; return 0; }
    local h rc
    for h in $(members); do
        while :; do
            rc=0; applied_all "$h" || rc=$?
            case "$rc" in
                0) break ;;
                2) say "$h became unreachable"; return 1 ;;
                3) return 1 ;;
            esac
            [ "$(remaining)" -gt 0 ] || { say "$h did not apply what it received within the timeout"; return 1; }
            sleep 0.2
        done
    done
    mmc_log "every reachable member applied all it received"
    echo go
}

phase_compare() {
    [ "$1" = promoted ] && { echo promoted; return 0; }
    local h pos newpos miss
    newpos=$(mmc_sql_gtid_pos | q "$NEW" 5) || { say "$NEW became unreachable"; return 1; }
    for h in $OTHERS; do
        pos=$(mmc_sql_gtid_pos | q "$h" 5) || { say "$h became unreachable"; return 1; }
        miss=$(mmc_engine_gtid_missing "$pos" "$newpos" "$ADMIN_CRED" "$NEW") || { say "cannot compare the GTID positions of $h and $NEW"; return 1; }
        if [ -n "$miss" ]; then
            say "$h is ahead of $NEW (gtid $miss): choose it or wait"
            return 1
        fi
    done
    mmc_log "$NEW has every transaction of the reachable members (position $newpos)"
    echo go
}

phase_promote() {
    [ "$1" = promoted ] && { echo promoted; return 0; }
    local st ro sid e ep
    { mmc_sql_promote "$EPOCH"; } | q "$NEW" >/dev/null 2>&1
    st=$(mmc_member_state "$ADMIN_CRED" "$NEW") || { say "$NEW became unreachable during its promotion"; return 1; }
    read -r ro sid e ep <<<"$st"
    if [ "$ro" != 0 ] || [ "$e" != "$EPOCH" ] || mmc_has_channel "$ADMIN_CRED" "$NEW"; then
        say "promotion of $NEW did not take (writable=$((1 - ro)) epoch=$e)"
        return 1
    fi
    mmc_log "promoted $NEW at epoch $EPOCH"
    echo go
}

phase_repoint() {
    local h bad=""
    for h in $OTHERS; do
        if { mmc_sql_demote; mmc_sql_point_to "$(source_for "$h")" slave_pos; } | qf "$h" >/dev/null 2>&1 && repointed "$h"; then
            mmc_log "$h now replicates from $NEW"
        else
            bad+="${bad:+ }$h"
        fi
    done
    [ -z "$bad" ] || { say "could not repoint $bad to $NEW; $NEW is made read-only again: run the failover again"; return 1; }
    echo go
}
# A repointed member replicates from the new primary's name (as its cluster resolves it), read-only.
repointed() {
    local st i
    for ((i = 0; i < 25; i++)); do
        st=$(mmc_replica_status "$ADMIN_CRED" "$1") || return 1
        if [ "$(mmc_field host "$st")" = "$(source_for "$1")" ] && [ "$(mmc_field io "$st")" = Yes ] && [ "$(mmc_field sql "$st")" = Yes ]; then return 0; fi
        [ "$(remaining)" -gt 0 ] || return 1
        sleep 0.2
    done
    return 1
}

undo_stop_receiving() {
    local h
    for h in $(members); do mmc_sql_start_replica | qf "$h" 5 >/dev/null 2>&1 || true; done
    return 0
}
undo_promote() {
    mmc_sql_demote | q "$NEW" 5 >/dev/null 2>&1
    if [ "$(mmc_member_state "$ADMIN_CRED" "$NEW" | cut -d' ' -f1)" = 1 ]; then
        mmc_log "$NEW is read-only again"
        return 1 # its replicas stay as they are: a re-run continues from here
    fi
    say "ERROR: $NEW could not be made read-only again; it may be writable: check it before anything else"
    return 1
}

# Runs the phase table; status 0 when new is the primary, 1 otherwise.
run_phases() {
    local entry phase undo ctx="" out rc u
    local -a table undos=()
    mapfile -t table < <(failover_phases)
    for entry in "${table[@]}"; do
        phase=${entry%%:*} undo=${entry#*:}
        undos=("$undo" "${undos[@]}")
        rc=0
        out=$("phase_$phase" "$ctx") || rc=$?
        if [ "$rc" != 0 ]; then
            mmc_log "failover failed in phase '$phase'; rolling back"
            for u in "${undos[@]}"; do
                [ "$u" = - ] && continue
                "$u" || break
            done
            return 1
        fi
        ctx=$(tail -n 1 <<<"$out")
    done
    mmc_log "failover to $NEW at epoch $EPOCH done"
}

main() {
    set -uo pipefail
    mmc_env_load failover || exit 2
    NEW=$MMC_NEW_PRIMARY_HOST OTHERS=$MMC_REPLICA_HOSTS LOST=$MMC_LOST_HOSTS EPOCH=$MMC_EPOCH
    [ "$EPOCH" -ge 2 ] || { mmc_log "MMC_EPOCH must be at least 2 (a failover follows epoch 1 or later), got '$EPOCH'"; exit 2; }
    if mmc_is_listed "$NEW" "$OTHERS"; then mmc_log "MMC_NEW_PRIMARY_HOST '$NEW' is also in MMC_REPLICA_HOSTS"; exit 2; fi
    # shellcheck disable=SC2034 # read by remaining() (lib-job.sh)
    DEADLINE=$((SECONDS + MMC_SWITCHOVER_TIMEOUT_SECONDS))
    mmc_tmp_init || exit 1
    ADMIN_CRED=$(mmc_admin_cred) || exit 1
    mmc_log "failover to $NEW at epoch $EPOCH; reachable: ${OTHERS:-none}; lost (never contacted): ${LOST:-none}"
    if run_phases; then exit 0; fi
    [ -s "$MMC_TMP/reason" ] && cat "$MMC_TMP/reason"
    exit 1
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
