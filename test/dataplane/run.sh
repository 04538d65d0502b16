#!/usr/bin/env bash
# npm run test:dataplane — the data plane on real servers, driven by what the program renders, for one
# engine: `run.sh mariadb` (MariaDB 10.11, host packages) or `run.sh mysql` (MySQL 9.7 from the root
# filesystem of tools/images/rootfs.sh; the stacks are rendered with engine: mysql, version: "9.7").
#   1. static: shellcheck on every rendered script; the SQL of the MySQL 8.4 path (no server here);
#   2. the Kosmos walk-through (stacks/01..05) under a continuous writer, asserting after every step:
#      all members converged, every acknowledged write on every member, equal CHECKSUM TABLE,
#      exactly one writable primary;
#   3. faults on a 3-member set: recipient killed mid-seed, donor killed mid-seed, replica killed
#      during catch-up, member back with a stale volume (position purged), primary killed during a
#      switchover.
# Prints TAP-style lines and a closing "N passed, N failed"; exits non-zero on any failure.
set -u
H_ENGINE=${1:-${H_ENGINE:-mariadb}}
case "$H_ENGINE" in mariadb|mysql) ;; *) echo "usage: run.sh [mariadb|mysql] (engine: got '$H_ENGINE')" >&2; exit 2 ;; esac
T=${MMC_TEST_DIR:-/tmp/mmc-dataplane}
[ "$H_ENGINE" = mysql ] && T="$T-mysql"   # both engines in one MMC_TEST_DIR: each keeps its logs
# shellcheck source=harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
h_enter_ns "${BASH_SOURCE[0]}" "$H_ENGINE"
STACKS="$H_REPO/stacks"
T0=$SECONDS
echo "# engine: $H_ENGINE"

[ "$(id -u)" = 0 ] || { echo "test:dataplane needs root (servers, /etc/hosts)"; echo "0 passed, 1 failed"; exit 1; }
h_install || { echo "0 passed, 1 failed"; exit 1; }
h_init || { echo "0 passed, 1 failed"; exit 1; }
STACKS=$(h_stacks) || { echo "0 passed, 1 failed"; exit 1; }

# ---------------------------------------------------------------- static
static_checks() {
    h_render p1 "$STACKS/01-all-in-cluster1.yaml" || { h_notok "render phase 1 through tools/render.ts"; return 1; }
    h_ok "rendered phase 1 with tools/render.ts; scripts come from the rendered ConfigMap mysql-scripts"
    local S; S=$(h_scripts_dir p1)
    local f missing=""
    for f in init.sh run.sh replicate.sh donor.sh probe.sh switchover.sh failover.sh autofailover.sh lib-env.sh lib-sql.sh lib-engine.sh lib-repl.sh lib-job.sh lib-stream.sh lib-arbiter.sh lib-autofailover.sh; do
        [ -f "$S/$f" ] || missing+=" $f"
    done
    [ -z "$missing" ] && h_ok "ConfigMap carries every contract script" || h_notok "ConfigMap carries every contract script" "missing:$missing"
    h_check "shellcheck (severity warning) on every shipped script" shellcheck -x -S warning "$S"/*.sh
    h_check "MySQL path: SQL valid on 8.4 and 9.7 (nothing 8.4 or 9.x removed)" bash "$H_DIR/mysql-static.sh" "$S"
    h_check "HMAC-SHA256 helper matches openssl's HMAC" bash -c '
        . "$1/lib-env.sh"; . "$1/lib-stream.sh"
        for k in secret "k\"ey'"'"'\\x" "$(printf "x%.0s" {1..100})"; do
            a=$(mmc_hmac "$k" "msg|1"); b=$(printf "%s" "msg|1" | openssl dgst -sha256 -hmac "$k" -r | cut -c1-64)
            [ "$a" = "$b" ] || { echo "mismatch for key of ${#k} bytes"; exit 1; }
        done' _ "$S"
}

# ---------------------------------------------------------------- helpers
make_schema() { # ORD ROWS
    h_sql "$1" "CREATE DATABASE IF NOT EXISTS mmc_test;
        CREATE TABLE IF NOT EXISTS mmc_test.acks (id BIGINT PRIMARY KEY, payload CHAR(64), at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;
        CREATE TABLE IF NOT EXISTS mmc_test.bulk (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(255)) ENGINE=InnoDB;
        CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '$H_APP_PW';
        GRANT SELECT, INSERT ON mmc_test.* TO 'app'@'%';
        $(h_sql_insert_seq "$2" "SHA2(seq, 512)");"
}
identity_checks() {
    [ "$(h_sql 0 "SELECT @@server_id")" = 1000 ] && [ "$(h_sql 1 "SELECT @@server_id")" = 1001 ] || { echo "server ids"; return 1; }
    if [ "$H_ENGINE" = mysql ]; then
        [ "$(h_sql 1 "SELECT @@super_read_only")" = 1 ] || { echo "replica not super_read_only"; return 1; }
        local s; s=$(h_sqlv 1 "SHOW REPLICA STATUS")
        grep -q "Source_User: repl$" <<<"$s" && grep -q "Auto_Position: 1$" <<<"$s" && grep -q "Source_SSL_Allowed: Yes$" <<<"$s" \
            && grep -q "Source_Host: $(h_write_name)$" <<<"$s" || { echo "$s" | grep -E "User|Auto_Position|SSL_Allowed|Host"; return 1; }
        [ "$(h_sql 0 "SHOW STATUS LIKE 'Rpl_semi_sync_source_clients'" | cut -f2)" = 1 ] || { echo "semi-sync clients"; return 1; }
        # the source falls back to asynchronous while it has no replica and returns to semi-sync with
        # the first transaction a caught-up replica acknowledges: write one, it must be acknowledged
        local yes0 yes1
        yes0=$(h_sql 0 "SHOW STATUS LIKE 'Rpl_semi_sync_source_yes_tx'" | cut -f2)
        h_sql 0 "CREATE DATABASE IF NOT EXISTS mmc_probe; DROP DATABASE mmc_probe" || { echo "probe write"; return 1; }
        yes1=$(h_sql 0 "SHOW STATUS LIKE 'Rpl_semi_sync_source_yes_tx'" | cut -f2)
        [ "$yes1" -gt "$yes0" ] || { echo "write not acknowledged by a replica (yes_tx $yes0 -> $yes1)"; return 1; }
        semi_sync_on 0 || { echo "semi-sync status"; return 1; }
        [ "$(h_sql 1 "SHOW STATUS LIKE 'Rpl_semi_sync_replica_status'" | cut -f2)" = ON ] || { echo "semi-sync replica status"; return 1; }
        return 0
    fi
    [ "$(h_sql 1 "SELECT @@read_only")" = 1 ] || { echo "replica writable"; return 1; }
    local s; s=$(h_sqlv 1 "SHOW SLAVE STATUS")
    grep -q "Master_User: repl$" <<<"$s" && grep -q "Using_Gtid: Slave_Pos" <<<"$s" && grep -q "Master_Host: $(h_write_name)$" <<<"$s" || { echo "$s" | grep -E "User|Gtid"; return 1; }
    [ "$(h_sql 0 "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'" | cut -f2)" = 1 ] || { echo "semi-sync clients"; return 1; }
    [ "$(h_sql 0 "SHOW STATUS LIKE 'Rpl_semi_sync_master_status'" | cut -f2)" = ON ] || { echo "semi-sync status"; return 1; }
    [ "$(h_sql 1 "SHOW STATUS LIKE 'Rpl_semi_sync_slave_status'" | cut -f2)" = ON ] || { echo "semi-sync replica status"; return 1; }
}
semi_sync_on() { [ "$(h_sql "$1" "SHOW STATUS LIKE 'Rpl_semi_sync_source_status'" | cut -f2)" = ON ]; }
same_pos() { [ "$(h_sql "$1" "SELECT $H_GTID_MEMBER")" = "$(h_sql "$2" "SELECT $H_GTID_PRIMARY")" ]; }
# MySQL: a CLONE with a wrong seed password, or as an account without BACKUP_ADMIN, gets nothing
clone_refuses_unauthenticated() { # DONOR_ORD RECIPIENT_ORD
    local host out d; host=$(h_peer_name "$1"); d="$(h_pod_dir "$2")/tmp/clone-probe"
    h_sql "$2" "SET GLOBAL clone_valid_donor_list = '$host:3306'" || return 1
    out=$(h_sql "$2" "CLONE INSTANCE FROM 'seed'@'$host':3306 IDENTIFIED BY 'not-the-secret' DATA DIRECTORY = '$d' REQUIRE SSL" 2>&1)
    grep -q "Access denied" <<<"$out" && [ ! -e "$d" ] || { echo "wrong password: $out"; return 1; }
    out=$(h_sql "$2" "CLONE INSTANCE FROM 'app'@'$host':3306 IDENTIFIED BY '$H_APP_PW' DATA DIRECTORY = '$d' REQUIRE SSL" 2>&1)
    grep -qi "denied" <<<"$out" && [ ! -e "$d" ] || { echo "account without BACKUP_ADMIN: $out"; return 1; }
    h_sql "$2" "SET GLOBAL clone_valid_donor_list = DEFAULT"
}
is_read_only() { [ "$(h_sql "$1" 'SELECT @@GLOBAL.read_only')" = 1 ]; }
donor_refuses_unauthenticated() { # ORD : speaks the donor protocol with a wrong proof (TLS: without a certificate)
    local out
    if [ -n "${MMC_DP_TLS:-}" ]; then
        out=$( { sleep 0.5; echo seed; sleep 2; } | timeout 10 socat - "OPENSSL:$(h_peer_name "$1"):3307,cafile=$T/tls/ca/ca.crt,verify=1" 2>/dev/null | head -c 65536 | tr -d '\0')
        [ -z "$out" ] || { echo "donor answered a client without a certificate: $(head -c 200 <<<"$out")"; return 1; }
        return 0
    fi
    out=$( { sleep 0.5; echo "seed 0123456789abcdef0123456789abcdef $(printf '%064d' 0)"; sleep 2; } \
        | timeout 10 socat - "TCP:$(h_peer_name "$1"):3307" | head -c 65536 | tr -d '\0')
    grep -q '^MMC-DONOR 1 [0-9a-f]\{32\} ' <<<"$out" && grep -q '^ERR auth$' <<<"$out" && [ "$(wc -c <<<"$out")" -lt 300 ] \
        || { echo "donor answered: $(head -c 200 <<<"$out")"; return 1; }
}
wait_ready() { # ORD SECONDS
    if h_wait "$2" "mysql-$1 ready" h_ready "$1"; then return 0; fi
    local d; d=$(h_pod_dir "$1" 2>/dev/null)
    for f in "$d"/logs/{init,replicate,server}.log; do echo "--- $f"; tail -n 12 "$f"; done >&2
    return 1
}
step() { # NAME EXPECTED_PRIMARY
    local out
    if out=$(h_assert_consistent "$2"); then h_ok "$1: $out"; else h_notok "$1" "$out"; fi
}
job_env() { # PHASE -> env file for the switchover Job of that phase (secrets substituted)
    local f; f=$(ls "$T/ext/$1"/job-*.env 2>/dev/null | head -1)
    [ -n "$f" ] || return 1
    {
        echo "set -a"; cat "$f"
        echo "MMC_POD_NAME=mysql-switchover"
        h_secret_env_of "$f"   # only the passwords the rendered Job gets (never root's)
        echo "TMPDIR=$T/tmp"; echo "MMC_RUN_DIR=$T/tmp"; echo "MMC_CONF_DIR=$T/tmp"
        if [ -n "${MMC_DP_TLS:-}" ]; then echo "MMC_TLS_DIR=$(h_tls_jobdir)"; fi
        [ -n "${H_JOB_EXTRA_ENV:-}" ] && echo "$H_JOB_EXTRA_ENV"
        echo "set +a"
    } >"$T/state/job.env"
    mkdir -p "$T/tmp"
    echo "$T/state/job.env"
}
run_switchover() { # PHASE -> runs the rendered Job's script; rc of switchover.sh
    local env; env=$(job_env "$1") || { echo "no switchover Job rendered for $1"; return 9; }
    # shellcheck disable=SC1090
    (. "$env"; PATH="${SW_PATH:+$SW_PATH:}$PATH" MMC_HOLD_DIR="$T/state" "${H_X[@]}" bash "$(h_scripts_dir "$1")/switchover.sh") >>"$T/${SWLOG:-switchover.log}" 2>&1
}

# move_step TAG NEXT PREVIOUS PHASE ORD CLUSTER LABEL PRIMARY : render the step, stop ORD where it ran and
# start it with an empty volume in CLUSTER (it seeds from a donor), record the write gap, assert.
move_step() {
    local t0 t1
    h_render "$1" "$STACKS/$2" "$STACKS/$3" || { h_notok "render $4"; return 1; }
    h_apply_topology "$1"
    sleep 2
    t0=$(h_now_ms)
    h_pod_stop "$5"
    h_pod_start "$5" "$6" "$1"
    wait_ready "$5" 180 || h_notok "$4: mysql-$5 seeds in $6"
    t1=$(h_now_ms); sleep 2
    echo "replica_move $(h_max_gap_ms "$t0" "$((t1 + 2000))") $t0 $t1" >>"$T/state/gaps"
    step "$7" "$8"
    return 0
}

# ---------------------------------------------------------------- walk-through
walkthrough() {
    local t0 t1 rc
    h_apply_topology p1
    h_host_set "$(h_write_name)" "$(h_ip cluster1 0)"
    h_pod_start 0 cluster1 p1
    wait_ready 0 180 || { h_notok "phase 1: primary mysql-0 comes up"; return 1; }
    make_schema 0 "${BULK_ROWS:-200000}" || { h_notok "phase 1: schema"; return 1; }
    h_pod_start 1 cluster1 p1
    wait_ready 1 120 || { h_notok "phase 1: replica mysql-1 seeds and becomes ready"; return 1; }
    if [ "$H_ENGINE" = mysql ]; then
        h_check "phase 1: mysql-1 was seeded by CLONE (seed user, REQUIRE SSL) into a separate directory" \
            grep -q "volume trusted (clone from $(h_peer_name 0))" "$(h_pod_dir 1)/logs/init.log"
    else
        h_check "phase 1: mysql-1 was seeded over the authenticated donor stream" \
            grep -q "received and verified" "$(h_pod_dir 1)/logs/init.log"
    fi
    h_check "phase 1: server ids 1000/1001, replica read-only, replicates as the repl user with GTID, semi-sync on" identity_checks
    h_writer_start 1500
    sleep 3
    step "phase 1 (both in cluster1, primary 0)" 0

    # phase 2: ordinal 1 moves to cluster2 (new volume, seeds from a donor)
    move_step p2 02-replica-in-cluster2.yaml 01-all-in-cluster1.yaml "phase 2" 1 cluster2 "phase 2 (mysql-1 moved to cluster2)" 0 || return 1

    # planned switchover to mysql-1 (the rendered Job)
    h_render p3 "$STACKS/03-switchover-to-mysql-1.yaml" "$STACKS/02-replica-in-cluster2.yaml" || { h_notok "render switchover"; return 1; }
    h_apply_topology p3
    t0=$(h_now_ms)
    run_switchover p3; rc=$?
    h_host_set "$(h_write_name)" "$(h_ip cluster2 1)"   # the program points the write service at the new primary
    t1=$(h_now_ms); sleep 2
    echo "switchover $(h_max_gap_ms "$t0" "$((t1 + 2000))") $t0 $t1" >>"$T/state/gaps"
    [ "$rc" = 0 ] && h_ok "switchover Job (rendered env) exits 0" || h_notok "switchover Job (rendered env) exits 0" "rc=$rc: $(tail -3 "$T/switchover.log" | tr '\n' ' ')"
    step "after switchover (primary mysql-1)" 1
    # a figure, not an assertion: the < 1000 ms goal belongs to bench/dataplane.sh that prints it
    echo "# switchover write gap: $(tail -1 "$T/state/gaps" | cut -d' ' -f2) ms (max interval between acknowledged writes)"

    # phase 3: ordinal 0 moves to cluster2
    move_step p4 04-both-in-cluster2.yaml 03-switchover-to-mysql-1.yaml "phase 3" 0 cluster2 "phase 3 (both in cluster2, primary 1)" 1 || return 1

    # phase 4: ordinal 0 moves to cluster3
    move_step p5 05-cluster2-and-cluster3.yaml 04-both-in-cluster2.yaml "phase 4" 0 cluster3 "phase 4 (mysql-0 in cluster3, mysql-1 in cluster2)" 1 || return 1
    h_writer_stop
    step "walk-through end: nothing acknowledged lost" 1
    local p; for p in $(h_pods); do h_pod_stop "$p"; done
}

# ---------------------------------------------------------------- faults (3 members)
H_STAGING=.mmc-staging; [ "$H_ENGINE" = mysql ] && H_STAGING=mmc-staging   # see mmc_engine_work_dirs in lib-engine.sh
# MySQL's seed starts a throwaway local server (initialise, start) before CLONE writes to staging
SEED_START_S=60; [ "$H_ENGINE" = mysql ] && SEED_START_S=240
staging_has_data() { [ "$(find "$1/data/$H_STAGING" -type f 2>/dev/null | head -3 | wc -l)" -ge 2 ]; }
faults() {
    local f1="$T/state/faults-1.yaml" f2="$T/state/faults-2.yaml" rc d
    # the same config as phase 1, with a third member in cluster2; then a switchover to mysql-1
    sed -E 's/^(\s*mysql-multicluster:placement:).*/\1 [cluster1, cluster1, cluster2]/' "$STACKS/01-all-in-cluster1.yaml" >"$f1"
    sed -E 's/^(\s*mysql-multicluster:primary:).*/\1 1/' "$f1" >"$f2"
    h_render f1 "$f1" || { h_notok "render fault set"; return 1; }
    h_render f2 "$f2" "$f1" || { h_notok "render fault set switchover"; return 1; }
    local p
    h_fresh_set f1
    export H_WRITER_BASE=100000000
    h_pod_start 0 cluster1 f1; wait_ready 0 180 || { h_notok "fault set: primary up"; return 1; }
    make_schema 0 "${FAULT_BULK_ROWS:-600000}"
    h_pod_start 1 cluster1 f1; wait_ready 1 180 || { h_notok "fault set: mysql-1 up"; return 1; }
    h_pod_start 2 cluster2 f1; wait_ready 2 180 || { h_notok "fault set: mysql-2 up"; return 1; }
    h_writer_start 1200
    sleep 2
    step "fault set ready (3 members)" 0
    if [ "$H_ENGINE" = mysql ]; then
        h_check "CLONE: a recipient without the seed secret (or without BACKUP_ADMIN) gets no data" clone_refuses_unauthenticated 1 2
    else
        h_check "donor stream: a client without the seed secret gets no data" donor_refuses_unauthenticated 1
    fi

    # F1: the recipient dies half-way through its seed; the half-seeded volume must not be trusted
    h_pod_stop 2; d="$T/pod/cluster2-2"; rm -rf "$d/data"
    h_pod_start 2 cluster2 f1
    if h_wait_fast "$SEED_START_S" "mysql-2 staging fills" staging_has_data "$d"; then
        h_pod_kill 2
        if [ ! -e "$d/data/.mmc-trusted" ] && [ -d "$d/data/$H_STAGING" ]; then h_ok "recipient killed mid-seed: volume left without the trust marker"
        else h_notok "recipient killed mid-seed: volume left without the trust marker" "$(ls -a "$d/data" | tr '\n' ' ')"; fi
        h_pod_start 2 cluster2 f1
        wait_ready 2 180 || true
        h_check "recipient killed mid-seed: the half-seeded volume is wiped and seeded again" grep -q "wiping untrusted volume" "$d/logs/init.log"
        step "after recipient killed mid-seed" 0
    else h_notok "recipient killed mid-seed (the seed never started)"; fi

    # F2: the donor (mysql-1, first in MMC_DONORS) dies mid-seed; the next donor is used. mysql-1 must
    # be a ready donor first (under load it can still be catching up, and then mysql-0 is used at once)
    h_pod_stop 2; rm -rf "$d/data"; : >"$d/logs/init.log"
    wait_ready 1 180 || h_log "note: mysql-1 not ready before F2"
    h_pod_start 2 cluster2 f1
    if h_wait_fast "$SEED_START_S" "mysql-2 staging fills" staging_has_data "$d"; then
        grep -q "seeding from mysql-1" "$d/logs/init.log" || h_log "note: first donor was not mysql-1: $(grep seeding "$d/logs/init.log")"
        h_pod_kill 1
        wait_ready 2 240 || true
        h_check "donor killed mid-seed: the broken stream is discarded and the primary donor used" bash -c "
            grep -q 'seeding from mysql-1' '$d/logs/init.log' && grep -Eq 'seed stream from mysql-1.* (broke|failed its integrity check)|seed from mysql-1.* failed' '$d/logs/init.log' && grep -q 'seeding from mysql-0' '$d/logs/init.log' || { grep -E 'seed|donor|stream' '$d/logs/init.log' | tail -8; exit 1; }"
        h_pod_start 1 cluster1 f1; wait_ready 1 120 || true
        step "after donor killed mid-seed" 0
    else h_notok "donor killed mid-seed (the seed never started)"; fi

    # F3: a replica is killed while it catches up a backlog
    h_pod_stop 2
    h_sql 0 "$(h_sql_insert_seq 200000 "SHA2(seq, 512)")" >/dev/null
    local i; for ((i = 0; i < 100; i++)); do h_sql 0 "$(h_sql_insert_seq 500 "SHA2(seq, 256)")" >/dev/null; done
    h_pod_start 2 cluster2 f1
    h_wait 60 "mysql-2 answers" h_sql 2 "SELECT 1" && sleep 0.5
    local behind; behind=$(h_sql 2 "SELECT $H_GTID_MEMBER" 2>/dev/null)
    h_pod_kill 2
    h_log "mysql-2 killed during catch-up at $behind (primary at $(h_sql 0 "SELECT $H_GTID_PRIMARY"))"
    h_pod_start 2 cluster2 f1; wait_ready 2 180 || true
    step "after a replica killed during catch-up" 0

    # F4: a member comes back with a stale volume whose position the primary purged
    h_pod_stop 2
    for ((i = 0; i < 20; i++)); do h_sql 0 "INSERT INTO mmc_test.bulk (v) VALUES ('stale-$i')" >/dev/null; done
    h_sql 0 "FLUSH BINARY LOGS; FLUSH BINARY LOGS;" >/dev/null
    h_wait 30 "mysql-1 caught up" same_pos 1 0
    local last; last=$(h_sql 0 "SHOW BINARY LOGS" | tail -1 | cut -f1)
    h_sql 0 "PURGE BINARY LOGS TO '$last'"
    : >"$d/logs/init.log"; : >"$d/logs/replicate.log"; : >"$d/logs/server.log"
    h_pod_start 2 cluster2 f1
    # waited for, not checked once Ready: the replica may pass a probe before its receiver meets the
    # purged position (MySQL reports it after connecting)
    if h_wait 240 "mysql-2 re-seeding over the purged position" bash -c "
        grep -q 're-seed needed' '$d/logs/replicate.log' && cat '$d/logs/init.log' '$d/logs/server.log' | grep -q 'wiping untrusted volume'"; then
        h_ok "stale volume: replicate.sh detects the purged position and the member re-seeds"
    else h_notok "stale volume: replicate.sh detects the purged position and the member re-seeds" "$(tail -5 "$d/logs/replicate.log")"; fi
    wait_ready 2 240 || true
    step "after a member returned with a stale volume" 0

    # F5: the primary dies during a planned switchover (rendered Job of the fault set)
    h_apply_topology f2
    : >"$T/switchover-fault.log"
    # The Job runs with a client that pauses right after the demotion read the final position
    # (test/dataplane/hold-client, named like either engine's client), so the kill lands between
    # demotion and promotion every run. Copied under $T: the MySQL chroot sees only that.
    rm -f "$T/state/demoted" "$T/state/go"
    rm -rf "$T/hold-client"; cp -a "$H_DIR/hold-client" "$T/hold-client"
    SW_PATH="$T/hold-client" SWLOG=switchover-fault.log run_switchover f2 &
    local sw=$!
    h_wait_fast 30 "switchover paused after the demotion" test -e "$T/state/demoted"
    h_pod_kill 0
    touch "$T/state/go"
    wait "$sw"; rc=$?
    h_check "primary killed between demotion and promotion: the switchover refuses to promote (rc 1)" test "$rc" = 1
    h_check "the kill landed after the demotion: the switchover failed in catch-up or confirm, not before" \
        grep -Eq "failed in phase '(catch_up|confirm)'" "$T/switchover-fault.log"
    h_log "switchover with the primary killed exited rc=$rc"
    h_pod_start 0 cluster1 f2
    h_wait 60 "mysql-0 answers" h_sql 0 "SELECT 1"
    sleep 5
    local w; w=$(h_primary_of | tr '\n' ' '); w=${w% }
    if [ "$(echo "$w" | wc -w)" = 1 ]; then
        h_ok "primary killed during switchover (switchover rc=$rc): exactly one writable member, mysql-$w"
        h_host_set "$(h_write_name)" "$(h_ip "$(cat "$T/state/pod$w.cluster")" "$w")"
        local o; for o in 0 1 2; do [ "$o" = "$w" ] || wait_ready "$o" 120 || true; done
        step "after the primary was killed during a switchover" "$w"
    else
        h_notok "primary killed during switchover: exactly one writable member" "writable: '$w' (rc=$rc)"
    fi

    # F6: the old primary dies right after the new one was promoted (before it could be repointed)
    if [ "${w:-}" = 0 ]; then
        SWLOG=switchover-fault2.log run_switchover f2 &
        sw=$!
        h_wait_fast 30 "mysql-1 promoted" h_writable 1
        h_pod_kill 0
        wait "$sw"; rc=$?
        h_host_set "$(h_write_name)" "$(h_ip cluster1 1)"
        h_pod_start 0 cluster1 f2
        wait_ready 0 120 || true
        w=$(h_primary_of | tr '\n' ' '); w=${w% }
        if [ "$w" = 1 ]; then h_ok "old primary killed right after the promotion (switchover rc=$rc): it returns as a replica, mysql-1 the only writer"
        else h_notok "old primary killed right after the promotion: it returns as a replica" "writable: '$w' (rc=$rc)"; fi
        step "after the old primary died right after a promotion" 1
    fi
    h_writer_stop
    local p; for p in $(h_pods); do h_pod_stop "$p"; done
}

