#!/usr/bin/env bash
# failover-agent container (docs/dataplane-contract.md "Automatic failover"): with the arbiter (etcd v3,
# lib-arbiter.sh) it keeps the record $MMC_ARBITER_KEY/primary naming the one member that may be
# writable, fences this member when it can no longer prove that, and promotes the most advanced
# reachable member when the record is gone. One round per second; the decisions are the pure functions
# of lib-autofailover.sh. What each round does, by case:
#   this member's server does not answer        -> release what it holds (revoke), held=0
#   HOLDER: writable without a channel, or the designated primary (the arbiter's newer record, else
#   MMC_PRIMARY_ORDINAL) read-only without a channel, about to become writable:
#     holding a lease, record names it           -> the renewer keeps the lease alive (a child, every s)
#     record names another member at a newer epoch, or the record is gone -> fence now, release
#     not holding: mmc_af_holder_verdict "acquire" -> grant a lease; one transaction (record as read and
#                  $K/epoch as read) puts the record with the lease and $K/epoch = this epoch
#     verdict "fence: ..." (or never acquired)   -> fence (a writable member) / stay read-only
#   OTHERS (mmc_af_role "candidate": replicas, and a read-only member without a channel whose epoch
#   was claimed and has expired, e.g. a primary that fenced itself): record absent twice in a row and mmc_af_campaign_verdict "ok" -> campaign: grant a
#     lease; one transaction (record absent, $K/epoch as read) claims epoch N; run failover.sh to itself
#     at epoch N while the renewer keeps the lease; failover.sh failing -> revoke (N is burned).
# The fence watchdog (a child, every 200 ms) fences a holder whose last successful renewal started
# MMC_LEASE_SECONDS - MMC_FENCE_MARGIN_SECONDS ago, whatever the main loop is blocked on: read-only
# (MySQL super_read_only) and every application session killed (mmc_system_users_sql_list kept), so
# the fence always precedes the arbiter's expiry and thus any other member's promotion.
# Every round writes $MMC_RUN_DIR/mmc-arbiter ("held=<0|1> epoch=<E> ordinal=<N> at=<ms>"), which
# replicate.sh reads before it makes this member writable.
# shellcheck source=lib-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=lib-sql.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-sql.sh"
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
# shellcheck source=lib-repl.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-repl.sh"
# shellcheck source=lib-arbiter.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-arbiter.sh"
# shellcheck source=lib-autofailover.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-autofailover.sh"

now_ms() { local t=$EPOCHREALTIME; t=${t/./}; echo "${t:0:13}"; }

# publish HELD EPOCH ORDINAL AT : the file replicate.sh reads.
publish() {
    local f="$MMC_RUN_DIR/mmc-arbiter"
    printf 'held=%s epoch=%s ordinal=%s at=%s\n' "$1" "${2:-0}" "${3:--}" "$4" >"$f.new.$BASHPID" && mv -f "$f.new.$BASHPID" "$f"
}

# Application sessions: everything but the replication, seed and admin users, root and the server's own.
kill_clients() {
    local kills
    kills=$(MMC_SQL_TIMEOUT=3 mmc_q "SELECT CONCAT('KILL CONNECTION ', id, ';') FROM information_schema.PROCESSLIST WHERE user NOT IN ($(mmc_system_users_sql_list)) AND id <> CONNECTION_ID()" 2>/dev/null) || return 0
    [ -z "$kills" ] || printf '%s\n' "$kills" | MMC_SQL_TIMEOUT=3 mmc_sql_local --force >/dev/null 2>&1
    return 0
}

