#!/usr/bin/env bash
# shellcheck shell=bash
# Automatic failover (docs/dataplane-contract.md "Automatic failover"): the pure decisions of the agent
# (autofailover.sh) and of replicate.sh's automatic-mode gate. Sourcing defines functions only; every
# fact (arbiter records, member states, clocks) comes in as an argument, so bats tests them without
# servers or an arbiter.
#
# The arbiter's record ($MMC_ARBITER_KEY/primary): "epoch=<E> ordinal=<N> server_id=<S> semi_sync=<ON|OFF>",
# attached to its holder's lease. The agent's file $MMC_RUN_DIR/mmc-arbiter:
# "held=<0|1> epoch=<E> ordinal=<N> at=<unix ms>" (E/N: the record as last read, 0 and - when none;
# at: for held=1 the start of the last successful lease renewal, else when the record was read).

# mmc_af_field NAME RECORD -> the value of NAME=... in a "k=v k=v" record; status 1 when absent.
mmc_af_field() {
    local kv
    for kv in $2; do
        if [ "${kv%%=*}" = "$1" ]; then echo "${kv#*=}"; return 0; fi
    done
    return 1
}

# mmc_af_record EPOCH ORDINAL SERVER_ID SEMI_SYNC -> the value of $K/primary.
mmc_af_record() { printf 'epoch=%s ordinal=%s server_id=%s semi_sync=%s\n' "$1" "$2" "$3" "$4"; }

# mmc_af_fence_deadline_ms T_OK_MS LEASE_S MARGIN_S -> the time (ms) by which a holder whose last
# successful renewal started at T_OK_MS must have fenced itself: the arbiter's lease, counted from no
# earlier than T_OK_MS, runs LEASE_S; fencing MARGIN_S before it means the fence always precedes the
# expiry (and so any other member's promotion, which needs the record gone).
mmc_af_fence_deadline_ms() { echo $(($1 + ($2 - $3) * 1000)); }

# mmc_af_fence_due NOW_MS T_OK_MS LEASE_S MARGIN_S : status 0 when the holder must fence now (T_OK_MS
# empty: it never renewed: due).
mmc_af_fence_due() {
    [ -n "$2" ] || return 0
    [ "$1" -ge "$(mmc_af_fence_deadline_ms "$2" "$3" "$4")" ]
}

# mmc_af_check_timing LEASE_S MARGIN_S -> prints why the pair is unusable (one line), status 1; else 0.
mmc_af_check_timing() {
    if ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -lt 5 ] || [ "$1" -gt 60 ]; then echo "MMC_LEASE_SECONDS must be an integer 5..60, got '$1'"; return 1; fi
    if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ] || [ "$2" -ge "$1" ]; then echo "MMC_FENCE_MARGIN_SECONDS must be an integer 1..$(($1 - 1)), got '$2'"; return 1; fi
    return 0
}

# mmc_af_holder_verdict ORDINAL HOLD_EPOCH ARB_EPOCH RECORD -> what a holder (a writable member, or the
# designated primary about to become writable at HOLD_EPOCH) does with the arbiter:
#   "acquire"  the record is absent, or names a lower epoch than HOLD_EPOCH (a switchover or failover by
#              config promoted this member), or names this member at HOLD_EPOCH (its agent restarted);
#              ARB_EPOCH (the highest epoch ever claimed; empty: none) is not newer than HOLD_EPOCH;
#   "renew"    never printed here: the caller renews a lease it already holds for a record naming it;
#   "fence: <why>" anything else (another member holds it at HOLD_EPOCH or newer, or the arbiter has
#              seen a newer epoch than this member's): this member must not be (or become) writable.
mmc_af_holder_verdict() {
    local me=$1 h=$2 ae=$3 rec=$4 re ro
    if [ -n "$ae" ] && [ "$ae" -gt "$h" ]; then echo "fence: the arbiter has seen epoch $ae, newer than this member's $h"; return 0; fi
    if [ -z "$rec" ]; then echo acquire; return 0; fi
    re=$(mmc_af_field epoch "$rec") || re=0
    ro=$(mmc_af_field ordinal "$rec") || ro=-
    if [ "$re" -lt "$h" ]; then echo acquire; return 0; fi
    if [ "$ro" = "$me" ] && [ "$re" = "$h" ]; then echo acquire; return 0; fi
    echo "fence: mysql-$ro holds the arbiter at epoch $re (this member is at $h)"
}

# mmc_af_role RO CHANNEL DESIGNATED ORDINAL RECORD ARB_EPOCH HOLD_EPOCH -> what this member is to the
# arbiter this round: "holder" (writable without a channel; or the designated primary, read-only without
# a channel, whose record may be taken: none was ever claimed at its epoch, or the record names it);
# "candidate" (may campaign when the record is gone: a replica, or a read-only member without a
# channel whose epoch was claimed and has expired, e.g. a primary that fenced itself: it must win a
# campaign like anyone, never resume on its own).
mmc_af_role() {
    local ro=$1 chan=$2 desig=$3 me=$4 rec=$5 ae=$6 h=$7
    if [ "$chan" = 0 ] && [ "$ro" = 0 ]; then echo holder; return 0; fi
    if [ "$chan" = 0 ] && [ "$desig" = "$me" ]; then
        if [ -z "$rec" ] && [ -n "$ae" ] && [ "$ae" -ge "$h" ]; then echo candidate; else echo holder; fi
        return 0
    fi
    echo candidate
}

