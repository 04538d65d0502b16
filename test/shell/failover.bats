#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# Epoch and fencing (lib-repl.sh), GTID comparison (lib-sql.sh, lib-engine.sh) and failover.sh: the
# pure decisions here; the phases against real servers in the data-plane tier (test/dataplane/run.sh
# section "failover").
load common

setup() { valid_env; load_libs; }

@test "fence: the designated primary confirms with a majority of the non-lost members" {
    # 3 members, none lost: itself and one peer answering is a majority
    [ "$(mmc_fence_verdict 2 2 3 mysql-1:1:1001:2)" = ok ]
    # nobody answers: it cannot confirm and stays read-only
    [[ "$(mmc_fence_verdict 2 2 3)" == "cannot confirm: 1 of 3 non-lost members answered, 2 needed" ]]
    # two members lost (a failover declared them): the one left needs nobody else
    [ "$(mmc_fence_verdict 3 3 1)" = ok ]
    # 2 members, none lost: the peer must answer
    [[ "$(mmc_fence_verdict 2 2 2)" == "cannot confirm"* ]]
}

@test "fence: a newer epoch anywhere keeps the member read-only (stale topology)" {
    [ "$(mmc_fence_verdict 2 2 3 mysql-1:1:1001:3 mysql-2:1:1002:2)" = "mysql-1 knows epoch 3, newer than the topology's 2" ]
    [ "$(mmc_fence_verdict 2 3 3 mysql-1:1:1001:3)" = "this member's data knows epoch 3, newer than the topology's 2 (stale topology)" ]
    [ "$(mmc_fence_verdict 2 2 3 mysql-1:0:1001:2)" = "mysql-1 is writable" ]
}

@test "fence: a set that never recorded an epoch bootstraps without a quorum, unless a peer knows one" {
    [ "$(mmc_fence_verdict 1 0 2)" = ok ]
    [[ "$(mmc_fence_verdict 1 0 3 mysql-1:1:1001:1)" == ok ]]
    [[ "$(mmc_fence_verdict 1 0 3 mysql-1:1:1001:2)" == "mysql-1 knows epoch 2"* ]]
    # a member whose data knows an epoch is fenced by the quorum
    [[ "$(mmc_fence_verdict 1 1 2)" == "cannot confirm"* ]]
}

@test "seed from the waiting primary: allowed when every condition holds" {
    # designated primary mysql-0, read-only, at the topology's epoch 2 which it recorded itself; two
    # non-lost members; waited 25 of 20 s; the other answering member (none here) writable or newer: no
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:2:1000)" = ok ]
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 20 20 0:1:1000:2:1000 mysql-0:1:1000:2)" = ok ]
}

@test "seed from the waiting primary: refused unless the donor is the designated primary (1)" {
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 1:1:1001:2:1001)" = "mysql-1 is not the designated primary (mysql-0)" ]
}

@test "seed from the waiting primary: refused unless the donor made itself writable at the topology's epoch (2)" {
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:1:1000)" = "mysql-0's data is at epoch 1, not the topology's 2" ]
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:3:1001)" = "mysql-0's data is at epoch 3, not the topology's 2" ]
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:2:1001)" = "mysql-0 did not become writable at epoch 2 (its epoch names server 1001, it is 1000)" ]
    [[ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:0:0)" == "mysql-0 has recorded no epoch"* ]]
    # a writable donor is an ordinary one: this rule is not used
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:0:1000:2:1000)" = "mysql-0 is writable (an ordinary donor)" ]
}

@test "seed from the waiting primary: refused unless exactly two members are not declared lost (3)" {
    [[ "$(mmc_waiting_primary_seed_verdict 0 2 3 25 20 0:1:1000:2:1000)" == "the set has 3 members not declared lost, not 2"* ]]
    [[ "$(mmc_waiting_primary_seed_verdict 0 2 1 25 20 0:1:1000:2:1000)" == "the set has 1 members not declared lost, not 2"* ]]
}

@test "seed from the waiting primary: refused when a reachable member is writable or knows a newer epoch (4)" {
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:2:1000 mysql-2:0:1002:2)" = "mysql-2 is writable" ]
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:2:1000 mysql-2:1:1002:3)" = "mysql-2 knows epoch 3, newer than the topology's 2" ]
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 25 20 0:1:1000:2:1000 mysql-2:1:1002:2)" = ok ]
}