# fence_now WHY : read-only and no application session, within a few seconds. The demotion runs beside
# the kills: a commit waiting for a semi-sync acknowledgement holds it up until its session is killed
# (the client then gets an error, never an acknowledgement).
fence_now() {
    local d i ro
    mmc_log "FENCING: $1: making this member read-only and cutting its client sessions"
    mmc_sql_fence_begin | MMC_SQL_TIMEOUT=3 mmc_sql_local --force >/dev/null 2>&1
    kill_clients
    mmc_sql_fence_release | MMC_SQL_TIMEOUT=3 mmc_sql_local --force >/dev/null 2>&1
    (mmc_sql_demote | MMC_SQL_TIMEOUT=10 mmc_sql_local >/dev/null 2>&1) &
    d=$!
    for ((i = 0; i < 100; i++)); do
        kill_clients
        kill -0 "$d" 2>/dev/null || break
        sleep 0.1
    done
    wait "$d" 2>/dev/null
    kill_clients
    mmc_sql_fence_end | MMC_SQL_TIMEOUT=3 mmc_sql_local --force >/dev/null 2>&1
    ro=$(MMC_SQL_TIMEOUT=3 mmc_q "SELECT $(mmc_sql_read_only_expr)" 2>/dev/null)
    if [ "$ro" = 1 ]; then mmc_log "fenced: read-only, client sessions cut"; else mmc_log "ERROR: the fence did not take (read_only='$ro'); trying again"; return 1; fi
}

# ---------- children: the lease renewer and the fence watchdog (state in $MMC_TMP) ----------
# tok: "LEASE T_OK_MS" while this member holds (or must hold) the record; fenced: the watchdog fenced;
# lost: the arbiter said the lease is gone.
renewer() { # LEASE_ID
    local t rc
    while :; do
        t=$(now_ms)
        rc=0; mmc_arb_keepalive "$1" >/dev/null || rc=$?
        if [ "$rc" = 0 ]; then
            [ -e "$MMC_TMP/fenced" ] || { echo "$1 $t" >"$MMC_TMP/tok.new" && mv -f "$MMC_TMP/tok.new" "$MMC_TMP/tok"; }
        elif [ "$rc" = 3 ]; then
            mmc_log "the arbiter says lease $1 is gone"
            touch "$MMC_TMP/lost"
            return 0
        fi
        t=$((t + 1000 - $(now_ms)))
        [ "$t" -le 0 ] || sleep "$((t / 1000)).$(printf '%03d' $((t % 1000)))"
    done
}
watchdog() {
    local tok lease t_ok f
    while :; do
        if tok=$(cat "$MMC_TMP/tok" 2>/dev/null) && [ -n "$tok" ]; then
            read -r lease t_ok <<<"$tok"
            if mmc_af_fence_due "$(now_ms)" "$t_ok" "$LEASE" "$MARGIN"; then
                touch "$MMC_TMP/fenced"
                rm -f "$MMC_TMP/tok"
                f=$(cat "$MMC_RUN_DIR/mmc-arbiter" 2>/dev/null)
                publish 0 "$(mmc_af_field epoch "$f")" "$(mmc_af_field ordinal "$f")" "$(now_ms)"
                until fence_now "the arbiter's lease ($lease) was last renewed $(($(now_ms) - t_ok)) ms ago (fence deadline: $(((LEASE - MARGIN) * 1000)) ms)"; do sleep 0.2; done
            fi
        fi
        sleep 0.2
    done
}

# ---------- holding ----------
# Holding state (locals of main, seen by the functions it calls): LEASE_ID RENEWER LAST_REC LAST_VERDICT.
hold_start() { # LEASE_ID T_OK
    LEASE_ID=$1
    rm -f "$MMC_TMP/fenced" "$MMC_TMP/lost"
    echo "$1 $2" >"$MMC_TMP/tok.new" && mv -f "$MMC_TMP/tok.new" "$MMC_TMP/tok"
    renewer "$1" &
    RENEWER=$!
}
# release [revoke] : stop renewing; with "revoke" the record goes at once (another member may campaign).
release() {
    [ -z "$RENEWER" ] || { kill "$RENEWER" 2>/dev/null; wait "$RENEWER" 2>/dev/null; }
    rm -f "$MMC_TMP/tok"
    if [ -n "$LEASE_ID" ] && [ "${1:-}" = revoke ]; then mmc_arb_revoke "$LEASE_ID" || true; fi
    LEASE_ID="" RENEWER=""
}

semi_state() { # -> ON when this member, as the primary, waits for a replica's acknowledgement
    local v
    if [ "${1:-}" = intent ]; then if mmc_semi_sync_on; then echo ON; else echo OFF; fi; return; fi
    v=$(mmc_q "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_status', 'Rpl_semi_sync_source_status')" 2>/dev/null | cut -f2 | head -1)
    [ "$v" = ON ] && echo ON || echo OFF
}