# ---------------------------------------------------------------- npm run status on real servers
# status_view CONFIG : tools/status.ts's report run inside every pod (as kubectl exec runs it in the mysql
# container), judged and printed by its own functions; rc 0 healthy, 1 not.
status_view() {
    local o d r args=()
    for o in $(h_pods); do
        d=$(h_pod_dir "$o")
        # shellcheck disable=SC1091
        (set -a; . "$d/env"; set +a; "${H_X[@]}" bash -c "$STATUS_REPORT") >"$T/state/status-report$o" 2>>"$T/state/status-report.err"
        r=0; h_ready "$o" >/dev/null 2>&1 && r=1
        args+=("$o=$(cat "$T/state/pod$o.cluster"):$r:$T/state/status-report$o")
    done
    node --import tsx "$H_DIR/status-view.ts" --config "$1" "${args[@]}"
}
status_checks() {
    local p out rc stop=STOP start=START cfg="$STACKS/01-all-in-cluster1.yaml"
    h_render st "$cfg" || { h_notok "status: render phase 1"; return 1; }
    h_fresh_set st
    h_pod_start 0 cluster1 st; wait_ready 0 180 || { h_notok "status: primary mysql-0 up"; return 1; }
    h_pod_start 1 cluster1 st; wait_ready 1 180 || { h_notok "status: replica mysql-1 up"; return 1; }
    STATUS_REPORT=$(node --import tsx "$H_DIR/status-view.ts" --print-report) || { h_notok "status: the report script"; return 1; }
    out=$(status_view "$cfg"); rc=$?
    if [ "$rc" = 0 ] && grep -q "primary configured mysql-0, real mysql-0$" <<<"$out" && grep -Eq "^mysql-1 +cluster1 .* read-only .* Yes +Yes " <<<"$out"; then
        h_ok "npm run status's report on real servers: healthy, real primary mysql-0, mysql-1 read-only and replicating"
    else h_notok "npm run status's report on real servers: healthy" "rc=$rc: $out $(tail -3 "$T/state/status-report.err" 2>/dev/null)"; fi
    # The replica's first decision took: its loop does not decide again (and so never restarts a
    # replication a DBA stopped on purpose, as the next check does).
    if grep -q "decision failed" "$(h_pod_dir 1)/logs/replicate.log"; then
        h_notok "status: mysql-1's first decision (replicate from the primary) succeeded" "$(grep -B2 "decision failed" "$(h_pod_dir 1)/logs/replicate.log" | head -6)"
    else h_ok "status: mysql-1's first decision (replicate from the primary) succeeded: its loop decides no more"; fi
    if [ "$H_ENGINE" = mysql ]; then stop="STOP REPLICA"; start="START REPLICA"; else stop="STOP SLAVE"; start="START SLAVE"; fi
    h_sql 1 "$stop"
    out=$(status_view "$cfg"); rc=$?
    if [ "$rc" = 1 ] && grep -q "^  - replica mysql-1: replication I/O thread No$" <<<"$out" && grep -q "^  - replica mysql-1: replication SQL thread No$" <<<"$out"; then
        h_ok "npm run status's report with mysql-1's replication stopped: exit 1, names mysql-1's threads"
    else h_notok "npm run status's report with replication stopped" "rc=$rc: $out"; fi
    h_sql 1 "$start"
    for p in $(h_pods); do h_pod_stop "$p"; done
}

# ---------------------------------------------------------------- shutdown and liveness
# The pod runs with H_PIDNS=1 (pod.sh): every container is PID 1 of its own PID namespace, so a
# signal from outside reaches it only if it handles it, as the kubelet's SIGTERM does.
pid1_of() { local u; u=$(cat "$1/pid1/$2" 2>/dev/null) && pgrep -P "$u" | head -1; } # POD_DIR NAME
probe_live() { local dir; dir=$(h_pod_dir "$1"); (set -a; . "$dir/env"; "${H_X[@]}" bash "$MMC_SCRIPTS/probe.sh" live); }
too_many_connections() { local out; out=$(h_sql "$1" 'SELECT 1' 2>&1) && return 1; grep -q '1040' <<<"$out"; }
answers() { h_sql "$1" 'SELECT 1' >/dev/null 2>&1; }
app_refused() { local out; out=$("${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/app.cnf" -h "$1" -P 3306 -e 'SELECT 1' 2>&1) && return 1; grep -q '1040' <<<"$out"; }
shutdown_liveness() {
    h_render sd "$STACKS/01-all-in-cluster1.yaml" || { h_notok "render phase 1 (shutdown and liveness)"; return 1; }
    h_fresh_set sd
    H_EXTRA_ENV="H_PIDNS=1" h_pod_start 0 cluster1 sd
    wait_ready 0 240 || { h_notok "shutdown/liveness: mysql-0 ready (containers as PID 1)"; return 1; }
    local dir ip i t0 ms pid pids=()
    dir=$(h_pod_dir 0) ip=$(h_ip cluster1 0)
    make_schema 0 10 >/dev/null
    h_check "liveness: an idle server is alive" probe_live 0

    # saturated: every connection slot taken, by applications and by an administrator (the extra slot)
    h_sql 0 "SET GLOBAL max_connections = 10"
    for ((i = 0; i < 12; i++)); do
        "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/app.cnf" -h "$ip" -P 3306 -e 'SELECT SLEEP(30)' >/dev/null 2>&1 &
        pids+=($!)
    done
    sleep 1
    for ((i = 0; i < 2; i++)); do
        "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/root.cnf" --socket="$dir/run/mysqld.sock" -e 'SELECT SLEEP(30)' >/dev/null 2>&1 &
        pids+=($!)
    done
    if h_wait 15 "mysql-0 refusing a client with 1040" app_refused "$ip"; then
        # MariaDB also refuses root then (the old liveness, a root SELECT 1, failed); MySQL 9.7 lets an
        # account with CONNECTION_ADMIN past the limit
        local old="root SELECT 1 (the old liveness check) succeeds"
        if [ "$H_ENGINE" = mariadb ]; then
            # under load the two administrators' sessions may connect after the applications' did: the
            # extra slot is taken once they have (one check then judged a free slot, not the engine)
            h_wait 15 "root refused with 1040 too (the extra slot taken)" too_many_connections 0 \
                && old="root SELECT 1 (the old liveness check) refused with 1040 too"
        else
            too_many_connections 0 && old="root SELECT 1 (the old liveness check) refused with 1040 too"
        fi
        if [ "$H_ENGINE" = mariadb ] && [[ "$old" == *succeeds ]]; then h_notok "liveness: MariaDB refuses root too when saturated" "$old"
        else h_ok "liveness: max_connections exhausted by clients (an application client gets 1040; $old)"; fi
        h_check "liveness: succeeds while max_connections is exhausted by clients" probe_live 0
    else
        h_notok "liveness: could not exhaust max_connections" "root SELECT 1: $(h_sql 0 'SELECT 1' 2>&1 | tr '\n' ' ');
            $(h_sql 0 "SELECT @@max_connections, (SELECT COUNT(*) FROM information_schema.PROCESSLIST), (SELECT GROUP_CONCAT(DISTINCT user) FROM information_schema.PROCESSLIST)" 2>&1 | tr '\n' ' ')"
    fi
    kill "${pids[@]}" 2>/dev/null
    h_wait 60 "mysql-0 accepting connections again" answers 0
    h_sql 0 "SET GLOBAL max_connections = DEFAULT"

    # hung: the server stopped (SIGSTOP): liveness fails within the probe's timeoutSeconds (5)
    pid=$(pid1_of "$dir" server)
    if [ -n "$pid" ] && kill -STOP "$pid"; then
        t0=$(h_now_ms)
        if probe_live 0 2>/dev/null; then ms=$(($(h_now_ms) - t0)); h_notok "liveness: fails for a stopped server" "succeeded after $ms ms"
        else
            ms=$(($(h_now_ms) - t0))
            if [ "$ms" -le 5000 ]; then h_ok "liveness: fails for a stopped (SIGSTOP) server in $ms ms (probe timeout 5 s)"
            else h_notok "liveness: fails for a stopped server within 5 s" "took $ms ms"; fi
            echo "liveness_fail_on_stopped_server_ms $ms" >>"$T/state/shutdown"
        fi
        kill -CONT "$pid"
    else
        h_notok "liveness: the server's PID 1 was not found" "pid1/server=$(cat "$dir/pid1/server" 2>&1)"
    fi
    h_wait 60 "mysql-0 answers after SIGCONT" answers 0

    # shutdown: SIGTERM to every container's PID 1 at once (what the kubelet does on pod deletion)
    touch "$dir/stopping"
    local name unshares=() names=(server replicate) left worst=0
    [ "$H_ENGINE" = mariadb ] && names+=(donor)   # the StatefulSet has a donor container on MariaDB only
    for name in "${names[@]}"; do
        pid=$(pid1_of "$dir" "$name")
        [ -n "$pid" ] || { h_notok "shutdown: PID 1 of container $name found"; continue; }
        unshares+=("$(cat "$dir/pid1/$name")")
    done
    t0=$(h_now_ms)
    for name in "${names[@]}"; do pid=$(pid1_of "$dir" "$name") && kill -TERM "$pid"; done
    declare -A stopped=()
    for ((i = 0; i < 600; i++)); do
        left=0
        for name in "${names[@]}"; do
            [ -n "${stopped[$name]:-}" ] && continue
            if kill -0 "$(cat "$dir/pid1/$name")" 2>/dev/null; then left=1; else stopped[$name]=$(($(h_now_ms) - t0)); fi
        done
        [ "$left" = 0 ] && break
        sleep 0.05
    done
    for name in "${names[@]}"; do
        ms=${stopped[$name]:-}
        if [ -n "$ms" ] && [ "$ms" -le 10000 ]; then h_ok "shutdown: container $name stopped $ms ms after SIGTERM to its PID 1"
        else h_notok "shutdown: container $name stops within 10 s of SIGTERM to its PID 1" "still running after $((i * 50)) ms (PID 1 ignores SIGTERM)"; fi
        [ -n "$ms" ] && [ "$ms" -gt "$worst" ] && worst=$ms
        echo "sigterm_stop_${name}_ms ${ms:-none}" >>"$T/state/shutdown"
    done
    echo "sigterm_stop_pod_ms $worst" >>"$T/state/shutdown"
    kill -KILL -- "-$(cat "$dir/pgid")" 2>/dev/null
    h_check "shutdown: the server shut down cleanly (Shutdown complete in its log)" \
        bash -c 'sed -n "/^=== start server/h; /^=== start server/!H; \${x;p}" "$1" | grep -q "Shutdown complete"' _ "$dir/logs/server.log"

    # the next start needs no crash recovery
    h_pod_start 0 cluster1 sd
    if h_wait 180 "mysql-0 answers after the restart" answers 0; then
        h_check "shutdown: the next start runs no crash recovery" \
            bash -c '! sed -n "/^=== start server/h; /^=== start server/!H; \${x;p}" "$1" | grep -Ei "crash recovery|not shut ?down normally"' _ "$dir/logs/server.log"
    else
        h_notok "shutdown: the server starts again after the clean stop"
    fi
    h_pod_stop 0
}

