#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# Automatic failover (lib-autofailover.sh): the pure decisions of the failover-agent and of
# replicate.sh's automatic-mode gate, a positive and a negative case for each condition. The agent
# against real servers and a real etcd: test/dataplane/run.sh section "auto_failover".
load common

setup() {
    valid_env
    load_libs
    # shellcheck source=../../components/scripts/lib-autofailover.sh
    . "$S/lib-autofailover.sh"
}

@test "record fields: parsed from the record and from the agent's file; absent is status 1" {
    rec=$(mmc_af_record 3 1 1001 ON)
    [ "$rec" = "epoch=3 ordinal=1 server_id=1001 semi_sync=ON" ]
    [ "$(mmc_af_field epoch "$rec")" = 3 ]
    [ "$(mmc_af_field semi_sync "$rec")" = ON ]
    run mmc_af_field held "$rec"
    [ "$status" = 1 ]
}

@test "fence deadline: lease minus margin after the last renewal started" {
    [ "$(mmc_af_fence_deadline_ms 100000 10 3)" = 107000 ]
    # not due just before the deadline, due at it and after
    run mmc_af_fence_due 106999 100000 10 3
    [ "$status" = 1 ]
    mmc_af_fence_due 107000 100000 10 3
    mmc_af_fence_due 200000 100000 10 3
    # never renewed: due
    mmc_af_fence_due 1 "" 10 3
}

@test "lease and margin: 5..60 s, margin 1..lease-1; anything else is one line naming the input" {
    mmc_af_check_timing 10 3
    mmc_af_check_timing 5 4
    run mmc_af_check_timing 4 3
    [ "$status" = 1 ] && [ "$output" = "MMC_LEASE_SECONDS must be an integer 5..60, got '4'" ]
    run mmc_af_check_timing 61 3
    [ "$status" = 1 ]
    run mmc_af_check_timing ten 3
    [ "$status" = 1 ] && [ "$output" = "MMC_LEASE_SECONDS must be an integer 5..60, got 'ten'" ]
    run mmc_af_check_timing 10 10
    [ "$status" = 1 ] && [ "$output" = "MMC_FENCE_MARGIN_SECONDS must be an integer 1..9, got '10'" ]
    run mmc_af_check_timing 10 0
    [ "$status" = 1 ]
}

@test "holder: acquires an absent record, a record of a lower epoch, or its own record at its epoch" {
    [ "$(mmc_af_holder_verdict 0 1 "" "")" = acquire ]
    [ "$(mmc_af_holder_verdict 0 1 1 "")" = acquire ]
    # a switchover or failover by config promoted mysql-1 at epoch 3: it takes the record of epoch 2
    [ "$(mmc_af_holder_verdict 1 3 2 "$(mmc_af_record 2 0 1000 ON)")" = acquire ]
    # the agent restarted: its own record at its epoch
    [ "$(mmc_af_holder_verdict 1 3 3 "$(mmc_af_record 3 1 1001 ON)")" = acquire ]
}

@test "holder: fences when another member holds it at its epoch or newer, or the arbiter saw a newer epoch" {
    [ "$(mmc_af_holder_verdict 0 1 2 "$(mmc_af_record 2 1 1001 ON)")" = "fence: the arbiter has seen epoch 2, newer than this member's 1" ]
    [ "$(mmc_af_holder_verdict 0 2 2 "$(mmc_af_record 2 1 1001 ON)")" = "fence: mysql-1 holds the arbiter at epoch 2 (this member is at 2)" ]
    # the record gone but the arbiter's epoch newer: a failover happened; this member's data is stale
    [[ "$(mmc_af_holder_verdict 0 1 3 "")" == "fence: the arbiter has seen epoch 3"* ]]
    # its own ordinal, but at a newer epoch than its data knows
    [[ "$(mmc_af_holder_verdict 0 1 "" "$(mmc_af_record 4 0 1000 ON)")" == "fence: mysql-0 holds the arbiter at epoch 4"* ]]
}

@test "role: the writable member and the designated primary whose record may be taken are holders" {
    [ "$(mmc_af_role 0 0 0 1 "" 2 2)" = holder ]
    # the designated primary at the set's first start (nothing claimed yet)
    [ "$(mmc_af_role 1 0 0 0 "" "" 1)" = holder ]
    # promoted by config to a newer epoch than the arbiter's
    [ "$(mmc_af_role 1 0 1 1 "$(mmc_af_record 2 0 1000 ON)" 2 3)" = holder ]
    # its own record still there (its server restarted)
    [ "$(mmc_af_role 1 0 1 1 "$(mmc_af_record 3 1 1001 ON)" 3 3)" = holder ]
}

