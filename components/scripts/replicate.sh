#!/usr/bin/env bash
# replicate sidecar: decides, once per server start, what this member is, then watches it.
#
# Decision (the server always starts read-only, see the base config):
#   * it has a replication channel (persisted in the data directory)   -> replica, keep it;
#   * a freshly seeded volume (.mmc-seed-gtid)                          -> take the donor's GTID position;
#   * seeded from the designated primary waiting for its quorum (.mmc-seed-source, no writable member)
#                                                                        -> replica of that member (its own host);
#   * another member is writable                                         -> replica of that primary;
#   * this is MMC_PRIMARY_ORDINAL, or MMC_WRITE_HOST is this server      -> primary: users, semi-sync, writable;
#   * otherwise                                                          -> replica of MMC_WRITE_HOST.
# Fencing (docs/dataplane-contract.md "Epoch and fencing"): becoming the primary also needs
# mmc_fence_verdict "ok": no reachable member knows a newer epoch than the topology's MMC_EPOCH, and a
# majority of the members not declared lost (MMC_LOST) answered; else the member stays read-only and
# decides again on the next round. A read-only member without a channel (a demoted primary whose
# switchover Job died, a primary that could not confirm) decides again every round, so there is a
# writable member again within a bounded time; a writable member that sees a reachable member know a
# newer epoch makes itself read-only (a stale primary after a partition healed).
# A member without a channel that finds the primary checks it for errant transactions (GTIDs the
# primary lacks: writes of a lost primary no replica received) first: such a volume is set aside
# (init.sh moves it into .mmc-aside-<time>, kept for the DBA) and seeded again, never replicated over.
# Watching: a replica whose primary no longer serves its GTID position (error 1236: purged binlogs,
# diverged history) marks the volume untrusted and shuts the server down: run.sh/init.sh re-seed it.
# shellcheck source=lib-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=lib-sql.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-sql.sh"
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
# shellcheck source=lib-repl.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-repl.sh"
# shellcheck source=lib-autofailover.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-autofailover.sh"

# Automatic mode (MMC_ARBITER_ENDPOINTS set; docs/dataplane-contract.md "Automatic failover"): the
# failover-agent container's file $MMC_RUN_DIR/mmc-arbiter says whether this member holds the arbiter's
# record. A member becomes writable only while it does (and its lease was renewed recently enough); the
# designated primary is the arbiter's record when it is newer than the topology (an automatic failover
# the config does not record yet). Without MMC_ARBITER_ENDPOINTS nothing here changes.
auto_mode() { [ -n "${MMC_ARBITER_ENDPOINTS:-}" ]; }
arbiter_file() { cat "$MMC_RUN_DIR/mmc-arbiter" 2>/dev/null || true; }
now_ms() { local t=$EPOCHREALTIME; t=${t/./}; echo "${t:0:13}"; }
is_designated() {
    auto_mode || { mmc_is_primary_ordinal; return; }
    [ "$(mmc_af_designated "$(arbiter_file)" "$MMC_EPOCH" "$MMC_PRIMARY_ORDINAL")" = "$(mmc_ordinal)" ]
}
# arbiter_gate -> "ok" or why this member may not become writable now (always "ok" outside automatic mode).
arbiter_gate() {
    auto_mode || { echo ok; return; }
    mmc_af_write_verdict "$(arbiter_file)" "$(mmc_ordinal)" "$(now_ms)" "${MMC_LEASE_SECONDS:-10}" "${MMC_FENCE_MARGIN_SECONDS:-3}"
}

server_instance() { # changes on every server start
    local pidf="$MMC_RUN_DIR/mysqld.pid"
    [ -f "$pidf" ] || { echo none; return; }
    printf '%s-%s' "$(cat "$pidf" 2>/dev/null)" "$(stat -c %Y "$pidf" 2>/dev/null)"
}

