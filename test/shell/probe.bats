#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# probe.sh's judgement (pure): role and reason from read-only and replica status.
load common

setup() {
    valid_env
    # shellcheck disable=SC1091
    . "$S/probe.sh"
}
st() { printf 'host\th0\nio\t%s\nsql\t%s\nlag\t%s\nio_errno\t%s\nio_error\t%s\nsql_errno\t0\nsql_error\t\n' "$@"; }

@test "a writable server without a channel is a ready primary" {
    run mmc_judge 0 "" 30
    [ "$status" -eq 0 ]; [ "$output" = "$(printf 'primary\t')" ]
}
@test "a read-only server without a channel is a primary not promoted yet" {
    run mmc_judge 1 "" 30
    [ "$status" -eq 1 ]; [[ "$output" == "primary"$'\t'"no replication channel and read-only"* ]]
}
@test "a healthy read-only replica is ready" {
    run mmc_judge 1 "$(st Yes Yes 3 0 '')" 30
    [ "$status" -eq 0 ]; [ "$output" = "$(printf 'replica\t')" ]
}
@test "replica failures name the reason" {
    run mmc_judge 1 "$(st Connecting Yes 0 2003 "can't connect")" 30
    [ "$status" -eq 1 ]; [ "$output" = "$(printf "replica\treplication I/O not running (Connecting): 2003 can't connect")" ]
    run mmc_judge 1 "$(st Yes Yes NULL 0 '')" 30
    [ "$status" -eq 1 ]; [[ "$output" == *"lag unknown" ]]
    run mmc_judge 1 "$(st Yes Yes 31 0 '')" 30
    [ "$status" -eq 1 ]; [[ "$output" == *"lag 31s > 30s" ]]
    run mmc_judge 0 "$(st Yes Yes 0 0 '')" 30
    [ "$status" -eq 1 ]; [[ "$output" == *"replica is writable" ]]
}
