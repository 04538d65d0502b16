#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# lib-env.sh: inputs fail fast naming the variable; the topology file; identity helpers.
load common

setup() { valid_env; load_libs; }

@test "every role validates with the complete contract env" {
    for role in init run replicate donor probe switchover failover; do
        run mmc_validate "$role"
        [ "$status" -eq 0 ] || { echo "$role: $output"; false; }
    done
}

@test "a missing input fails with status 2 and one line naming it" {
    unset MMC_ENGINE
    run mmc_validate probe
    [ "$status" -eq 2 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == *"MMC_ENGINE is required"* ]]
}

@test "each role names its own missing inputs (no silent defaults)" {
    local role var
    for pair in init:MMC_BASE_CONF init:MMC_GTID_DOMAIN_ID replicate:MMC_WRITE_HOST replicate:MMC_ADMIN_PASSWORD \
        switchover:MMC_SWITCHOVER_TIMEOUT_SECONDS switchover:MMC_ADMIN_PASSWORD probe:MMC_MAX_LAG_SECONDS donor:MMC_SEED_PASSWORD \
        replicate:MMC_EPOCH failover:MMC_EPOCH failover:MMC_NEW_PRIMARY_HOST; do
        role=${pair%%:*} var=${pair#*:}
        run env -u "$var" bash -c '. "$1/lib-env.sh"; . "$1/lib-engine.sh"; mmc_validate "$2"' _ "$S" "$role"
        [ "$status" -eq 2 ] || { echo "$pair: status $status"; false; }
        [[ "$output" == *"$var is required"* ]] || { echo "$pair: $output"; false; }
    done
}

@test "an empty list is an input; an unset one is missing" {
    MMC_DONORS=""
    run mmc_validate init
    [ "$status" -eq 0 ]
    unset MMC_DONORS
    run mmc_validate init
    [ "$status" -eq 2 ]
    [[ "$output" == *"MMC_DONORS is required (it may be empty"* ]]
}

@test "a bad engine, a non-numeric port and a bad semi-sync value are refused naming the value" {
    MMC_ENGINE=postgres run mmc_validate probe
    [ "$status" -eq 2 ]; [[ "$output" == *"MMC_ENGINE must be mariadb or mysql, got 'postgres'"* ]]
    MMC_PORT=33o6 run mmc_validate init
    [ "$status" -eq 2 ]; [[ "$output" == *"MMC_PORT must be a non-negative integer, got '33o6'"* ]]
    MMC_SEMI_SYNC=maybe run mmc_validate init
    [ "$status" -eq 2 ]; [[ "$output" == *"MMC_SEMI_SYNC must be on or off, got 'maybe'"* ]]
}

@test "entry scripts exit 2 with one line naming a missing input, writing nothing" {
    local s
    for s in init run replicate donor probe switchover failover; do
        run env -i PATH="$PATH" TMPDIR="$BATS_TEST_TMPDIR" MMC_POD_NAME=mysql-0 bash "$S/$s.sh"
        [ "$status" -eq 2 ] || { echo "$s: status $status: $output"; false; }
        [ "${#lines[@]}" -eq 1 ] || { echo "$s: $output"; false; }
        [[ "$output" == *"MMC_ENGINE is required"* ]] || { echo "$s: $output"; false; }
    done
    [ -z "$(ls -A "$BATS_TEST_TMPDIR")" ]
}

@test "mmc_env_load loads the topology file and derives the paths" {
    printf 'MMC_PRIMARY_ORDINAL=1\nMMC_WRITE_HOST=w2\nMMC_PEERS="0=a 1=b"\nMMC_DONORS="a"\nMMC_EPOCH=3\nMMC_LOST="0"\n' >"$BATS_TEST_TMPDIR/topo.env"
    MMC_TOPOLOGY_FILE="$BATS_TEST_TMPDIR/topo.env"
    unset MMC_PRIMARY_ORDINAL MMC_WRITE_HOST MMC_EPOCH MMC_LOST
    mmc_env_load replicate
    [ "$MMC_PRIMARY_ORDINAL" = 1 ]
    [ "$MMC_EPOCH" = 3 ] && [ "$MMC_LOST" = 0 ]
    [ "$MMC_WRITE_HOST" = w2 ]
    [ "$(mmc_peer_host 1)" = b ]
    [ "$MMC_SOCKET" = "$MMC_RUN_DIR/mysqld.sock" ]
}

@test "a topology file that does not exist is an error naming it" {
    MMC_TOPOLOGY_FILE="$BATS_TEST_TMPDIR/nope.env"
    run mmc_env_load probe
    [ "$status" -eq 2 ]
    [[ "$output" == *"MMC_TOPOLOGY_FILE='$BATS_TEST_TMPDIR/nope.env' is not a file"* ]]
}

@test "ordinal, server id and peer lookup" {
    MMC_POD_NAME=my-set-12
    [ "$(mmc_ordinal)" = 12 ]
    [ "$(mmc_server_id)" = 1012 ]
    MMC_POD_NAME=nonumber
    run mmc_ordinal
    [ "$status" -eq 1 ]
    MMC_PEERS="0=h0 1=h1 10=h10"
    [ "$(mmc_peer_host 10)" = h10 ]
    [ "$(mmc_peer_host 1)" = h1 ]
    run mmc_peer_host 2
    [ "$status" -eq 1 ]
    [ "$(mmc_kv new.h "old.h=x new.h=y")" = y ]
}

@test "mmc_tmp_init makes a private directory removed at exit" {
    run bash -c '. "$1/lib-env.sh"; mmc_tmp_init; stat -c %a "$MMC_TMP"; echo "$MMC_TMP"' _ "$S"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = 700 ]
    [ ! -e "${lines[1]}" ]
}
