#!/usr/bin/env bash
# shellcheck shell=bash
# Replication operations shared by replicate.sh and switchover.sh, engine-neutral (the statements
# come from lib-engine.sh). Sourcing defines functions only.

# mmc_has_channel [CREDFILE HOST] : status 0 when the server (remote, or local without arguments)
# has a replication channel.
mmc_has_channel() {
    local st
    st=$(mmc_replica_status "$@") || return 1
    [ -n "$(mmc_field host "$st")" ]
}

# mmc_replica_healthy STATUS MAX_LAG : both threads running, lag known and <= MAX_LAG.
mmc_replica_healthy() {
    local lag
    [ "$(mmc_field io "$1")" = Yes ] && [ "$(mmc_field sql "$1")" = Yes ] || return 1
    lag=$(mmc_field lag "$1")
    [ -n "$lag" ] && [ "$lag" != NULL ] && [ "$lag" -le "$2" ]
}

# mmc_needs_reseed STATUS : status 0 when the channel's errors say the source cannot serve this
# replica's position: 1236 (purged / diverged), 13114 (MySQL's wrapper of it), 1950/1951/1948
# (MariaDB GTID strict-mode order/holes/conflicts).
mmc_needs_reseed() {
    case " $(mmc_field io_errno "$1") $(mmc_field sql_errno "$1") " in
        *" 1236 "* | *" 13114 "* | *" 1950 "* | *" 1951 "* | *" 1948 "*) return 0 ;;
        *) return 1 ;;
    esac
}

# mmc_ro_and_id CREDFILE HOST -> "read_only server_id" of a remote member (5 s bound).
mmc_ro_and_id() { MMC_SQL_TIMEOUT=5 mmc_qr "$1" "$2" "SELECT @@GLOBAL.read_only, @@GLOBAL.server_id"; }