# mmc_af_gtid_relation MINE_MISSING THEIRS_MISSING -> how a peer compares with this member:
# MINE_MISSING: GTIDs of the peer this member lacks; THEIRS_MISSING: GTIDs of this member the peer lacks.
#   ahead  the peer has GTIDs this member lacks;  equal  same set;  behind  this member has more.
mmc_af_gtid_relation() {
    if [ -n "$1" ]; then echo ahead; elif [ -z "$2" ]; then echo equal; else echo behind; fi
}

# mmc_af_campaign_verdict ORDINAL ABSENT_ROUNDS LAST_RECORD HAS_DATA PEERS... -> "ok" or why this member
# may not campaign to become the primary now. ABSENT_ROUNDS: consecutive rounds the arbiter answered
# that $K/primary is absent (2 needed: one answer can race a holder's re-acquire); LAST_RECORD: the last
# value of $K/primary this agent saw (empty: none); HAS_DATA: 1 when this member has a server and data;
# PEERS: one "ordinal:ro:relation" per reachable member (mmc_af_gtid_relation), the unreachable left out.
# Checked in this order, the first failing condition named:
#   (a) no reachable member is writable;
#   (b) this member is the most advanced reachable one (no peer ahead; a peer equal with a lower ordinal
#       wins the tie);
#   (c) the lost primary's last record did not say semi_sync=OFF (then it may have acknowledged commits
#       no replica has: only an operator may decide to lose them, by a failover by config).
mmc_af_campaign_verdict() {
    local me=$1 absent=$2 last=$3 data=$4 p o ro rel
    shift 4
    if [ "$absent" -lt 2 ]; then echo "the primary's record is absent for $absent round(s), 2 needed"; return 0; fi
    if [ "$data" != 1 ]; then echo "this member has no running server with data"; return 0; fi
    for p in "$@"; do
        IFS=: read -r o ro _ <<<"$p"
        if [ "$ro" = 0 ]; then echo "mysql-$o is writable"; return 0; fi
    done
    for p in "$@"; do
        IFS=: read -r o _ rel <<<"$p"
        if [ "$rel" = ahead ]; then echo "mysql-$o is more advanced (it has transactions this member lacks)"; return 0; fi
        if [ "$rel" = equal ] && [ "$o" -lt "$me" ]; then echo "mysql-$o is as advanced and has a lower ordinal"; return 0; fi
    done
    if [ "$(mmc_af_field semi_sync "$last")" = OFF ]; then
        echo "refused: the lost primary's last record says semi_sync=OFF (it may have acknowledged commits no replica has); fail over by config to choose"
        return 0
    fi
    echo ok
}

# mmc_af_base_epoch ARB_EPOCH TOPOLOGY_EPOCH DATA_EPOCHS... -> the epoch a campaign compares against
# ($K/epoch): ARB_EPOCH when the arbiter has one, else the highest of the topology's and the reachable
# members' data epochs.
mmc_af_base_epoch() {
    local ae=$1 m=$2 e
    shift 2
    if [ -n "$ae" ]; then echo "$ae"; return 0; fi
    for e in "$@"; do [ "$e" -gt "$m" ] && m=$e; done
    echo "$m"
}

# mmc_af_next_epoch BASE OWN_DATA_EPOCH TOPOLOGY_EPOCH -> the epoch a campaign claims: max of the three + 1.
mmc_af_next_epoch() {
    local m=$1
    [ "$2" -gt "$m" ] && m=$2
    [ "$3" -gt "$m" ] && m=$3
    echo $((m + 1))
}

# mmc_af_designated ARBITER_FILE TOPOLOGY_EPOCH TOPOLOGY_ORDINAL -> the designated primary's ordinal: the
# arbiter's record when its epoch is newer than the topology's (an automatic failover the config does
# not record yet), else the topology's MMC_PRIMARY_ORDINAL.
mmc_af_designated() {
    local e o
    e=$(mmc_af_field epoch "$1") || e=0
    o=$(mmc_af_field ordinal "$1") || o=-
    if [[ $e =~ ^[0-9]+$ ]] && [ "$e" -gt "$2" ] && [[ $o =~ ^[0-9]+$ ]]; then echo "$o"; else echo "$3"; fi
}

# mmc_af_arbiter_epoch ARBITER_FILE TOPOLOGY_EPOCH -> the higher of the arbiter's record's epoch and the
# topology's: the epoch the designated primary becomes writable at.
mmc_af_arbiter_epoch() {
    local e
    e=$(mmc_af_field epoch "$1") || e=0
    if [[ $e =~ ^[0-9]+$ ]] && [ "$e" -gt "$2" ]; then echo "$e"; else echo "$2"; fi
}

# mmc_af_write_verdict ARBITER_FILE ORDINAL NOW_MS LEASE_S MARGIN_S -> "ok" when the agent's file says
# this member holds the arbiter and its last renewal is recent enough (before the fence deadline), else
# why replicate.sh must keep it read-only.
mmc_af_write_verdict() {
    local f=$1 me=$2 now=$3 held o at
    [ -n "$f" ] || { echo "no arbiter file from the failover-agent yet"; return 0; }
    held=$(mmc_af_field held "$f") || held=0
    o=$(mmc_af_field ordinal "$f") || o=-
    at=$(mmc_af_field at "$f") || at=""
    if [ "$held" != 1 ] || [ "$o" != "$me" ]; then echo "this member does not hold the arbiter (held=$held ordinal=$o)"; return 0; fi
    if ! [[ $at =~ ^[0-9]+$ ]] || mmc_af_fence_due "$now" "$at" "$4" "$5"; then echo "the arbiter's lease was last renewed too long ago (at=$at)"; return 0; fi
    echo ok
}