# ---------------------------------------------------------------- lost zone: failover, return (3 members)
# failover_env PHASE -> env file of the failover Job the program rendered for the failover step PHASE
# (components/failover.ts: the container env without MMC_TOPOLOGY_FILE, the chosen and reachable
# members, the lost ones, MMC_SOURCE_FOR, the new epoch), secrets substituted.
failover_env() {
    local job; job=$(ls "$T/ext/$1"/job-*-failover-e*.env 2>/dev/null | head -1)
    [ -n "$job" ] || return 1
    {
        echo "set -a"; cat "$job"
        echo "MMC_POD_NAME=mysql-failover"
        h_secret_env
        echo "TMPDIR=$T/tmp"; echo "MMC_RUN_DIR=$T/tmp"; echo "MMC_CONF_DIR=$T/tmp"
        echo "set +a"
    } >"$T/state/failover.env"
    mkdir -p "$T/tmp"
    echo "$T/state/failover.env"
}
run_failover() { # PHASE -> rc of failover.sh (its last line in $T/failover.out)
    local env; env=$(failover_env "$1") || { echo "no failover Job rendered for $1" >"$T/failover.out"; return 9; }
    # shellcheck disable=SC1090
    (. "$env"; "${H_X[@]}" bash "$(h_scripts_dir "$1")/failover.sh") >"$T/failover.out" 2>>"$T/failover.log"
}
writes_on() { [ "$(h_acked_count)" -gt "$1" ]; }
first_ack_after() { awk -v a="$1" '$2 >= a { print $2; exit }' "$T/writer/acked"; }
errant_aside() { # ORD MARKER : the volume's old data is kept under .mmc-aside-*, holding MARKER's table
    local d; d="$(h_pod_dir "$1")/data"
    ls -d "$d"/.mmc-aside-*/mmc_test >/dev/null 2>&1 && grep -q errant "$d"/.mmc-aside-*/REASON \
        && compgen -G "$d/.mmc-aside-*/mmc_test/$2.*" >/dev/null || { ls -la "$d" "$d"/.mmc-aside-* 2>&1 | head -20; return 1; }
}
io_thread() { # ORD STOP|START
    h_sql "$1" "$2 SLAVE IO_THREAD" 2>/dev/null || h_sql "$1" "$2 REPLICA IO_THREAD"
}
lost_zone() {
    local g1="$T/state/lz-1.yaml" ga="$T/state/lz-a.yaml" gb="$T/state/lz-b.yaml" rc t0 t1 ack0 first w out
    sed -E 's/^(\s*mysql-multicluster:placement:).*/\1 [cluster1, cluster2, cluster3]/' "$STACKS/01-all-in-cluster1.yaml" >"$g1"
    # the failover steps: cluster1 declared lost, the new primary in a reachable cluster
    sed -E 's/^(\s*mysql-multicluster:primary:).*/\1 1\n  mysql-multicluster:failover: { lost: [cluster1] }/' "$g1" >"$ga"
    sed -E 's/^(\s*mysql-multicluster:primary:).*/\1 2\n  mysql-multicluster:failover: { lost: [cluster1] }/' "$g1" >"$gb"
    h_render lz1 "$g1" || { h_notok "render lost-zone set"; return 1; }
    h_render lza "$ga" "$g1" || { h_notok "render lost-zone failover step to mysql-1"; return 1; }
    h_render lzb "$gb" "$g1" || { h_notok "render lost-zone failover step to mysql-2"; return 1; }
    local p
    h_fresh_set lz1
    export H_WRITER_BASE=200000000
    local extra_before=${H_EXTRA_ENV:-}
    export H_EXTRA_ENV="MMC_RESUME_AFTER_SECONDS=30"
    h_pod_start 0 cluster1 lz1; wait_ready 0 180 || { h_notok "lost-zone set: primary up"; return 1; }
    make_schema 0 "${LZ_BULK_ROWS:-50000}"
    h_pod_start 1 cluster2 lz1; wait_ready 1 180 || { h_notok "lost-zone set: mysql-1 up"; return 1; }
    h_pod_start 2 cluster3 lz1; wait_ready 2 180 || { h_notok "lost-zone set: mysql-2 up"; return 1; }
    h_writer_start 1200
    sleep 2
    step "lost-zone set ready (mysql-0 in cluster1, mysql-1 in cluster2, mysql-2 in cluster3)" 0

    # mysql-1 falls behind: the writes of the next seconds are acknowledged by mysql-2 only
    io_thread 1 STOP
    ack0=$(h_acked_count)
    h_wait 30 "writes acknowledged while mysql-1 is behind" writes_on $((ack0 + 20))
    # the old primary gets transactions no replica receives (the writer pauses: writes a client saw
    # acknowledged are never among them)
    h_writer_pause
    io_thread 2 STOP
    H_SQL_TIMEOUT=60 h_sql 0 "CREATE TABLE mmc_test.errant_writes (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO mmc_test.errant_writes VALUES (1), (2), (3)" \
        || h_log "note: errant writes on mysql-0 failed"
    # cluster1 is lost: its member dies and its address drops every packet; the replicas try to reconnect
    h_pod_kill 0
    h_net_drop "$(h_ip cluster1 0)"
    io_thread 1 START; io_thread 2 START
    h_writer_resume
    sleep 3

    # failover by config to mysql-1, which is behind mysql-2: refused, naming mysql-2, nothing writable
    : >"$T/failover.log"
    run_failover lza; rc=$?
    out=$(cat "$T/failover.out")
    w=$(h_primary_of | tr '\n' ' '); w=${w% }
    if [ "$rc" = 1 ] && [[ "$out" == *"mysql-2"*"is ahead of mysql-1"*"choose it or wait"* ]] && [ -z "$w" ]; then
        h_ok "failover to a member behind another is refused naming it (\"$out\"), nothing writable"
    else h_notok "failover to a member behind another is refused naming it, nothing writable" "rc=$rc out='$out' writable='$w'"; fi

    # failover by config to mysql-2 (ordinal 0 lost, epoch 2): the Job, then the topology of the
    # reachable clusters and the write endpoint, as the program does after the Job succeeded
    ack0=$(h_acked_count)
    t0=$(h_now_ms)
    run_failover lzb; rc=$?
    if [ "$rc" = 0 ]; then
        h_apply_topology lzb   # cluster1's is rendered as deployed (epoch 1): it is lost
        h_host_set "$(h_write_name)" "$(h_ip cluster3 2)"
    fi
    t1=$(h_now_ms)
    if [ "$rc" = 0 ]; then h_ok "failover Job (primary's cluster lost, its address dropping packets) exits 0 in $((t1 - t0)) ms"
    else h_notok "failover Job (primary's cluster lost) exits 0" "rc=$rc: $(cat "$T/failover.out") $(tail -3 "$T/failover.log" | tr '\n' ' ')"; fi
    h_wait 60 "a write acknowledged by the new primary" writes_on "$ack0"
    first=$(first_ack_after "$t0")
    echo "failover_write_unavailability_ms $((${first:-$t0} - t0))" >>"$T/state/figures"
    echo "# failover: first acknowledged write on the new primary $((${first:-$t0} - t0)) ms after the failover Job started"
    h_check "the failover never waited on the lost member (no timeout, no unreachable host in its log)" \
        bash -c "! grep -Eqi 'unreachable|does not answer|timeout' '$T/failover.log'"
    h_check "epoch 2 recorded by the promotion on mysql-2 and replicated to mysql-1" \
        h_wait 30 "epoch 2 on mysql-1" h_sql_is 2 'SELECT epoch FROM mmc.epoch WHERE id = 1' 1
    step "after the failover (mysql-2 primary, mysql-0 lost)" 2

    # the same failover again (a re-run of a failed up) converges: exit 0, nothing changes
    run_failover lzb; rc=$?
    h_check "the same failover run again exits 0" test "$rc" = 0
    step "after the failover ran again" 2

    # the lost cluster returns: its member has the stale topology (epoch 1, "mysql-0 is the primary")
    # and the errant transactions
    h_net_restore "$(h_ip cluster1 0)"
    mkdir -p "$T/pod/cluster1-0/logs"; : >"$T/pod/cluster1-0/logs/replicate.log"
    h_pod_start 0 cluster1 lz1
    wait_ready 0 240 || true
    h_check "the returning old primary never became writable (stale topology, newer epoch elsewhere)" \
        bash -c "! grep -q 'this member is the primary' '$T/pod/cluster1-0/logs/replicate.log'"
    h_check "its errant transactions were detected, its data set aside (kept), and it was seeded again" errant_aside 0 errant_writes
    h_check "the errant transactions did not reach the set" h_sql_is "" "SHOW TABLES FROM mmc_test LIKE 'errant_writes'" 2
    step "after the lost cluster returned (mysql-0 re-seeded as a replica of mysql-2)" 2

    # the switchover Job (mysql-2 -> mysql-1) is killed right after the demotion: within a bounded time
    # (MMC_RESUME_AFTER_SECONDS, 30 s here) exactly one member is writable again, the old primary
    sed -E 's/^(\s*mysql-multicluster:primary:).*/\1 1/' "$gb" >"$T/state/lz-c.yaml"
    h_render lzc "$T/state/lz-c.yaml" "$g1" "$gb" || { h_notok "render the switchover to mysql-1"; return 1; }
    rm -f "$T/state/demoted" "$T/state/go"
    rm -rf "$T/hold-client"; cp -a "$H_DIR/hold-client" "$T/hold-client"
    local env sw; env=$(job_env lzc)
    # shellcheck disable=SC1090
    (. "$env"; PATH="$T/hold-client:$PATH" MMC_HOLD_DIR="$T/state" exec setsid "${H_X[@]}" bash "$(h_scripts_dir lzc)/switchover.sh") >>"$T/switchover-killed.log" 2>&1 &
    sw=$!
    if h_wait_fast 60 "switchover paused after the demotion" test -e "$T/state/demoted"; then
        kill -KILL -- "-$sw" 2>/dev/null || kill -KILL "$sw"
        wait "$sw" 2>/dev/null
        t0=$(h_now_ms)
        h_check "the killed switchover left the old primary demoted (no writable member at first)" no_writable
        if h_wait 150 "exactly one writable member again" one_writable; then
            t1=$(h_now_ms)
            w=$(h_primary_of | tr '\n' ' '); w=${w% }
            h_ok "switchover Job killed after the demotion: mysql-$w is the one writable member again after $((t1 - t0)) ms"
            echo "# killed switchover: writable again after $((t1 - t0)) ms (bound: MMC_RESUME_AFTER_SECONDS + a round)"
        else h_notok "switchover Job killed after the demotion: one writable member within a bounded time" "writable: '$(h_primary_of | tr '\n' ' ')'"; fi
        step "after the switchover Job was killed past its demotion" 2
    else h_notok "switchover Job killed after the demotion (it never reached the demotion)" "$(tail -3 "$T/switchover-killed.log" | tr '\n' ' ')"; fi
    h_writer_stop
    step "lost zone: nothing acknowledged lost" 2
    echo "acknowledged_writes_lost $(lost_acks)" >>"$T/state/figures"
    for p in $(h_pods); do h_pod_stop "$p"; done
    H_EXTRA_ENV=$extra_before
}
no_writable() { [ -z "$(h_primary_of)" ]; }
one_writable() { [ "$(h_primary_of | wc -l)" = 1 ]; }
h_sql_is() { [ "$(h_sql "$3" "$2")" = "$1" ]; } # VALUE SQL ORD
lost_acks() { # acknowledged writes missing on the primary
    local p; p=$(h_primary_of | head -1)
    sort -n -u <(cut -d' ' -f1 "$T/writer/acked") >"$T/writer/acked.ids"
    h_sql "$p" 'SELECT id FROM mmc_test.acks' | sort -n -u >"$T/writer/member.ids"
    comm -23 "$T/writer/acked.ids" "$T/writer/member.ids" | wc -l
}

# ---------------------------------------------------------------- data path (issue 10)
# Volumes owned before use, bootstrap only when the program allows it, re-seeds no probe kills,
# credentials reconciled from the Secret (destroy then up). A 2-member set from stacks/01.
not_writable_for() { # ORD SECONDS : the member never becomes writable in that time (no server, or read-only)
    local end=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$end" ]; do
        if [ "$(h_sql "$1" 'SELECT @@GLOBAL.read_only' 2>/dev/null)" = 0 ]; then echo "mysql-$1 became writable"; return 1; fi
        sleep 0.5
    done
}
waits_not_writable() { # ORD SECONDS WHY : never writable in that time, never initialised, init says WHY
    not_writable_for "$1" "$2" || return 1
    init_log_says "$1" "$3" || return 1
    ! grep -q 'initialising an empty data directory' "$(h_pod_dir "$1")/logs/init.log" || { echo "it initialised an empty set"; return 1; }
}
init_log_says() { grep -q -- "$2" "$(h_pod_dir "$1")/logs/init.log" || { tail -4 "$(h_pod_dir "$1")/logs/init.log"; return 1; }; }
# A volume of ORD set aside ($d/data.saved) and replaced by an empty or prepared one; restored by volume_restore.
volume_aside() { local d="$T/pod/$2-$1"; rm -rf "$d/data.saved"; mv "$d/data" "$d/data.saved"; mkdir -p "$d/data"; chown "$H_OWNER" "$d/data"; } # ORD CLUSTER (stopped)
volume_restore() { local d="$T/pod/$2-$1"; rm -rf "$d/data"; mv "$d/data.saved" "$d/data"; }
probe_live_while_seeding() { # ORD : the startup/liveness probe passes and readiness fails while a re-seed runs
    local d; d=$(h_pod_dir "$1")
    h_wait_fast "$((SEED_START_S + 60))" "mysql-$1 re-seed staging fills" staging_has_data "$d" || { echo "the re-seed never started"; return 1; }
    local live=0 ready=0
    (set -a; . "$d/env"; "${H_X[@]}" bash "$MMC_SCRIPTS/probe.sh" live) || live=$?
    (set -a; . "$d/env"; "${H_X[@]}" bash "$MMC_SCRIPTS/probe.sh" ready) 2>/dev/null || ready=$?
    [ -d "$d/data/$H_STAGING" ] || { echo "the seed ended before the probe ran; nothing proven"; return 1; }
    [ "$live" = 0 ] && [ "$ready" != 0 ] || { echo "during the seed: live rc=$live (want 0), ready rc=$ready (want non-zero)"; return 1; }
}
new_passwords() { # destroy then up: a new Secret (the app's own user keeps its password)
    umask 077
    h_random_pw >"$T/state/root.pw"; h_random_pw >"$T/state/repl.pw"; h_random_pw >"$T/state/seed.pw"; h_random_pw >"$T/state/admin.pw"
    umask 022
    H_OLD_ROOT_PW=$H_ROOT_PW
    H_ROOT_PW=$(cat "$T/state/root.pw"); H_REPL_PW=$(cat "$T/state/repl.pw"); H_SEED_PW=$(cat "$T/state/seed.pw"); H_ADMIN_PW=$(cat "$T/state/admin.pw")
    h_cnf "$T/state/root.cnf" root "$H_ROOT_PW"
}
# root over the socket with PASSWORD, as the OS user mysql (MariaDB's root also accepts unix_socket
# authentication for the OS root: that would prove nothing about the password)
root_login() { # ORD PASSWORD
    local as=()
    [ "$H_ENGINE" = mariadb ] && as=(runuser -u mysql --)
    timeout 10 "${as[@]}" "${H_X[@]}" "$H_CLIENT" --no-defaults -uroot -p"$2" --socket="$(h_pod_dir "$1")/run/mysqld.sock" -N -B -e 'SELECT 1' >/dev/null 2>&1
}
root_password_is_new() {
    local o
    for o in 0 1; do
        root_login "$o" "$H_ROOT_PW" || { echo "mysql-$o: the new root password is refused"; return 1; }
        ! root_login "$o" "$H_OLD_ROOT_PW" || { echo "mysql-$o: the old root password still works"; return 1; }
    done
}
acked_at_least() { [ "$(h_acked_count)" -ge "$1" ]; }
binlog_pos_of() { if [ "$H_ENGINE" = mysql ]; then h_sql "$1" "SELECT $H_GTID_PRIMARY"; else h_sql "$1" 'SELECT @@GLOBAL.gtid_binlog_pos'; fi; }
same_binlog_pos() { [ "$(binlog_pos_of "$1")" = "$(binlog_pos_of 0)" ]; }
no_errant_gtid() { # ORD : writes stopped, the replica's binary log position becomes the primary's (a transaction of its own never would)
    h_wait 60 "mysql-$1 binlog position equal to the primary's" same_binlog_pos "$1" \
        || { echo "replica binlog position '$(binlog_pos_of "$1")' differs from the primary's '$(binlog_pos_of 0)'"; return 1; }
}
datapath() {
    local d1="$STACKS/01-all-in-cluster1.yaml" d
    h_render d1 "$d1" || { h_notok "render data-path set (first deployment)"; return 1; }
    h_render d2 "$d1" "$d1" || { h_notok "render data-path set (deployed before)"; return 1; }
    grep -q "^MMC_BOOTSTRAP='1'$" "$T/ext/d1/cluster1.topology.env" && grep -q "^MMC_BOOTSTRAP='0'$" "$T/ext/d2/cluster1.topology.env" \
        && h_ok "topology.env: MMC_BOOTSTRAP=1 on the first deployment only (0 once a previous state exists)" \
        || h_notok "topology.env: MMC_BOOTSTRAP=1 on the first deployment only"
    local p
    h_fresh_set d1
    export H_WRITER_BASE=200000000
    h_pod_start 0 cluster1 d1; wait_ready 0 180 || { h_notok "data-path set: primary up"; return 1; }
    make_schema 0 "${DATAPATH_BULK_ROWS:-400000}"
    h_pod_start 1 cluster1 d1; wait_ready 1 180 || { h_notok "data-path set: mysql-1 up"; return 1; }
    h_check "a new volume is claimed by an owner marker naming the set before anything is written" \
        bash -c "grep -q '^set=mysql$' '$(h_pod_dir 1)/data/.mmc-owner' && grep -q 'owned by set mysql (empty directory claimed)' '$(h_pod_dir 1)/logs/init.log'"
    h_writer_start 900
    sleep 2
    step "data-path set ready (2 members)" 0

    # P1: a stray file and foreign data at the path survive; the pod fails loudly naming the path
    h_pod_stop 1; volume_aside 1 cluster1; d="$T/pod/cluster1-1"
    echo "the operator's notes" >"$d/data/notes.txt"; mkdir -p "$d/data/mysql"; echo x >"$d/data/mysql/foreign.frm"; chown -R "$H_OWNER" "$d/data"
    : >"$d/logs/init.log"
    h_pod_start 1 cluster1 d1
    h_wait 30 "mysql-1 init refuses" init_log_says 1 "refusing to use $d/data: it is not empty and was not created by this set" || true
    h_check "stray file and foreign data at the volume path: init refuses in one line naming the path" init_log_says 1 "refusing to use $d/data: it is not empty"
    h_check "stray file and foreign data at the volume path: both survive, untouched" \
        bash -c "[ \"\$(cat '$d/data/notes.txt')\" = \"the operator's notes\" ] && [ -f '$d/data/mysql/foreign.frm' ] && [ ! -e '$d/data/.mmc-owner' ]"
    h_pod_stop 1
    rm -rf "$d/data"; mkdir -p "$d/data"; printf 'owner=mysql-multicluster\nset=orders\n' >"$d/data/.mmc-owner"; echo y >"$d/data/ibdata1"; chown -R "$H_OWNER" "$d/data"
    : >"$d/logs/init.log"
    h_pod_start 1 cluster1 d1
    h_wait 30 "mysql-1 init refuses" init_log_says 1 "belongs to set 'orders'" || true
    h_check "another set's volume (owner marker of set 'orders'): refused naming the path, its files kept" \
        bash -c "grep -q 'refusing to use $d/data: it belongs to set .orders.' '$d/logs/init.log' && [ -f '$d/data/ibdata1' ]"
    h_pod_stop 1; volume_restore 1 cluster1
    h_pod_start 1 cluster1 d1; wait_ready 1 180 || true
    step "after the refused volumes (mysql-1 back on its own)" 0

    # P2: the primary ordinal on an empty volume while every donor refuses its credentials: even on a
    # first deployment (MMC_BOOTSTRAP=1) it never initialises over a set that answers
    h_writer_stop
    h_pod_stop 0; volume_aside 0 cluster1; d="$T/pod/cluster1-0"; : >"$d/logs/init.log"
    H_EXTRA_ENV="MMC_SEED_PASSWORD=not-the-secret" h_pod_start 0 cluster1 d1
    h_check "empty primary volume, every donor refuses its credentials (MMC_BOOTSTRAP=1): never writable, waits saying why" \
        waits_not_writable 0 25 "every donor that answers refuses"
    h_pod_stop 0

    # P3: the primary ordinal on an empty volume and no member answers, on a set deployed before
    # (MMC_BOOTSTRAP=0): waits, nothing writable, instead of starting an empty set
    h_pod_stop 1
    h_apply_topology d2
    : >"$d/logs/init.log"
    h_pod_start 0 cluster1 d2
    h_check "empty primary volume, no member answers, set deployed before (MMC_BOOTSTRAP=0): never writable, waits saying why" \
        waits_not_writable 0 20 "initial bootstrap is not allowed"
    h_pod_stop 0; volume_restore 0 cluster1
    h_pod_start 0 cluster1 d2; h_pod_start 1 cluster1 d2
    wait_ready 0 180 || true; wait_ready 1 180 || true
    h_writer_start 900
    h_wait 90 "writes acknowledged" acked_at_least 20 || true
    step "after the refused bootstraps (volumes back, MMC_BOOTSTRAP=0)" 0

    # P4: a re-seed at run time (replicate.sh marks the volume, the server stops, run.sh seeds): the
    # startup/liveness probe passes while it runs, so no kubelet kills it; readiness waits for the end
    d=$(h_pod_dir 1)
    printf 're-seed requested by the data-path test at %s\n' "$(date -u +%FT%TZ)" >"$d/data/.mmc-untrusted"
    h_sql 1 'SHUTDOWN' >/dev/null 2>&1 || true
    h_check "re-seed in the server container: probe live passes, ready fails, while it runs" probe_live_while_seeding 1
    wait_ready 1 240 || true
    h_check "re-seed: the volume was wiped (owner marker kept) and seeded again" \
        bash -c "grep -q 'wiping untrusted volume' '$d/logs/server.log' && [ -f '$d/data/.mmc-owner' ] && [ -f '$d/data/.mmc-trusted' ]"
    step "after a run-time re-seed" 0

    # P5: destroy then up: every pod gone, volumes kept, the Secret generated anew
    h_writer_stop
    for p in 1 0; do h_pod_stop "$p"; done
    new_passwords
    h_apply_topology d1   # after a destroy there is no previous state: a first deployment again
    h_pod_start 0 cluster1 d1; h_pod_start 1 cluster1 d1
    if wait_ready 0 180 && wait_ready 1 180; then h_ok "destroy then up with new passwords: both members Ready"
    else h_notok "destroy then up with new passwords: both members Ready"; fi
    h_check "destroy then up: on each member the old root password is refused, the new one works" root_password_is_new
    h_check "destroy then up: the credentials were applied on each member with the binary log off" \
        bash -c "grep -q 'credentials applied' '$(h_pod_dir 0)/logs/init.log' && grep -q 'credentials applied (.*replication channel' '$(h_pod_dir 1)/logs/init.log'"
    h_writer_start 900
    if h_wait 90 "writes acknowledged" acked_at_least 20; then h_ok "destroy then up: the application writes again ($(h_acked_count) acknowledged)"
    else h_notok "destroy then up: the application writes again" "$(h_acked_count) acknowledged in 90 s"; fi
    step "destroy then up with new passwords: replicating with every row" 0
    h_writer_stop
    h_check "destroy then up: no errant transaction on the replica" no_errant_gtid 1
    for p in $(h_pods); do h_pod_stop "$p"; done
}

