#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# switchover.sh: the phase table and its rollbacks (phases stubbed; the real ones run against
# real MariaDB in the data-plane tier and against the stand-in MySQL client in mysql-static.sh).
load common

setup() {
    valid_env
    # shellcheck disable=SC1091
    . "$S/switchover.sh"
    OLD=old NEW=new OTHERS="" LOG="$BATS_TEST_TMPDIR/calls"
    : >"$LOG"
    local p
    for p in check demote catch_up confirm promote repoint; do
        eval "phase_$p() { echo \"$p(\$1)\" >>\"\$LOG\"; [ \"\${FAIL:-}\" != $p ] || return 1; [ \"\${NOTHING:-}\" != $p ] || return 3; echo \"ctx-$p\"; }"
    done
    undo_demote() { echo "undo_demote" >>"$LOG"; }
    undo_promote() { echo "undo_promote" >>"$LOG"; return "${UNDO_PROMOTE_RC:-0}"; }
}
calls() { tr '\n' ' ' <"$LOG"; }

@test "the table: phases in order, each with its rollback" {
    [ "$(switchover_phases | tr '\n' ' ')" = "check:- demote:undo_demote catch_up:- confirm:- promote:undo_promote repoint:- " ]
    local entry
    for entry in $(switchover_phases); do
        declare -F "phase_${entry%%:*}" >/dev/null
        [ "${entry#*:}" = - ] || declare -F "${entry#*:}" >/dev/null
    done
}

@test "success runs every phase in order, each given the previous one's output" {
    run run_phases
    [ "$status" -eq 0 ]
    [ "$(calls)" = "check() demote(ctx-check) catch_up(ctx-demote) confirm(ctx-catch_up) promote(ctx-confirm) repoint(ctx-promote) " ]
    [[ "$output" == *"switchover to new done"* ]]
}

@test "a failed check changes nothing: no rollback, status 1" {
    FAIL=check run run_phases
    [ "$status" -eq 1 ]
    [ "$(calls)" = "check() " ]
    [[ "$output" == *"failed in phase 'check'"* ]]
}

@test "new already primary (a re-run): only the repoint runs, status 0" {
    NOTHING=check run run_phases
    [ "$status" -eq 0 ]
    [ "$(calls)" = "check() repoint() " ]
}

@test "a member not repointed fails the Job (status 3) and rolls nothing back: new stays the primary" {
    phase_repoint() { echo "repoint($1)" >>"$LOG"; return 4; }
    run run_phases
    [ "$status" -eq 3 ]
    [ "$(calls)" = "check() demote(ctx-check) catch_up(ctx-demote) confirm(ctx-catch_up) promote(ctx-confirm) repoint(ctx-promote) " ]
}

@test "a re-run whose repoint still fails: status 3" {
    phase_repoint() { echo "repoint($1)" >>"$LOG"; return 4; }
    NOTHING=check run run_phases
    [ "$status" -eq 3 ]
    [ "$(calls)" = "check() repoint() " ]
}

@test "a failed demotion makes the old primary writable again" {
    FAIL=demote run run_phases
    [ "$status" -eq 1 ]
    [ "$(calls)" = "check() demote(ctx-check) undo_demote " ]
}

@test "primary gone between demotion and promotion (confirm fails): refuse to promote, roll back the demotion" {
    FAIL=confirm run run_phases
    [ "$status" -eq 1 ]
    [ "$(calls)" = "check() demote(ctx-check) catch_up(ctx-demote) confirm(ctx-catch_up) undo_demote " ]
    [[ "$output" == *"failed in phase 'confirm'"* ]]
}

@test "a promotion that did not take is undone, then the demotion" {
    FAIL=promote run run_phases
    [ "$status" -eq 1 ]
    [ "$(calls)" = "check() demote(ctx-check) catch_up(ctx-demote) confirm(ctx-catch_up) promote(ctx-confirm) undo_promote undo_demote " ]
}

@test "if the new primary cannot be made read-only, the old one stays read-only (never two writers)" {
    FAIL=promote UNDO_PROMOTE_RC=1 run run_phases
    [ "$status" -eq 1 ]
    [ "$(calls)" = "check() demote(ctx-check) catch_up(ctx-demote) confirm(ctx-catch_up) promote(ctx-confirm) undo_promote " ]
    [[ "$output" == *"rollback stopped at 'undo_promote'"* ]]
}

