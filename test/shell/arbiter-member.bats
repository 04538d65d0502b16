#!/usr/bin/env bats
# The arbiter's voter membership follows the config (lib-arbiter-member.sh): the pure decisions of
# arbiter-member.sh, a positive and a negative case for each. Against real etcd voters: test/dataplane/run.sh
# section "arbiter_move".
load common

setup() {
    . "$S/lib-arbiter-member.sh"
    D3="c1=http://a1:2380,c2=http://a2:2380,c3=http://a3:2380"
    D4="$D3,c4=http://a4:2380"
    DMOVED="c1=http://a1:2380,c2=http://a2:2380,c4=http://a4:2380"
    M3=$'11 c1 http://a1:2380\n22 c2 http://a2:2380\n33 c3 http://a3:2380'
}

@test "member list: parsed from etcd's gateway answer (list and add), a member not started has no name" {
    json='{"header":{"cluster_id":"1", "member_id":"2"}, "member":{"ID":"94", "peerURLs":["http://a4:2380"]}, "members":[{"ID":"94", "peerURLs":["http://a4:2380"]}, {"ID":"101", "name":"c1", "peerURLs":["http://a1:2380"], "clientURLs":["http://a1:2379"]}]}'
    [ "$(mmc_am_members "$json")" = $'94 - http://a4:2380\n101 c1 http://a1:2380' ]
    run mmc_am_members '{"header":{}}'
    [ "$status" = 1 ]
}