# ---------------------------------------------------------------- application access (mysql.application)
APP_DB=orders APP_USER=orders_app
app_sql() { # ORD PASSWORD SQL : as the application's account over TCP, to the member's address
    h_cnf "$T/state/appuser.cnf" "$APP_USER" "$2"
    timeout 15 "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/appuser.cnf" -h "$(h_ip cluster1 "$1")" -P 3306 -N -B -e "$3" 2>&1
}
app_denied() { # ORD PASSWORD SQL : refused for lack of privilege (1142 table, 1044 database, 1227 global)
    local out; out=$(app_sql "$@") && { echo "accepted: $3"; return 1; }
    grep -qE 'ERROR (1142|1044|1227)' <<<"$out" || { echo "refused, but not for privileges: $out"; return 1; }
}
app_login_refused() { local out; out=$(app_sql "$1" "$2" 'SELECT 1') && return 1; grep -q 'ERROR 1045' <<<"$out"; } # ORD PASSWORD
app_row_on() { [ "$(h_sql "$1" "SELECT COUNT(*) FROM \`$APP_DB\`.items WHERE id = $2" 2>/dev/null)" = 1 ]; } # ORD ID
app_reads_replica() { local v; v=$(app_sql 1 "$H_APPUSER_PW" "SELECT v FROM \`$APP_DB\`.items WHERE id = 1"); [ "$v" = first ] || { echo "$v"; return 1; }; }
app_grants_own_db_only() { # SHOW GRANTS: all privileges on its database, nothing on anything else
    local g; g=$(app_sql 0 "$H_APPUSER_PW" "SHOW GRANTS") || { echo "$g"; return 1; }
    grep -q "ALL PRIVILEGES ON \`$APP_DB\`\.\*" <<<"$g" || { echo "$g"; return 1; }
    [ "$(grep -vc "ON \`$APP_DB\`\.\*\|GRANT USAGE ON \*\.\*" <<<"$g")" = 0 ] || { echo "$g"; return 1; }
}
app_access() {
    local f="$T/state/Pulumi.app.yaml" o
    node -e '
        const Y = require(process.argv[1]); const fs = require("fs");
        const d = Y.parse(fs.readFileSync(process.argv[2], "utf8"));
        d.config["mysql-multicluster:mysql"] = { ...d.config["mysql-multicluster:mysql"], application: { database: process.argv[3], user: process.argv[4] } };
        process.stdout.write(Y.stringify(d));' "$H_REPO/node_modules/yaml" "$STACKS/01-all-in-cluster1.yaml" "$APP_DB" "$APP_USER" >"$f" \
        || { h_notok "derive a stack file with mysql.application"; return 1; }
    h_render a1 "$f" || { h_notok "render the set with mysql.application"; return 1; }
    h_check "rendered env: the members get the application's user and database" \
        grep -qx "MMC_APP_USER='$APP_USER'" "$T/ext/a1/cluster1.env"
    h_check "rendered: only the init, mysql and replicate containers get the application's password" bash -c '
        for c in init mysql replicate; do grep -qw MMC_APP_PASSWORD "$1.secrets.$c" || { echo "$c lacks it"; exit 1; }; done
        if grep -lw MMC_APP_PASSWORD "$1.secrets.donor"; then exit 1; fi' _ "$T/ext/a1/cluster1"
    local p
    umask 077; h_random_pw >"$T/state/appuser.pw"; umask 022
    H_APPUSER_PW=$(cat "$T/state/appuser.pw")
    h_fresh_set a1
    h_pod_start 0 cluster1 a1; wait_ready 0 180 || { h_notok "application set: primary up"; return 1; }
    h_pod_start 1 cluster1 a1; wait_ready 1 180 || { h_notok "application set: mysql-1 up"; return 1; }
    h_sql 0 "CREATE DATABASE IF NOT EXISTS other; CREATE TABLE IF NOT EXISTS other.t (id INT PRIMARY KEY)"
    h_check "the application's account creates a table in its database and writes it, on the primary" \
        app_sql 0 "$H_APPUSER_PW" "CREATE TABLE \`$APP_DB\`.items (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO \`$APP_DB\`.items VALUES (1, 'first')"
    h_check "the application's rows reach the replica" h_wait 60 "row 1 on mysql-1" app_row_on 1 1
    h_check "the application's account reads its database on the replica" app_reads_replica
    h_check "the application's account cannot write another database" app_denied 0 "$H_APPUSER_PW" "INSERT INTO other.t VALUES (1)"
    h_check "the application's account cannot create a database" app_denied 0 "$H_APPUSER_PW" "CREATE DATABASE app_extra"
    h_check "the application's account cannot read the server's accounts" app_denied 0 "$H_APPUSER_PW" "SELECT COUNT(*) FROM mysql.user"
    h_check "the application's account holds privileges on its database only (SHOW GRANTS)" app_grants_own_db_only

    # rotation: the Secret's value changes (a replaced RandomPassword, or a destroy then up); each member
    # applies it at its next start, binary log off, as for the data plane's own accounts
    local old=$H_APPUSER_PW
    for p in 1 0; do h_pod_stop "$p"; done
    umask 077; h_random_pw >"$T/state/appuser.pw"; umask 022
    H_APPUSER_PW=$(cat "$T/state/appuser.pw")
    for o in 0 1; do : >"$(h_pod_dir "$o")/logs/init.log"; done
    h_pod_start 0 cluster1 a1; h_pod_start 1 cluster1 a1
    if wait_ready 0 180 && wait_ready 1 180; then h_ok "application password changed: both members Ready"
    else h_notok "application password changed: both members Ready"; fi
    for o in 0 1; do
        h_check "application password changed: mysql-$o accepts the new one" app_sql "$o" "$H_APPUSER_PW" "SELECT 1"
        h_check "application password changed: mysql-$o refuses the old one" app_login_refused "$o" "$old"
        h_check "application password changed: mysql-$o applied it at start (credentials applied)" init_log_says "$o" "credentials applied"
    done
    h_check "application password changed: the account writes again" \
        app_sql 0 "$H_APPUSER_PW" "INSERT INTO \`$APP_DB\`.items VALUES (2, 'after')"
    h_check "application password changed: the write reaches the replica" h_wait 60 "row 2 on mysql-1" app_row_on 1 2
    h_check "application password changed: no errant transaction on the replica" no_errant_gtid 1
    for p in $(h_pods); do h_pod_stop "$p"; done
}

secrets_not_logged() { # no generated password appears in any log the pods or Jobs wrote
    local pats="$T/state/secrets.pat"
    printf '%s\n%s\n%s\n%s\n' "$H_ROOT_PW" "$H_REPL_PW" "$H_SEED_PW" "$H_ADMIN_PW" >"$pats"
    if [ -n "${H_APPUSER_PW:-}" ]; then printf '%s\n' "$H_APPUSER_PW" >>"$pats"; fi
    local hits; hits=$(grep -rlF -f "$pats" "$T"/pod/*/logs "$T"/switchover*.log "$T"/failover.* 2>/dev/null)
    [ -z "$hits" ] || { echo "password found in: $hits"; return 1; }
}

# ---------------------------------------------------------------- no credential file left behind
# 100 probe runs (as the kubelet runs them: in the mysql container, as its uid) and a donor session (a
# replica seeded from mysql-0), then no file anywhere holds a generated password: not in the pods'
# volumes and emptyDirs, not in /tmp, /var/tmp or /dev/shm. The only files that may are the harness's
# own stand-ins for what the kubelet holds: each pod's env file and the harness state.
secret_files_pats() { printf '%s\n%s\n%s\n%s\n' "$H_ROOT_PW" "$H_REPL_PW" "$H_SEED_PW" "$H_ADMIN_PW" >"$T/state/secrets.pat"; }
# Files holding a password, except: the harness's own env files (the kubelet's env stand-in) and state;
# the private directory (mmc.<pid>.*, mode 0700) of a script process still running (replicate.sh and
# the donor listener hold their option files while they run, and remove them at exit); and the
# server's replication metadata (MariaDB keeps the source's password in master.info by design).
secret_file_hits() {
    secret_files_pats
    local f pid
    # this section's pods only: a pod killed by an earlier fault (SIGKILL: no EXIT trap) keeps its
    # processes' directories in its /tmp emptyDir until the pod is deleted (README: not handled)
    # The server keeps its replication channel's password in its own repository, as both engines do:
    # MariaDB in master.info, MySQL in the table mysql.slave_master_info (mysql.ibd, its redo and
    # doublewrite files). That is the server's storage, not a file the scripts leave (README: not handled).
    { find "$T/pod/cluster1-0" "$T/pod/cluster1-1" -type f ! -name env ! -name master.info ! -name mysql.ibd ! -name '#ib_*.dblwr' ! -path '*/#innodb_redo/*' ! -path '*/logs/*' -print0 2>/dev/null
      find /tmp /var/tmp /dev/shm -xdev -type f -newer "$T/state/secret-files.start" ! -path "$T/*" -print0 2>/dev/null
    } | xargs -0 -r grep -lF -f "$T/state/secrets.pat" 2>/dev/null | while read -r f; do
        pid=$(printf '%s' "$f" | sed -n 's|.*/mmc\.\([0-9][0-9]*\)\.[^/]*/[^/]*$|\1|p')
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then continue; fi
        echo "$f"
    done
}
secret_files() {
    local i fails=0 hits
    : >"$T/state/secret-files.start"
    # fresh volumes (scratch of this test): mysql-1 must seed from a donor, not reuse earlier data
    rm -rf "$T/pod/cluster1-0/data" "$T/pod/cluster1-1/data"
    h_render s1 "$STACKS/01-all-in-cluster1.yaml" || { h_notok "render phase 1 (secret files)"; return 1; }
    h_apply_topology s1
    h_host_set "$(h_write_name)" "$(h_ip cluster1 0)"
    h_pod_start 0 cluster1 s1
    wait_ready 0 180 || { h_notok "secret files: mysql-0 comes up"; return 1; }
    h_sql 0 "CREATE DATABASE IF NOT EXISTS mmc_test; CREATE TABLE IF NOT EXISTS mmc_test.t (id INT PRIMARY KEY); INSERT IGNORE INTO mmc_test.t VALUES (1)"
    for ((i = 0; i < 100; i++)); do h_probe 0 ready >/dev/null 2>&1 || fails=$((fails + 1)); done
    [ "$fails" = 0 ] && h_ok "100 readiness probes as the mysql container (its uid, its passwords) pass" || h_notok "100 readiness probes pass" "$fails failed"
    h_pod_start 1 cluster1 s1
    wait_ready 1 180 || h_notok "secret files: mysql-1 seeds from mysql-0 (a donor session)"
    if [ "$H_ENGINE" = mysql ]; then h_check "secret files: mysql-1 was seeded by CLONE" grep -q "volume trusted (clone from" "$(h_pod_dir 1)/logs/init.log"
    else h_check "secret files: mysql-1 was seeded over the donor stream" grep -q "received and verified" "$(h_pod_dir 1)/logs/init.log"; fi
    hits=$(secret_file_hits)
    [ -z "$hits" ] && h_ok "no credential file left behind after 100 probes and a donor session (pod volumes, emptyDirs, /tmp, /var/tmp, /dev/shm)" \
        || h_notok "no credential file left behind after 100 probes and a donor session" "password in: $(echo "$hits" | tr '\n' ' ')"
    h_check "the long-running containers' option files are in their own 0700 directories" bash -c \
        'for d in "$@"; do [ "$(stat -c %a "$d")" = 700 ] || { echo "$d"; exit 1; }; done' _ "$(h_pod_dir 0)"/tmp/mmc.*
    # the check can fail: a credential file where the old probe left one, and one of a process that is gone
    printf '[client]\npassword=%s\n' "$H_ROOT_PW" >"$(h_pod_dir 0)/tmp/mmc-cred.canary"
    mkdir -p "$(h_pod_dir 0)/tmp/mmc.999999.canary" && cp "$(h_pod_dir 0)/tmp/mmc-cred.canary" "$(h_pod_dir 0)/tmp/mmc.999999.canary/cred-root.cnf"
    h_check "the search finds planted credential files (loose, and of a process that is gone)" bash -c '[ "$(printf "%s\n" "$1" | grep -c canary)" = 2 ]' _ "$(secret_file_hits)"
    rm -rf "$(h_pod_dir 0)/tmp/mmc-cred.canary" "$(h_pod_dir 0)/tmp/mmc.999999.canary"
    local p; for p in $(h_pods); do h_pod_stop "$p"; done
}

# ---------------------------------------------------------------- partition (issue 10)
# The primary's address cut off from its peers (its replicas cannot reach it, it cannot reach them)
# while a client on its side keeps writing, longer than the semi-sync timeout (5 s), and no failover
# is run. The documented choice (docs/dataplane-contract.md, semi-sync fallback): the primary goes on
# committing asynchronously; no replica promotes itself; after the heal every acknowledged write,
# those of the partition too, is on every member.
semi_status() { # ORD -> ON|OFF (MariaDB Rpl_semi_sync_master_status, MySQL Rpl_semi_sync_source_status)
    h_sql "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_status', 'Rpl_semi_sync_source_status')" | cut -f2 | head -1
}
semi_no_tx() { # ORD -> commits not acknowledged by a replica so far
    h_sql "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_no_tx', 'Rpl_semi_sync_source_no_tx')" | cut -f2 | head -1
}
pod_pids() { # ORD -> every process of the pod (its session)
    local sid; sid=$(cat "$(h_pod_dir "$1")/pgid")
    ps -eo pid=,sid= | awk -v s="$sid" '$2 == s { print $1 }'
}
acked_between() { awk -v a="$1" -v b="$2" '$2 >= a && $2 <= b' "$T/writer/acked" | wc -l; } # FROM_MS TO_MS
missing_on() { # ORD FROM_MS TO_MS : how many writes acknowledged in that interval ORD lacks
    awk -v a="$2" -v b="$3" '$2 >= a && $2 <= b { print $1 }' "$T/writer/acked" | sort -n -u >"$T/writer/part.ids"
    h_sql "$1" 'SELECT id FROM mmc_test.acks' | sort -n -u >"$T/writer/part-member.ids"
    comm -23 "$T/writer/part.ids" "$T/writer/part-member.ids" | wc -l
}
primary_is() { [ "$(h_primary_of | tr '\n' ' ')" = "$1 " ]; } # ORD : ORD is the one writable member
partition() {
    local g="$T/state/pt-1.yaml" p ip0 ip1 ip2 t0 t1 end w n maxw=0 bad="" seen="" st no0 no1 acked m1 m2 samples=0
    local hold=${PARTITION_SECONDS:-15}
    sed -E 's/^(\s*mysql-multicluster:placement:).*/\1 [cluster1, cluster2, cluster3]/' "$STACKS/01-all-in-cluster1.yaml" >"$g"
    h_render pt1 "$g" || { h_notok "render partition set"; return 1; }
    h_fresh_set pt1
    export H_WRITER_BASE=300000000
    h_pod_start 0 cluster1 pt1; wait_ready 0 180 || { h_notok "partition set: primary up"; return 1; }
    make_schema 0 "${PT_BULK_ROWS:-5000}"
    h_pod_start 1 cluster2 pt1; wait_ready 1 180 || { h_notok "partition set: mysql-1 up"; return 1; }
    h_pod_start 2 cluster3 pt1; wait_ready 2 180 || { h_notok "partition set: mysql-2 up"; return 1; }
    h_writer_start 600
    sleep 2
    step "partition set ready (mysql-0 in cluster1, mysql-1 in cluster2, mysql-2 in cluster3)" 0
    ip0=$(h_ip cluster1 0) ip1=$(h_ip cluster2 1) ip2=$(h_ip cluster3 2)
    st=$(semi_status 0); no0=$(semi_no_tx 0)
    echo "# partition: semi-sync status of mysql-0 before: ${st:-?} (commits not acknowledged by a replica so far: ${no0:-?})"

    # the partition: mysql-0 and the writer on one side, mysql-1 and mysql-2 on the other; no failover
    # (the writer between two writes: a client started before would keep its socket on the other side)
    h_writer_pause
    # shellcheck disable=SC2046
    h_net_isolate "$ip0" "$ip1 $ip2" $(pod_pids 0) "$(cat "$T/writer/pid")" || { h_notok "partition: isolate mysql-0"; h_net_heal; return 1; }
    h_writer_resume
    t0=$(h_now_ms)
    end=$((SECONDS + hold))
    while [ "$SECONDS" -lt "$end" ]; do
        w=$(h_primary_of | tr '\n' ' '); n=$(wc -w <<<"$w")
        samples=$((samples + 1))
        [ "$n" -gt "$maxw" ] && maxw=$n
        [ "$n" -le 1 ] || bad+="$(date -u +%T) writable: '$w'; "
        for p in 1 2; do is_read_only "$p" || bad+="$(date -u +%T) mysql-$p not read-only ($(h_sql "$p" 'SELECT @@GLOBAL.read_only' 2>&1)); "; done
        st=$(semi_status 0)
        [[ " $seen " == *" ${st:-?} "* ]] || seen+=" ${st:-?}"
        sleep 0.5
    done
    t1=$(h_now_ms)
    no1=$(semi_no_tx 0)
    acked=$(acked_between "$t0" "$t1")
    m1=$(missing_on 1 "$t0" "$t1"); m2=$(missing_on 2 "$t0" "$t1")
    if [ -z "$bad" ] && [ "$samples" -gt 0 ]; then
        h_ok "partition ($hold s, no failover): never more than one writable member, mysql-1 and mysql-2 read-only ($samples samples)"
    else h_notok "partition: never more than one writable member, the replicas read-only" "${bad:0:600}"; fi
    h_check "the client on the primary's side had writes acknowledged during the partition ($acked)" test "$acked" -gt 0
    h_check "the partition held: the replicas lack the partition's writes before the heal (mysql-1 lacks $m1, mysql-2 $m2)" \
        test "$m1" -gt 0 -a "$m2" -gt 0
    echo "partition_acked_writes $acked" >>"$T/state/figures"
    echo "partition_semi_sync_status_seen${seen// /,}" | sed 's/seen,/seen /' >>"$T/state/figures"
    echo "partition_semi_sync_unacknowledged_commits $(( ${no1:-0} - ${no0:-0} ))" >>"$T/state/figures"
    echo "# partition: $acked writes acknowledged in $((t1 - t0)) ms; semi-sync status seen on mysql-0:$seen; commits acknowledged by no replica: $(( ${no1:-0} - ${no0:-0} )); the replicas lacked $m1 / $m2 of them"

    # heal: within a bound, mysql-0 the one writable member, everything acknowledged on every member
    h_net_heal
    t0=$(h_now_ms)
    if h_wait 60 "mysql-0 the one writable member" primary_is 0; then
        h_ok "after the heal: mysql-0 the one writable member ($(( $(h_now_ms) - t0 )) ms)"
    else h_notok "after the heal: one writable member within 60 s" "writable: '$(h_primary_of | tr '\n' ' ')'"; fi
    step "after the partition healed (every write acknowledged during it on every member)" 0
    echo "# partition: semi-sync status of mysql-0 after the heal: $(semi_status 0)"
    h_writer_stop
    step "partition: nothing acknowledged lost" 0
    for p in $(h_pods); do h_pod_stop "$p"; done
}

# ---------------------------------------------------------------- roles on pods
# What replicate.sh decides a member is (member_role): the role file it writes and the label patch it
# sends through the pod's API proxy (played here by a recorder on loopback that answers 200).
role_of() { cat "$(h_pod_dir "$1")/run/mmc-role" 2>/dev/null; } # ORD
role_is() { [ "$(role_of "$1")" = "$2" ]; } # ORD "role=.. healthy=.."
patched_last() { # ORD -> the labels of the last PATCH the proxy got for mysql-ORD
    grep "^PATCH /api/v1/namespaces/dp/pods/$(h_pod_name "$1") " "$T/state/labels.log" 2>/dev/null | tail -1 | cut -d' ' -f3-
}
patched_is() { # ORD ROLE HEALTHY : the last PATCH of mysql-ORD is a merge patch of exactly these labels
    [ "$(patched_last "$1")" = "application/merge-patch+json {\"metadata\":{\"labels\":{\"mysql-multicluster/role\":\"$2\",\"mysql-multicluster/healthy\":\"$3\"}}}" ]
}
sql_stopped_unhealthy() { h_sql 1 "$1 SQL_THREAD" >/dev/null && role_is 1 "role=replica healthy=false"; } # STOP-WORD
patched_ever() { # ORD ROLE HEALTHY : some PATCH of mysql-ORD set exactly these labels
    grep -qxF "PATCH /api/v1/namespaces/dp/pods/$(h_pod_name "$1") application/merge-patch+json {\"metadata\":{\"labels\":{\"mysql-multicluster/role\":\"$2\",\"mysql-multicluster/healthy\":\"$3\"}}}" "$T/state/labels.log"
}
roles() {
    local p port=18001 fake seen cfg="$STACKS/01-all-in-cluster1.yaml" stop=STOP start=START
    [ "$H_ENGINE" = mysql ] && port=18002 # the MySQL tier may run beside the MariaDB one
    h_render ro "$cfg" || { h_notok "roles: render phase 1"; return 1; }
    h_fresh_set ro
    rm -f "$T/state/labels.log" "$T/state/labels.pid"
    python3 -c '
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_PATCH(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        with open(sys.argv[2], "a") as f: f.write("PATCH %s %s %s\n" % (self.path, self.headers["Content-Type"], body))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
    def handle(self):
        try: super().handle()
        except ConnectionResetError: pass  # the client reads the status line only
open(sys.argv[3], "w").write(str(os.getpid()))
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$port" "$T/state/labels.log" "$T/state/labels.pid" &
    h_wait 30 "the label recorder" test -s "$T/state/labels.pid"
    fake=$(cat "$T/state/labels.pid") # the interpreter itself (python3 may be a wrapper that forks it)
    # rounds of 0.5 s: the loop sees a restarting server down (a MariaDB restart may take under 2 s)
    export H_EXTRA_ENV="MMC_LABEL_API=127.0.0.1:$port/api/v1/namespaces/dp/pods
MMC_REPLICATE_INTERVAL_SECONDS=0.5"
    h_pod_start 0 cluster1 ro; wait_ready 0 180 || { h_notok "roles: primary mysql-0 up"; kill "$fake"; return 1; }
    h_pod_start 1 cluster1 ro; wait_ready 1 180 || { h_notok "roles: replica mysql-1 up"; kill "$fake"; return 1; }
    unset H_EXTRA_ENV
    if h_wait 20 "role files" role_is 0 "role=primary healthy=true" && h_wait 20 "role files" role_is 1 "role=replica healthy=true"; then
        h_ok "roles: the primary's role file says primary/healthy, the replica's replica/healthy"
    else h_notok "roles: primary and replica role files" "mysql-0 '$(role_of 0)', mysql-1 '$(role_of 1)'"; fi
    if h_wait 10 "patches" patched_is 0 primary true && h_wait 10 "patches" patched_is 1 replica true; then
        h_ok "roles: each member merge-patched its own pod's labels (role, healthy) through the proxy"
    else h_notok "roles: label patches" "$(tail -4 "$T/state/labels.log" 2>/dev/null)"; fi
    if [ "$H_ENGINE" = mysql ]; then stop="STOP REPLICA"; start="START REPLICA"; else stop="STOP SLAVE"; start="START SLAVE"; fi
    # stopped again each poll: a decision still retrying right after the seed restarts the threads
    if h_wait 30 "unhealthy" sql_stopped_unhealthy "$stop" && h_wait 10 "patch" patched_ever 1 replica false; then
        h_ok "roles: a replica whose SQL thread stopped labels itself unhealthy (out of the read Service)"
    else h_notok "roles: stopped replication is unhealthy" "mysql-1 '$(role_of 1)'"; fi
    h_sql 1 "$start"
    if h_wait 15 "healthy again" role_is 1 "role=replica healthy=true" && h_wait 10 "patch" patched_is 1 replica true; then
        h_ok "roles: replicating again, the replica labels itself healthy again"
    else h_notok "roles: replica healthy again" "mysql-1 '$(role_of 1)'"; fi
    # a stopped server (run.sh restarts it): "none", then a healthy replica again
    : >"$T/state/roles.seen"
    h_sql 1 SHUTDOWN >/dev/null 2>&1 || true
    for _ in $(seq 1 600); do
        role_of 1 >>"$T/state/roles.seen"
        role_is 1 "role=replica healthy=true" && grep -q "role=none healthy=false" "$T/state/roles.seen" && break
        sleep 0.1
    done
    seen=$(uniq "$T/state/roles.seen" | tr '\n' ',')
    if grep -q "role=none healthy=false" "$T/state/roles.seen" && role_is 1 "role=replica healthy=true" && grep -q 'role":"none","mysql-multicluster/healthy":"false"' "$T/state/labels.log"; then
        h_ok "roles: a replica whose server stopped reads none/unhealthy until it replicates again ($seen)"
    else h_notok "roles: stopped server" "seen: $seen"; fi
    for p in $(h_pods); do h_pod_stop "$p"; done
    kill "$fake" 2>/dev/null
    return 0
}

# ---------------------------------------------------------------- seed from the waiting primary (issue 11)
# A two-member set: the second member moves (empty volume) and seeds from the primary; the primary's node
# stops mid-seed (server and replicate loop SIGKILLed) and restarts. Its fence needs 2 of 2 answers and the
# seeding member has no server: without the rule of docs/dataplane-contract.md "Epoch and fencing" (seed
# from the designated primary waiting for its quorum) writes stay down for good.
channel_host_of() { # ORD -> the host its replication channel points at
    if [ "$H_ENGINE" = mysql ]; then h_sqlv "$1" 'SHOW REPLICA STATUS' 2>/dev/null | sed -n 's/^ *Source_Host: //p' | head -1
    else h_sqlv "$1" 'SHOW SLAVE STATUS' 2>/dev/null | sed -n 's/^ *Master_Host: //p' | head -1; fi
}
# PRIMARY REPLICA : PRIMARY the one writable member, REPLICA healthy with its channel on PRIMARY: its own
# name (replicate.sh attached it while PRIMARY was still read-only) or the write name (PRIMARY was
# writable first: the seeded member's server answered its fence before replicate.sh decided)
primary_and_replica_of() {
    local h; h=$(channel_host_of "$2")
    primary_is "$1" && { [ "$h" = "$(h_peer_name "$1")" ] || [ "$h" = "$(h_write_name)" ]; } && h_ready "$2"
}
seed_waiting_primary() {
    local t0 t1 d w ack0
    h_render sw1 "$STACKS/01-all-in-cluster1.yaml" || { h_notok "render the two-member set"; return 1; }
    h_render sw2 "$STACKS/02-replica-in-cluster2.yaml" "$STACKS/01-all-in-cluster1.yaml" || { h_notok "render the move of mysql-1"; return 1; }
    h_fresh_set sw1
    export H_WRITER_BASE=400000000
    h_pod_start 0 cluster1 sw1; wait_ready 0 180 || { h_notok "waiting-primary set: primary up"; return 1; }
    make_schema 0 "${SW_BULK_ROWS:-600000}"
    h_pod_start 1 cluster1 sw1; wait_ready 1 180 || { h_notok "waiting-primary set: mysql-1 up"; return 1; }
    h_writer_start 1200
    sleep 2
    step "waiting-primary set ready (two members in cluster1, primary mysql-0)" 0
    # mysql-1 moves to cluster2 (empty volume) and seeds from mysql-0; the primary's node stops mid-seed
    h_apply_topology sw2
    h_pod_stop 1
    d="$T/pod/cluster2-1"; rm -rf "$d"
    h_pod_start 1 cluster2 sw2
    if ! h_wait_fast "$SEED_START_S" "mysql-1 staging fills" staging_has_data "$d"; then
        h_notok "primary's node stopped mid-seed (the seed never started)" "$(tail -3 "$d/logs/init.log" | tr '\n' ' ')"; return 1
    fi
    h_pod_kill 0
    sleep 5
    ack0=$(h_acked_count)
    t0=$(h_now_ms)
    h_pod_start 0 cluster1 sw2
    if h_wait 120 "mysql-0 writable and mysql-1 replicating from it" primary_and_replica_of 0 1; then
        t1=$(h_now_ms)
        h_ok "primary's node stopped while the only other member seeded from it: mysql-0 writable again, mysql-1 replicating from it ($(channel_host_of 1)), $((t1 - t0)) ms after the restart"
        echo "waiting_primary_writable_again_ms $((t1 - t0))" >>"$T/state/figures"
    else
        w=$(h_primary_of | tr '\n' ' ')
        h_notok "primary's node stopped while the only other member seeded from it: one writable member (mysql-0) and mysql-1 replicating from it within 120 s" \
            "writable: '${w% }'; mysql-1 channel: '$(channel_host_of 1)'; mysql-0: $(grep -E 'staying read-only|primary at epoch' "$(h_pod_dir 0)/logs/replicate.log" | tail -1); mysql-1: $(tail -1 "$d/logs/init.log")"
        return 1
    fi
    h_check "mysql-1 seeded from the designated primary while it waited for its quorum (logged)" init_log_says 1 "the designated primary, read-only waiting for its quorum"
    h_wait 60 "a write acknowledged after the restart" writes_on "$ack0" || true
    h_writer_stop
    step "after the primary's node stopped mid-seed: nothing acknowledged lost" 0
    local p; for p in $(h_pods); do h_pod_stop "$p"; done
}

# ---------------------------------------------------------------- automatic failover (issue 17)
# The Kosmos layout of docs/dataplane-contract.md "Automatic failover": mysql-0 (primary) in cluster1,
# mysql-1 in cluster2, one etcd voter per cluster (cluster3: the witness, no data) on that cluster's
# address range (ordinal slot 9: 127.0.<10c+9>.1), the failover-agent in both member pods (pod.sh starts
# it when the env names the arbiter). Until the program renders automatic mode, the section adds what it
# will render: the arbiter env (each member's own cluster's voter first; the failover Job's timeout,
# which failover.sh needs), the agent's secrets list
# (root, replication, admin passwords) and the semi-sync timeout of automatic mode (lease + 5 s).
# A sampler (one long-lived client per member, every ~50 ms, asserted <= 200 ms apart) checks that no two members are writable at any moment and moves the write
# name to the one writable member (as the write Service follows the role label).
# Scenarios: (a) the primary's node killed; (b) the primary's cluster cut off with a client on its
# side still writing; (c) a flapping link: three 3 s cuts (no failover), then one long cut (one failover).
af_etcd_bin() {
    if [ -n "${MMC_ETCD_BIN:-}" ]; then echo "$MMC_ETCD_BIN"; return; fi
    local b; b=$(bash "$H_REPO/tools/toolchain/k8s.sh" 2>>"$T/state/k8s-toolchain.log" | tail -1) || return 1
    echo "$b/etcd"
}
af_ip() { h_ip "$1" 9; } # CLUSTER -> the address of its etcd voter
af_etcd_start() { # CLUSTER
    local c=$1 ip init="" x
    for x in cluster1 cluster2 cluster3; do init+="${init:+,}$x=http://$(af_ip "$x"):2380"; done
    ip=$(af_ip "$c")
    mkdir -p "$T/etcd"
    # in a subshell: not a job of this shell (no "Killed" line when the fault kills it)
    (setsid "$AF_ETCD" --name "$c" --data-dir "$T/etcd/$c.data" --listen-client-urls "http://$ip:2379" \
        --advertise-client-urls "http://$ip:2379" --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
        --initial-cluster "$init" --initial-cluster-state new --initial-cluster-token mmc-dp-auto-failover \
        --heartbeat-interval 100 --election-timeout 1000 --log-level warn </dev/null >>"$T/etcd/$c.log" 2>&1 &
        echo "$!" >"$T/etcd/$c.pid")
    cat "$T/etcd/$c.pid" >>"$T/state/pgids"
    h_log "etcd voter $c started at $ip (pid $(cat "$T/etcd/$c.pid"))"
}
af_etcd_kill() { kill -KILL -- "-$(cat "$T/etcd/$1.pid")" 2>/dev/null || kill -KILL "$(cat "$T/etcd/$1.pid")" 2>/dev/null; h_log "etcd voter $1 KILLED"; }
af_endpoints() { # CLUSTER -> its own voter first, then the others
    local x out
    out="$(af_ip "$1"):2379"
    for x in cluster1 cluster2 cluster3; do [ "$x" = "$1" ] || out+=" $(af_ip "$x"):2379"; done
    echo "$out"
}
AF_KEY=/mysql-multicluster/dataplane-test/mysql
af_pod() { # ORD CLUSTER
    H_EXTRA_ENV="MMC_ARBITER_ENDPOINTS='$(af_endpoints "$2")'
MMC_ARBITER_KEY='$AF_KEY'
MMC_LEASE_SECONDS=10
MMC_SWITCHOVER_TIMEOUT_SECONDS=120" h_pod_start "$1" "$2" af1
}
af_record() { # -> the arbiter's record (empty when absent); status 1: no answer
    local rc=0
    (MMC_ARBITER_ENDPOINTS="$(af_endpoints cluster3)"; . "$H_REPO/components/scripts/lib-arbiter.sh"; mmc_arb_get "$AF_KEY/primary" || rc=$?; [ "$rc" = 1 ] && exit 1; echo "$MMC_ARB_VALUE")
}
af_arb_epoch() { (MMC_ARBITER_ENDPOINTS="$(af_endpoints cluster3)"; . "$H_REPO/components/scripts/lib-arbiter.sh"; mmc_arb_get "$AF_KEY/epoch" >/dev/null; echo "${MMC_ARB_VALUE:-0}"); }
af_record_names() { [[ "$(af_record)" == "epoch=$1 ordinal=$2 "* ]]; } # EPOCH ORD
af_arbiter_up() { af_record >/dev/null; }
# The sampler: every ~50 ms the writable members; more than one is a violation; exactly one gets the
# write name. Lines "<ms> <writable ordinals>" in $T/state/af-samples.
af_sampler_start() {
    : >"$T/state/af-samples"; rm -f "$T/state/af-sampler.stop"
    (
        # one long-lived client per member (a fifo pair each): no process started per sample, so a
        # loaded machine still samples every member well within 200 ms
        trap '' PIPE
        local w o ip cur="" f c line
        local -A fw=() fr=() fp=()
        local -a ords
        while [ ! -e "$T/state/af-sampler.stop" ] && kill -0 $$ 2>/dev/null; do
            ords=()
            for f in "$T"/state/pod*.cluster; do [ -e "$f" ] || continue; f=${f##*/pod}; ords+=("${f%.cluster}"); done
            w=""
            for o in "${ords[@]}"; do
                if [ -z "${fp[$o]:-}" ]; then
                    read -r c <"$T/state/pod$o.cluster" 2>/dev/null || continue
                    rm -f "$T/state/af-fifo.$o".{in,out}; mkfifo "$T/state/af-fifo.$o".{in,out}
                    "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/root.cnf" --socket="$T/pod/$c-$o/run/mysqld.sock" \
                        -N -B --unbuffered <"$T/state/af-fifo.$o.in" >"$T/state/af-fifo.$o.out" 2>/dev/null &
                    fp[$o]=$!
                    exec {f}>"$T/state/af-fifo.$o.in"; fw[$o]=$f
                    exec {f}<"$T/state/af-fifo.$o.out"; fr[$o]=$f
                fi
                line=""
                f=${fw[$o]} c=${fr[$o]}
                if { printf 'SELECT @@GLOBAL.read_only;\n' >&"$f"; } 2>/dev/null && IFS= read -r -t 0.5 line <&"$c"; then
                    [ "$line" = 0 ] && w+="${w:+,}$o"
                else # the server went away, or does not answer: a new client next time
                    kill "${fp[$o]}" 2>/dev/null; wait "${fp[$o]}" 2>/dev/null
                    exec {f}>&- {c}<&-
                    unset "fp[$o]" "fw[$o]" "fr[$o]"
                fi
            done
            echo "$(h_now_ms) ${w:--}" >>"$T/state/af-samples"
            if [ -n "$w" ] && [[ $w != *,* ]]; then
                ip=$(h_ip "$(cat "$T/state/pod$w.cluster" 2>/dev/null)" "$w")
                [ "$ip" = "$cur" ] || { h_host_set "$(h_write_name)" "$ip"; cur=$ip; h_log "write name -> mysql-$w ($ip)"; }
            fi
            sleep 0.05
        done
        for o in "${!fp[@]}"; do kill "${fp[$o]}" 2>/dev/null; done
    ) &
    AF_SAMPLER=$!
}
af_sampler_stop() { touch "$T/state/af-sampler.stop"; wait "$AF_SAMPLER" 2>/dev/null; }
af_two_writable() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 ~ /,/ { print; n++ } END { exit n > 0 ? 0 : 1 }' "$T/state/af-samples"; } # FROM TO
af_sample_gaps() { # FROM TO -> "<largest interval ms> <samples> <intervals over 200 ms>"
    awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { if (p) { g = $1 - p; if (g > m) m = g; if (g > 200) o++ } p = $1; n++ } END { printf "%d %d %d\n", m + 0, n + 0, o + 0 }' "$T/state/af-samples"
}
# af_never_two NAME FROM TO : no sample saw two writable members. The sampler aims at every ~50 ms; on
# a loaded machine (load 10+ on 2 cores) some intervals exceed 200 ms: their count and the largest are
# printed, not asserted. The exact proof of the order (the cut-off primary fenced before the other was
# promoted, from the servers' own times) is af_fenced_first's.
af_never_two() {
    local gs n over two
    read -r gs n over <<<"$(af_sample_gaps "$2" "$3")"
    two=$(af_two_writable "$2" "$3" | head -3 | tr '\n' ';')
    if [ -z "$two" ] && [ "$n" -gt 1 ]; then
        h_ok "$1: no sample saw two writable members ($n samples; $over intervals over 200 ms, the largest $gs ms)"
    else h_notok "$1: no sample saw two writable members" "two writable: '${two}'; $n samples, $over intervals over 200 ms, the largest $gs ms"; fi
}
af_writable_is() { [ "$(tail -1 "$T/state/af-samples" | cut -d' ' -f2)" = "$1" ]; } # ORD
af_promoted_at() { h_sql "$1" 'SELECT ROUND(UNIX_TIMESTAMP(at) * 1000) FROM mmc.epoch WHERE id = 1'; } # ORD -> ms
last_ack_before() { awk -v a="$2" '$2 <= a { m = $2 } END { print m + 0 }' "$1"; } # FILE MS
first_ack_in() { awk -v a="$2" '$2 >= a { print $2; exit }' "$1"; } # FILE MS
acks_after() { awk -v a="$2" '$2 > a' "$1" | wc -l; } # FILE MS
af_lost() { # ORD FILE... : acknowledged writes of the files missing on ORD
    sort -n -u <(cat "${@:2}" | cut -d' ' -f1) >"$T/writer/af-acked.ids"
    h_sql "$1" 'SELECT id FROM mmc_test.acks' | sort -n -u >"$T/writer/af-member.ids"
    comm -23 "$T/writer/af-acked.ids" "$T/writer/af-member.ids" | wc -l
}
af_writer2_start() { # ID_BASE : a second client outside the cut side, through the write name
    mkdir -p "$T/writer2"; : >"$T/writer2/acked"; : >"$T/writer2/failed"; rm -f "$T/writer2/stop"
    H_WRITER_CLIENT="${H_X[*]} $H_CLIENT" bash "$H_DIR/writer.sh" "$T/writer2" "$T/state/app.cnf" "$(h_write_name)" 600 "$1" </dev/null >>"$T/writer2/log" 2>&1 &
    echo $! >"$T/writer2/pid"
}
af_writer2_stop() { touch "$T/writer2/stop"; local i; for ((i = 0; i < 100; i++)); do kill -0 "$(cat "$T/writer2/pid")" 2>/dev/null || break; sleep 0.1; done; }
af_cluster_of() { cat "$T/state/pod$1.cluster"; }
af_other() { if [ "$1" = 0 ]; then echo 1; else echo 0; fi; }
# af_cut ORD : ORD's member and its cluster's voter cut off from the other clusters; the writer on its side.
af_cut() {
    local p=$1 r c rc; r=$(af_other "$p"); c=$(af_cluster_of "$p"); rc=$(af_cluster_of "$r")
    local peers; peers="$(h_ip "$rc" "$r") $(af_ip "$rc") $(af_ip cluster3)"
    [ "$rc" = cluster3 ] && peers="$(h_ip "$rc" "$r") $(af_ip cluster1) $(af_ip cluster2)"
    h_writer_pause
    # shellcheck disable=SC2046
    h_net_isolate "$(h_ip "$c" "$p")" "$peers" $(pod_pids "$p") "$(cat "$T/writer/pid")" "$(cat "$T/etcd/$c.pid")" \
        && h_net_isolate "$(af_ip "$c")" "$peers" || { h_writer_resume; return 1; }
    h_writer_resume
}
af_log_ms() { date -u -d "$1" +%s%3N; } # ISO time of a log line -> ms
af_fenced_ms() { # ORD SINCE_MS -> when its agent logged the fence done, first after SINCE_MS
    local l t
    while read -r l; do t=$(af_log_ms "${l%% *}") && [ "$t" -ge "$2" ] && { echo "$t"; return 0; }; done \
        < <(grep 'fenced: read-only' "$(h_pod_dir "$1")/logs/failover-agent.log")
    return 1
}
# af_promoted NEW ACKFILE -> waits until NEW is the one writable member and ACKFILE has a write
# acknowledged after its promotion (mmc.epoch.at); prints "<promotion ms> <first ack after it ms>".
af_promoted() {
    local tp
    h_wait 120 "mysql-$1 the one writable member" af_writable_is "$1" || return 1
    tp=$(af_promoted_at "$1") && [ -n "$tp" ] || return 1
    h_wait 60 "a write acknowledged by mysql-$1 after its promotion" bash -c "awk -v a=$tp '\$2 > a' '$2' | grep -q ." || return 1
    echo "$tp $(awk -v a="$tp" '$2 > a { print $2; exit }' "$2")"
}
# af_fenced_first NAME OLD NEW T_CUT : the cut-off OLD fenced itself before NEW was promoted, and the
# acknowledgements of the client on OLD's side stopped before that promotion.
af_fenced_first() {
    local tp fm al
    tp=$(af_promoted_at "$3"); fm=$(af_fenced_ms "$2" "$4"); al=$(last_ack_before "$T/writer/acked" "$(h_now_ms)")
    h_check "$1 the cut-off primary fenced itself before the promotion (fenced $((${fm:-0} - $4)) ms after the cut, promoted $((${tp:-0} - $4)) ms after)" \
        test -n "$fm" -a "${fm:-0}" -lt "${tp:-0}"
    h_check "$1 the cut-off side's acknowledgements stopped before the promotion (last $al, promotion $tp)" test "$al" -lt "${tp:-0}"
}
# af_long_cut TAG OLD NEW FIGURE ID_BASE : OLD (the primary) and its cluster's voter cut off, the writer
# on its side, a second client outside from then on; NEW promoted automatically (figure
# auto_failover_FIGURE_write_unavailability_ms: the cut -> the first write acknowledged by NEW), OLD
# fenced first; 5 s later the heal: OLD rejoins as a replica and never makes itself writable.
af_long_cut() {
    local tag=$1 old=$2 new=$3 fig=$4 t_cut out t_prom t_first u lines log
    af_cut "$old" || { h_notok "$tag cut mysql-$old's cluster off"; h_net_heal; return 1; }
    t_cut=$(h_now_ms)
    af_writer2_start "$5"
    if out=$(af_promoted "$new" "$T/writer2/acked"); then
        read -r t_prom t_first <<<"$out"; u=$((t_first - t_cut))
        h_ok "$tag mysql-$old's cluster cut off: mysql-$new promoted automatically $((t_prom - t_cut)) ms after the cut, first acknowledged write on it $u ms after the cut"
        echo "auto_failover_${fig}_write_unavailability_ms $u" >>"$T/state/figures"
    else h_notok "$tag mysql-$old's cluster cut off: mysql-$new promoted automatically" "$(grep -E 'campaign|FAILOVER|failover' "$(h_pod_dir "$new")/logs/failover-agent.log" | tail -3 | tr '\n' ' ')"; fi
    af_fenced_first "$tag" "$old" "$new" "$t_cut"
    sleep 5
    log="$(h_pod_dir "$old")/logs/replicate.log"
    lines=$(($(wc -l <"$log") + 1))
    h_net_heal
    if h_wait 240 "mysql-$old a healthy replica again" af_rejoined "$old"; then h_ok "$tag after the heal the old primary rejoined as a replica of $(channel_host_of "$old")"
    else h_notok "$tag after the heal the old primary rejoined as a replica" "$(tail -3 "$log" | tr '\n' ' ')"; fi
    h_check "$tag the old primary never made itself writable again" test "$(af_primary_line_since "$old" "$lines")" = 0
}
# af_node_kill TAG KILL_VOTER [FIGURE] : the primary's node killed (every process of mysql-0's pod, and
# cluster1's voter by KILL_VOTER): mysql-1 must be promoted automatically; FIGURE: the write
# unavailability (mysql-0's last acknowledgement to mysql-1's first) recorded under that name.
af_node_kill() {
    local t_kill out t_prom t_first t_last u
    t_kill=$(h_now_ms)
    h_pod_kill 0; "$2" cluster1
    if out=$(af_promoted 1 "$T/writer/acked"); then
        read -r t_prom t_first <<<"$out"
        t_last=$(last_ack_before "$T/writer/acked" "$t_prom"); u=$((t_first - t_last))
        h_ok "$1 primary's node killed: mysql-1 promoted automatically $((t_prom - t_kill)) ms after the kill, first acknowledged write on it $u ms after the last one on mysql-0"
        [ -z "${3:-}" ] || echo "$3 $u" >>"$T/state/figures"
    else h_notok "$1 primary's node killed: mysql-1 promoted automatically" "$(grep -E 'campaign|FAILOVER|failover' "$(h_pod_dir 1)/logs/failover-agent.log" | tail -3 | tr '\n' ' ')"; fi
}
af_rejoined() { h_ready "$1" && [ -n "$(channel_host_of "$1")" ]; } # ORD : a healthy replica
af_primary_line_since() { tail -n +"$2" "$(h_pod_dir "$1")/logs/replicate.log" | grep -c 'this member is the primary'; } # ORD LINE

# af_set_up SECTION : an etcd binary, the automatic-failover set rendered (stacks/01 on cluster1 and
# cluster2) and empty, no voter yet.
af_set_up() {
    local g="$T/state/af-1.yaml" c
    AF_ETCD=$(af_etcd_bin) && [ -x "$AF_ETCD" ] || { h_notok "$1: an etcd binary (tools/toolchain/k8s.sh, or MMC_ETCD_BIN)" "$(tail -3 "$T/state/k8s-toolchain.log" 2>/dev/null)"; return 1; }
    h_log "etcd: $AF_ETCD ($("$AF_ETCD" --version | head -1))"
    sed -E 's/^(\s*mysql-multicluster:placement:).*/\1 [cluster1, cluster2]/' "$STACKS/01-all-in-cluster1.yaml" >"$g"
    h_render af1 "$g" || { h_notok "$1: render the automatic-failover set"; return 1; }
    # what the program renders in automatic mode (components/*.ts, helper P): semi-sync timeout lease + 5 s,
    # the failover-agent container's secrets
    sed -i -E 's/^((loose_)?rpl_semi_sync_(master|source)_timeout\s*=).*/\1 15000/' "$T/ext/af1/base.cnf"
    grep -q 'semi_sync_[a-z]*_timeout = 15000' "$T/ext/af1/base.cnf" || { h_notok "$1: semi-sync timeout set in base.cnf"; return 1; }
    for c in cluster1 cluster2; do
        [ -f "$T/ext/af1/$c.secrets.failover-agent" ] || echo "MMC_ROOT_PASSWORD MMC_REPL_PASSWORD MMC_ADMIN_PASSWORD" >"$T/ext/af1/$c.secrets.failover-agent"
    done
    h_fresh_set af1
    rm -rf "$T/etcd"
}
auto_failover() {
    local c t0 p n e0 e1 lines
    af_set_up auto_failover || return 1
    for c in cluster1 cluster2 cluster3; do af_etcd_start "$c"; done
    h_wait 60 "the arbiter (3 etcd voters) answers" af_arbiter_up || { h_notok "auto_failover: 3 etcd voters up" "$(tail -3 "$T/etcd/cluster1.log")"; return 1; }
    export H_WRITER_BASE=400000000
    af_pod 0 cluster1; wait_ready 0 180 || { h_notok "auto-failover set: mysql-0 up"; return 1; }
    make_schema 0 2000
    af_pod 1 cluster2; wait_ready 1 180 || { h_notok "auto-failover set: mysql-1 up"; return 1; }
    h_check "the arbiter's record names mysql-0 at epoch 1 (it acquired it before becoming writable)" af_record_names 1 0
    h_check "mysql-0's replicate waited for the arbiter's record (never writable without it)" \
        grep -q 'holding the arbiter' "$(h_pod_dir 0)/logs/failover-agent.log"
    af_sampler_start
    h_writer_start 1500
    sleep 3
    step "automatic-failover set ready (mysql-0 in cluster1, mysql-1 in cluster2, witness voter in cluster3)" 0
    t0=$(h_now_ms)

    # (a) the primary's node killed: every process of mysql-0's pod and cluster1's voter
    af_node_kill "(a)" af_etcd_kill auto_failover_node_kill_write_unavailability_ms
    h_check "(a) the arbiter's record names mysql-1 at epoch 2" af_record_names 2 1
    h_check "(a) 0 acknowledged writes lost (on the new primary)" test "$(af_lost 1 "$T/writer/acked")" = 0
    # mysql-0 restarted (its node back): it rejoins as a replica, never writable
    af_etcd_start cluster1
    lines=$(($(wc -l <"$T/pod/cluster1-0/logs/replicate.log") + 1))
    af_pod 0 cluster1
    if h_wait 180 "mysql-0 a healthy replica again" af_rejoined 0; then h_ok "(a) the old primary restarted and rejoined as a replica of $(channel_host_of 0)"
    else h_notok "(a) the old primary restarted and rejoined as a replica" "$(tail -3 "$T/pod/cluster1-0/logs/replicate.log" | tr '\n' ' ')"; fi
    h_check "(a) the restarted old primary never made itself writable" test "$(af_primary_line_since 0 "$lines")" = 0
    af_never_two "(a) node killed, failover, old primary back" "$t0" "$(h_now_ms)"
    step "(a) after the primary's node was killed and came back" 1

    # (b) the primary's cluster (cluster2 now) cut off, a client on its side still writing to mysql-1
    t0=$(h_now_ms)
    af_long_cut "(b)" 1 0 partition 500000000 || return 1
    af_writer2_stop
    h_check "(b) 0 acknowledged writes lost (both clients, on the new primary)" test "$(af_lost 0 "$T/writer/acked" "$T/writer2/acked")" = 0
    af_never_two "(b) cluster cut off, failover, heal" "$t0" "$(h_now_ms)"
    step "(b) after the cut-off primary's cluster healed" 0

    # (c) a flapping link: the primary's cluster (cluster1) cut for 3 s, healed 4 s, three times (each
    # shorter than the fence deadline, lease - margin = 7 s): no failover; then one long cut (until the
    # other member is promoted, + 5 s): exactly one failover
    t0=$(h_now_ms)
    e0=$(af_arb_epoch)
    for n in 1 2 3; do
        af_cut 0 || { h_notok "(c) cut cluster1 off"; h_net_heal; return 1; }
        sleep 3
        h_net_heal
        sleep 4
    done
    e1=$(af_arb_epoch)
    h_check "(c) no failover during the short cuts (arbiter epoch $e0 -> $e1, mysql-0 still the primary)" test "$e1" = "$e0" -a "$(tail -1 "$T/state/af-samples" | cut -d' ' -f2)" = 0
    h_check "(c) no fence during the short cuts" bash -c "! grep -q 'FENCING' '$(h_pod_dir 0)/logs/failover-agent.log'"
    af_long_cut "(c)" 0 1 flap 600000000 || return 1
    h_check "(c) exactly one failover: arbiter epoch $e0 -> $(af_arb_epoch)" test "$(af_arb_epoch)" = $((e0 + 1))
    af_writer2_stop
    h_writer_stop
    h_check "(c) 0 acknowledged writes lost (both clients, on the new primary)" test "$(af_lost 1 "$T/writer/acked" "$T/writer2/acked")" = 0
    af_never_two "(c) flapping link, then one failover" "$t0" "$(h_now_ms)"
    step "automatic failover: nothing acknowledged lost" 1
    af_sampler_stop
    awk '/auto_failover_.*_write_unavailability_ms/ { if ($2 > m) m = $2 } END { if (m != "") print "auto_failover_write_unavailability_ms " m }' "$T/state/figures" >>"$T/state/figures.af" && cat "$T/state/figures.af" >>"$T/state/figures"
    for p in $(h_pods); do h_pod_stop "$p"; done
    for c in cluster1 cluster2 cluster3; do af_etcd_kill "$c"; done
}

# ---------------------------------------------------------------- the arbiter moves with the set (issue 17)
# Every voter runs as the arbiter pod runs it (components/arbiter.ts): `arbiter-member.sh join` (the init
# container) writes etcd's configuration file from etcd's flags and the ConfigMap `<set>-arbiter` (here
# $T/etcd/<cluster>.cfg/, the keys the pod mounts), etcd starts from that file, and `arbiter-member.sh
# watch` (the sidecar) follows the ConfigMap. The automatic-failover set runs under the writer while the
# witness moves from cluster3 to cluster4 in the two steps the step rule allows (cluster4 added, then
# cluster3 removed), only the ConfigMaps (and the members' topology files) edited: etcd must report
# exactly the desired members each time, with no failover; a voter restarted with its data keeps its
# identity; then the primary's node is killed with its cluster's voter: mysql-1 is promoted by the moved
# arbiter with 0 acknowledged writes lost.
AM_ALL="cluster1 cluster2 cluster3 cluster4"
am_cfg() { # CLUSTER STATE VOTERS... : the ConfigMap as CLUSTER's voter sees it (written as the kubelet does: whole files)
    local c=$1 st=$2 v init=""
    shift 2
    for v in "$@"; do init+="${init:+,}$v=http://$(af_ip "$v"):2380"; done
    mkdir -p "$T/etcd/$c.cfg"
    echo "$init" >"$T/etcd/$c.cfg/initial-cluster.new" && mv -f "$T/etcd/$c.cfg/initial-cluster.new" "$T/etcd/$c.cfg/initial-cluster"
    echo "$st" >"$T/etcd/$c.cfg/initial-cluster-state.new" && mv -f "$T/etcd/$c.cfg/initial-cluster-state.new" "$T/etcd/$c.cfg/initial-cluster-state"
}
am_voter_start() { # CLUSTER : init container, etcd, sidecar
    local c=$1 ip sd="$H_REPO/components/scripts"
    ip=$(af_ip "$c")
    MMC_ARB_NAME=$c MMC_ARB_CONFIG_DIR="$T/etcd/$c.cfg" MMC_ARB_DATA_DIR="$T/etcd/$c.data" MMC_ARB_ETCD_CONFIG="$T/etcd/$c.yml" \
        timeout 90 bash "$sd/arbiter-member.sh" join --name="$c" --data-dir="$T/etcd/$c.data" \
        --listen-client-urls="http://$ip:2379" --advertise-client-urls="http://$ip:2379" --listen-peer-urls="http://$ip:2380" \
        --initial-advertise-peer-urls="http://$ip:2380" --initial-cluster-token=mmc-dp-arbiter-move \
        --heartbeat-interval=100 --election-timeout=1000 --log-level=warn 2>>"$T/etcd/$c.member.log" || return 1
    (setsid "$AF_ETCD" --config-file "$T/etcd/$c.yml" </dev/null >>"$T/etcd/$c.log" 2>&1 &
        echo "$!" >"$T/etcd/$c.pid")
    (setsid env MMC_ARB_NAME="$c" MMC_ARB_CONFIG_DIR="$T/etcd/$c.cfg" MMC_ARB_LOCAL="$ip:2379" MMC_ARB_WATCH_SECONDS=2 \
        bash "$sd/arbiter-member.sh" watch </dev/null >>"$T/etcd/$c.member.log" 2>&1 &
        echo "$!" >"$T/etcd/$c.watch.pid")
    cat "$T/etcd/$c.pid" "$T/etcd/$c.watch.pid" >>"$T/state/pgids"
    h_log "arbiter voter $c started at $ip (etcd pid $(cat "$T/etcd/$c.pid"), watch pid $(cat "$T/etcd/$c.watch.pid")): $(tail -1 "$T/etcd/$c.member.log")"
}
am_voter_kill() { # CLUSTER : its pod gone (etcd and the sidecar)
    local f
    for f in "$T/etcd/$1.pid" "$T/etcd/$1.watch.pid"; do kill -KILL -- "-$(cat "$f")" 2>/dev/null || kill -KILL "$(cat "$f")" 2>/dev/null; done
    h_log "arbiter voter $1 KILLED"
}
# am_members -> etcd's members by name, sorted, comma-separated, as the first voter that answers reports
# them (its JSON gateway, a linearizable read; curl, not the product's parser); "+N not started" appended
# for members added and not started.
am_members() {
    local c out names n
    for c in $AM_ALL; do
        out=$(curl -sf -m 3 -X POST "http://$(af_ip "$c"):2379/v3/cluster/member/list" -d '{"linearizable":true}') || continue
        names=$(grep -o '"name":"[^"]*"' <<<"$out" | cut -d'"' -f4 | sort | paste -sd,)
        n=$(grep -o '"peerURLs"' <<<"$out" | wc -l)
        [ "$n" = "$(tr ',' '\n' <<<"$names" | grep -c .)" ] || names+=" +$((n - $(tr ',' '\n' <<<"$names" | grep -c .))) not started"
        echo "$names"
        return 0
    done
    return 1
}
am_members_are() { [ "$(am_members)" = "$1" ]; }
am_topology_endpoints() { # VOTERS... : the members' topology files name the voters (each cluster's own first), as the program renders them
    local c v out f
    for c in cluster1 cluster2; do
        out=""
        for v in "$@"; do [ "$v" = "$c" ] && out="$(af_ip "$v"):2379${out:+ $out}" || out+="${out:+ }$(af_ip "$v"):2379"; done
        f="$T/topo/$c.env"
        { grep -v '^MMC_ARBITER_ENDPOINTS=' "$f"; echo "MMC_ARBITER_ENDPOINTS='$out'"; } >"$f.tmp" && mv -f "$f.tmp" "$f"
    done
}
arbiter_move() {
    local c p t0
    af_set_up arbiter_move || return 1
    for c in cluster1 cluster2 cluster3; do am_cfg "$c" new cluster1 cluster2 cluster3; done
    for c in cluster1 cluster2 cluster3; do am_voter_start "$c" || { h_notok "arbiter_move: voter $c started by arbiter-member.sh join" "$(tail -3 "$T/etcd/$c.member.log" | tr '\n' ' ')"; return 1; }; done
    h_wait 60 "the arbiter (3 voters) answers" af_arbiter_up || { h_notok "arbiter_move: 3 voters up" "$(tail -3 "$T/etcd/cluster1.log")"; return 1; }
    h_wait 30 "3 started members" am_members_are cluster1,cluster2,cluster3
    h_check "arbiter_move: the first start bootstrapped one arbiter of 3 members (etcd: $(am_members))" am_members_are cluster1,cluster2,cluster3
    export H_WRITER_BASE=700000000
    af_pod 0 cluster1; wait_ready 0 180 || { h_notok "arbiter_move: mysql-0 up"; return 1; }
    make_schema 0 2000
    af_pod 1 cluster2; wait_ready 1 180 || { h_notok "arbiter_move: mysql-1 up"; return 1; }
    h_check "arbiter_move: the arbiter's record names mysql-0 at epoch 1" af_record_names 1 0
    af_sampler_start
    h_writer_start 1500
    sleep 3
    t0=$(h_now_ms)

    # step 1 (failover.witnesses [cluster3, cluster4]): cluster4's voter joins
    for c in cluster1 cluster2 cluster3; do am_cfg "$c" new cluster1 cluster2 cluster3 cluster4; done
    am_cfg cluster4 existing cluster1 cluster2 cluster3 cluster4
    if am_voter_start cluster4 && h_wait 60 "cluster4 a started member" am_members_are cluster1,cluster2,cluster3,cluster4; then
        h_ok "arbiter_move: cluster4's voter added itself to the running arbiter and started (etcd: $(am_members))"
    else h_notok "arbiter_move: cluster4's voter joined" "$(am_members) $(tail -3 "$T/etcd/cluster4.member.log" | tr '\n' ' ')"; fi
    h_check "arbiter_move: cluster4 joined with member add, as an existing member (never a cluster of its own)" \
        grep -q 'voter cluster4: add; etcd starts existing' "$T/etcd/cluster4.member.log"
    am_topology_endpoints cluster1 cluster2 cluster3 cluster4

    # step 2 (failover.witnesses [cluster4]): cluster3's StatefulSet deleted, the others' ConfigMaps updated
    for c in cluster1 cluster2 cluster4; do am_cfg "$c" new cluster1 cluster2 cluster4; done
    am_voter_kill cluster3
    if h_wait 60 "cluster3 removed" am_members_are cluster1,cluster2,cluster4; then
        h_ok "arbiter_move: cluster3's member removed by the voters that stay (etcd: $(am_members))"
    else h_notok "arbiter_move: cluster3's member removed" "$(am_members) $(grep -h 'voter set' "$T"/etcd/cluster[124].member.log | tail -3 | tr '\n' ' ')"; fi
    h_check "arbiter_move: the removal was one voter's (arbiter-member.sh watch)" \
        test "$(cat "$T"/etcd/cluster[124].member.log | grep -c 'removed voter cluster3')" -ge 1
    am_topology_endpoints cluster1 cluster2 cluster4
    sleep 3
    h_check "arbiter_move: no failover during the move (arbiter epoch $(af_arb_epoch), mysql-0 writable)" \
        test "$(af_arb_epoch)" = 1 -a "$(tail -1 "$T/state/af-samples" | cut -d' ' -f2)" = 0
    af_never_two "arbiter_move: the voter move" "$t0" "$(h_now_ms)"
    step "arbiter_move: the witness voter moved from cluster3 to cluster4 under the writer" 0

    # a voter restarted with its data keeps its identity (no member add or remove)
    am_voter_kill cluster2
    am_voter_start cluster2 || h_notok "arbiter_move: cluster2's voter restarted"
    h_check "arbiter_move: cluster2 restarted with its data kept its identity" grep -q 'voter cluster2: keep' "$T/etcd/cluster2.member.log"
    h_wait 30 "cluster2 back" am_members_are cluster1,cluster2,cluster4
    h_check "arbiter_move: etcd reports exactly the desired members after the restart (etcd: $(am_members))" am_members_are cluster1,cluster2,cluster4

    # the primary's node killed (mysql-0 and cluster1's voter): the moved arbiter (cluster2, cluster4) promotes mysql-1
    t0=$(h_now_ms)
    af_node_kill "arbiter_move: after the move," am_voter_kill
    h_check "arbiter_move: the arbiter's record names mysql-1 at epoch 2" af_record_names 2 1
    h_writer_stop
    af_sampler_stop
    h_check "arbiter_move: 0 acknowledged writes lost (on the new primary)" test "$(af_lost 1 "$T/writer/acked")" = 0
    af_never_two "arbiter_move: failover after the move" "$t0" "$(h_now_ms)"
    for p in $(h_pods); do h_pod_stop "$p"; done
    for c in cluster2 cluster4; do am_voter_kill "$c"; done
}

# ---------------------------------------------------------------- verified TLS (issue 13)
# A set CA and member certificates (test-only, openssl), a 2-member set with MMC_TLS_DIR on every pod and
# the Job (CA only): replication channels verify the source's certificate; the seed (MariaDB: the donor
# stream; MySQL: CLONE), replication, the writer and a switchover run while tcpdump captures the members'
# loopback traffic, which must hold no password and no SQL text (a plaintext canary proves the capture
# sees payloads); a member restarted with a certificate of another CA can neither replicate nor be
# reached by admin SQL or the seed (MariaDB's stream, MySQL's CLONE), in either direction; then (MariaDB)
# seed_throughput_ratio: the product's TLS seed session (transport, TLS, end-of-stream verification)
# against mariadb-backup --stream | mbstream -x locally, same data, same run. MySQL has no seed stream of
# the product's: CLONE is the server's own protocol, so there is no such ratio to measure.
tls_certs() { # every member's names: its own, the write name (any member may be the primary), its address
    local o san
    h_tls_ca "$T/tls/ca" "mmc test set CA" && h_tls_ca "$T/tls/other-ca" "another CA" || return 1
    for o in 0 1; do
        san="DNS:$(h_peer_name "$o"),DNS:$(h_write_name),IP:$(h_ip cluster1 "$o")"
        h_tls_member "$T/tls/ca" "$T/tls/m$o" "$(h_peer_name "$o")" "$san" \
            && h_tls_member "$T/tls/other-ca" "$T/tls/other$o" "$(h_peer_name "$o")" "$san" || return 1
    done
    h_tls_jobdir >/dev/null
}
tls_pod_start() { H_EXTRA_ENV="MMC_TLS_DIR=$T/tls/$3" h_pod_start "$1" "$2" tls1; } # ORD CLUSTER CERTDIR
# tls_session CERTDIR HOST CMD [STAGING] : the product's seed-stream client (lib-stream.sh), as a recipient holding CERTDIR
tls_session() {
    mkdir -p "$T/tmp"
    bash -c 'S=$1 TMPDIR=$2; shift 2; for f in lib-env.sh lib-sql.sh lib-engine.sh lib-stream.sh; do . "$S/$f"; done
        export MMC_ENGINE=mariadb MMC_POD_NAME=tls-test MMC_DONOR_PORT=3307 MMC_TLS_DIR=$1 TMPDIR
        mmc_tmp_init || exit 1; mmc_donor_session "$2" "$3" "${4:-}"' _ "$(h_scripts_dir tls1)" "$T/tmp" "$T/tls/$1" "$2" "$3" "${4:-}"
}
tls_admin_sql() { # HOST SQL : as the admin account, the way the Jobs connect (CA only, server verified)
    # shellcheck disable=SC2046  # the options are words without spaces
    "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/admin.cnf" $(h_tls_client_opts "$T/tls/ca/ca.crt") \
        -h "$1" -P 3306 --connect-timeout=5 -N -B -e "$2"
}
tls_admin_refused() { # HOST : the connection fails on the server's certificate (client error 2026)
    local out
    if out=$(tls_admin_sql "$1" "SELECT 1" 2>&1); then echo "connected: $out"; return 1; fi
    grep -q 'ERROR 2026' <<<"$out" || { echo "$out"; return 1; }
}
tls_plaintext_refused() { # ORD
    local host out; host=$(h_peer_name "$1")
    [ "$(h_sql "$1" 'SELECT @@GLOBAL.require_secure_transport')" = 1 ] || { echo "require_secure_transport is off"; return 1; }
    local plain=--skip-ssl; [ "$H_ENGINE" = mysql ] && plain=--ssl-mode=DISABLED
    # shellcheck disable=SC2046  # the options are words without spaces
    out=$("${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/app.cnf" $(h_tls_client_opts "$T/tls/ca/ca.crt") -h "$host" -P 3306 -N -B -e 'SELECT 1' 2>&1) \
        || { echo "over TLS: $out"; return 1; }
    if out=$("${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/app.cnf" "$plain" -h "$host" -P 3306 -N -B -e 'SELECT 1' 2>&1); then echo "plaintext accepted"; return 1; fi
    grep -q '^ERROR' <<<"$out" || { echo "$out"; return 1; }
}
# the replica status words of the engine under test: "STATEMENT IO_RUNNING SOURCE"
tls_status_words() { if [ "$H_ENGINE" = mysql ]; then echo "SHOW REPLICA STATUS Replica_IO_Running Source"; else echo "SHOW SLAVE STATUS Slave_IO_Running Master"; fi; }
tls_channel_verified() { # ORD : the channel runs, with TLS and the source's certificate verified
    local st s1 s2 s3 io src; read -r s1 s2 s3 io src <<<"$(tls_status_words)"
    st=$(h_sqlv "$1" "$s1 $s2 $s3")
    grep -q "$io: Yes" <<<"$st" && grep -q "${src}_SSL_Allowed: Yes" <<<"$st" \
        && grep -q "${src}_SSL_Verify_Server_Cert: Yes" <<<"$st" && grep -q "${src}_SSL_CA_File: $T/tls/m$1/ca.crt" <<<"$st" \
        || { grep -E 'Running:|SSL|Last_IO_Error' <<<"$st"; return 1; }
}
tls_capture_clean() { # PCAP : no password, no SQL text; the canary (plaintext sent on purpose) is seen
    local pcap=$1 hits n_insert n_canary
    printf '%s\n' "$H_ROOT_PW" "$H_REPL_PW" "$H_SEED_PW" "$H_ADMIN_PW" "$H_APP_PW" >"$T/state/tls-secrets.pat"
    hits=$(grep -c -aF -f "$T/state/tls-secrets.pat" "$pcap")
    n_insert=$(grep -a -o 'INSERT INTO' "$pcap" | wc -l); n_canary=$(grep -a -o 'INSERT INTO mmc_tls_canary' "$pcap" | wc -l)
    local sql; sql=$(grep -a -o -E 'mmc_test|CHANGE MASTER|CHANGE REPLICATION|CLONE INSTANCE|CREATE USER|SELECT @@|GTID' "$pcap" | sort | uniq -c | tr '\n' ' ')
    local bytes packets; bytes=$(stat -c %s "$pcap"); packets=$(tcpdump -r "$pcap" 2>/dev/null | wc -l)
    printf 'tls_capture_bytes %s\ntls_capture_packets %s\ntls_capture_password_hits %s\ntls_capture_sql_hits %s\n' \
        "$bytes" "$packets" "$hits" "$((n_insert - n_canary))" >>"$T/state/figures"
    echo "capture $bytes bytes, $packets packets: password hits $hits, 'INSERT INTO' $n_insert (canary $n_canary), other SQL: ${sql:-none}"
    [ "$n_canary" -ge 1 ] && [ "$hits" = 0 ] && [ "$n_insert" = "$n_canary" ] && [ -z "$sql" ]
}
tls_foreign_replica_cut_off() { # the member holding another CA's certificate gets no new write
    h_sql 1 "INSERT INTO mmc_test.bulk (v) VALUES ('tls-foreign-marker')" || return 1
    sleep 20
    local n st s1 s2 s3 io; read -r s1 s2 s3 io _ <<<"$(tls_status_words)"
    n=$(h_sql 0 "SELECT COUNT(*) FROM mmc_test.bulk WHERE v = 'tls-foreign-marker'" 2>&1)
    st=$(h_sqlv 0 "$s1 $s2 $s3" | grep -E "$io|Last_IO_Error:" | tr '\n' ' ')
    echo "marker rows on the foreign member: $n; $st"
    [ "$n" = 0 ] && [[ "$st" != *"$io: Yes"* ]]
}
# MySQL: the seed is CLONE, run by the recipient's server with its clone_ssl_* files (the member's own).
# tls_clone ORD DONOR_HOST [SQL_BEFORE] : CLONE INSTANCE on ORD from DONOR_HOST as the seed account, into
# ORD's tmp directory (the product's statement, mmc_sql_clone; SQL on stdin: the password on no command
# line); prints the client's output, the status is the client's.
tls_clone_dir() { echo "$(h_pod_dir "$1")/tmp/tls-clone"; }
tls_clone() { # ORD DONOR_HOST [SQL_BEFORE] [DIR]
    local dir su; dir=${4:-$(tls_clone_dir "$1")}
    # shellcheck disable=SC1091
    su=$(. "$T/ext/tls1/cluster1.env"; echo "$MMC_SEED_USER")
    rm -rf "$dir"
    {
        printf '%s\n' "${3:-}"
        bash -c 'for f in lib-env.sh lib-sql.sh lib-engine.sh; do . "$1/$f"; done
            MMC_ENGINE=mysql MMC_PORT=3306 MMC_SEED_USER=$2 MMC_SEED_PASSWORD=$3 mmc_sql_clone "$4" "$5"' _ "$(h_scripts_dir tls1)" "$su" "$H_SEED_PW" "$2" "$dir"
    } | timeout 120 "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/root.cnf" --socket="$(h_pod_dir "$1")/run/mysqld.sock" -N -B 2>&1
}
tls_clone_refused() { # ORD DONOR_HOST WHY_REGEX [SQL_BEFORE] : the CLONE fails, its error matches WHY_REGEX, nothing written
    local out rc=0 dir; dir=$(tls_clone_dir "$1")
    out=$(tls_clone "$1" "$2" "${4:-}") || rc=$?
    echo "rc=$rc: $out"
    [ "$rc" != 0 ] && grep -Eq "$3" <<<"$out" && [ ! -e "$dir" ]
}
# The server's side alone (MySQL): a client that does not verify the server, presenting CERTDIR's
# certificate, as the replication account (REQUIRE X509); the client's status.
tls_cert_login() { # HOST CERTDIR
    h_cnf "$T/state/repl.cnf" repl "$H_REPL_PW"
    "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/repl.cnf" --ssl-mode=REQUIRED --ssl-cert="$2/tls.crt" --ssl-key="$2/tls.key" \
        -h "$1" -P 3306 --connect-timeout=5 -N -B -e 'SELECT CURRENT_USER()'
}
tls_cert_refused_by_server() { # HOST CERTDIR
    local out
    if out=$(tls_cert_login "$1" "$2" 2>&1); then echo "logged in: $out"; return 1; fi
    echo "$out"
}
tls_clone_works() { # ORD DONOR_HOST : the control: the same CLONE copies the donor (then the copy is removed)
    local out rc=0 dir; dir=$(tls_clone_dir "$1")
    out=$(tls_clone "$1" "$2") || rc=$?
    echo "rc=$rc: $out"
    [ "$rc" = 0 ] && [ -d "$dir/mysql" ] || return 1
    rm -rf "$dir"
}
# MySQL: what the seed runs with: the seed account requires a certificate of the set, the CLONE client
# presents this member's certificate and verifies the donor's with the set CA.
tls_clone_config() { # ORD
    local d="$T/tls/m$1" got
    got=$(h_sql "$1" "SELECT CONCAT_WS(' ', (SELECT ssl_type FROM mysql.user WHERE user = 'seed' AND host = '%'), @@GLOBAL.clone_ssl_ca, @@GLOBAL.clone_ssl_cert, @@GLOBAL.clone_ssl_key)")
    [ "$got" = "X509 $d/ca.crt $d/tls.crt $d/tls.key" ] || { echo "seed account / clone_ssl_*: $got"; return 1; }
}
tls_refused() { # EXPECTED_RC CERTDIR HOST CMD [STAGING] : the session fails as expected, TLS named in its log
    local want=$1 out rc=0; shift
    out=$(tls_session "$@" 2>&1) || rc=$?
    echo "rc=$rc: $out"
    [ "$rc" = "$want" ] && grep -qi 'TLS\|refused' <<<"$out"
}
# tls_time_ms CMD... : CMD's run time in ms; its output goes to $T/state/tls-time.out (read on failure)
tls_time_ms() { local t0 t1; t0=$(h_now_ms); "$@" >"$T/state/tls-time.out" 2>&1 || return 1; t1=$(h_now_ms); echo $((t1 - t0)); }
# The copies tls_throughput times, each into a directory that does not exist yet (tls_copy_dir).
# MariaDB: the engine's own tool, locally, nothing added (the donor's --parallel, the recipient's -p).
# MySQL: CLONE LOCAL DATA DIRECTORY on the member that holds the data.
# tls_backup DIR : mariadb-backup of mysql-1 streamed to stdout, as every MariaDB copy below runs it
tls_backup() {
    mariadb-backup --defaults-extra-file="$T/state/root.cnf" --backup --stream=mbstream --target-dir="$1" \
        --socket="$(h_pod_dir 1)/run/mysqld.sock" --parallel=2 2>"$T/state/tls-backup.log"
}
# tls_extract_big_pipe DIR : mbstream -x into DIR, its input pipe grown first by the product's mmc_pipe_grow
tls_extract_big_pipe() {
    bash -c '. "$1/lib-stream.sh" && mmc_pipe_grow in && exec mbstream -p 4 -x -C "$2"' _ "$(h_scripts_dir tls1)" "$1"
}
tls_local_copy() { # DIR
    if [ "$H_ENGINE" = mysql ]; then h_sql 1 "CLONE LOCAL DATA DIRECTORY = '$1'"; return; fi
    mkdir -p "$1"
    tls_backup "$1" | mbstream -p 4 -x -C "$1"
}
# Context, not the goal's denominator (MariaDB): the same local copy through the 1 MiB pipe the seed's two
# ends use (mmc_pipe_grow), so the ratio to it is what the transport and TLS cost beside the product's pipe.
tls_local_big_pipe_copy() { # DIR
    mkdir -p "$1"
    tls_backup "$1" | tls_extract_big_pipe "$1"
}
# Context (MariaDB): the same backup through socat's OpenSSL addresses on loopback (mutual TLS with the
# set's certificates, 1 MiB pipes), with nothing else of the product's: no request, probe, end-of-stream
# record or bash on either side. Against the seed, what the product's session adds; against the local
# copy, what the TLS endpoint itself costs.
tls_socat_tls_copy() { # DIR
    local port=3399 d=$T/tls lpid rc=0 b="$T/state/tls-socat-backup.sh"
    mkdir -p "$1"
    # the listener's handler: tls_backup itself, behind the product's mmc_pipe_grow on its stdout
    {
        declare -f h_pod_dir tls_backup
        printf 'T=%q\n' "$T"
        printf '. %q/lib-stream.sh && mmc_pipe_grow out && tls_backup %q\n' "$(h_scripts_dir tls1)" "$1"
    } >"$b"
    socat -U -b 1048576 "OPENSSL-LISTEN:$port,bind=$(h_ip cluster1 1),reuseaddr,cert=$d/m1/tls.crt,key=$d/m1/tls.key,cafile=$d/m1/ca.crt,verify=1" "EXEC:bash $b,pipes" &
    lpid=$!
    h_wait 10 "the socat listener" bash -c "ss -ltn | grep -q '$(h_ip cluster1 1):$port '" >/dev/null 2>&1 || true
    socat -u -b 1048576 "OPENSSL:$(h_peer_name 1):$port,cert=$d/m0/tls.crt,key=$d/m0/tls.key,cafile=$d/m0/ca.crt,verify=1,commonname=$(h_peer_name 1)" - \
        | tls_extract_big_pipe "$1" || rc=$?
    wait "$lpid" 2>/dev/null
    return "$rc"
}
tls_tar_copy() { mkdir -p "$1" && tar -C "$(h_pod_dir 1)/data" -cf - . | tar -C "$1" -xf -; }
# The product's seed: MariaDB, its seed session over mutual TLS (lib-stream.sh, as a recipient with the
# set's certificate m0); MySQL, its CLONE SQL (mmc_sql_clone: REQUIRE SSL, the recipient's clone_ssl_* the
# set's files, the seed account REQUIRE X509) on mysql-0 from mysql-1, into a directory.
tls_seed_copy() { # DIR
    if [ "$H_ENGINE" = mysql ]; then
        local out; out=$(tls_clone 0 "$(h_peer_name 1)" "" "$1") || { echo "$out"; return 1; }
        return 0
    fi
    mkdir -p "$1"; tls_session m0 "$(h_peer_name 1)" seed "$1"
}
tls_median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# tls_copy_dir MODE : where MODE's copy goes, removed first (and synced, so no copy pays for the last one's
# writeback). MySQL's CLONE creates its directory itself, as the server's user, under the server's own tmp.
tls_copy_dir() {
    local d="$T/tls-copy"
    if [ "$H_ENGINE" = mysql ]; then
        case "$1" in local) d="$(h_pod_dir 1)/tmp/tls-copy" ;; seed) d="$(h_pod_dir 0)/tmp/tls-copy" ;; esac
    fi
    rm -rf "$T/tls-copy" "$(h_pod_dir 0)/tmp/tls-copy" "$(h_pod_dir 1)/tmp/tls-copy"
    sync
    echo "$d"
}
# The ratio of issue 13: the product's seed over mutual TLS / the engine's own tool copying the same data
# locally with nothing added. MariaDB: the seed session (transport, TLS, end-of-stream verification; from
# the request to a verified staging directory) / mariadb-backup --stream | mbstream -x; neither includes
# prepare (timed apart, as a stage). MySQL: CLONE INSTANCE over verified TLS into a directory / CLONE LOCAL
# DATA DIRECTORY; neither includes the server's restart on the copy. Same data, page cache hot for both (one
# unmeasured copy first), alternated local, seed, local, seed ... (tar | tar after each pair, as context),
# medians of TLS_SEED_ROUNDS (5).
tls_throughput() {
    local d0 target=${TLS_SEED_BYTES:-1000000000} rounds=${TLS_SEED_ROUNDS:-5} i bytes dir k m ms modes
    local rf="$T/state/tls-rounds" load0 load1 received="" med_local med_seed med_tar med_big="" med_socat="" st out s_answer s_stream s_eos s_probe s_backup
    d0="$(h_pod_dir 1)/data"
    modes="local seed local_big_pipe socat_tls tar"
    [ "$H_ENGINE" = mysql ] && modes="local seed tar"
    # rows outside the binary log, in a table of their own: they reach a copy only by the copies measured
    h_sql 1 "SET SESSION sql_log_bin = 0; CREATE TABLE IF NOT EXISTS mmc_test.seedbench (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(1024)) ENGINE=InnoDB" \
        || { echo "cannot create the dataset table"; return 1; }
    for ((i = 0; i < 200; i++)); do
        [ "$(du -sb "$d0" | cut -f1)" -ge "$target" ] && break
        H_SQL_TIMEOUT=600 h_sql 1 "SET SESSION sql_log_bin = 0; $(h_sql_insert_seq 100000 "CONCAT(SHA2(seq + $((i * 100000)), 512), SHA2(RAND(), 512), SHA2(RAND(), 512), SHA2(RAND(), 512))" | sed 's/mmc_test\.bulk/mmc_test.seedbench/')" \
            || { echo "loading the dataset failed"; return 1; }
    done
    h_sql 1 "FLUSH TABLES" >/dev/null; sleep 3
    bytes=$(du -sb "$d0" | cut -f1)
    dir=$(tls_copy_dir local); out=$(tls_local_copy "$dir" 2>&1) || { echo "warm-up copy failed: $out"; return 1; }
    : >"$rf"
    load0=$(cut -d' ' -f1 /proc/loadavg)
    for ((k = 1; k <= rounds; k++)); do
        for m in $modes; do
            dir=$(tls_copy_dir "$m")
            ms=$(tls_time_ms "tls_${m}_copy" "$dir") || { echo "$m copy failed (round $k): $(tail -3 "$T/state/tls-time.out")"; return 1; }
            [ "$m" = seed ] && received=$(du -sb "$dir" | cut -f1)
            echo "$m $ms" >>"$rf"
            h_log "throughput round $k/$rounds: $m copy of $bytes bytes in $ms ms (load $(cut -d' ' -f1 /proc/loadavg))"
        done
    done
    load1=$(cut -d' ' -f1 /proc/loadavg)
    med_local=$(awk '$1 == "local" { print $2 }' "$rf" | tls_median)
    med_seed=$(awk '$1 == "seed" { print $2 }' "$rf" | tls_median)
    med_tar=$(awk '$1 == "tar" { print $2 }' "$rf" | tls_median)
    [ "$H_ENGINE" = mariadb ] && med_big=$(awk '$1 == "local_big_pipe" { print $2 }' "$rf" | tls_median) \
        && med_socat=$(awk '$1 == "socat_tls" { print $2 }' "$rf" | tls_median)
    {
        echo "seed_throughput_ratio $(awk -v a="$med_local" -v b="$med_seed" 'BEGIN { printf "%.3f", a / b }')"
        echo "seed_ratio_vs_tar $(awk -v a="$med_tar" -v b="$med_seed" 'BEGIN { printf "%.3f", a / b }')"
        echo "local_tool_ratio_vs_tar $(awk -v a="$med_tar" -v b="$med_local" 'BEGIN { printf "%.3f", a / b }')"
        echo "seed_tls_stream_ms $med_seed"
        echo "seed_local_tool_ms $med_local"
        echo "seed_tar_ms $med_tar"
        echo "seed_rounds $rounds"
        echo "seed_dataset_bytes $bytes"
        echo "seed_tls_received_bytes ${received:-0}"
        echo "seed_load_average_start $load0"
        echo "seed_load_average_end $load1"
    } >>"$T/state/figures"
    if [ "$H_ENGINE" = mysql ]; then
        # the stages of the last CLONE, as the recipient's performance_schema.clone_progress has them
        st=$(h_sql 0 "SELECT GROUP_CONCAT(CONCAT(LOWER(REPLACE(STAGE, ' ', '_')), ' ', ROUND(TIMESTAMPDIFF(MICROSECOND, BEGIN_TIME, END_TIME) / 1000)) ORDER BY ID SEPARATOR ', ') FROM performance_schema.clone_progress")
        rm -rf "$(h_pod_dir 0)/tmp/tls-copy"
        tr ',' '\n' <<<"$st" | awk 'NF == 2 { print "seed_clone_stage_" $1 "_ms " $2 }' >>"$T/state/figures"
        echo "dataset $bytes bytes, medians of $rounds alternated rounds (load $load0 -> $load1): CLONE over verified TLS $med_seed ms, CLONE LOCAL DATA DIRECTORY $med_local ms, tar|tar $med_tar ms; rounds $(awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }' "$rf"); stages of the last CLONE (ms): $st"
        [ -n "$st" ]
        return
    fi
    # the stages of one more seed: the session's own log line (answer, stream, end-of-stream check), the
    # donor's (readiness probe, backup), then prepare (in a seed, in neither copy above)
    dir=$(tls_copy_dir seed); mkdir -p "$dir"
    out=$(tls_session m0 "$(h_peer_name 1)" seed "$dir" 2>&1) || { echo "stage seed failed: $out"; return 1; }
    st=$(grep -o 'answer [0-9]* ms, stream [0-9]* ms, end-of-stream check [0-9]* ms' <<<"$out" | tr -dc '0-9 ' | tr -s ' ')
    read -r s_answer s_stream s_eos <<<"$st"
    s_probe=$(sed -n 's/.*over TLS (.*, probed in \([0-9]*\) ms)$/\1/p' "$(h_pod_dir 1)/logs/donor.log" | tail -1)
    s_backup=$(sed -n 's/.*backup streamed to .* in \([0-9]*\) ms, end-of-stream record sent.*/\1/p' "$(h_pod_dir 1)/logs/donor.log" | tail -1)
    ms=$(tls_time_ms mariadb-backup --prepare --target-dir="$dir" --use-memory=256M) || { echo "prepare of the seeded copy failed"; return 1; }
    rm -rf "$dir"
    {
        echo "seed_ratio_vs_local_big_pipe $(awk -v a="$med_big" -v b="$med_seed" 'BEGIN { printf "%.3f", a / b }')"
        echo "seed_local_big_pipe_ms $med_big"
        echo "socat_tls_copy_ms $med_socat"
        echo "socat_tls_ratio $(awk -v a="$med_local" -v b="$med_socat" 'BEGIN { printf "%.3f", a / b }')"
        echo "seed_stage_answer_ms ${s_answer:-}"
        echo "seed_stage_donor_probe_ms ${s_probe:-}"
        echo "seed_stage_donor_backup_ms ${s_backup:-}"
        echo "seed_stage_stream_ms ${s_stream:-}"
        echo "seed_stage_end_of_stream_check_ms ${s_eos:-}"
        echo "seed_stage_prepare_ms $ms"
    } >>"$T/state/figures"
    echo "dataset $bytes bytes, medians of $rounds alternated rounds (load $load0 -> $load1): TLS seed session $med_seed ms, mariadb-backup|mbstream $med_local ms (through a 1 MiB pipe $med_big ms), the same backup over socat TLS alone $med_socat ms, tar|tar $med_tar ms; rounds $(awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }' "$rf"); stages of one seed: answer ${s_answer:-?} ms (donor probe ${s_probe:-?}), stream ${s_stream:-?} ms (donor backup ${s_backup:-?}), end-of-stream check ${s_eos:-?} ms; prepare $ms ms (in neither)"
    [ -n "$s_answer" ] && [ -n "$s_stream" ] && [ -n "$s_eos" ] && [ -n "$s_probe" ] && [ -n "$s_backup" ]
}
tls_checks() {
    local t2="$T/state/tls-2.yaml" cap="$T/tls/lo.pcap" cpid out rc
    command -v tcpdump >/dev/null || { apt-get install -y -qq tcpdump >/tmp/mmc-apt.log 2>&1 || { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump >>/tmp/mmc-apt.log 2>&1; }; } \
        || { h_notok "tls: tcpdump installs from Debian"; return 1; }
    sed -E 's/^(\s*mysql-multicluster:primary:).*/\1 1/' "$STACKS/01-all-in-cluster1.yaml" >"$t2"
    h_render tls1 "$STACKS/01-all-in-cluster1.yaml" && h_render tls2 "$t2" "$STACKS/01-all-in-cluster1.yaml" || { h_notok "tls: render"; return 1; }
    h_fresh_set tls1
    rm -rf "$T/tls"; tls_certs || { h_notok "tls: a set CA and member certificates (openssl)"; return 1; }
    # shellcheck disable=SC1091
    h_cnf "$T/state/admin.cnf" "$(. "$T/ext/tls1/cluster1.env"; echo "$MMC_ADMIN_USER")" "$H_ADMIN_PW"
    : >"$T/state/secret-files.start"
    tcpdump -i lo -s 0 -U -w "$cap" "tcp and (host $(h_ip cluster1 0) or host $(h_ip cluster1 1))" >"$T/tls/tcpdump.log" 2>&1 &
    cpid=$!
    # shellcheck disable=SC2064  # this capture's pid, now; h_cleanup_all's trap runs after it
    trap "kill $cpid 2>/dev/null; h_cleanup_all" EXIT
    sleep 1
    tls_pod_start 0 cluster1 m0
    wait_ready 0 180 || { h_notok "tls: mysql-0 comes up with TLS"; kill "$cpid"; return 1; }
    make_schema 0 20000 || { h_notok "tls: schema"; kill "$cpid"; return 1; }
    H_WRITER_TLS=$(h_tls_client_opts "$T/tls/ca/ca.crt") h_writer_start 900
    sleep 2
    h_check "tls: the writer's TLS writes are acknowledged" h_wait 30 "a write acknowledged" acked_at_least 1
    tls_pod_start 1 cluster1 m1
    wait_ready 1 180 || h_notok "tls: mysql-1 seeds over TLS and becomes ready"
    if [ "$H_ENGINE" = mysql ]; then
        h_check "tls: mysql-1 was seeded by CLONE from mysql-0" grep -q "volume trusted (clone from $(h_peer_name 0))" "$(h_pod_dir 1)/logs/init.log"
        h_check "tls: the CLONE seed runs with the set's files (clone_ssl_ca/cert/key) and the seed account REQUIRE X509" tls_clone_config 1
    else
        h_check "tls: mysql-1 was seeded over the TLS stream, end-of-stream record checked" bash -c \
            "grep -q 'received and verified' '$(h_pod_dir 1)/logs/init.log' && grep -q 'end-of-stream record sent' '$(h_pod_dir 0)/logs/donor.log'"
    fi
    h_check "tls: mysql-1's channel runs with SSL and $(tls_status_words | cut -d' ' -f5)_SSL_Verify_Server_Cert Yes (set CA)" tls_channel_verified 1
    h_check "tls: the application's account logs in over verified TLS, and is refused without TLS (require_secure_transport)" tls_plaintext_refused 0
    sleep 3
    step "tls: set of 2 with TLS under the writer" 0
    H_JOB_EXTRA_ENV="MMC_TLS_DIR=$T/tls/job" run_switchover tls2; rc=$?
    h_apply_topology tls2
    h_host_set "$(h_write_name)" "$(h_ip cluster1 1)"
    [ "$rc" = 0 ] && h_ok "tls: switchover Job over TLS (CA only) exits 0" || h_notok "tls: switchover Job over TLS exits 0" "rc=$rc: $(tail -3 "$T/switchover.log" | tr '\n' ' ')"
    h_wait 60 "mysql-0 replicating from mysql-1" tls_channel_verified 0
    h_check "tls: after the switchover mysql-0's channel verifies mysql-1's certificate" tls_channel_verified 0
    sleep 3
    step "tls: after the switchover (primary mysql-1)" 1
    # a plaintext canary on the wire: the capture must see it (it does see payloads)
    if [ "$H_ENGINE" = mysql ]; then # no donor port: the server's, which reads it as a bad handshake
        timeout 5 bash -c 'printf "INSERT INTO mmc_tls_canary VALUES (1)\n" >"/dev/tcp/$1/3306"' _ "$(h_ip cluster1 0)" 2>/dev/null
    else
        printf 'INSERT INTO mmc_tls_canary VALUES (1)\n' | timeout 5 socat - "TCP:$(h_ip cluster1 0):3307" >/dev/null 2>&1
    fi
    sleep 1; kill "$cpid"; wait "$cpid" 2>/dev/null; trap 'h_cleanup_all' EXIT
    h_check "tls: loopback capture of seeding, replication, the writer and a switchover holds no password and no SQL text (tcpdump)" tls_capture_clean "$cap"
    out=$(secret_file_hits)
    [ -z "$out" ] && h_ok "tls: no credential file left behind after a TLS seed (pod volumes, emptyDirs, /tmp)" || h_notok "tls: no credential file left behind" "$out"
    h_writer_stop

    # a member whose mounted certificate is of ANOTHER CA (same names, same path: the pod's Secret replaced)
    h_pod_stop 0
    rm -rf "$T/tls/m0.good"; cp -a "$T/tls/m0" "$T/tls/m0.good"; cp -a "$T/tls/other0/." "$T/tls/m0/"
    tls_pod_start 0 cluster1 m0
    h_wait 60 "mysql-0 answers" h_sql 0 "SELECT 1"
    h_check "tls: a member with another CA's certificate: replication between it and the primary fails (no new write arrives)" tls_foreign_replica_cut_off
    h_check "tls: admin SQL (the Jobs' way, set CA) to the member with another CA's certificate fails to connect (2026)" tls_admin_refused "$(h_peer_name 0)"
    h_check "tls: admin SQL the same way to the set's primary works (control)" tls_admin_sql "$(h_peer_name 1)" "SELECT 1"
    if [ "$H_ENGINE" = mysql ]; then
        h_check "tls: CLONE on the set's primary from the member with another CA's certificate: the donor's certificate fails verification (2026), nothing written" \
            tls_clone_refused 1 "$(h_peer_name 0)" '2026.*certificate verify failed'
        h_check "tls: CLONE on the member with another CA's certificate from the set's primary: refused in the TLS handshake (2026), nothing written" \
            tls_clone_refused 0 "$(h_peer_name 1)" '2026'
        # the donor's side alone: the recipient's own verification off, its certificate still of another CA
        # The donor closing the session reads, on the recipient, as ER_NET_READ_ERROR (1158) or
        # ER_NET_ERROR_ON_WRITE (1160) depending on which side of the exchange it lands (CI saw both).
        h_check "tls: ... and with its own verification off (clone_ssl_ca emptied), the donor ends the session (1158/1160, or 2026 in the handshake), nothing written" \
            tls_clone_refused 0 "$(h_peer_name 1)" 'ERROR (1158|1160|2026)' "SET GLOBAL clone_ssl_ca = '';"
        h_check "tls: the set's primary refuses a client that presents another CA's certificate (no server verification, replication account REQUIRE X509)" \
            tls_cert_refused_by_server "$(h_peer_name 1)" "$T/tls/other0"
        h_check "tls: the same client with the set's certificate logs in (control)" tls_cert_login "$(h_peer_name 1)" "$T/tls/m1"
        h_sql 0 "SET GLOBAL clone_ssl_ca = '$T/tls/m0/ca.crt'"
    else
        h_check "tls: seed stream from the member with another CA's certificate: refused in the handshake (status 3)" tls_refused 3 m1 "$(h_peer_name 0)" status
        rm -rf "$T/tls/staging-foreign"; mkdir -p "$T/tls/staging-foreign"
        out=$(tls_session m0 "$(h_peer_name 1)" seed "$T/tls/staging-foreign" 2>&1); rc=$?
        if [ "$rc" != 0 ] && [ -z "$(ls -A "$T/tls/staging-foreign")" ]; then h_ok "tls: seed stream to a recipient with another CA's certificate: refused (rc=$rc), nothing written"
        else h_notok "tls: seed stream to a recipient with another CA's certificate: refused, nothing written" "rc=$rc $(ls -A "$T/tls/staging-foreign" | head -3 | tr '\n' ' ') $out"; fi
        out=$(tls_session m1 "$(h_peer_name 1)" status 2>&1); rc=$?
        [ "$rc" = 0 ] && [ "$out" = "ready primary" ] && h_ok "tls: the same request with the set's certificate answers 'ready primary' (control)" \
            || h_notok "tls: the same request with the set's certificate answers (control)" "rc=$rc $out"
    fi
    h_pod_stop 0
    rm -rf "$T/tls/m0"; mv "$T/tls/m0.good" "$T/tls/m0"
    tls_pod_start 0 cluster1 m0
    wait_ready 0 180 || h_notok "tls: mysql-0 back with the set's certificate"
    step "tls: mysql-0 back with the set's certificate (primary mysql-1)" 1
    if [ "$H_ENGINE" = mysql ]; then
        h_check "tls: the same CLONE on the set's primary from mysql-0, back with the set's certificate, copies it (control)" tls_clone_works 1 "$(h_peer_name 0)"
    fi

    out=$(tls_throughput) && h_ok "tls: seed_throughput_ratio measured: $out" || h_notok "tls: seed_throughput_ratio measured" "$out"
    local p; for p in $(h_pods); do h_pod_stop "$p"; done
}

