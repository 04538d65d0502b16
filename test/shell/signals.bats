#!/usr/bin/env bats
# shellcheck disable=SC2034,SC2317  # tests set the inputs the sourced functions read; stubs are called indirectly
# SIGTERM as a container's PID 1 (lib-env.sh): a PID 1 without a handler ignores it, so every entry
# installs one; waits and long children must not hold the stop up. Each case runs its script as PID 1
# of a new PID namespace (unshare), where only a handled signal is delivered, as in a container.
load common

setup() { valid_env; }

# as_pid1 SCRIPT -> starts bash -c SCRIPT as PID 1 of a new PID namespace; prints the host pid of unshare
as_pid1() {
    unshare --user --map-root-user --pid --fork bash -c "$1" >"$BATS_TEST_TMPDIR/out" 2>&1 &
    echo $!
}
# stop_ms UNSHARE_PID -> SIGTERM to its child (the PID 1), prints the ms until it exited (or "none" after 8 s)
stop_ms() {
    local u=$1 p i t0
    for ((i = 0; i < 100; i++)); do p=$(pgrep -P "$u" | head -1); [ -n "$p" ] && break; sleep 0.05; done
    sleep 0.5
    t0=${EPOCHREALTIME/./}
    kill -TERM "$p"
    for ((i = 0; i < 160; i++)); do kill -0 "$u" 2>/dev/null || { echo $(((${EPOCHREALTIME/./} - t0) / 1000)); return; }; sleep 0.05; done
    kill -KILL "$u" "$p" 2>/dev/null
    echo none
}

@test "an entry's loop (mmc_sleep) stops at once on SIGTERM as PID 1" {
    u=$(as_pid1 ". '$S/lib-env.sh'; mmc_trap_term; while :; do mmc_sleep 30; done")
    ms=$(stop_ms "$u")
    echo "stopped after $ms ms"
    [ "$ms" != none ]
    [ "$ms" -lt 5000 ]
    grep -q "SIGTERM: stopping" "$BATS_TEST_TMPDIR/out"
}

@test "mmc_supervise: SIGTERM reaches the child's whole process group, then the supervisor stops" {
    u=$(as_pid1 ". '$S/lib-env.sh'; mmc_trap_term; mmc_supervise bash -c 'sleep 60 & sleep 60; wait'; echo not-reached")
    ms=$(stop_ms "$u")
    echo "stopped after $ms ms"
    [ "$ms" != none ]
    [ "$ms" -lt 5000 ]
    ! grep -q not-reached "$BATS_TEST_TMPDIR/out"
}

@test "mmc_supervise returns the child's status when no signal came" {
    . "$S/lib-env.sh"
    run mmc_supervise bash -c 'exit 7'
    [ "$status" = 7 ]
}

# switchover.sh's table with stub phases: SIGTERM before the promotion rolls back, after it carries on
switchover_with_stubs() {
    . "$S/switchover.sh"
    for p in check demote catch_up confirm promote repoint; do eval "phase_$p() { echo $p >>'$BATS_TEST_TMPDIR/calls'; }"; done
    undo_demote() { echo undo_demote >>"$BATS_TEST_TMPDIR/calls"; }
    undo_promote() { echo undo_promote >>"$BATS_TEST_TMPDIR/calls"; }
}

@test "switchover: SIGTERM before the promotion stops at the phase boundary and rolls back" {
    switchover_with_stubs
    got_sigterm=1
    run run_phases
    [ "$status" = 1 ]
    [ "$(cat "$BATS_TEST_TMPDIR/calls" | tr '\n' ' ')" = "check " ]
    [[ "$output" == *"SIGTERM: stopping after phase 'check'"* ]]
}

@test "switchover: SIGTERM during the demotion rolls the demotion back" {
    # the signal reaches the Job's shell while the demotion runs ($$: that shell, from the phase's subshell)
    run bash -c ". '$S/switchover.sh'
        phase_check() { echo check >>'$BATS_TEST_TMPDIR/calls'; }
        phase_demote() { echo demote >>'$BATS_TEST_TMPDIR/calls'; kill -TERM \$\$; sleep 0.2; }
        for p in catch_up confirm promote repoint; do eval \"phase_\$p() { echo \$p >>'$BATS_TEST_TMPDIR/calls'; }\"; done
        undo_demote() { echo undo_demote >>'$BATS_TEST_TMPDIR/calls'; }
        trap 'got_sigterm=1' TERM
        run_phases"
    echo "$output"
    [ "$status" = 1 ]
    [ "$(cat "$BATS_TEST_TMPDIR/calls" | tr '\n' ' ')" = "check demote undo_demote " ]
}

@test "switchover: without a signal every phase runs" {
    switchover_with_stubs
    run run_phases
    [ "$status" = 0 ]
    [ "$(cat "$BATS_TEST_TMPDIR/calls" | tr '\n' ' ')" = "check demote catch_up confirm promote repoint " ]
}

@test "run.sh as PID 1 stops on SIGTERM while it runs init.sh (a re-seed in the mysql container)" {
    # a copy of the scripts whose init.sh is a long seed step (its own child included)
    d="$BATS_TEST_TMPDIR/scripts"
    mkdir -p "$d" "$MMC_CONF_DIR" "$MMC_DATADIR" "$MMC_RUN_DIR"
    cp "$S"/*.sh "$d/"
    printf '#!/usr/bin/env bash\nsleep 60 &\nwait\n' >"$d/init.sh"
    u=$(as_pid1 "bash '$d/run.sh'")
    ms=$(stop_ms "$u")
    echo "stopped after $ms ms"
    cat "$BATS_TEST_TMPDIR/out"
    [ "$ms" != none ]
    [ "$ms" -lt 5000 ]
    grep -q "running init.sh" "$BATS_TEST_TMPDIR/out"
}
