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

# ---------- epoch and fencing (docs/dataplane-contract.md "Epoch and fencing") ----------
# The set's generation lives in the table mmc.epoch (one row, id 1), written on the primary by every
# promotion (switchover.sh, failover.sh) and by replicate.sh when it makes the designated primary
# writable; it replicates, so every member that applied the promotion knows it.

# mmc_sql_record_epoch EPOCH -> SQL (run on the server being promoted, before it is made writable) that
# records EPOCH and this server as its primary; never lowers a recorded epoch.
mmc_sql_record_epoch() {
    local e=$1
    cat <<SQL
CREATE DATABASE IF NOT EXISTS mmc;
CREATE TABLE IF NOT EXISTS mmc.epoch (id TINYINT PRIMARY KEY, epoch BIGINT NOT NULL, primary_server_id BIGINT NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;
INSERT IGNORE INTO mmc.epoch (id, epoch, primary_server_id) VALUES (1, 0, 0);
UPDATE mmc.epoch SET epoch = $e, primary_server_id = @@GLOBAL.server_id, at = CURRENT_TIMESTAMP(6) WHERE id = 1 AND epoch <= $e;
SQL
}
# SQL whose answer is "m <ro> <server_id>" and, when the table exists, "e <epoch> <primary_server_id>".
mmc_sql_member_state() {
    echo "SELECT 'm', IF($(mmc_sql_writable_expr) = 0, 0, 1), @@GLOBAL.server_id;"
    echo "SELECT 'e', epoch, primary_server_id FROM mmc.epoch WHERE id = 1;"
}
# mmc_parse_member_state (client output on stdin) -> "ro server_id epoch epoch_primary_server_id"
# (epoch 0 and primary 0 when no epoch was ever recorded); status 1 when the server did not answer.
mmc_parse_member_state() {
    awk -F'\t' '$1 == "m" { ro = $2; sid = $3; m = 1 } $1 == "e" { e = $2; ep = $3 }
        END { if (!m) exit 1; printf "%s %s %s %s\n", ro, sid, (e == "" ? 0 : e), (ep == "" ? 0 : ep) }'
}
# mmc_member_state [CREDFILE HOST] -> "ro server_id epoch epoch_primary" of a remote member (5 s bound)
# or of the local server.
mmc_member_state() {
    if [ $# -eq 2 ]; then
        mmc_sql_member_state | MMC_SQL_TIMEOUT=5 mmc_sql_remote "$1" "$2" --force 2>/dev/null | mmc_parse_member_state
    else
        mmc_sql_member_state | mmc_sql_local --force 2>/dev/null | mmc_parse_member_state
    fi
}

# mmc_is_listed WORD LIST : status 0 when WORD is one of the space-separated LIST.
mmc_is_listed() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# mmc_quorum N -> members that must answer (this one included) among N non-lost members: a majority.
# A set of one needs nobody else; automatic failover (a later capability) uses the same rule.
mmc_quorum() { echo $(($1 / 2 + 1)); }

# mmc_fence_verdict EPOCH OWN_EPOCH NON_LOST ANSWERS... -> prints "ok" or the reason this member may
# not become writable. EPOCH: the topology's (MMC_EPOCH); OWN_EPOCH: the one this member's data knows;
# NON_LOST: members of the set not declared lost (this one included); ANSWERS: one
# "name:ro:server_id:epoch" per non-lost peer that answered. Pure: the data-plane facts come in.
# A member whose data knows no epoch (0: the set's first start, or a set deployed before epochs) needs
# no quorum when no answering peer knows one either: there was never a primary to fence.
mmc_fence_verdict() {
    local epoch=$1 own=$2 n=$3 a name ro e answered=1 need known=0
    shift 3
    if [ "$own" -gt "$epoch" ]; then echo "this member's data knows epoch $own, newer than the topology's $epoch (stale topology)"; return 0; fi
    for a in "$@"; do
        IFS=: read -r name ro _ e <<<"$a"
        answered=$((answered + 1))
        if [ "$e" -gt "$epoch" ]; then echo "$name knows epoch $e, newer than the topology's $epoch"; return 0; fi
        if [ "$ro" = 0 ]; then echo "$name is writable"; return 0; fi
        [ "$e" = 0 ] || known=1
    done
    if [ "$own" = 0 ] && [ "$known" = 0 ]; then echo ok; return 0; fi
    need=$(mmc_quorum "$n")
    if [ "$answered" -lt "$need" ]; then echo "cannot confirm: $answered of $n non-lost members answered, $need needed"; return 0; fi
    echo ok
}

# mmc_waiting_primary_seed_verdict PRIMARY_ORDINAL EPOCH NON_LOST WAITED BOUND DONOR ANSWERS... -> prints
# "ok" or why an empty member may NOT seed from DONOR, a read-only donor (docs/dataplane-contract.md
# "Epoch and fencing", "Seeding from the primary waiting for its quorum"). Pure: the facts come in.
# PRIMARY_ORDINAL, EPOCH: the recipient's topology (MMC_PRIMARY_ORDINAL, MMC_EPOCH); NON_LOST: members of
# the set not declared lost (the recipient included); WAITED: seconds the recipient has seen DONOR
# read-only (waiting) without a writable donor; BOUND: how long it must wait first; DONOR:
# "ordinal:ro:server_id:epoch:epoch_primary_server_id" (mmc_member_state of the donor); ANSWERS: one
# "name:ro:server_id:epoch" per other member that answered (the donor need not be repeated).
mmc_waiting_primary_seed_verdict() {
    local po=$1 epoch=$2 n=$3 waited=$4 bound=$5 d o ro sid e ep a name
    shift 5
    d=$1
    shift
    IFS=: read -r o ro sid e ep <<<"$d"
    if [ "$o" != "$po" ]; then echo "mysql-$o is not the designated primary (mysql-$po)"; return 0; fi
    if [ "$ro" = 0 ]; then echo "mysql-$o is writable (an ordinary donor)"; return 0; fi
    if [ "$e" = 0 ]; then echo "mysql-$o has recorded no epoch (a set without one needs no quorum)"; return 0; fi
    if [ "$e" != "$epoch" ]; then echo "mysql-$o's data is at epoch $e, not the topology's $epoch"; return 0; fi
    if [ "$ep" != "$sid" ]; then echo "mysql-$o did not become writable at epoch $e (its epoch names server $ep, it is $sid)"; return 0; fi
    if [ "$n" != 2 ]; then echo "the set has $n members not declared lost, not 2: a majority must answer it, or an operator act"; return 0; fi
    for a in "$@"; do
        IFS=: read -r name ro _ e <<<"$a"
        if [ "$ro" = 0 ]; then echo "$name is writable"; return 0; fi
        if [ "$e" -gt "$epoch" ]; then echo "$name knows epoch $e, newer than the topology's $epoch"; return 0; fi
    done
    if [ "$waited" -lt "$bound" ]; then echo "waiting for a writable donor: $waited of $bound s"; return 0; fi
    echo ok
}