@test "seed from the waiting primary: refused before the recipient waited the bound for a writable donor (5)" {
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 19 20 0:1:1000:2:1000)" = "waiting for a writable donor: 19 of 20 s" ]
    [ "$(mmc_waiting_primary_seed_verdict 0 2 2 0 20 0:1:1000:2:1000)" = "waiting for a writable donor: 0 of 20 s" ]
}

@test "quorum: a majority" {
    [ "$(mmc_quorum 1)" = 1 ] && [ "$(mmc_quorum 2)" = 2 ] && [ "$(mmc_quorum 3)" = 2 ] && [ "$(mmc_quorum 5)" = 3 ]
}

@test "member state: parsed from the client output; epoch 0 when none was recorded; status 1 when no answer" {
    [ "$(printf 'm\t1\t1001\ne\t4\t1002\n' | mmc_parse_member_state)" = "1 1001 4 1002" ]
    [ "$(printf 'm\t0\t1000\n' | mmc_parse_member_state)" = "0 1000 0 0" ]
    run mmc_parse_member_state </dev/null
    [ "$status" -eq 1 ]
}

@test "the epoch is recorded before the promotion makes the server writable, never lowered" {
    local e
    for e in mariadb mysql; do
        MMC_ENGINE=$e
        run mmc_sql_promote 7
        [[ "$output" == *"UPDATE mmc.epoch SET epoch = 7"*"WHERE id = 1 AND epoch <= 7"*"SET GLOBAL read_only = OFF;" ]] || { echo "$e: $output"; false; }
        # without an epoch the promotion is the one it was
        run mmc_sql_promote
        [[ "$output" != *mmc.epoch* ]]
    done
    [[ "$(mmc_sql_record_epoch 7)" == *"INSERT IGNORE INTO mmc.epoch (id, epoch, primary_server_id) VALUES (1, 0, 0);"*"UPDATE mmc.epoch SET epoch = 7, primary_server_id = @@GLOBAL.server_id, at = CURRENT_TIMESTAMP(6) WHERE id = 1 AND epoch <= 7;" ]]
}

@test "MariaDB GTID comparison: positions of one history, errant transactions of a diverged one" {
    # a replica ahead of the chosen one
    [ "$(mmc_gtid_missing_mariadb 0-1000-105 0-1000-103)" = 0-1000-105 ]
    [ "$(mmc_gtid_missing_mariadb 0-1000-103 0-1000-105)" = "" ]
    # positions across primaries of one history: seq_nos grow in a domain
    [ "$(mmc_gtid_missing_mariadb 0-1000-100 0-1001-120)" = "" ]
    # the returning old primary (1000) wrote 101..105 nobody received; the new primary (1001) went on
    [ "$(mmc_gtid_missing_mariadb 0-1001-20,0-1000-105 0-1000-100,0-1001-120)" = 0-1000-105 ]
    # it returns clean: everything it wrote was received
    [ "$(mmc_gtid_missing_mariadb 0-1000-100 0-1000-100,0-1001-120)" = "" ]
    # another domain the other never had
    [ "$(mmc_gtid_missing_mariadb 0-1000-5,1-1000-3 0-1000-5)" = 1-1000-3 ]
    # empty history lacks nothing
    [ "$(mmc_gtid_missing_mariadb "" 0-1000-5)" = "" ]
}

@test "replica status carries the applier state (failover waits for 'read all relay log')" {
    local st
    st=$(printf '        Slave_SQL_Running_State: Slave has read all relay log; waiting for more updates\n' | mmc_replica_status_filter)
    [ "$(mmc_field sql_state "$st")" = "Slave has read all relay log; waiting for more updates" ]
    st=$(printf '      Replica_SQL_Running_State: Replica has read all relay log; waiting for more updates\n' | mmc_replica_status_filter)
    [[ "$(mmc_field sql_state "$st")" == *"read all relay log"* ]]
}

# failover.sh: the phase table with stubbed phases
stub_phases() {
    . "$S/failover.sh"
    NEW=new OTHERS="r1 r2" LOST="lost" EPOCH=3 LOG="$BATS_TEST_TMPDIR/calls"
    MMC_TMP=$BATS_TEST_TMPDIR
    : >"$LOG"
    local p
    for p in check stop_receiving drain compare promote repoint; do
        eval "phase_$p() { echo \"$p(\$1)\" >>\"\$LOG\"; [ \"\${FAIL:-}\" != $p ] || return 1; echo go; }"
    done
    undo_stop_receiving() { echo "undo_stop_receiving" >>"$LOG"; }
    undo_promote() { echo "undo_promote" >>"$LOG"; return 1; }
}
calls() { tr '\n' ' ' <"$LOG"; }

