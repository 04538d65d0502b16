#!/usr/bin/env bash
# Planned switchover (Job): MMC_OLD_PRIMARY_HOST -> MMC_NEW_PRIMARY_HOST, MMC_REPLICA_HOSTS repointed.
# A table of named phases, each with the rollback it needs (the shape of mariadb-operator's
# switchover controller). A phase that fails runs its own rollback, then those of the phases
# before it, newest first:
#   check     old is the writable primary (or read-only without a channel: an earlier run of this
#             switchover killed after its demotion, resumed; new may then have left its channel already
#             if it holds every transaction of old), new a healthy replica; wait (writes
#             still on) until new is nearly caught up, so the write pause stays short. rollback: none
#   demote    old read-only, application sessions cut, its final GTID position read.
#                                       rollback: old writable again, new's replication restarted
#   catch_up  new has applied exactly that position.                              rollback: none
#   confirm   old is still there, read-only, at that position.                    rollback: none
#   promote   new writable with no channel (point of no return).
#             rollback: new read-only again and back under old; if new cannot be made read-only,
#             stop: old stays read-only (never two writers)
#   repoint   old (becomes a replica of new) and the other replicas. A member that could not be
#             repointed fails the Job (exit 3) and leaves: new the writable primary (at MMC_EPOCH when
#             the Job has it), old read-only (its replicate.sh follows new by itself: a read-only member
#             without a channel joins the writable one), other replicas still replicating through old.
#             A re-run finds new already the primary and repoints only: it converges.
# The promotion records the epoch (mmc.epoch) when MMC_EPOCH is given, and never happens after the
# timeout (a Job cut off that long may have been given up: replicate.sh resumes the old primary only
# after MMC_RESUME_AFTER_SECONDS). There is always at most one writable primary.
# SIGTERM: a run stops after the current phase, rolled back before the promotion, carried through
# the repoint after it.
# Exit 0: new is the primary, every member repointed. Exit 1: old is still the primary (nothing
# changed). Exit 2: bad input. Exit 3: new is the primary, a member could not be repointed (re-run).
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

# The phase table: "phase:rollback" ("-": none), in order.
switchover_phases() {
    printf '%s\n' check:- demote:undo_demote catch_up:- confirm:- promote:undo_promote repoint:-
}

# Context of one run (inputs, set once by main): OLD NEW OTHERS DEADLINE ADMIN_CRED.
now_ms() { local t=$EPOCHREALTIME; echo "${t/./}" | cut -c1-13; }
read_only_of() { echo "SELECT @@GLOBAL.read_only" | q "$1" 5; }

