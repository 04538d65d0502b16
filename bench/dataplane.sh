#!/usr/bin/env bash
# npm run bench:dataplane — measures the data plane on real servers of one engine per run
# (`dataplane.sh mariadb`: MariaDB 10.11; `dataplane.sh mysql`: MySQL 9.7 from tools/images/rootfs.sh)
# and writes that engine's figures under its key in bench/results/dataplane.json:
#   switchover_max_write_gap_ms   longest interval between two acknowledged writes of a continuous
#                                 client around each planned switchover (demote -> write name moved
#                                 when the Job exits), max over the switchovers run
#   replica_move_max_write_gap_ms longest interval between acknowledged writes while a replica moves
#                                 (stop, seed >= 1 GB from the primary in another cluster, catch up),
#                                 minus the longest interval of a quiet baseline window of the same
#                                 length (so it is the unavailability the move adds; raw value kept)
#   seed_throughput_ratio         issue 13: seeding throughput with everything the product adds / the engine's
#                                 own tool copying the same data locally with nothing added, same run, same
#                                 data, page cache hot for both, alternated (local, seed, local, seed ...),
#                                 medians (details.tls: every figure, the load average, the seed's stages).
#                                 MariaDB: the seed session over mutual TLS (transport, TLS, end-of-stream
#                                 verification; request -> verified staging directory) / mariadb-backup
#                                 --stream | mbstream -x; neither includes prepare (timed apart as a stage).
#                                 MySQL: the product's CLONE over verified TLS (REQUIRE SSL, the set's files
#                                 as clone_ssl_*) into a directory / CLONE LOCAL DATA DIRECTORY; neither
#                                 includes the restart on the copy. Section tls_checks (tls_throughput) of
#                                 either engine; BENCH_ONLY=tls runs only it and keeps the other figures.
#                                 (details.seed_quiet: a pod's whole seed, init start to trusted volume, one run)
#   seed_ratio_vs_tar             the same seed throughput / raw `tar | tar` of the data directory (context)
#   acknowledged_writes_lost      acknowledged writes missing on any member at the end
#   dataset_bytes                 size of the seeded data directory
#   failover_write_unavailability_ms  the primary's whole cluster lost (member killed, address dropping
#                                 packets), then the failover Job: from the Job's start (the `up`, not
#                                 the human) to the first write acknowledged by the new primary
#                                 (test/dataplane/run.sh section lost_zone, run after the rest;
#                                 BENCH_ONLY=failover runs only it and keeps the other figures)
#   acknowledged_writes_lost      also counts the lost-zone run's (details.failover)
#   auto_failover_write_unavailability_ms  automatic failover (issue 17; section auto_failover: three etcd
#                                 voters, the primary's node killed / its cluster cut off / a flapping
#                                 link): loss -> first write acknowledged by the new primary, the max over
#                                 the three scenarios (each in details.auto_failover); goal < 30000 ms.
#                                 BENCH_ONLY=auto_failover runs only it and keeps the other figures
# All servers share this machine's 2 cores and one disk (in a cluster each pod has its own node).
set -u
H_ENGINE=${1:-${H_ENGINE:-mariadb}}
case "$H_ENGINE" in mariadb|mysql) ;; *) echo "usage: dataplane.sh [mariadb|mysql] (engine: got '$H_ENGINE')" >&2; exit 2 ;; esac
T=${MMC_BENCH_DIR:-/tmp/mmc-bench-$H_ENGINE}
MMC_TEST_NET=${MMC_TEST_NET:-127.2}   # MySQL: addresses apart from the test tier's 127.1.x.1 (it may run meanwhile)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../test/dataplane/harness.sh
. "$REPO/test/dataplane/harness.sh"
h_enter_ns "${BASH_SOURCE[0]}" "$H_ENGINE"
OUT="$REPO/bench/results/dataplane.json"
TARGET_BYTES=${BENCH_DATASET_BYTES:-1100000000}
SWITCHOVERS=${BENCH_SWITCHOVERS:-3}
T0=$SECONDS