@test "same old and new host is bad input (exit 2)" {
    run env MMC_NEW_PRIMARY_HOST=mysql-0.h MMC_OLD_PRIMARY_HOST=mysql-0.h bash "$S/switchover.sh"
    [ "$status" -eq 2 ]
    [[ "$output" == *"old and new primary are the same host"* ]]
}

@test "source_for: the new primary's name as each member's cluster resolves it" {
    MMC_SOURCE_FOR="old=new.c1 r2=new.c3"
    [ "$(source_for old)" = new.c1 ]
    [ "$(source_for r9)" = new ]
    [ "$(source_for r9 old)" = old ]
}

# The real promotion and its rollback, with the SQL access stubbed: Q_LOG records each call's target,
# PROMOTE_OUT is what the promotion's final SELECT returns per attempt, EXTRA what NEW holds beyond OLD.
real_promote_env() {
    # shellcheck disable=SC1091
    . "$S/switchover.sh"
    OLD=old NEW=new DEADLINE=$((SECONDS + 60)) ADMIN_CRED=cred Q_LOG="$BATS_TEST_TMPDIR/q" N="$BATS_TEST_TMPDIR/n"
    : >"$Q_LOG"; echo 0 >"$N"
    q() {
        local sql; sql=$(cat)
        echo "$1: $sql" | tr '\n' ' ' >>"$Q_LOG"; echo >>"$Q_LOG"
        if [[ "$sql" == *"@@GLOBAL.read_only;"* && "$sql" == *"mmc.epoch"* ]]; then
            local n; n=$(($(cat "$N") + 1)); echo "$n" >"$N"
            set -- $PROMOTE_OUT; eval "echo \${$n:-}"
        elif [[ "$sql" == "SELECT @@GLOBAL.read_only" ]]; then echo "${RO_NEW:-1}"
        fi
    }
    mmc_has_channel() { return 1; }
    extra_on_new() { [ -z "${EXTRA_UNKNOWN:-}" ] || return 1; echo "${EXTRA:-}"; }
    MMC_EPOCH=7
}

@test "a promotion cut off after the new primary committed its epoch record is finished, not handed back" {
    real_promote_env
    PROMOTE_OUT="- 0" EXTRA="0-1001-497" run phase_promote "$(printf '1\t0-1000-496')"
    [ "$status" -eq 0 ]
    [ "$(cat "$N")" = 2 ]
    [[ "$output" == *"cut off after it committed 0-1001-497 (absent from old): finishing it"* ]]
    [[ "$output" == *"promoted new"* ]]
}

@test "a promotion that committed nothing and did not take fails once, for the rollback" {
    real_promote_env
    PROMOTE_OUT="- 0" EXTRA="" run phase_promote "$(printf '1\t0-1000-496')"
    [ "$status" -eq 1 ]
    [ "$(cat "$N")" = 1 ]
    [[ "$output" == *"promotion of new did not take"* ]]
}

@test "the promotion's client is bounded by what is left of the timeout, not by 10 s" {
    real_promote_env
    q() { echo "$2" >"$BATS_TEST_TMPDIR/timeout"; cat >/dev/null; echo 0; }
    phase_promote "$(printf '1\t0-1000-496')" >/dev/null
    [ "$(cat "$BATS_TEST_TMPDIR/timeout")" -ge 60 ]
}

@test "undo_promote never hands writes back to the old primary when the new one holds a transaction it lacks" {
    real_promote_env
    EXTRA="0-1001-497" run undo_promote
    [ "$status" -eq 1 ]
    [[ "$output" == *"new holds 0-1001-497 not on old; both stay read-only"* ]]
    ! grep -q "^new: CHANGE MASTER\|^new: CHANGE REPLICATION" "$Q_LOG"
}

@test "undo_promote hands back when the new primary holds nothing more, and not when that is unknown" {
    real_promote_env
    EXTRA="" run undo_promote
    [ "$status" -eq 0 ]
    EXTRA_UNKNOWN=1 run undo_promote
    [ "$status" -eq 1 ]
}