@test "role: a replica, and a designated primary whose claimed epoch expired (it fenced), are candidates" {
    [ "$(mmc_af_role 1 1 0 1 "" 2 2)" = candidate ]
    [ "$(mmc_af_role 1 1 0 0 "" 2 2)" = candidate ]
    # read-only without a channel, designated, but its epoch 2 was claimed and the record is gone
    [ "$(mmc_af_role 1 0 0 0 "" 2 2)" = candidate ]
    # not designated (another member's newer record)
    [ "$(mmc_af_role 1 0 1 0 "$(mmc_af_record 3 1 1001 ON)" 3 2)" = candidate ]
}

@test "GTID relation of a peer" {
    [ "$(mmc_af_gtid_relation "0-1000-5" "")" = ahead ]
    [ "$(mmc_af_gtid_relation "0-1000-5" "0-1001-2")" = ahead ]
    [ "$(mmc_af_gtid_relation "" "")" = equal ]
    [ "$(mmc_af_gtid_relation "" "0-1000-7")" = behind ]
}

@test "campaign: ok when the record is gone twice, nobody writable, this member the most advanced, semi-sync was on" {
    last=$(mmc_af_record 1 0 1000 ON)
    [ "$(mmc_af_campaign_verdict 1 2 "$last" 1 2:1:behind)" = ok ]
    # the only reachable member: itself (the others unreachable, left out)
    [ "$(mmc_af_campaign_verdict 1 5 "$last" 1)" = ok ]
    # equal with a higher ordinal: this one wins the tie
    [ "$(mmc_af_campaign_verdict 1 2 "$last" 1 2:1:equal)" = ok ]
    # no record ever seen (a set that never had one): nothing says semi-sync was off
    [ "$(mmc_af_campaign_verdict 1 2 "" 1 2:1:behind)" = ok ]
}

@test "campaign: the record must be absent on two consecutive rounds" {
    last=$(mmc_af_record 1 0 1000 ON)
    [ "$(mmc_af_campaign_verdict 1 1 "$last" 1)" = "the primary's record is absent for 1 round(s), 2 needed" ]
    [ "$(mmc_af_campaign_verdict 1 0 "$last" 1)" = "the primary's record is absent for 0 round(s), 2 needed" ]
}

@test "campaign (a): refused while a reachable member is writable" {
    last=$(mmc_af_record 1 0 1000 ON)
    [ "$(mmc_af_campaign_verdict 1 2 "$last" 1 0:0:behind 2:1:behind)" = "mysql-0 is writable" ]
    [ "$(mmc_af_campaign_verdict 1 2 "$last" 1 0:1:behind 2:1:behind)" = ok ]
}

@test "campaign (b): refused unless the most advanced reachable member (ties: lowest ordinal)" {
    last=$(mmc_af_record 1 0 1000 ON)
    [ "$(mmc_af_campaign_verdict 1 2 "$last" 1 2:1:ahead)" = "mysql-2 is more advanced (it has transactions this member lacks)" ]
    [ "$(mmc_af_campaign_verdict 2 2 "$last" 1 1:1:equal)" = "mysql-1 is as advanced and has a lower ordinal" ]
    [ "$(mmc_af_campaign_verdict 1 2 "$last" 1 2:1:equal)" = ok ]
}

@test "campaign (c): refused when the lost primary's last record said semi_sync=OFF" {
    [[ "$(mmc_af_campaign_verdict 1 2 "$(mmc_af_record 1 0 1000 OFF)" 1 2:1:behind)" == "refused: the lost primary's last record says semi_sync=OFF"*"fail over by config"* ]]
    [ "$(mmc_af_campaign_verdict 1 2 "$(mmc_af_record 1 0 1000 ON)" 1 2:1:behind)" = ok ]
}

@test "campaign: a member without a running server or data never campaigns" {
    [ "$(mmc_af_campaign_verdict 1 2 "" 0)" = "this member has no running server with data" ]
    [ "$(mmc_af_campaign_verdict 1 2 "" 1)" = ok ]
}