# tier_figures SECTION DETAILS_KEY FIGURE... : runs the data-plane tier's SECTION alone and merges its
# figures under this engine's key: each FIGURE at the top (NAME=SOURCE: the section's SOURCE as NAME), acknowledged_writes_lost as the max, the
# whole figures file (with the tier's result) under details.DETAILS_KEY.
tier_figures() {
    local section=$1 key=$2 dir="$T-$1" fig
    shift 2
    [ "$H_ENGINE" = mysql ] && dir="$dir-mysql"
    (unset H_IN_NS; MMC_TEST_NET=$MMC_TEST_NET MMC_TEST_DIR="$T-$section" MMC_DP_SECTIONS=$section bash "$REPO/test/dataplane/run.sh" "$H_ENGINE") >"$T-$section.log" 2>&1
    local rc=$?
    fig="$dir/state/figures"
    [ -s "$fig" ] || { echo "$section run produced no figures (rc=$rc, see $T-$section.log)"; return 1; }
    node -e '
        const fs = require("fs"); const [out, engine, figFile, rc, log, section, key, ...top] = process.argv.slice(1);
        const f = Object.fromEntries(fs.readFileSync(figFile, "utf8").trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k, Number(v)]));
        let all = {}; try { all = JSON.parse(fs.readFileSync(out, "utf8")); } catch {}
        const e = (all[engine] ??= {});
        for (const t of top) { const [k, src] = t.split("="); e[k] = f[src ?? k] ?? null; }
        delete e.tls_seed_throughput_ratio; // the earlier name of the MariaDB seed_throughput_ratio
        if (f.acknowledged_writes_lost !== undefined) e.acknowledged_writes_lost = Math.max(e.acknowledged_writes_lost ?? 0, f.acknowledged_writes_lost);
        e.details ??= {};
        const tap = fs.readFileSync(log, "utf8").split("\n").filter((l) => /^\d+ passed, \d+ failed$/.test(l)).pop() ?? "";
        e.details[key] = { ...f, tier_result: tap, exit_code: Number(rc), section: `test/dataplane/run.sh ${section}` };
        fs.writeFileSync(out, JSON.stringify(all, null, 2) + "\n");' "$OUT" "$H_ENGINE" "$fig" "$rc" "$T-$section.log" "$section" "$key" "$@" || return 1
    grep -E '^(ok|not ok)|passed, ' "$T-$section.log"
}
# The lost-zone failover figures (section lost_zone) and the automatic-failover ones (section auto_failover).
failover_figures() { tier_figures lost_zone failover failover_write_unavailability_ms; }
auto_failover_figures() { tier_figures auto_failover auto_failover auto_failover_write_unavailability_ms; }
# The seed throughput ratio (MariaDB: the seed session over verified TLS) and the TLS checks' figures.
tls_figures() { tier_figures tls_checks tls seed_throughput_ratio seed_ratio_vs_tar; }
if [ "${BENCH_ONLY:-}" = tls ]; then
    [ "$(id -u)" = 0 ] || { echo "bench:dataplane needs root"; exit 1; }
    tls_figures; exit $?
fi
if [ "${BENCH_ONLY:-}" = auto_failover ]; then
    [ "$(id -u)" = 0 ] || { echo "bench:dataplane needs root"; exit 1; }
    auto_failover_figures; exit $?
fi
if [ "${BENCH_ONLY:-}" = failover ]; then
    [ "$(id -u)" = 0 ] || { echo "bench:dataplane needs root"; exit 1; }
    failover_figures; exit $?
fi

[ "$(id -u)" = 0 ] || { echo "bench:dataplane needs root"; exit 1; }
h_install || exit 1
h_init || exit 1
mkdir -p "$REPO/bench/results"
STACKS=$(h_stacks) || exit 1

h_render p1 "$STACKS/01-all-in-cluster1.yaml" || exit 1
h_render p2 "$STACKS/02-replica-in-cluster2.yaml" "$STACKS/01-all-in-cluster1.yaml" || exit 1
h_render p3 "$STACKS/03-switchover-to-mysql-1.yaml" "$STACKS/02-replica-in-cluster2.yaml" || exit 1
h_apply_topology p1
h_host_set "$(h_write_name)" "$(h_ip cluster1 0)"
h_pod_start 0 cluster1 p1
h_wait 60 "mysql-0 ready" h_ready 0 || exit 1