@test "failover: the table, in order, each phase with its rollback" {
    stub_phases
    [ "$(failover_phases | tr '\n' ' ')" = "check:- stop_receiving:undo_stop_receiving drain:- compare:- promote:undo_promote repoint:- " ]
    run run_phases
    [ "$status" -eq 0 ]
    [ "$(calls)" = "check() stop_receiving(go) drain(go) compare(go) promote(go) repoint(go) " ]
}

@test "failover: the chosen one behind another refuses before anything is writable; receiving restarts" {
    stub_phases
    FAIL=compare run run_phases
    [ "$status" -eq 1 ]
    [ "$(calls)" = "check() stop_receiving(go) drain(go) compare(go) undo_stop_receiving " ]
}

@test "failover: a failed repoint makes the new primary read-only again (nothing left writable)" {
    stub_phases
    FAIL=repoint run run_phases
    [ "$status" -eq 1 ]
    [ "$(calls)" = "check() stop_receiving(go) drain(go) compare(go) promote(go) repoint(go) undo_promote " ]
}

@test "failover: a member both reachable and lost, and a missing epoch, are refused" {
    stub_phases
    . "$S/failover.sh"
    ADMIN_CRED=x NEW=new OTHERS="r1 lost" LOST="lost"
    mmc_member_state() { echo "1 1000 2 1000"; }
    run phase_check ""
    [ "$status" -eq 1 ]
    [ "$(cat "$MMC_TMP/reason")" = "lost is both reachable and declared lost" ]
    run env -u MMC_EPOCH bash "$S/failover.sh"
    [ "$status" -eq 2 ] && [[ "$output" == *"MMC_EPOCH is required"* ]]
    MMC_EPOCH=1 run bash "$S/failover.sh"
    [ "$status" -eq 2 ] && [[ "$output" == *"MMC_EPOCH must be at least 2"* ]]
}

@test "failover check: a stale epoch, a writable member and an unreachable one are refused naming the member" {
    stub_phases
    . "$S/failover.sh"
    ADMIN_CRED=x NEW=new OTHERS="r1 r2" LOST="lost" EPOCH=3
    mmc_has_channel() { return 0; }
    mmc_member_state() { case "$2" in new) echo "1 1001 2 1000" ;; r1) echo "1 1002 3 1003" ;; r2) echo "1 1003 2 1000" ;; esac; }
    run phase_check ""
    [ "$status" -eq 1 ]
    [[ "$(cat "$MMC_TMP/reason")" == "r1 already knows epoch 3 (primary server_id 1003); this failover is to epoch 3: the config is stale" ]]
    mmc_member_state() { case "$2" in new) echo "1 1001 2 1000" ;; r1) echo "0 1002 2 1000" ;; r2) echo "1 1003 2 1000" ;; esac; }
    run phase_check ""
    [ "$status" -eq 1 ]
    [[ "$(cat "$MMC_TMP/reason")" == "r1 is writable: the primary is not lost"* ]]
    mmc_member_state() { case "$2" in new) echo "1 1001 2 1000" ;; r1) return 1 ;; r2) echo "1 1003 2 1000" ;; esac; }
    run phase_check ""
    [ "$status" -eq 1 ]
    [[ "$(cat "$MMC_TMP/reason")" == "r1 does not answer"* ]]
    # all fine
    mmc_member_state() { case "$2" in new) echo "1 1001 2 1000" ;; *) echo "1 1002 2 1000" ;; esac; }
    run phase_check ""
    [ "$status" -eq 0 ] && [ "${lines[${#lines[@]} - 1]}" = go ]
    # a re-run after the promotion: the new primary is writable at this epoch, the others follow it
    mmc_has_channel() { [ "$2" != new ]; }
    mmc_member_state() { case "$2" in new) echo "0 1001 3 1001" ;; *) echo "1 1002 3 1001" ;; esac; }
    run phase_check ""
    [ "$status" -eq 0 ] && [[ "$output" == *promoted ]]
}