@test "desired voters: names, peer URL by name, client endpoint of a peer URL" {
    [ "$(mmc_am_desired_names "$D3" | tr '\n' ' ')" = "c1 c2 c3 " ]
    [ "$(mmc_am_desired_url "$D3" c2)" = http://a2:2380 ]
    run mmc_am_desired_url "$D3" c4
    [ "$status" = 1 ]
    [ "$(mmc_am_client_of http://a2:2380 2379)" = a2:2379 ]
}

@test "join: a voter with data keeps its identity whatever the arbiter or the ConfigMap say" {
    [ "$(mmc_am_join_verdict 1 new "" c3 http://a3:2380)" = keep ]
    [ "$(mmc_am_join_verdict 1 existing "$M3" c4 http://a4:2380)" = keep ]
}

@test "join: a new voter of a running arbiter adds itself; one already listed joins" {
    [ "$(mmc_am_join_verdict 0 existing "$M3" c4 http://a4:2380)" = add ]
    # the ConfigMap still says new (a later step), the arbiter runs: it joins the running one, never a new one
    [ "$(mmc_am_join_verdict 0 new "$M3" c4 http://a4:2380)" = add ]
    [ "$(mmc_am_join_verdict 0 existing $'11 c1 http://a1:2380\n44 - http://a4:2380' c4 http://a4:2380)" = join ]
    # the arbiter's first start: the others started first and list this voter, not started
    [ "$(mmc_am_join_verdict 0 new $'11 c1 http://a1:2380\n33 - http://a3:2380' c3 http://a3:2380)" = join ]
}

@test "join: another voter added and not started yet: wait (one membership change at a time)" {
    [[ "$(mmc_am_join_verdict 0 existing $'11 c1 http://a1:2380\n55 - http://a5:2380' c4 http://a4:2380)" == "wait: member http://a5:2380 was added and has not started yet"* ]]
}

@test "join: nobody answers: the arbiter's first start bootstraps; a joining voter waits, never a cluster of its own" {
    [ "$(mmc_am_join_verdict 0 new "" c1 http://a1:2380)" = bootstrap ]
    [[ "$(mmc_am_join_verdict 0 existing "" c4 http://a4:2380)" == "wait: no voter of the running arbiter answers; voter c4 joins it"*"never starts a cluster of its own" ]]
}

@test "join: the initial cluster is the running arbiter's members, a member not started named from the config" {
    [ "$(mmc_am_initial_cluster $'11 c1 http://a1:2380\n22 c2 http://a2:2380\n33 c3 http://a3:2380\n44 - http://a4:2380' "$D4" c4 http://a4:2380)" = "c1=http://a1:2380,c2=http://a2:2380,c3=http://a3:2380,c4=http://a4:2380" ]
    [ "$(mmc_am_initial_cluster $'11 c1 http://a1:2380\n33 - http://a3:2380\n44 - http://a4:2380' "$D4" c4 http://a4:2380)" = "c1=http://a1:2380,c3=http://a3:2380,c4=http://a4:2380" ]
}

@test "change: nothing while every member is desired (a desired voter not yet a member adds itself)" {
    [ "$(mmc_am_change_verdict c1 "$D3" "$M3" "11 22 33")" = none ]
    [ "$(mmc_am_change_verdict c1 "$D4" "$M3" "11 22 33")" = none ]
}

@test "change: a member whose cluster left the voter set is removed by a voter that stays" {
    m4="$M3"$'\n44 c4 http://a4:2380'
    [ "$(mmc_am_change_verdict c1 "$DMOVED" "$m4" "11 22 44")" = "remove 33 c3" ]
    # the leaving voter itself does not act; nor a voter outside the members
    [[ "$(mmc_am_change_verdict c3 "$DMOVED" "$m4" "11 22 44")" == "wait: voter c3 is not a member that stays"* ]]
    # the leaving voter down: the others still have their quorum (3 of 3 that stay)
    [ "$(mmc_am_change_verdict c2 "$DMOVED" "$m4" "11 22 44")" = "remove 33 c3" ]
}

@test "change: never below 3 voters" {
    [ "$(mmc_am_change_verdict c1 "c1=http://a1:2380,c2=http://a2:2380" "$M3" "11 22")" = "wait: removing c3 would leave 2 voters, 3 needed" ]
}

@test "change: only when the voters that stay have a quorum" {
    m4="$M3"$'\n44 c4 http://a4:2380'
    [ "$(mmc_am_change_verdict c1 "$DMOVED" "$m4" "11")" = "wait: only 1 of the 3 voters that stay answer; removing c3 needs 2" ]
    [ "$(mmc_am_change_verdict c1 "$DMOVED" "$m4" "11 44")" = "remove 33 c3" ]
}

@test "change: a member that still answers is never removed (a ConfigMap older than the voter that joined)" {
    m4="$M3"$'\n44 c4 http://a4:2380'
    # cluster4's voter joined; cluster1's mounted ConfigMap still lists c1,c2,c3: c4 is not desired there
    [ "$(mmc_am_change_verdict c1 "$D3" "$m4" "11 22 33 44")" = "wait: voter c4 is not in the voter set but answers: removed once its pod is gone" ]
    # the move's second step while cluster3's pod still runs: c3 waits until its pod is gone
    [ "$(mmc_am_change_verdict c1 "$DMOVED" "$m4" "11 22 33 44")" = "wait: voter c3 is not in the voter set but answers: removed once its pod is gone" ]
}

@test "change: one at a time: no removal while an added member has not started" {
    m5="$M3"$'\n44 c4 http://a4:2380\n55 - http://a5:2380'
    [[ "$(mmc_am_change_verdict c1 "$DMOVED,c5=http://a5:2380" "$m5" "11 22 44")" == "wait: member http://a5:2380 was added and has not started yet"* ]]
}

@test "etcd configuration file: the flags as YAML, the initial cluster and state as decided" {
    out=$(mmc_am_etcd_config c4 "c1=http://a1:2380,c4=http://a4:2380" existing --name=c4 --data-dir=/var/lib/etcd/data \
        --listen-client-urls=http://0.0.0.0:2379 --auto-compaction-retention=1h)
    [ "$out" = "name: c4
initial-cluster: c1=http://a1:2380,c4=http://a4:2380
initial-cluster-state: existing
data-dir: /var/lib/etcd/data
listen-client-urls: http://0.0.0.0:2379
auto-compaction-retention: 1h" ]
}

@test "arbiter-member.sh: bad inputs are one line naming the input, status 2" {
    run env MMC_ARB_NAME=Bad_Name MMC_ARB_CONFIG_DIR="$BATS_TEST_TMPDIR" bash "$S/arbiter-member.sh" watch
    [ "$status" = 2 ] && [[ "$output" == *"MMC_ARB_NAME must be a cluster name, got 'Bad_Name'" ]] && [ "${#lines[@]}" = 1 ]
    run env MMC_ARB_NAME=c1 MMC_ARB_CONFIG_DIR=/nonexistent bash "$S/arbiter-member.sh" watch
    [ "$status" = 2 ] && [[ "$output" == *"MMC_ARB_CONFIG_DIR must be the mounted arbiter ConfigMap, got '/nonexistent'" ]]
    echo "$D3" >"$BATS_TEST_TMPDIR/initial-cluster"; echo maybe >"$BATS_TEST_TMPDIR/initial-cluster-state"
    run env MMC_ARB_NAME=c1 MMC_ARB_CONFIG_DIR="$BATS_TEST_TMPDIR" MMC_ARB_ETCD_CONFIG="$BATS_TEST_TMPDIR/etcd.yml" MMC_ARB_DATA_DIR="$BATS_TEST_TMPDIR/d" bash "$S/arbiter-member.sh" join --name=c1
    [ "$status" = 2 ] && [[ "$output" == *"initial-cluster-state must be new or existing, got 'maybe'" ]]
    [ ! -e "$BATS_TEST_TMPDIR/etcd.yml" ]
    echo new >"$BATS_TEST_TMPDIR/initial-cluster-state"
    run env MMC_ARB_NAME=c9 MMC_ARB_CONFIG_DIR="$BATS_TEST_TMPDIR" MMC_ARB_ETCD_CONFIG="$BATS_TEST_TMPDIR/etcd.yml" MMC_ARB_DATA_DIR="$BATS_TEST_TMPDIR/d" bash "$S/arbiter-member.sh" join --name=c9
    [ "$status" = 2 ] && [[ "$output" == *"voter c9 is not in the ConfigMap's initial-cluster"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/etcd.yml" ]
}