# acquire ME HOLD_EPOCH SERVER_ID ARB_EPOCH RECORD SEMI : status 0 when this member now holds the record.
acquire() {
    local me=$1 h=$2 sid=$3 ae=$4 rec=$5 semi=$6 t lease txn rc=0 cmp
    t=$(now_ms)
    mmc_arb_grant "$LEASE" || { mmc_log "arbiter: no lease granted"; return 1; }
    lease=$MMC_ARB_ID
    if [ -n "$rec" ]; then cmp=$(mmc_arb_cmp_value "$K/primary" "$rec"); else cmp=$(mmc_arb_cmp_absent "$K/primary"); fi
    if [ -n "$ae" ]; then cmp+=",$(mmc_arb_cmp_value "$K/epoch" "$ae")"; else cmp+=",$(mmc_arb_cmp_absent "$K/epoch")"; fi
    txn="{\"compare\":[$cmp],\"success\":[$(mmc_arb_put "$K/primary" "$(mmc_af_record "$h" "$me" "$sid" "$semi")" "$lease"),$(mmc_arb_put "$K/epoch" "$h")]}"
    mmc_arb_txn "$txn" || rc=$?
    if [ "$rc" != 0 ]; then
        mmc_arb_revoke "$lease" || true
        [ "$rc" = 4 ] && mmc_log "arbiter: the record changed while this member claimed it; deciding again"
        return 1
    fi
    hold_start "$lease" "$t"
    LAST_REC=$(mmc_af_record "$h" "$me" "$sid" "$semi")
    mmc_log "holding the arbiter's record at epoch $h (lease $lease, ${LEASE} s)"
}

# update_semi ME EPOCH SID RECORD SEMI : the record follows the primary's semi-sync state.
update_semi() {
    local txn
    [ "$(mmc_af_field semi_sync "$4")" != "$5" ] || return 0
    txn="{\"compare\":[$(mmc_arb_cmp_value "$K/primary" "$4")],\"success\":[$(mmc_arb_put "$K/primary" "$(mmc_af_record "$2" "$1" "$3" "$5")" "$LEASE_ID")]}"
    mmc_arb_txn "$txn" && LAST_REC=$(mmc_af_record "$2" "$1" "$3" "$5") && mmc_log "arbiter record: semi_sync=$5"
}