# ---- dataset >= 1 GB (loaded on the primary before the replica exists: it arrives by seeding)
h_log "loading the dataset (target $TARGET_BYTES bytes of data directory)"
h_sql 0 "CREATE DATABASE mmc_test;
    CREATE TABLE mmc_test.acks (id BIGINT PRIMARY KEY, payload CHAR(64), at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;
    CREATE TABLE mmc_test.bulk (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(1024)) ENGINE=InnoDB;
    CREATE USER 'app'@'%' IDENTIFIED BY '$H_APP_PW'; GRANT SELECT, INSERT ON mmc_test.* TO 'app'@'%';" || exit 1
D0="$T/pod/cluster1-0/data"
for ((i = 0; i < 200; i++)); do
    [ "$(du -sb "$D0" | cut -f1)" -ge "$TARGET_BYTES" ] && break
    # bulk rows bypass the binary log: they reach replicas by seeding, which is what is measured
    H_SQL_TIMEOUT=600 h_sql 0 "SET SESSION sql_log_bin = 0; $(h_sql_insert_seq 100000 "CONCAT(SHA2(seq + $((i * 100000)), 512), SHA2(RAND(), 512), SHA2(RAND(), 512), SHA2(RAND(), 512), SHA2(RAND(), 512), SHA2(RAND(), 512), SHA2(RAND(), 512))")" || exit 1
done
h_sql 0 "FLUSH TABLES; SET GLOBAL innodb_max_dirty_pages_pct = 0;" >/dev/null
sleep 5
DATA_BYTES=$(du -sb "$D0" | cut -f1)
h_log "data directory of mysql-0: $DATA_BYTES bytes"

# ---- raw copy: tar | tar of the same data directory, same disk
rm -rf "$T/tarcopy"; mkdir -p "$T/tarcopy"
sync
t0=$(h_now_ms)
tar -C "$D0" -cf - . | tar -C "$T/tarcopy" -xf -
t1=$(h_now_ms)
TAR_BYTES=$(du -sb "$T/tarcopy" | cut -f1)
TAR_MS=$((t1 - t0))
sync -f "$T/tarcopy" 2>/dev/null || sync
t2=$(h_now_ms)
TAR_SYNC_MS=$((t2 - t0))
rm -rf "$T/tarcopy"; sync
h_log "tar|tar: $TAR_BYTES bytes in $TAR_MS ms ($TAR_SYNC_MS ms with sync)"

# ---- the engine's own tool, copying the same data locally with nothing added
LOCAL_DIR="$T/pod/cluster1-0/tmp/localcopy"   # in the pod's tmp: the server's user may write there
rm -rf "$LOCAL_DIR"; sync
t0=$(h_now_ms)
if [ "$H_ENGINE" = mysql ]; then
    LOCAL_TOOL="CLONE LOCAL DATA DIRECTORY"
    H_SQL_TIMEOUT=600 h_sql 0 "CLONE LOCAL DATA DIRECTORY = '$LOCAL_DIR'" || exit 1
else
    LOCAL_TOOL="mariadb-backup --stream=mbstream | mbstream -x"
    mkdir -p "$LOCAL_DIR"
    mariadb-backup --defaults-extra-file="$T/state/root.cnf" --backup --stream=mbstream --target-dir="$LOCAL_DIR" \
        --socket="$T/pod/cluster1-0/run/mysqld.sock" --parallel=2 2>"$T/state/localcopy.log" \
        | mbstream -p 4 -x -C "$LOCAL_DIR" || { tail -5 "$T/state/localcopy.log"; exit 1; }
fi
t1=$(h_now_ms)
LOCAL_BYTES=$(du -sb "$LOCAL_DIR" | cut -f1)
LOCAL_MS=$((t1 - t0))
rm -rf "$LOCAL_DIR"; sync
h_log "$LOCAL_TOOL: $LOCAL_BYTES bytes in $LOCAL_MS ms"

seed_ms() { # POD_DIR -> ms from init start to trusted volume, from the init log
    awk '/config written/ && !s { s = $1 } /volume trusted/ { e = $1 } END { print s, e }' "$1/logs/init.log" | {
        read -r s e
        echo $(( $(date -d "$e" +%s%3N) - $(date -d "$s" +%s%3N) ))
    }
}

# ---- seed 1: replica mysql-1 in cluster1, quiet primary
h_pod_start 1 cluster1 p1
h_wait 600 "mysql-1 ready" h_ready 1 || exit 1
SEED1_MS=$(seed_ms "$T/pod/cluster1-1")
SEED1_BYTES=$(du -sb "$T/pod/cluster1-1/data" | cut -f1)
h_log "seed (quiet): $SEED1_BYTES bytes in $SEED1_MS ms"

# ---- continuous writer; quiet baseline window
h_writer_start 3000
sleep 2
b0=$(h_now_ms); sleep 20; b1=$(h_now_ms)
BASE20=$(h_max_gap_ms "$b0" "$b1")
ACK0=$(h_acked_count)

# ---- planned switchovers (the rendered Job's env; later ones swap old/new)
SW_MAX=0; SW_LIST=""
job_base=$(ls "$T/ext/p3"/job-*.env | head -1)
for ((k = 0; k < SWITCHOVERS; k++)); do
    cur=$(h_primary_of); nxt=$((1 - cur))
    {
        echo "set -a"; cat "$job_base"
        echo "MMC_POD_NAME=mysql-switchover"
        h_secret_env
        echo "MMC_OLD_PRIMARY_HOST=$(h_peer_name "$cur")"; echo "MMC_NEW_PRIMARY_HOST=$(h_peer_name "$nxt")"
        echo "MMC_SOURCE_FOR=$(h_peer_name "$cur")=$(h_peer_name "$nxt")"; echo "MMC_REPLICA_HOSTS="
        echo "TMPDIR=$T/tmp"; echo "set +a"
    } >"$T/state/job.env"
    mkdir -p "$T/tmp"
    sleep 3
    t0=$(h_now_ms)
    # shellcheck disable=SC1091
    (. "$T/state/job.env"; "${H_X[@]}" bash "$(h_scripts_dir p3)/switchover.sh") >>"$T/switchover.log" 2>&1
    rc=$?
    h_host_set "$(h_write_name)" "$(h_ip "$(cat "$T/state/pod$nxt.cluster")" "$nxt")"
    t1=$(h_now_ms)
    sleep 3
    g=$(h_max_gap_ms "$t0" "$((t1 + 3000))")
    h_log "switchover $cur -> $nxt: rc=$rc, Job ran $((t1 - t0)) ms, max write gap $g ms"
    [ "$rc" = 0 ] || { h_log "switchover failed"; SW_MAX=-1; break; }
    SW_LIST+="${SW_LIST:+, }$g"
    [ "$g" -gt "$SW_MAX" ] && SW_MAX=$g
done

# ---- replica move under writes: the replica moves to cluster2 and seeds from the primary there
p=$(h_primary_of); r=$((1 - p))
h_apply_topology p2
t0=$(h_now_ms)
h_pod_stop "$r"
h_pod_start "$r" cluster2 p2
h_wait 900 "mysql-$r ready in cluster2" h_ready "$r" || h_log "moved replica did not become ready"
t1=$(h_now_ms); sleep 3
MOVE_RAW=$(h_max_gap_ms "$t0" "$((t1 + 3000))")
MOVE_WINDOW=$((t1 + 3000 - t0))
SEED2_MS=$(seed_ms "$T/pod/cluster2-$r")
SEED2_BYTES=$(du -sb "$T/pod/cluster2-$r/data" | cut -f1)
h_log "replica move: raw max write gap $MOVE_RAW ms over $MOVE_WINDOW ms; seed under writes $SEED2_BYTES bytes in $SEED2_MS ms"
# baseline: longest interval in a quiet window as long as the move
b0=$(h_now_ms); sleep $(( (MOVE_WINDOW + 999) / 1000 )); b1=$(h_now_ms)
BASE_MOVE=$(h_max_gap_ms "$b0" "$b1")
MOVE_GAP=$((MOVE_RAW - BASE_MOVE)); [ "$MOVE_GAP" -lt 0 ] && MOVE_GAP=0

# ---- nothing acknowledged lost
h_writer_stop
ACKED=$(h_acked_count)
# CHECKSUM TABLE of the >= 1 GB table takes longer than the tier's 30 s bound on a loaded machine
if out=$(H_SQL_TIMEOUT=900 h_assert_consistent "$p"); then CONSISTENT=true; else CONSISTENT=false; fi
h_log "consistency: $out"
sort -n -u <(cut -d' ' -f1 "$T/writer/acked") >"$T/writer/acked.ids"
LOST=0
for o in $(h_pods); do
    h_sql "$o" 'SELECT id FROM mmc_test.acks' | sort -n -u >"$T/writer/m.ids"
    n=$(comm -23 "$T/writer/acked.ids" "$T/writer/m.ids" | wc -l)
    [ "$n" -gt "$LOST" ] && LOST=$n
done
for o in $(h_pods); do h_pod_stop "$o"; done

ratio() { awk -v sb="$1" -v sm="$2" -v tb="$3" -v tm="$4" 'BEGIN { printf "%.3f", (sb / sm) / (tb / tm) }'; }
mbps() { awk -v b="$1" -v m="$2" 'BEGIN { printf "%.1f", b / m / 1000 }'; }
if [ "$H_ENGINE" = mysql ]; then VERSION="mysql $("${H_X[@]}" mysqld --version | awk '{print $3}')"
else VERSION="mariadb $(mariadbd --version | awk '{print $3}')"; fi
cat >"$T/result.json" <<JSON
{
  "switchover_max_write_gap_ms": $SW_MAX,
  "replica_move_max_write_gap_ms": $MOVE_GAP,
  "seed_throughput_ratio": $(if [ "$H_ENGINE" = mysql ]; then ratio "$SEED1_BYTES" "$SEED1_MS" "$LOCAL_BYTES" "$LOCAL_MS"; else echo null; fi),
  "seed_ratio_vs_tar": $(if [ "$H_ENGINE" = mysql ]; then ratio "$SEED1_BYTES" "$SEED1_MS" "$TAR_BYTES" "$TAR_MS"; else echo null; fi),
  "acknowledged_writes_lost": $LOST,
  "dataset_bytes": $SEED1_BYTES,
  "details": {
    "engine": "$VERSION",
    "local_tool_copy": { "tool": "$LOCAL_TOOL", "bytes": $LOCAL_BYTES, "ms": $LOCAL_MS, "MB_per_s": $(mbps "$LOCAL_BYTES" "$LOCAL_MS") },
    "local_tool_ratio_vs_tar": $(ratio "$LOCAL_BYTES" "$LOCAL_MS" "$TAR_BYTES" "$TAR_MS"),
    "machine": "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; all members share one disk",
    "switchover_gaps_ms": [$SW_LIST],
    "replica_move_raw_max_interval_ms": $MOVE_RAW,
    "replica_move_baseline_max_interval_ms": $BASE_MOVE,
    "baseline_max_interval_20s_ms": $BASE20,
    "seed_quiet": { "what": "a pod's seed, init start to trusted volume (discovery, transport, prepare, fsync), one run", "bytes": $SEED1_BYTES, "ms": $SEED1_MS, "MB_per_s": $(mbps "$SEED1_BYTES" "$SEED1_MS"), "ratio": $(ratio "$SEED1_BYTES" "$SEED1_MS" "$LOCAL_BYTES" "$LOCAL_MS"), "ratio_vs_tar": $(ratio "$SEED1_BYTES" "$SEED1_MS" "$TAR_BYTES" "$TAR_MS") },
    "seed_under_writes": { "bytes": $SEED2_BYTES, "ms": $SEED2_MS, "MB_per_s": $(mbps "$SEED2_BYTES" "$SEED2_MS"), "ratio": $(ratio "$SEED2_BYTES" "$SEED2_MS" "$LOCAL_BYTES" "$LOCAL_MS") },
    "tar_copy": { "bytes": $TAR_BYTES, "ms": $TAR_MS, "MB_per_s": $(mbps "$TAR_BYTES" "$TAR_MS"), "ms_with_sync": $TAR_SYNC_MS },
    "seed_ratio_vs_tar_with_sync": $(ratio "$SEED1_BYTES" "$SEED1_MS" "$TAR_BYTES" "$TAR_SYNC_MS"),
    "acknowledged_writes": $ACKED,
    "writes_before_switchovers": $ACK0,
    "consistent_at_end": $CONSISTENT,
    "run_seconds": $((SECONDS - T0))
  }
}
JSON
# one key per engine; the other engine's figures are kept
node -e '
    const fs = require("fs"); const [out, engine, file] = process.argv.slice(1);
    let all = {}; try { all = JSON.parse(fs.readFileSync(out, "utf8")); } catch {}
    if (!all.mariadb && !all.mysql) {
        // the earlier single-engine layout held MariaDB figures whose seed ratio was against tar | tar
        const old = all; all = {};
        if (old.switchover_max_write_gap_ms !== undefined) {
            all.mariadb = { ...old, seed_ratio_vs_tar: old.seed_throughput_ratio, seed_throughput_ratio: null,
                note: "earlier run (before the ratio was redefined against the engine own tool); seed_throughput_ratio not measured" };
        }
    }
    all[engine] = JSON.parse(fs.readFileSync(file, "utf8"));
    fs.writeFileSync(out, JSON.stringify(all, null, 2) + "\n");' "$OUT" "$H_ENGINE" "$T/result.json" || exit 1
cat "$T/result.json"
failover_figures || exit 1
auto_failover_figures || exit 1
tls_figures || exit 1