# Every section, in order; MMC_DP_SECTIONS="faults ..." runs only those named (a quicker loop while
# working on one; .ci/run runs them all).
DP_SECTIONS=(static_checks walkthrough faults status_checks roles shutdown_liveness lost_zone secret_files datapath app_access partition seed_waiting_primary auto_failover arbiter_move tls_checks)
for s in ${MMC_DP_SECTIONS:-${DP_SECTIONS[*]}}; do
    [[ " ${DP_SECTIONS[*]} " == *" $s "* ]] || { echo "MMC_DP_SECTIONS: unknown section '$s' (known: ${DP_SECTIONS[*]})"; echo "0 passed, 1 failed"; exit 2; }
    "$s"
done
h_check "no password in any pod or switchover log" secrets_not_logged
echo "# run time $((SECONDS - T0)) s; logs under $T"
if [ -f "$T/state/shutdown" ]; then sed 's/^/# shutdown and liveness figure: /' "$T/state/shutdown"; fi
if [ -f "$T/state/figures" ]; then sed 's/^/# figure: /' "$T/state/figures"; fi
if [ -f "$T/state/gaps" ]; then sed 's/^/# write gap (max interval between acknowledged writes, ms): /' "$T/state/gaps"; fi
[ "$H_FAIL" = 0 ] || printf '# failed: %s\n' "${H_FAILED_NAMES[@]}"
h_summary
[ "$H_FAIL" = 0 ]