# Each phase gets the previous phase's output (CTX) and prints its own; status 0 = go on, 1 = failed,
# 3 (check only) = nothing to do.
phase_check() {
    local ro_old ro_new st pos half w i resuming=""
    ro_new=$(read_only_of "$NEW") || { mmc_log "new primary $NEW unreachable"; return 1; }
    ro_old=$(read_only_of "$OLD") || ro_old=unreachable
    if [ "$ro_new" = 0 ] && ! mmc_has_channel "$ADMIN_CRED" "$NEW" && [ "$ro_old" != 0 ]; then
        mmc_log "$NEW is already the writable primary (a re-run); repointing what is left"
        return 3
    fi
    [ "$ro_old" != unreachable ] || { mmc_log "old primary $OLD unreachable"; return 1; }
    if [ "$ro_old" != 0 ]; then
        # Read-only without a channel while the new one still replicates: a switchover that was killed
        # between demotion and promotion (its Job pod deleted). No member is writable; resume it (the
        # demotion is idempotent), or its rollback makes the old primary writable again.
        if mmc_has_channel "$ADMIN_CRED" "$OLD"; then mmc_log "$OLD is not a writable primary"; return 1; fi
        mmc_log "$OLD is read-only without a channel: an interrupted switchover; resuming it"
        resuming=1
    fi
    st=$(mmc_replica_status "$ADMIN_CRED" "$NEW") || { mmc_log "cannot read replica status of $NEW"; return 1; }
    if [ -n "$resuming" ] && [ -z "$(mmc_field host "$st")" ]; then
        # Killed inside the promotion: new already left its channel, read-only, and nothing is writable.
        # It may be promoted only if it applied every transaction of the old primary (then the phases
        # after this one are idempotent: demote, catch up, confirm, promote).
        pos=$(mmc_sql_gtid_pos | q "$OLD") || { mmc_log "old primary $OLD unreachable"; return 1; }
        w=$(mmc_sql_gtid_wait "$pos" 1 | q "$NEW" 6) || w=-1
        [ "$w" = 0 ] || { mmc_log "$NEW left its channel without the old primary's position $pos; nothing changed"; return 1; }
        mmc_log "$NEW left its channel with every transaction of $OLD (an interrupted promotion): resuming it"
        return 0
    fi
    [ -n "$(mmc_field host "$st")" ] || { mmc_log "$NEW has no replication channel"; return 1; }
    if [ "$(mmc_field io "$st")" != Yes ] || [ "$(mmc_field sql "$st")" != Yes ]; then
        mmc_log "$NEW does not replicate (io=$(mmc_field io "$st") sql=$(mmc_field sql "$st"): $(mmc_field io_error "$st") $(mmc_field sql_error "$st"))"
        return 1
    fi
    # catch up while writes continue: bounded by half the timeout
    for ((i = 0; i < 100; i++)); do
        pos=$(mmc_sql_gtid_pos | q "$OLD") || { mmc_log "old primary $OLD unreachable"; return 1; }
        half=$(($(remaining) / 2)); [ "$half" -ge 1 ] || half=1
        w=$(mmc_sql_gtid_wait "$pos" "$half" | q "$NEW" $((half + 5))) || w=-1
        [ "$w" = 0 ] && return 0
        [ "$(remaining)" -gt 2 ] || { mmc_log "$NEW did not catch up before the timeout; nothing changed"; return 1; }
    done
    return 0
}

# -> "<t_demote ms><TAB><position>"
phase_demote() {
    local t_demote kills out ro pos
    t_demote=$(now_ms)
    # read-only first, then cut application sessions (none can write or hold a transaction during the
    # handover; pooled clients reconnect through the write name), then read the final position
    kills=$( {
        mmc_sql_demote
        echo "SELECT CONCAT('KILL CONNECTION ', id, ';') FROM information_schema.PROCESSLIST WHERE user NOT IN ($(mmc_system_users_sql_list)) AND id <> CONNECTION_ID();"
    } | q "$OLD") || { mmc_log "could not demote $OLD"; return 1; }
    out=$( { printf '%s\n' "$kills"; echo "SELECT $(mmc_sql_read_only_expr), $(mmc_sql_gtid_expr);"; } | qf "$OLD" 2>/dev/null | tail -n 1)
    read -r ro pos <<<"$out"
    [ "$ro" = 1 ] && [ -n "$pos" ] || { mmc_log "could not demote $OLD or read its position"; return 1; }
    mmc_log "demoted $OLD at GTID position $pos (+$(($(now_ms) - t_demote)) ms)"
    printf '%s\t%s\n' "$t_demote" "$pos"
}

phase_catch_up() {
    local t_demote pos w
    IFS=$'\t' read -r t_demote pos <<<"$1"
    w=$(mmc_sql_gtid_wait "$pos" "$(remaining)" | q "$NEW" $(($(remaining) + 5))) || w=-1
    [ "$w" = 0 ] || { mmc_log "$NEW did not apply $pos in time (result $w)"; return 1; }
    mmc_log "$NEW applied $pos (+$(($(now_ms) - t_demote)) ms)"
    printf '%s\n' "$1"
}

