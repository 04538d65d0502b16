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