@test "campaign epoch: the arbiter's epoch, else the highest known; the claim is one more than every one" {
    [ "$(mmc_af_base_epoch 4 2 3 1)" = 4 ]
    [ "$(mmc_af_base_epoch "" 2 3 1)" = 3 ]
    [ "$(mmc_af_base_epoch "" 2)" = 2 ]
    [ "$(mmc_af_next_epoch 4 2 1)" = 5 ]
    [ "$(mmc_af_next_epoch 2 5 1)" = 6 ]
    [ "$(mmc_af_next_epoch 2 2 7)" = 8 ]
}

@test "designated primary: the arbiter's record when newer than the topology, else MMC_PRIMARY_ORDINAL" {
    [ "$(mmc_af_designated "held=0 epoch=3 ordinal=1 at=5" 2 0)" = 1 ]
    [ "$(mmc_af_designated "held=0 epoch=2 ordinal=1 at=5" 2 0)" = 0 ]
    [ "$(mmc_af_designated "" 2 0)" = 0 ]
    [ "$(mmc_af_designated "held=0 epoch=0 ordinal=- at=5" 1 0)" = 0 ]
    [ "$(mmc_af_arbiter_epoch "held=1 epoch=3 ordinal=1 at=5" 2)" = 3 ]
    [ "$(mmc_af_arbiter_epoch "held=1 epoch=1 ordinal=1 at=5" 2)" = 2 ]
}

@test "write gate: only while this member holds the record and renewed it before the fence deadline" {
    [ "$(mmc_af_write_verdict "held=1 epoch=2 ordinal=1 at=100000" 1 106999 10 3)" = ok ]
    [[ "$(mmc_af_write_verdict "held=1 epoch=2 ordinal=1 at=100000" 1 107000 10 3)" == "the arbiter's lease was last renewed too long ago"* ]]
    [[ "$(mmc_af_write_verdict "held=0 epoch=2 ordinal=1 at=100000" 1 100001 10 3)" == "this member does not hold the arbiter"* ]]
    [[ "$(mmc_af_write_verdict "held=1 epoch=2 ordinal=0 at=100000" 1 100001 10 3)" == "this member does not hold the arbiter"* ]]
    [ "$(mmc_af_write_verdict "" 1 100001 10 3)" = "no arbiter file from the failover-agent yet" ]
    [[ "$(mmc_af_write_verdict "held=1 epoch=2 ordinal=1 at=" 1 100001 10 3)" == "the arbiter's lease was last renewed too long ago"* ]]
}

@test "autofailover role: its inputs are validated (one line naming the input, status 2)" {
    export MMC_ARBITER_ENDPOINTS="127.0.0.1:2379" MMC_ARBITER_KEY=/mysql-multicluster/ns/mysql MMC_LEASE_SECONDS=10 MMC_PEERS="0=a 1=b" MMC_LOST=""
    mmc_validate autofailover
    unset MMC_ARBITER_KEY
    run mmc_validate autofailover
    [ "$status" = 2 ] && [[ "$output" == "mmc: MMC_ARBITER_KEY is required"* ]]
    export MMC_ARBITER_KEY=/k MMC_LEASE_SECONDS=ten
    run mmc_validate autofailover
    [ "$status" = 2 ] && [ "$output" = "mmc: MMC_LEASE_SECONDS must be a non-negative integer, got 'ten'" ]
}

@test "autofailover.sh: a lease out of range exits 2 with one line, before touching anything" {
    export MMC_ARBITER_ENDPOINTS="127.0.0.1:1" MMC_ARBITER_KEY=/k MMC_LEASE_SECONDS=3 MMC_PEERS="0=a 1=b" MMC_LOST=""
    run bash "$S/autofailover.sh"
    [ "$status" = 2 ]
    [[ "$output" == *"MMC_LEASE_SECONDS must be an integer 5..60, got '3'" ]]
    [ "$(echo "$output" | wc -l)" = 1 ]
    [ ! -e "$MMC_RUN_DIR/mmc-arbiter" ]
}

# The arbiter client (lib-arbiter.sh) against fake endpoints: mmc_arb_http replaced by a function that
# logs which endpoint each exchange went to; "cut:1" never answers (a voter cut off), "ok:2" and
# "ok:3" answer like etcd's gateway.
fake_arbiter() {
    . "$S/lib-arbiter.sh"
    ARB_LOG="$BATS_TEST_TMPDIR/arb.log"
    : >"$ARB_LOG"
    mmc_arb_http() {
        echo "$1 $2" >>"$ARB_LOG"
        case $1 in
            cut:*) return 1 ;;
            err:*) echo '{"error":"etcdserver: no leader","code":14}' ;;
            *)
                case $2 in
                    /v3/kv/range) echo "{\"header\":{},\"kvs\":[{\"key\":\"aw==\",\"value\":\"$(mmc_b64 "from $1")\",\"mod_revision\":\"7\"}],\"count\":\"1\"}" ;;
                    /v3/lease/grant) echo '{"header":{},"ID":"694d","TTL":"10"}' ;;
                    /v3/lease/keepalive) echo '{"result":{"header":{},"ID":"694d","TTL":"10"}}' ;;
                    /v3/kv/txn) echo '{"header":{},"succeeded":true}' ;;
                    *) echo '{"header":{}}' ;;
                esac
                ;;
        esac
    }
}