phase_confirm() {
    local t_demote pos out ro2 pos2
    IFS=$'\t' read -r t_demote pos <<<"$1"
    out=$(echo "SELECT $(mmc_sql_read_only_expr), $(mmc_sql_gtid_expr);" | q "$OLD" 5) || { mmc_log "$OLD became unreachable"; return 1; }
    read -r ro2 pos2 <<<"$out"
    [ "$ro2" = 1 ] && [ "$pos2" = "$pos" ] || { mmc_log "$OLD is no longer read-only at $pos (now: $out)"; return 1; }
    printf '%s\n' "$1"
}

# extra_on_new -> the GTIDs the new primary has that the old one lacks (empty: none); status 1 when unknown.
extra_on_new() {
    local mine theirs
    mine=$(echo "SELECT $(mmc_sql_gtid_state_expr);" | q "$NEW" 5) || return 1
    theirs=$(echo "SELECT $(mmc_sql_gtid_state_expr);" | q "$OLD" 5) || return 1
    mmc_engine_gtid_missing "$mine" "$theirs" "$ADMIN_CRED" "$NEW"
}

phase_promote() {
    local t_demote pos res attempt extra
    IFS=$'\t' read -r t_demote pos <<<"$1"
    [ "$(remaining)" -gt 0 ] || { mmc_log "the timeout passed before the promotion; not promoting $NEW"; return 1; }
    for attempt in 1 2; do
        # bounded by what is left of the timeout, as the catch-up is (a fixed cut could stop the client
        # of a promotion that the server still carries out)
        res=$( { mmc_sql_promote "${MMC_EPOCH:-}"; echo "SELECT @@GLOBAL.read_only;"; } | q "$NEW" $(($(remaining) + 5)) 2>/dev/null | tail -n 1)
        if [ "$res" = 0 ] && ! mmc_has_channel "$ADMIN_CRED" "$NEW"; then
            mmc_log "promoted $NEW (writes paused $(($(now_ms) - t_demote)) ms on the database side)"
            printf '%s\n' "$1"
            return 0
        fi
        # Cut off after the new primary left its channel and committed its epoch record, a transaction
        # the old one lacks: handing writes back to the old primary would fork the history. The
        # promotion's statements are idempotent: finish it, once.
        [ "$attempt" = 1 ] && ! mmc_has_channel "$ADMIN_CRED" "$NEW" && extra=$(extra_on_new) && [ -n "$extra" ] || break
        mmc_log "the promotion of $NEW was cut off after it committed $extra (absent from $OLD): finishing it"
    done
    mmc_log "promotion of $NEW did not take"
    return 1
}

# Status 0: every member repointed; 4: some could not be (named in the log; new stays the primary).
phase_repoint() {
    local h bad=""
    if mmc_has_channel "$ADMIN_CRED" "$OLD" && [ "$(mmc_field host "$(mmc_replica_status "$ADMIN_CRED" "$OLD")")" = "$(source_for "$OLD")" ]; then
        mmc_log "$OLD already replicates from $NEW"
    elif mmc_sql_point_to "$(source_for "$OLD")" current_pos | qf "$OLD" >/dev/null 2>&1 && mmc_has_channel "$ADMIN_CRED" "$OLD"; then
        mmc_log "$OLD now replicates from $NEW"
    else
        mmc_log "could not repoint $OLD; it is read-only without a channel and joins $NEW by itself (replicate.sh)"
        bad+=" $OLD"
    fi
    for h in $OTHERS; do
        if [ "$h" = "$OLD" ] || [ "$h" = "$NEW" ]; then continue; fi
        if [ "$(mmc_field host "$(mmc_replica_status "$ADMIN_CRED" "$h" 2>/dev/null)")" = "$(source_for "$h")" ]; then
            mmc_log "$h already replicates from $NEW"
        elif { mmc_sql_demote; mmc_sql_point_to "$(source_for "$h")" slave_pos; } | qf "$h" >/dev/null 2>&1 && mmc_has_channel "$ADMIN_CRED" "$h"; then
            mmc_log "$h now replicates from $NEW"
        else
            mmc_log "could not repoint $h (it keeps replicating through $OLD)"
            bad+=" $h"
        fi
    done
    if [ -n "$bad" ]; then
        mmc_log "switchover incomplete: $NEW is the writable primary, not repointed:$bad; run the switchover again"
        return 4
    fi
}