# Finds a writable member other than this one; prints its host.
writable_peer() {
    local cred kv o h out me ro sid
    cred=$(mmc_repl_cred) || return 1
    me=$(mmc_server_id)
    for kv in $MMC_PEERS; do
        o=${kv%%=*} h=${kv#*=}
        [ "$o" = "$(mmc_ordinal)" ] && continue
        out=$(mmc_ro_and_id "$cred" "$h" 2>/dev/null) || continue
        read -r ro sid <<<"$out"
        if [ "$ro" = 0 ] && [ "$sid" != "$me" ]; then echo "$h"; return 0; fi
    done
    return 1
}

apply_seed_position() {
    [ -f "$MMC_SEED_GTID" ] || return 0
    local g
    g=$(tr -d ' \n' <"$MMC_SEED_GTID")
    mmc_q "$(mmc_sql_seed_position "$g")" || { mmc_log "could not apply the seed GTID position '$g'"; return 1; }
    rm -f "$MMC_SEED_GTID"
    mmc_log "seeded volume starts at GTID position '${g:-from clone}'"
}

become_replica_of() {
    local host=$1 mode=${2:-slave_pos}
    mmc_log "replicating from $host (GTID, $mode)"
    # --force: on a member without a channel some statements fail harmlessly (filtered out below); what
    # counts is the channel they leave (the filter's own status, 1 when it printed nothing, is no verdict).
    { mmc_sql_demote; mmc_sql_point_to "$host" "$mode"; } | mmc_sql_local --force 2>&1 | mmc_redact \
        | { grep -v -i 'no master connection\|not configured\|slave is not running\|replica is not running' >&2 || true; }
    mmc_has_channel
}

become_primary() {
    local epoch=$1 gate
    gate=$(arbiter_gate)
    if [ "$gate" != ok ]; then mmc_log "designated primary, staying read-only (automatic failover): $gate"; return 1; fi
    mmc_log "this member is the primary at epoch $epoch: ensuring users, semi-sync, writable"
    mmc_sql_users | mmc_sql_local || { mmc_log "could not create users"; return 1; }
    mmc_sql_promote "$epoch" | mmc_sql_local --force 2>/dev/null
    local ro
    ro=$(mmc_q 'SELECT @@GLOBAL.read_only')
    [ "$ro" = 0 ] || { mmc_log "promotion did not take"; return 1; }
}

# The topology's epoch and the members it declares lost (contract-failover.md); in automatic mode the
# arbiter's record's epoch when it is newer.
topology_epoch() {
    if auto_mode; then mmc_af_arbiter_epoch "$(arbiter_file)" "$MMC_EPOCH"; else echo "$MMC_EPOCH"; fi
}

# fence [all] -> "ok" or why this member may not become writable now (mmc_fence_verdict over the
# peers); with "all", every member not declared lost must answer (a majority is not enough).
fence() {
    local cred kv o h st ro sid e own n=1 me
    local -a answers=()
    cred=$(mmc_repl_cred) || { echo "no credentials"; return 0; }
    me=$(mmc_ordinal)
    own=$(mmc_member_state | cut -d' ' -f3) || own=""
    [ -n "$own" ] || { echo "cannot read this member's own epoch"; return 0; }
    for kv in $MMC_PEERS; do
        o=${kv%%=*} h=${kv#*=}
        [ "$o" = "$me" ] && continue
        mmc_is_listed "$o" "$MMC_LOST" && continue
        n=$((n + 1))
        st=$(mmc_member_state "$cred" "$h") || continue
        read -r ro sid e _ <<<"$st"
        answers+=("mysql-$o:$ro:$sid:$e")
    done
    if [ "${1:-}" = all ] && [ $((${#answers[@]} + 1)) -lt "$n" ]; then
        echo "cannot confirm: $((${#answers[@]} + 1)) of $n non-lost members answered, all needed"
        return 0
    fi
    mmc_fence_verdict "$(topology_epoch)" "$own" "$n" "${answers[@]}"
}

# errant_against HOST -> the GTIDs this member has that HOST lacks (empty: none); status 1 when unknown.
errant_against() {
    local cred mine theirs
    cred=$(mmc_repl_cred) || return 1
    mine=$(mmc_q "SELECT $(mmc_sql_gtid_state_expr)") || return 1
    theirs=$(MMC_SQL_TIMEOUT=5 mmc_qr "$cred" "$1" "SELECT $(mmc_sql_gtid_state_expr)") || return 1
    mmc_engine_gtid_missing "$mine" "$theirs"
}

# Joins HOST (the writable primary) from a member without a channel: never over errant transactions.
# Status 10: the volume is set aside (the server shuts down; init.sh seeds it again).
join_primary() {
    local host=$1 errant mode
    errant=$(errant_against "$host") || { mmc_log "cannot compare GTID histories with $host; deciding again later"; return 1; }
    if [ -n "$errant" ]; then
        request_reseed "errant transactions $errant (absent from the primary $host): volume set aside, never replicated over" aside
        return 10
    fi
    mode=$(mmc_engine_join_mode)
    become_replica_of "$host" "$mode"
}

decide() {
    apply_seed_position || return 1
    local st seeded_from=""
    # init.sh seeded this volume from the designated primary while it waited for its quorum
    [ -f "$MMC_SEED_SOURCE" ] && seeded_from=$(cat "$MMC_SEED_SOURCE")
    st=$(mmc_replica_status) || return 1
    if [ -n "$(mmc_field host "$st")" ]; then
        rm -f "$MMC_SEED_SOURCE"
        mmc_log "replica of $(mmc_field host "$st") (channel kept from the data directory)"
        if [ "$(mmc_field io "$st")" != Yes ] || [ "$(mmc_field sql "$st")" != Yes ]; then
            mmc_q "$(mmc_sql_start_replica)" || true
        fi
        return 0
    fi
    local ro
    ro=$(mmc_q 'SELECT @@GLOBAL.read_only') || return 1
    if [ "$ro" = 0 ]; then mmc_log "already writable primary"; return 0; fi
    local w wh_ro="" wh_sid="" me out cred
    me=$(mmc_server_id)
    cred=$(mmc_repl_cred) || return 1
    if out=$(mmc_ro_and_id "$cred" "$MMC_WRITE_HOST" 2>/dev/null); then
        read -r wh_ro wh_sid <<<"$out"
    fi
    if w=$(writable_peer); then
        if [ "$wh_ro" = 0 ] && [ -n "$wh_sid" ] && [ "$wh_sid" != "$me" ]; then
            mmc_log "the write host is writable: this member replicates from it"
            join_primary "$MMC_WRITE_HOST"
        else
            mmc_log "member $w is writable (the write host is not): this member replicates from it"
            join_primary "$w"
        fi
        return
    fi
    if [ -n "$seeded_from" ] && [ "$seeded_from" != "$(mmc_peer_host "$MMC_PRIMARY_ORDINAL")" ]; then
        mmc_log "seeded from $seeded_from, no longer the designated primary (topology changed): deciding as usual"
        seeded_from=""
    fi
    if [ -n "$seeded_from" ] && ! mmc_is_primary_ordinal; then
        # its channel goes to that member itself: the write Service selects only a writable primary
        mmc_log "seeded from the designated primary $seeded_from while it waited for its quorum: replicating from it (it becomes writable once this member answers its fence)"
        become_replica_of "$seeded_from" || return 1
        rm -f "$MMC_SEED_SOURCE"
        return 0
    fi
    if is_designated || [ "$wh_sid" = "$me" ]; then
        local verdict
        verdict=$(fence)
        if [ "$verdict" != ok ]; then
            mmc_log "designated primary, staying read-only: $verdict"
            return 1
        fi
        become_primary "$(topology_epoch)"
        return
    fi
    become_replica_of "$MMC_WRITE_HOST"
}

# A writable member that sees a reachable member know a newer epoch than its own data makes itself
# read-only (a primary cut off while a failover promoted another). Status 1 when it did.
check_fenced() {
    local cred kv o h st own ro e
    st=$(mmc_member_state) || return 0
    read -r ro _ own _ <<<"$st"
    [ "$ro" = 0 ] || return 0
    cred=$(mmc_repl_cred) || return 0
    for kv in $MMC_PEERS; do
        o=${kv%%=*} h=${kv#*=}
        [ "$o" = "$(mmc_ordinal)" ] && continue
        mmc_is_listed "$o" "$MMC_LOST" && continue # declared lost: it cannot know a newer epoch
        st=$(mmc_member_state "$cred" "$h") || continue
        read -r _ _ e _ <<<"$st"
        if [ "$e" -gt "$own" ]; then
            mmc_log "mysql-$o knows epoch $e, newer than this primary's $own: making this member read-only"
            mmc_sql_demote | mmc_sql_local
            return 1
        fi
    done
    return 0
}
# A read-only member without a channel (decided, then demoted: a switchover Job, a fence) follows a
# writable member as soon as one appears. The designated primary resumes writing only after
# MMC_RESUME_AFTER_SECONDS (default 300: longer than any switchover Job may run, which never promotes
# after its timeout) and only when every member not declared lost answers read-only at no newer
# epoch: the switchover's new primary provably did not promote.
decide_stuck() { # STUCK_SECONDS
    local w verdict
    if w=$(writable_peer); then
        mmc_log "read-only without a channel; $w is writable: this member replicates from it"
        join_primary "$w"
        return
    fi
    is_designated || return 1
    [ "$1" -ge "${MMC_RESUME_AFTER_SECONDS:-300}" ] || return 1
    verdict=$(fence all)
    if [ "$verdict" != ok ]; then mmc_log "designated primary read-only for $1 s, staying read-only: $verdict"; return 1; fi
    mmc_log "designated primary read-only for $1 s and no member promoted: resuming"
    become_primary "$(topology_epoch)"
}
# A member that is read-only without a channel has no writer to follow.
stuck_read_only() {
    local st
    st=$(mmc_member_state) || return 1
    [ "${st%% *}" = 1 ] || return 1
    ! mmc_has_channel
}

request_reseed() { # WHY [aside]: aside keeps the data (init.sh moves it into .mmc-aside-<time>)
    local why=$1
    mmc_log "re-seed needed: $why"
    if [ "${2:-}" = aside ]; then printf '%s at %s\n' "$why" "$(date -u +%FT%TZ)" >"$MMC_SET_ASIDE"; fi
    printf '%s at %s\n' "$why" "$(date -u +%FT%TZ)" >"$MMC_UNTRUSTED"
    sync -- "$MMC_UNTRUSTED" "$MMC_DATADIR" 2>/dev/null || sync
    mmc_q 'SHUTDOWN' || true
}

# Watches a decided member. Status 10: it asked for a re-seed (decide again after the restart).
watch() {
    local st host msg cred
    st=$(mmc_replica_status) || return 0
    host=$(mmc_field host "$st")
    [ -n "$host" ] || return 0
    mmc_needs_reseed "$st" || return 0
    msg="$(mmc_field io_error "$st") $(mmc_field sql_error "$st")"
    cred=$(mmc_repl_cred) || return 0
    if mmc_engine_ahead_of_primary "$cred" "$host"; then
        mmc_log "ERROR: primary $host is behind this replica; NOT re-seeding from it (would lose data): $msg"
        return 0
    fi
    request_reseed "primary $host no longer serves this position: io=$(mmc_field io_errno "$st") sql=$(mmc_field sql_errno "$st") $msg"
    return 10
}

# The member's live role and health, as the pod's labels show them (contract.ts ROLE_LABELS):
#   server down or not answering                          -> none    false
#   a replication channel                                  -> replica true when both threads run and the
#                                                             lag is known and <= MMC_MAX_LAG_SECONDS
#   writable, no channel                                   -> primary true
#   read-only without a channel (undecided, demoted, fenced) -> none false
# A seeding member has no labels yet (its init container seeds before this container starts) and a
# restarting server reads "none": the read Service (healthy replicas only) never selects either.
member_role() {
    local st ro
    mmc_local_alive || { echo "none false"; return; }
    st=$(mmc_replica_status) || { echo "none false"; return; }
    if [ -n "$(mmc_field host "$st")" ]; then
        if mmc_replica_healthy "$st" "$MMC_MAX_LAG_SECONDS"; then echo "replica true"; else echo "replica false"; fi
        return
    fi
    ro=$(mmc_q 'SELECT @@GLOBAL.read_only') || { echo "none false"; return; }
    if [ "$ro" = 0 ]; then echo "primary true"; else echo "none false"; fi
}

# label_patch ROLE HEALTHY : merge-patches this pod's labels through the pod's own API proxy
# (MMC_LABEL_API = host:port/api/v1/namespaces/<ns>/pods, the "labels" container: kubectl proxy on
# loopback, the only container holding a token). Plain HTTP on loopback: bash's /dev/tcp, no curl.
label_patch() {
    local hp=${MMC_LABEL_API%%/*} path="/${MMC_LABEL_API#*/}/$MMC_POD_NAME" body line fd
    body=$(printf '{"metadata":{"labels":{"mysql-multicluster/role":"%s","mysql-multicluster/healthy":"%s"}}}' "$1" "$2")
    # the group keeps 2>/dev/null off the shell (a bare exec would apply it to the whole script)
    { exec {fd}<>"/dev/tcp/${hp%:*}/${hp##*:}"; } 2>/dev/null || return 1
    printf 'PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/merge-patch+json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$path" "${hp%:*}" "${#body}" "$body" >&"$fd"
    IFS= read -r -t 10 line <&"$fd" || line=""
    exec {fd}>&-
    [[ "$line" == "HTTP/1."?" 200"* ]] || { mmc_log "labels not patched: ${line%$'\r'}"; return 1; }
}

# publish_role : writes "role=.. healthy=.." to $MMC_RUN_DIR/mmc-role (read by tests and by a DBA
# through exec) and, when the pod's labels do not say that yet, patches them.
publish_role() {
    local r h f="$MMC_RUN_DIR/mmc-role"
    read -r r h <<<"$(member_role)"
    if [ "$(cat "$f" 2>/dev/null)" != "role=$r healthy=$h" ]; then
        printf 'role=%s healthy=%s\n' "$r" "$h" >"$f.new" && mv -f "$f.new" "$f"
        mmc_log "role $r, healthy $h"
    fi
    # $f.labeled: what the pod's labels say (patched), so an unchanged role costs no API call
    [ -n "${MMC_LABEL_API:-}" ] && [ "$(cat "$f.labeled" 2>/dev/null)" != "role=$r healthy=$h" ] || return 0
    label_patch "$r" "$h" && printf 'role=%s healthy=%s\n' "$r" "$h" >"$f.labeled"
}

main() {
    set -uo pipefail
    mmc_env_load replicate || exit 2
    mmc_tmp_init || exit 1
    local interval=${MMC_REPLICATE_INTERVAL_SECONDS:-2} decided_for="" inst rc stuck_since=""
    mmc_log "started (ordinal $(mmc_ordinal), primary ordinal $MMC_PRIMARY_ORDINAL, write host $MMC_WRITE_HOST)"
    while :; do
        mmc_load_topology || mmc_log "topology file unreadable; keeping the values read before"
        if mmc_local_alive; then
            inst=$(server_instance)
            if [ "$inst" != "$decided_for" ]; then
                rc=0; decide || rc=$?
                case "$rc" in
                    0) decided_for=$inst ;;
                    10) ;;
                    *) mmc_log "decision failed; retrying" ;;
                esac
            elif ! check_fenced; then
                stuck_since=$SECONDS
            elif stuck_read_only; then
                [ -n "$stuck_since" ] || stuck_since=$SECONDS
                rc=0; decide_stuck $((SECONDS - stuck_since)) || rc=$?
                [ "$rc" != 0 ] || stuck_since=""
            else
                stuck_since=""
                watch || decided_for=""
            fi
        fi
        publish_role
        if [ -n "${MMC_REPLICATE_ONCE:-}" ]; then break; fi
        mmc_sleep "$interval"
    done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