# ---------- campaign ----------
# peers_facts -> one line per non-lost peer: "ordinal host reachable ro epoch relation"
peers_facts() {
    local cred kv o h st ro e mine theirs mm tm me
    cred=$(mmc_repl_cred) || return 1
    me=$(mmc_ordinal)
    mine=$(mmc_q "SELECT $(mmc_sql_gtid_state_expr)") || return 1
    for kv in $MMC_PEERS; do
        o=${kv%%=*} h=${kv#*=}
        [ "$o" = "$me" ] && continue
        mmc_is_listed "$o" "$MMC_LOST" && continue
        if st=$(mmc_member_state "$cred" "$h") && theirs=$(MMC_SQL_TIMEOUT=5 mmc_qr "$cred" "$h" "SELECT $(mmc_sql_gtid_state_expr)" 2>/dev/null); then
            read -r ro _ e _ <<<"$st"
            mm=$(mmc_engine_gtid_missing "$theirs" "$mine") || return 1
            tm=$(mmc_engine_gtid_missing "$mine" "$theirs") || return 1
            echo "$o $h 1 $ro $e $(mmc_af_gtid_relation "$mm" "$tm")"
        else
            echo "$o $h 0 - - -"
        fi
    done
}

# campaign ME SID OWN_EPOCH ARB_EPOCH ABSENT_ROUNDS (LAST_REC: the last record seen)
campaign() {
    local me=$1 sid=$2 own=$3 ae=$4 absent=$5 facts o h r ro e rel verdict base n t lease txn cmp rc=0
    local -a answers=() epochs=()
    local reach="" lost=""
    facts=$(peers_facts) || { mmc_log "cannot read this member's or its peers' state; not campaigning"; return 1; }
    while read -r o h r ro e rel; do
        [ -n "$o" ] || continue
        if [ "$r" = 1 ]; then answers+=("$o:$ro:$rel"); epochs+=("$e"); reach+="${reach:+ }$h"; else lost+="${lost:+ }$h"; fi
    done <<<"$facts"
    verdict=$(mmc_af_campaign_verdict "$me" "$absent" "$LAST_REC" 1 "${answers[@]}")
    if [ "$verdict" != ok ]; then
        [ "$verdict" = "$LAST_VERDICT" ] || mmc_log "the primary's record is gone; not campaigning: $verdict"
        LAST_VERDICT=$verdict
        return 1
    fi
    LAST_VERDICT=""
    base=$(mmc_af_base_epoch "$ae" "$MMC_EPOCH" "${epochs[@]}")
    n=$(mmc_af_next_epoch "$base" "$own" "$MMC_EPOCH")
    t=$(now_ms)
    mmc_arb_grant "$LEASE" || { mmc_log "arbiter: no lease granted; not campaigning"; return 1; }
    lease=$MMC_ARB_ID
    cmp=$(mmc_arb_cmp_absent "$K/primary")
    if [ -n "$ae" ]; then cmp+=",$(mmc_arb_cmp_value "$K/epoch" "$ae")"; else cmp+=",$(mmc_arb_cmp_absent "$K/epoch")"; fi
    txn="{\"compare\":[$cmp],\"success\":[$(mmc_arb_put "$K/primary" "$(mmc_af_record "$n" "$me" "$sid" "$(semi_state intent)")" "$lease"),$(mmc_arb_put "$K/epoch" "$n")]}"
    mmc_arb_txn "$txn" || rc=$?
    if [ "$rc" != 0 ]; then
        mmc_arb_revoke "$lease" || true
        mmc_log "campaign for epoch $n lost (arbiter answer $rc): another member claimed the record first"
        return 1
    fi
    hold_start "$lease" "$t"
    LAST_REC=$(mmc_af_record "$n" "$me" "$sid" "$(semi_state intent)")
    mmc_log "AUTOMATIC FAILOVER: this member won epoch $n (reachable: ${reach:-none}; unreachable, left behind: ${lost:-none}); running failover.sh"
    rc=0
    MMC_NEW_PRIMARY_HOST=$(mmc_self_host) MMC_REPLICA_HOSTS=$reach MMC_LOST_HOSTS=$lost MMC_EPOCH=$n MMC_SOURCE_FOR="" \
        MMC_TOPOLOGY_FILE="" MMC_COMPONENT=autofailover/failover bash "$MMC_DIR/failover.sh" || rc=$?
    if [ "$rc" != 0 ]; then
        mmc_log "failover.sh to this member at epoch $n failed (rc $rc); revoking the lease (epoch $n is burned)"
        release revoke
        return 1
    fi
    mmc_log "automatic failover done: this member is the primary at epoch $n; the config records it with primary: $me"
}

main() {
    set -uo pipefail
    mmc_env_load autofailover || exit 2
    LEASE=$MMC_LEASE_SECONDS MARGIN=${MMC_FENCE_MARGIN_SECONDS:-3}
    local why
    why=$(mmc_af_check_timing "$LEASE" "$MARGIN") || { mmc_log "$why"; exit 2; }
    mmc_tmp_init || exit 1
    trap 'release; kill $(jobs -p) 2>/dev/null; rm -rf -- "$MMC_TMP"' EXIT
    K=$MMC_ARBITER_KEY
    local me sid st ro own chan rc rec="" ae absent=0 desig h verdict holder t_ok
    local LEASE_ID="" RENEWER="" LAST_REC="" LAST_VERDICT=""
    me=$(mmc_ordinal) || exit 2
    sid=$(mmc_server_id)
    watchdog &
    mmc_log "started (ordinal $me, arbiter $MMC_ARBITER_ENDPOINTS, key $K, lease $LEASE s, fence margin $MARGIN s)"
    while :; do
        mmc_load_topology || mmc_log "topology file unreadable; keeping the values read before"
        if [ -e "$MMC_TMP/fenced" ] || [ -e "$MMC_TMP/lost" ]; then
            [ -e "$MMC_TMP/lost" ] && [ -n "$LEASE_ID" ] && fence_now "the arbiter's lease of this member is gone"
            release revoke
            rm -f "$MMC_TMP/fenced" "$MMC_TMP/lost"
        fi
        if ! st=$(mmc_member_state); then
            [ -z "$LEASE_ID" ] || { mmc_log "this member's server does not answer: releasing the arbiter's record"; release revoke; }
            publish 0 "$(mmc_af_field epoch "$LAST_REC")" "$(mmc_af_field ordinal "$LAST_REC")" "$(now_ms)"
            mmc_sleep 1; continue
        fi
        read -r ro _ own _ <<<"$st"
        chan=0; mmc_has_channel && chan=1
        rc=0; mmc_arb_get "$K/primary" || rc=$?
        rec=$MMC_ARB_VALUE
        case "$rc" in
            0) absent=0; LAST_REC=$rec ;;
            3) absent=$((absent + 1)) ;;
            *) absent=0 ;;
        esac
        ae=""
        if [ "$rc" != 1 ]; then
            local erc=0; mmc_arb_get "$K/epoch" || erc=$?
            [ "$erc" = 0 ] && ae=$MMC_ARB_VALUE
            [ "$erc" = 1 ] && rc=1
        fi
        desig=$(mmc_af_designated "$LAST_REC" "$MMC_EPOCH" "$MMC_PRIMARY_ORDINAL")
        if [ "$ro" = 0 ]; then h=$own; else h=$(mmc_af_arbiter_epoch "$LAST_REC" "$MMC_EPOCH"); fi
        holder=0
        [ "$(mmc_af_role "$ro" "$chan" "$desig" "$me" "$rec" "$ae" "$h")" = holder ] && holder=1
        if [ -n "$LEASE_ID" ]; then
            if [ "$rc" = 3 ]; then
                [ "$ro" = 1 ] || fence_now "the arbiter's record is gone while this member held it"
                release revoke
            elif [ "$rc" = 0 ] && [ "$(mmc_af_field ordinal "$rec")" != "$me" ]; then
                [ "$ro" = 1 ] || fence_now "mysql-$(mmc_af_field ordinal "$rec") holds the arbiter at epoch $(mmc_af_field epoch "$rec")"
                release revoke
            elif [ "$holder" = 0 ]; then
                mmc_log "this member is no longer the primary (read-only with a channel): releasing the arbiter's record"
                release revoke
            elif [ "$rc" = 0 ] && [ "$ro" = 0 ]; then
                update_semi "$me" "$(mmc_af_field epoch "$rec")" "$sid" "$rec" "$(semi_state)" || true
            fi
        elif [ "$holder" = 1 ]; then
            if [ "$ro" = 0 ] && [ ! -e "$MMC_TMP/tok" ]; then
                # writable and not holding: the watchdog fences it unless it acquires within the deadline
                echo "none $(now_ms)" >"$MMC_TMP/tok"
            fi
            if [ "$rc" != 1 ]; then
                verdict=$(mmc_af_holder_verdict "$me" "$h" "$ae" "$rec")
                if [ "$verdict" = acquire ]; then
                    acquire "$me" "$h" "$sid" "$ae" "$rec" "$(if [ "$ro" = 0 ]; then semi_state; else semi_state intent; fi)" || true
                elif [ "$ro" = 0 ]; then
                    rm -f "$MMC_TMP/tok"
                    fence_now "${verdict#fence: }"
                fi
            fi
        elif [ "$rc" = 3 ] && [ "$ro" = 1 ]; then
            campaign "$me" "$sid" "$own" "$ae" "$absent" || true
        fi
        if [ -n "$LEASE_ID" ] && read -r _ t_ok 2>/dev/null <"$MMC_TMP/tok"; then
            publish 1 "$(mmc_af_field epoch "$LAST_REC")" "$me" "$t_ok"
        else
            publish 0 "$(mmc_af_field epoch "$LAST_REC")" "$(mmc_af_field ordinal "$LAST_REC")" "$(now_ms)"
        fi
        # the record just went: look again soon (the second look is what a campaign waits for)
        if [ "$absent" = 1 ]; then mmc_sleep 0.3; else mmc_sleep 1; fi
    done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