# Rollbacks: status 0 = the next (older) rollback may run; 1 = stop here.
undo_demote() {
    mmc_log "restoring $OLD as the only writable primary"
    if mmc_sql_writable_again | q "$OLD" 5; then mmc_log "$OLD is writable again"
    else mmc_log "$OLD is unreachable: it becomes writable again when it restarts (it still has no channel)"; fi
    mmc_sql_start_replica | q "$NEW" 5 >/dev/null 2>&1
    return 0
}
undo_promote() {
    local extra
    # make sure new is not writable before handing writes back to the old primary
    mmc_sql_demote | q "$NEW" 5 >/dev/null 2>&1
    if [ "$(read_only_of "$NEW")" = 1 ]; then
        # ...and that it holds nothing the old one lacks (a promotion that committed, then failed)
        if ! extra=$(extra_on_new) || [ -n "$extra" ]; then
            mmc_log "ERROR: $NEW holds ${extra:-transactions that cannot be compared} not on $OLD; both stay read-only (no fork): run up again, the switchover resumes"
            return 1
        fi
        mmc_sql_point_to "$(source_for "$NEW" "$OLD")" slave_pos | qf "$NEW" 5 >/dev/null 2>&1
        return 0
    fi
    mmc_log "ERROR: $NEW is in an unknown state; leaving $OLD read-only to avoid two writers"
    return 1
}

# Runs the phase table; status 0 when new is the primary, 1 when old still is, 3 when new is the
# primary but a member could not be repointed.
run_phases() {
    local entry phase undo ctx="" out rc u
    local -a table undos=()
    mapfile -t table < <(switchover_phases)
    for entry in "${table[@]}"; do
        phase=${entry%%:*} undo=${entry#*:}
        undos=("$undo" "${undos[@]}")
        rc=0
        out=$("phase_$phase" "$ctx") || rc=$?
        # SIGTERM (Job deleted): before the point of no return, stop at this phase boundary and roll back
        if [ "$rc" = 0 ] && [ -n "${got_sigterm:-}" ] && [[ "$phase" =~ ^(check|demote|catch_up|confirm)$ ]]; then
            mmc_log "SIGTERM: stopping after phase '$phase'"
            rc=1
        fi
        case "$rc" in
            0) ctx=$out ;;
            3)
                # new is already the primary (a re-run): the repoint is what may be left
                phase_repoint || return 3
                return 0
                ;;
            4) return 3 ;;
            *)
                mmc_log "switchover failed in phase '$phase'; rolling back"
                for u in "${undos[@]}"; do
                    [ "$u" = - ] && continue
                    "$u" || { mmc_log "rollback stopped at '$u'"; break; }
                done
                return 1
                ;;
        esac
    done
    mmc_log "switchover to $NEW done"
}

main() {
    set -uo pipefail
    mmc_env_load switchover || exit 2
    # the phase in progress finishes (its SQL is bounded), then the table decides (run_phases)
    trap 'got_sigterm=1; mmc_log "SIGTERM: the switchover stops at the next phase boundary"' TERM INT
    OLD=$MMC_OLD_PRIMARY_HOST NEW=$MMC_NEW_PRIMARY_HOST OTHERS=$MMC_REPLICA_HOSTS
    [ "$OLD" != "$NEW" ] || { mmc_log "old and new primary are the same host"; exit 2; }
    # shellcheck disable=SC2034 # read by remaining() (lib-job.sh)
    DEADLINE=$((SECONDS + MMC_SWITCHOVER_TIMEOUT_SECONDS))
    mmc_tmp_init || exit 1
    ADMIN_CRED=$(mmc_admin_cred) || exit 1
    run_phases
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