@test "arbiter client: after a call, the endpoint that answered is tried first (get, grant, txn, keepalive, revoke)" {
    fake_arbiter
    export MMC_ARBITER_ENDPOINTS="cut:1 ok:2 ok:3"
    mmc_arb_get /k
    [ "$MMC_ARB_VALUE" = "from ok:2" ] && [ "$MMC_ARB_REV" = 7 ] && [ "$MMC_ARB_LAST" = ok:2 ]
    mmc_arb_grant 10
    [ "$MMC_ARB_ID" = 694d ]
    mmc_arb_txn '{"compare":[],"success":[]}'
    [ "$(mmc_arb_keepalive 694d)" = 10 ]
    mmc_arb_keepalive 694d >/dev/null
    [ "$MMC_ARB_TTL" = 10 ]
    mmc_arb_revoke 694d
    mmc_arb_get /k
    # the cut-off endpoint was tried once, by the first call; every later call went to ok:2 first
    run cat "$ARB_LOG"
    [ "${lines[0]}" = "cut:1 /v3/kv/range" ] && [ "${lines[1]}" = "ok:2 /v3/kv/range" ]
    [ "$(grep -c '^cut:1' "$ARB_LOG")" = 1 ]
    [ "$(grep -c '^ok:3' "$ARB_LOG")" = 0 ]
    [ "${#lines[@]}" = 8 ]
}

@test "arbiter client: when the remembered endpoint stops answering, the others are tried in order and the new one remembered" {
    fake_arbiter
    export MMC_ARBITER_ENDPOINTS="ok:2 ok:3"
    MMC_ARB_LAST=cut:1
    mmc_arb_get /k
    [ "$MMC_ARB_VALUE" = "from ok:2" ] && [ "$MMC_ARB_LAST" = ok:2 ]
    [ "$(cut -d' ' -f1 "$ARB_LOG" | tr '\n' ' ')" = "cut:1 ok:2 " ]
    # the voters moved: ok:2 is no longer listed and stops answering
    MMC_ARBITER_ENDPOINTS="cut:1 ok:3"
    MMC_ARB_LAST=cut:2
    mmc_arb_grant 10
    [ "$MMC_ARB_ID" = 694d ] && [ "$MMC_ARB_LAST" = ok:3 ]
    [ "$(cut -d' ' -f1 "$ARB_LOG" | tr '\n' ' ')" = "cut:1 ok:2 cut:2 cut:1 ok:3 " ]
    # nobody answers: status 1, the remembered endpoint kept
    MMC_ARBITER_ENDPOINTS="cut:1"
    MMC_ARB_LAST=cut:1
    run mmc_arb_get /k
    [ "$status" = 1 ]
}

@test "arbiter client: an endpoint that refuses (an etcd error) does not hide one that answers; all refusing is status 3" {
    fake_arbiter
    export MMC_ARBITER_ENDPOINTS="err:1 ok:2"
    mmc_arb_keepalive 694d >/dev/null
    [ "$MMC_ARB_TTL" = 10 ] && [ "$MMC_ARB_LAST" = ok:2 ]
    export MMC_ARBITER_ENDPOINTS="err:1" MMC_ARB_LAST=""
    run mmc_arb_txn '{}'
    [ "$status" = 3 ]
    # a keepalive refused everywhere (no leader) is "no answer", never "the lease is gone" (which fences)
    run mmc_arb_keepalive 694d
    [ "$status" = 1 ]
}

@test "arbiter client: a keepalive answered without a TTL means the lease is gone" {
    fake_arbiter
    mmc_arb_http() { echo "$1" >>"$ARB_LOG"; echo '{"result":{"header":{},"ID":"694d"}}'; }
    export MMC_ARBITER_ENDPOINTS="ok:2"
    run mmc_arb_keepalive 694d
    [ "$status" = 3 ] && [ -z "$output" ]
}
