#!/usr/bin/env bash
# shellcheck shell=bash
# Harness for the data plane on real servers (sourced by test/dataplane/run.sh and
# bench/dataplane.sh), for one engine: H_ENGINE=mariadb (host packages, host /etc/hosts, addresses
# 127.0.x.1) or H_ENGINE=mysql (MySQL 9.7 from the root filesystem of tools/images/rootfs.sh: every
# server, script and client runs chrooted into a read-only bind of it, in a private mount namespace
# with its own /etc/hosts, /proc, /dev and the test directory at the same path; addresses 127.1.x.1,
# so it never collides with a MariaDB run). A "pod" is a process group: init.sh, then run.sh (the server), replicate.sh
# and donor.sh, restarted like containers, with its own data directory (the volume, kept per
# cluster+ordinal like a local PV), conf/run dirs (emptyDirs) and its own loopback address
# 127.0.<10*cluster+ordinal>.1. Names from MMC_PEERS / MMC_WRITE_HOST map to those addresses through
# a marked block in /etc/hosts, removed at exit. Scripts and environment come from the objects the
# program renders (tools/render.ts): see extract.mjs.

H_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
H_DIR="$H_REPO/test/dataplane"
: "${T:=/tmp/mmc-dataplane}"
: "${H_ENGINE:=mariadb}"
H_ROOT=""     # mysql: the chroot every engine binary runs in
H_X=()        # command prefix that runs an engine binary (chroot "$H_ROOT" for mysql)
case "$H_ENGINE" in
    mariadb) H_CLIENT=mariadb H_NET=127.0 H_HOSTS_FILE=/etc/hosts H_OWNER=mysql:mysql
        H_GTID_PRIMARY='@@GLOBAL.gtid_binlog_pos' H_GTID_MEMBER='@@GLOBAL.gtid_current_pos' ;;
    mysql) H_CLIENT=mysql H_NET=${MMC_TEST_NET:-127.1} H_HOSTS_FILE="$T/state/hosts" H_OWNER=999:999
        H_GTID_PRIMARY="REPLACE(@@GLOBAL.gtid_executed, '\\n', '')" H_GTID_MEMBER=$H_GTID_PRIMARY ;;
    *) echo "H_ENGINE must be mariadb or mysql, got '$H_ENGINE'" >&2; exit 2 ;;
esac
H_HOSTS_TAG="mmc-dataplane-test"
H_PASS=0
H_FAIL=0
H_FAILED_NAMES=()

h_now_ms() { local t=$EPOCHREALTIME; t=${t/./}; echo "${t:0:13}"; }
h_log() { printf '%s [harness] %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
h_ok() { H_PASS=$((H_PASS + 1)); printf 'ok %d - %s\n' "$((H_PASS + H_FAIL))" "$1"; }
h_notok() { H_FAIL=$((H_FAIL + 1)); H_FAILED_NAMES+=("$1"); printf 'not ok %d - %s\n' "$((H_PASS + H_FAIL))" "$1"; [ -n "${2:-}" ] && printf '#   %s\n' "$2"; return 0; }
h_check() { # NAME COMMAND... : records pass/fail of a command
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then h_ok "$name"; else h_notok "$name" "$(printf '%s' "$out" | tail -5 | tr '\n' ' ')"; fi
}
h_summary() { echo "${H_PASS} passed, ${H_FAIL} failed"; }

# ---------- machine ----------
# mysql: re-executes the caller in a private mount namespace (the chroot's mounts vanish with it).
h_enter_ns() { # "$0" "$@" of the caller
    [ "$H_ENGINE" = mysql ] && [ -z "${H_IN_NS:-}" ] || return 0
    exec unshare --mount --propagation private env H_IN_NS=1 H_ENGINE="$H_ENGINE" bash "$@"
}
h_install() {
    if [ "$H_ENGINE" = mysql ]; then
        local need=()
        command -v shellcheck >/dev/null || need+=(shellcheck)
        command -v openssl >/dev/null || need+=(openssl)
        command -v unshare >/dev/null || need+=(util-linux)
        if [ ${#need[@]} -gt 0 ]; then
            apt-get update -qq >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/tmp/mmc-apt.log 2>&1 || { tail -20 /tmp/mmc-apt.log; return 1; }
        fi
        H_ROOTFS=$(bash "$H_REPO/tools/images/rootfs.sh" mysql | tail -1) || { h_log "root filesystem build failed"; return 1; }
        [ -d "$H_ROOTFS" ] || return 1
        h_log "MySQL root filesystem $H_ROOTFS ($(cut -d' ' -f3- "$H_ROOTFS.complete" | sed 's/ built=.*//'))"
        return 0
    fi
    local need=()
    command -v mariadbd >/dev/null || need+=(mariadb-server)
    command -v mariadb-backup >/dev/null || need+=(mariadb-backup)
    command -v mariadb >/dev/null || need+=(mariadb-client)
    command -v socat >/dev/null || need+=(socat)
    command -v shellcheck >/dev/null || need+=(shellcheck)
    command -v openssl >/dev/null || need+=(openssl)
    if [ ${#need[@]} -gt 0 ]; then
        h_log "installing ${need[*]}"
        local own_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            # keep the Debian-packaged service from starting
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1
        fi
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/tmp/mmc-apt.log 2>&1 \
            || { tail -20 /tmp/mmc-apt.log; return 1; }
        [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
    fi
    if pgrep -x mariadbd -u mysql >/dev/null 2>&1 && [ -S /run/mysqld/mysqld.sock ]; then
        h_log "note: a system mariadbd is running (Debian service); it listens elsewhere and is left alone"
    fi
    id mysql >/dev/null 2>&1 || useradd -r -s /usr/sbin/nologin mysql
}

h_random_pw() { head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20; }
h_init() {
    h_cleanup_all quiet
    case "$T" in /tmp/?*|/var/tmp/?*|/work/?*) rm -rf "$T" ;; *) echo "refusing to wipe T=$T" >&2; return 1 ;; esac
    mkdir -p "$T"/{render,ext,pod,topo,bin,state,writer}
    chmod 755 "$T"; chmod 700 "$T/state"
    # passwords with characters that need quoting, to prove the scripts quote correctly
    umask 077
    printf "%s'\"\\\\x" "$(h_random_pw)" >"$T/state/root.pw"
    printf '%s%s' "$(h_random_pw)" '$x' >"$T/state/repl.pw"
    h_random_pw >"$T/state/seed.pw"
    h_random_pw >"$T/state/admin.pw"
    h_random_pw >"$T/state/app.pw"
    umask 022
    H_ROOT_PW=$(cat "$T/state/root.pw"); H_REPL_PW=$(cat "$T/state/repl.pw"); H_SEED_PW=$(cat "$T/state/seed.pw"); H_ADMIN_PW=$(cat "$T/state/admin.pw"); H_APP_PW=$(cat "$T/state/app.pw")
    h_cnf "$T/state/root.cnf" root "$H_ROOT_PW"
    h_cnf "$T/state/app.cnf" app "$H_APP_PW"
    : >"$T/state/hosts.map"
    trap 'h_cleanup_all' EXIT
    [ "$H_ENGINE" = mysql ] && { h_root_mount || return 1; }
    return 0
}
# The chroot: the cached root filesystem read-only, a tmpfs /tmp, /proc, /dev, a private /etc/hosts,
# and the test directory at the same path as outside (paths in env files hold on both sides).
h_root_mount() {
    [ -n "${H_IN_NS:-}" ] || { h_log "h_root_mount outside a private mount namespace (call h_enter_ns first)"; return 1; }
    H_ROOT="$T.root"
    mkdir -p "$H_ROOT"
    mount --bind "$H_ROOTFS" "$H_ROOT" && mount -o remount,bind,ro "$H_ROOT" \
        && mount -t tmpfs -o mode=1777,size=1g tmpfs "$H_ROOT/tmp" \
        && mount -t proc proc "$H_ROOT/proc" && mount --rbind /dev "$H_ROOT/dev" \
        && mkdir -p "$H_ROOT$T" && mount --bind "$T" "$H_ROOT$T" \
        && printf '127.0.0.1\tlocalhost\n' >"$H_HOSTS_FILE" && mount --bind "$H_HOSTS_FILE" "$H_ROOT/etc/hosts" \
        || { h_log "could not set up the chroot at $H_ROOT"; return 1; }
    H_X=(chroot "$H_ROOT")
}
h_cnf() { # FILE USER PASSWORD
    local s=${3//\\/\\\\}; s=${s//\"/\\\"}
    (umask 077; printf '[client]\nuser=%s\npassword="%s"\n' "$2" "$s" >"$1")
}

# ---------- rendering ----------
# h_render NAME STACKFILE [PREVIOUS] -> $T/ext/NAME (scripts, env, topology from the rendered objects)
h_render() {
    local name=$1 cfg=$2 prev args=()
    shift 2
    rm -rf "$T/render/$name" "$T/ext/$name"
    args=(--config "$cfg" --out "$T/render/$name" --quiet)
    for prev in "$@"; do [ -n "$prev" ] && args+=(--previous "$prev"); done   # the deployed history, oldest first
    (cd "$H_REPO" && npx --no-install tsx tools/render.ts "${args[@]}") >"$T/render/$name.log" 2>&1 \
        || { cat "$T/render/$name.log" >&2; return 1; }
    node "$H_DIR/extract.mjs" "$T/render/$name" "$T/ext/$name" >/dev/null || return 1
}
# The walk-through's stack files for the engine under test -> prints their directory
# (mysql: stacks/ with engine: mysql, version: "9.7", written under $T/stacks).
h_stacks() {
    [ "$H_ENGINE" = mysql ] || { echo "$H_REPO/stacks"; return 0; }
    local f
    mkdir -p "$T/stacks"
    for f in "$H_REPO"/stacks/0*.yaml; do
        sed -E 's/engine: mariadb, version: "10.11"/engine: mysql, version: "9.7"/' "$f" >"$T/stacks/${f##*/}"
        grep -q 'engine: mysql, version: "9.7"' "$T/stacks/${f##*/}" || { h_log "cannot derive a MySQL stack from $f"; return 1; }
    done
    echo "$T/stacks"
}
# The scripts a pod runs: from the rendered ConfigMap of phase NAME.
h_scripts_dir() { echo "$T/ext/$1/scripts"; }

# Publishes a phase's topology (the kubelet refreshing the topology ConfigMap) for every cluster.
h_apply_topology() {
    local name=$1 f c
    for f in "$T/ext/$name"/*.topology.env; do
        c=$(basename "$f" .topology.env)
        cp "$f" "$T/topo/$c.env.tmp" && mv -f "$T/topo/$c.env.tmp" "$T/topo/$c.env"
    done
}

# ---------- /etc/hosts ----------
h_host_set() { # NAME IP (under a lock: a section may move the write name from a background sampler)
    (
        flock 8
        grep -v "^$1 " "$T/state/hosts.map" >"$T/state/hosts.map.new" || true
        echo "$1 $2" >>"$T/state/hosts.map.new"
        mv -f "$T/state/hosts.map.new" "$T/state/hosts.map"
        h_hosts_write
    ) 8>"$T/state/hosts.lock"
}
h_hosts_write() {
    local body rest
    rest=$(sed "/# BEGIN $H_HOSTS_TAG/,/# END $H_HOSTS_TAG/d" "$H_HOSTS_FILE")
    body=$(awk '{print $2" "$1}' "$T/state/hosts.map" 2>/dev/null)
    # one write() of the whole file: readers never see a half-written mapping for long
    printf '%s\n# BEGIN %s\n%s\n# END %s\n' "$rest" "$H_HOSTS_TAG" "$body" "$H_HOSTS_TAG" >"$H_HOSTS_FILE"
}
h_hosts_remove() {
    local rest
    [ "$H_HOSTS_FILE" = /etc/hosts ] || return 0   # a private hosts file goes with the run
    grep -q "# BEGIN $H_HOSTS_TAG" /etc/hosts 2>/dev/null || return 0
    rest=$(sed "/# BEGIN $H_HOSTS_TAG/,/# END $H_HOSTS_TAG/d" /etc/hosts)
    printf '%s\n' "$rest" >/etc/hosts
}

# ---------- verified TLS (test-only certificates) ----------
# MMC_DP_TLS=1: every pod gets MMC_TLS_DIR (a certificate of the run's set CA naming every name of its
# ordinal in every cluster's topology, every write name and its address), the Jobs the CA, the writer a
# verifying TLS client. Sections that speak plaintext TCP themselves (app_access, ...) do not run with it.
h_tls_ca() { # DIR CN
    [ -f "$1/ca.crt" ] && return 0
    mkdir -p "$1"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/ca.key" -out "$1/ca.crt" \
        -days 2 -subj "/CN=$2" 2>/dev/null
}
h_tls_member() { # CA_DIR OUT_DIR CN SAN
    local ca=$1 out=$2
    rm -rf "$out"; mkdir -p "$out"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out/tls.key" -out "$out/tls.csr" -subj "/CN=$3" 2>/dev/null \
        && printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$4" >"$out/ext" \
        && openssl x509 -req -in "$out/tls.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial -days 2 \
            -out "$out/tls.crt" -extfile "$out/ext" 2>/dev/null || return 1
    cp "$ca/ca.crt" "$out/ca.crt"; rm -f "$out/tls.csr" "$out/ext"
    chmod 755 "$out"; chmod 600 "$out/tls.key"; chown -R "$H_OWNER" "$out"
}
h_tls_names() { # ORD -> "DNS:name,..." every name of ORD and every write name in the published topologies
    local f
    for f in "$T"/topo/*.env; do
        # shellcheck disable=SC1090
        (. "$f"; for x in $MMC_PEERS; do [ "${x%%=*}" = "$1" ] && echo "${x#*=}"; done; echo "$MMC_WRITE_HOST")
    done | sort -u | sed 's/^/DNS:/' | paste -sd,
}
# The options of a client that holds only the CA and verifies the server's certificate and name (the
# Jobs' way; the writer's): MariaDB --ssl-verify-server-cert, MySQL --ssl-mode=VERIFY_IDENTITY.
h_tls_client_opts() { # CA_FILE
    if [ "$H_ENGINE" = mysql ]; then echo "--ssl-mode=VERIFY_IDENTITY --ssl-ca=$1"; else echo "--ssl --ssl-ca=$1 --ssl-verify-server-cert"; fi
}
h_tls_jobdir() { h_tls_ca "$T/tls/ca" "mmc test set CA" && mkdir -p "$T/tls/job" && cp "$T/tls/ca/ca.crt" "$T/tls/job/" && chmod -R a+rX "$T/tls/job" && echo "$T/tls/job"; }
h_tls_pod() { # ORD CLUSTER IP -> the pod's MMC_TLS_DIR (made now, for the names it has now)
    h_tls_ca "$T/tls/ca" "mmc test set CA" && h_tls_member "$T/tls/ca" "$T/tls/pod-$2-$1" "mysql-$1" "$(h_tls_names "$1"),IP:$3" && echo "$T/tls/pod-$2-$1"
}

# ---------- pods ----------
h_cnum() { echo "${1//[!0-9]/}"; }
h_ip() { echo "$H_NET.$(( $(h_cnum "$1") * 10 + $2 )).1"; } # CLUSTER ORD
h_pod_name() { echo "mysql-$1"; }
h_peer_name() { # ORD -> per-pod name from the current topology of cluster1 (names are global here)
    local f kv
    for f in "$T"/topo/*.env; do
        # shellcheck disable=SC1090
        kv=$( (. "$f"; for x in $MMC_PEERS; do echo "$x"; done) | grep "^$1=" | head -1)
        [ -n "$kv" ] && { echo "${kv#*=}"; return; }
    done
}
h_write_name() {
    local f; f=$(ls "$T"/topo/*.env | head -1)
    # shellcheck disable=SC1090
    (. "$f"; echo "$MMC_WRITE_HOST")
}

# h_secret_env : the values of the Secret's keys, as the kubelet would give them (secretKeyRef)
h_secret_env() {
    printf 'MMC_ROOT_PASSWORD=%q\nMMC_REPL_PASSWORD=%q\nMMC_SEED_PASSWORD=%q\nMMC_ADMIN_PASSWORD=%q\n' \
        "$H_ROOT_PW" "$H_REPL_PW" "$H_SEED_PW" "$H_ADMIN_PW"
    # the mysql.application account's password (app_access), when the section set one
    if [ -n "${H_APPUSER_PW:-}" ]; then printf 'MMC_APP_PASSWORD=%q\n' "$H_APPUSER_PW"; fi
}
# h_secret_env_of ENV_FILE : the values of only the secrets a rendered env file references (a Job's)
h_secret_env_of() {
    local want; want=$(sed -n "s/^\(MMC_[A-Z_]*_PASSWORD\)='@SECRET:.*/\1/p" "$1" | paste -sd'|')
    [ -n "$want" ] || return 0
    h_secret_env | grep -E "^(${want})="
}

# h_pod_start ORD CLUSTER PHASE : starts ordinal ORD in CLUSTER with PHASE's rendered env and scripts
h_pod_start() {
    local ord=$1 cl=$2 phase=$3 ip dir pgid
    ip=$(h_ip "$cl" "$ord")
    dir="$T/pod/$cl-$ord"
    mkdir -p "$dir/data" "$dir/logs"
    rm -rf "$dir/conf" "$dir/run" "$dir/tmp" "$dir/stopping"
    mkdir -p "$dir/conf" "$dir/run" "$dir/tmp"
    [ -f "$T/ext/$phase/$cl.env" ] || { h_log "no rendered StatefulSet env for $cl in $phase"; return 1; }
    cp "$T/ext/$phase/base.cnf" "$dir/base.cnf"
    {
        echo "set -a"
        cat "$T/ext/$phase/$cl.env"
        echo "MMC_POD_NAME=$(h_pod_name "$ord")"
        h_secret_env
        echo "MMC_DATADIR=$dir/data"
        echo "MMC_CONF_DIR=$dir/conf"
        echo "MMC_RUN_DIR=$dir/run"
        echo "MMC_BASE_CONF=$dir/base.cnf"
        echo "MMC_TOPOLOGY_FILE=$T/topo/$cl.env"
        echo "MMC_BIND_ADDRESS=$ip"
        echo "TMPDIR=$dir/tmp"
        echo "MMC_SCRIPTS=$(h_scripts_dir "$phase")"
        if [ -n "${MMC_DP_TLS:-}" ]; then echo "MMC_TLS_DIR=$(h_tls_pod "$ord" "$cl" "$ip")"; fi
        [ -n "${H_EXTRA_ENV:-}" ] && echo "$H_EXTRA_ENV"
        echo "set +a"
    } >"$dir/env"
    chmod 600 "$dir/env"
    rm -f "$dir"/secrets.*
    local f; for f in "$T/ext/$phase/$cl".secrets.*; do cp "$f" "$dir/secrets.${f##*.secrets.}"; done
    # the scripts run as the mysql uid (pod.sh): what they write is theirs, as emptyDirs and fsGroup make it
    chown "$H_OWNER" "$dir/data" "$dir/run" "$dir/tmp" "$dir/conf"
    h_host_set "$(h_peer_name "$ord")" "$ip"
    setsid bash "$H_DIR/pod.sh" "$dir" "$H_ROOT" </dev/null >>"$dir/logs/pod.log" 2>&1 &
    pgid=$!
    echo "$pgid" >"$dir/pgid"
    echo "$pgid" >>"$T/state/pgids"
    echo "$cl" >"$T/state/pod$ord.cluster"
    h_log "pod mysql-$ord started in $cl at $ip (pgid $pgid, scripts+env from $phase)"
}
h_pod_dir() { echo "$T/pod/$(cat "$T/state/pod$1.cluster")-$1"; }
h_pod_running() { [ -f "$T/state/pod$1.cluster" ] && kill -0 "$(cat "$(h_pod_dir "$1")/pgid")" 2>/dev/null; }

# Graceful stop (pod deleted): server gets SIGTERM, then the whole group goes.
h_pod_stop() {
    local ord=$1 dir pid i
    dir=$(h_pod_dir "$ord")
    touch "$dir/stopping"
    pid=$(cat "$dir/run/mysqld.pid" 2>/dev/null || true)
    [ -f "$dir/pid1/server" ] && pid=""   # H_PIDNS: a namespace pid (1), never signalled from here
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 240; i++)); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$(cat "$dir/pgid")" 2>/dev/null || true
    sleep 0.2
    rm -f "$T/state/pod$ord.cluster"
    h_log "pod mysql-$ord stopped"
}
# Crash (node lost / kill -9): everything of the pod dies at once.
h_pod_kill() {
    local ord=$1 dir
    dir=$(h_pod_dir "$ord")
    touch "$dir/stopping"
    kill -KILL -- "-$(cat "$dir/pgid")" 2>/dev/null || true
    sleep 0.3
    rm -f "$T/state/pod$ord.cluster"
    h_log "pod mysql-$ord KILLED"
}
h_pods() { local f; for f in "$T"/state/pod*.cluster; do [ -e "$f" ] || continue; f=${f##*/pod}; echo "${f%.cluster}"; done | sort -n; }

# ---------- network faults ----------
# h_net_drop IP : nothing reaches IP any more (packets dropped: connects hang, as to a lost zone);
# h_net_restore IP undoes it. Rules carry a comment naming this run, removed at exit.
h_net_tag() { echo "mmc-dp-${T//\//_}"; }
h_net_drop() {
    iptables -I OUTPUT -d "$1" -m comment --comment "$(h_net_tag)" -j DROP || return 1
    h_log "network: $1 unreachable"
}
h_net_restore() {
    while iptables -D OUTPUT -d "$1" -m comment --comment "$(h_net_tag)" -j DROP 2>/dev/null; do :; done
    h_log "network: $1 reachable again"
}
# h_net_isolate IP PEER_IPS PID... : a partition with the member at IP on one side, with the processes
# PID... (and every process they start later: they get a cgroup of their own). Nothing of the other side
# reaches IP (new connections dropped; IP answers only its side's connections, so replication
# connections opened before are cut too), and its side reaches none of PEER_IPS. h_net_heal undoes it.
# The members' loopback addresses share one network namespace: a packet's side is its socket's cgroup
# (iptables -m cgroup) and its connection's mark (-m connmark).
h_net_cgroup() { echo "/sys/fs/cgroup/unified/$(h_net_tag)"; }
h_net_isolate() {
    local ip=$1 peers=$2 cg mark=0x6d6d01 p; shift 2
    cg=$(h_net_cgroup)
    mkdir -p "$cg" || return 1
    for p in "$@"; do echo "$p" >"$cg/cgroup.procs" 2>/dev/null || true; done
    local c=(-m comment --comment "$(h_net_tag)")
    iptables -I OUTPUT 1 -d "$ip" -m cgroup --path "${cg##*/}" "${c[@]}" -j CONNMARK --set-mark "$mark" \
        && iptables -I OUTPUT 2 -d "$ip" -m cgroup ! --path "${cg##*/}" "${c[@]}" -j DROP \
        && iptables -I OUTPUT 3 -s "$ip" -m connmark ! --mark "$mark" "${c[@]}" -j DROP || return 1
    for p in $peers; do iptables -I OUTPUT 4 -d "$p" -m cgroup --path "${cg##*/}" "${c[@]}" -j DROP || return 1; done
    h_log "network: $ip isolated from $peers (its side: $(wc -l <"$cg/cgroup.procs") processes)"
}
h_net_heal() {
    local cg rule rules p
    cg=$(h_net_cgroup)
    rules=$(iptables -S OUTPUT 2>/dev/null | grep -F -- "--comment $(h_net_tag) " | grep -E -- ' -m (cgroup|connmark) ' | sed 's/^-A /-D /')
    while read -r rule; do
        # shellcheck disable=SC2086 # a rule as iptables -S prints it: words without spaces
        [ -n "$rule" ] && iptables $rule
    done <<<"$rules"
    if [ -d "$cg" ]; then
        while read -r p; do echo "$p" >/sys/fs/cgroup/unified/cgroup.procs 2>/dev/null || true; done <"$cg/cgroup.procs"
        rmdir "$cg" 2>/dev/null || true
        h_log "network: partition healed"
    fi
}
h_net_restore_all() {
    local ip
    for ip in $(iptables -S OUTPUT 2>/dev/null | grep -F -- "--comment $(h_net_tag) " | sed -nE 's/.*-d ([0-9.]+)\/32.*/\1/p' | sort -u); do
        h_net_restore "$ip"
    done
}

h_cleanup_all() {
    local d g
    h_net_restore_all 2>/dev/null
    h_net_heal 2>/dev/null
    for d in "$T"/pod/*/; do [ -d "$d" ] && touch "$d/stopping"; done
    # every process group this run started (pods), recorded as they start
    if [ -f "$T/state/pgids" ]; then
        while read -r g; do [ -n "$g" ] && kill -KILL -- "-$g" 2>/dev/null; done <"$T/state/pgids"
    fi
    [ -f "$T/writer/pid" ] && kill "$(cat "$T/writer/pid")" 2>/dev/null
    [ -f "$T/writer2/pid" ] && kill "$(cat "$T/writer2/pid")" 2>/dev/null
    h_hosts_remove
    [ "${1:-}" = quiet ] || true
}

# ---------- SQL ----------
h_sql() { # ORD SQL (root over the pod's socket)
    local dir; dir=$(h_pod_dir "$1")
    timeout "${H_SQL_TIMEOUT:-30}" "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/root.cnf" --socket="$dir/run/mysqld.sock" -N -B -e "$2"
}
h_sqlv() { # ORD SQL : vertical output with column names
    local dir; dir=$(h_pod_dir "$1")
    timeout 30 "${H_X[@]}" "$H_CLIENT" --defaults-extra-file="$T/state/root.cnf" --socket="$dir/run/mysqld.sock" -E -e "$2"
}
h_wait() { # SECONDS DESCRIPTION COMMAND... (polls every ${H_POLL:-0.5} s)
    local limit=$1 what=$2 end; shift 2
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || { h_log "timeout (${limit}s) waiting for: $what"; return 1; }
        sleep "${H_POLL:-0.5}"
    done
}
h_wait_fast() { H_POLL=0.02 h_wait "$@"; } # SECONDS DESCRIPTION COMMAND... (polls every 20 ms)
# the kubelet's exec probe: in the mysql container, as its uid, with its passwords only
h_probe() { local dir; dir=$(h_pod_dir "$1"); shift; bash "$H_DIR/pod.sh" "$dir" "$H_ROOT" exec mysql probe.sh "$@"; }
h_ready() { h_probe "$1" ready; }
h_writable() { [ "$(h_sql "$1" 'SELECT @@GLOBAL.read_only')" = 0 ]; }

# ---------- client writes ----------
# The writer: one short-lived client per write against the write name; an id is "acknowledged"
# only when the client got OK. Bounded in time; pausable for consistent checks.
h_writer_start() {
    local maxs=${1:-1800}
    : >"$T/writer/acked"; : >"$T/writer/failed"; rm -f "$T/writer/stop" "$T/writer/pause" "$T/writer/paused"
    local tls=${H_WRITER_TLS:-}
    if [ -z "$tls" ] && [ -n "${MMC_DP_TLS:-}" ]; then tls=$(h_tls_client_opts "$(h_tls_jobdir)/ca.crt"); fi
    H_WRITER_CLIENT="${H_X[*]} $H_CLIENT" H_WRITER_OPTS=$tls bash "$H_DIR/writer.sh" "$T/writer" "$T/state/app.cnf" "$(h_write_name)" "$maxs" "${H_WRITER_BASE:-1}" </dev/null >>"$T/writer/log" 2>&1 &
    echo $! >"$T/writer/pid"
}
h_writer_pause() {
    touch "$T/writer/pause"
    kill -0 "$(cat "$T/writer/pid" 2>/dev/null)" 2>/dev/null || return 0
    local i; for ((i = 0; i < 300; i++)); do [ -f "$T/writer/paused" ] && return 0; sleep 0.05; done
    h_log "writer did not pause"; return 1
}
h_writer_resume() { rm -f "$T/writer/pause" "$T/writer/paused"; }
h_writer_stop() {
    touch "$T/writer/stop"
    local pid; pid=$(cat "$T/writer/pid" 2>/dev/null) || return 0
    local i; for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
}
h_acked_count() { wc -l <"$T/writer/acked"; }

# h_fresh_set NAME : no pod, no writer, no data: a section starts on an empty set whose topology is the
# rendered phase NAME, the write name on cluster1's mysql-0 (as the first deployment has it). A section
# never inherits the members of the one before (a lone restarted primary would wait for its quorum).
h_fresh_set() {
    local p; for p in $(h_pods); do h_pod_kill "$p"; done
    h_writer_stop
    rm -rf "$T/pod"; mkdir -p "$T/pod"; : >"$T/state/hosts.map"; rm -f "$T"/state/pod*.cluster
    h_apply_topology "$1"
    h_host_set "$(h_write_name)" "$(h_ip cluster1 0)"
}

# Longest interval between consecutive acknowledged writes in [FROM_MS, TO_MS].
h_max_gap_ms() {
    awk -v a="$1" -v b="$2" '{ t = $2 } t >= a && t <= b { if (p) { g = t - p; if (g > m) m = g } p = t } END { printf "%d\n", m + 0 }' "$T/writer/acked"
}

# ---------- the consistency assertion ----------
h_member_at() { [ "$(h_sql "$1" "SELECT $H_GTID_MEMBER")" = "$2" ]; } # ORD POSITION
# SQL inserting N generated rows EXPR(seq) into mmc_test.bulk (v)
h_sql_insert_seq() { # N EXPR
    if [ "$H_ENGINE" = mysql ]; then
        echo "SET SESSION cte_max_recursion_depth = $(($1 + 1)); INSERT INTO mmc_test.bulk (v) WITH RECURSIVE s (seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < $1) SELECT $2 FROM s"
    else
        echo "INSERT INTO mmc_test.bulk (v) SELECT $2 FROM mmc_test.seq_1_to_$1"
    fi
}
h_primary_of() { local o; for o in $(h_pods); do h_writable "$o" 2>/dev/null && echo "$o"; done; }
# h_converged REPLICA PRIMARY : the replica's position is the primary's, and the primary's did not move
# while the replica's was read (read before and after it): a commit landing between the reads is never
# mistaken for a replica ahead of or behind its primary.
h_converged() {
    local a r b
    a=$(h_sql "$2" "SELECT $H_GTID_PRIMARY") && r=$(h_sql "$1" "SELECT $H_GTID_MEMBER") \
        && b=$(h_sql "$2" "SELECT $H_GTID_PRIMARY") || return 1
    [ "$a" = "$b" ] && [ "$r" = "$a" ]
}
# All members converged, every acknowledged write on every member, equal checksums,
# exactly one writable member (EXPECTED if given). The writer is paused first, but a client that timed
# out before the pause (a move's semi-sync wait) may still commit on the primary: the positions are
# re-read on every poll, and the whole check runs again (at most 5 times) when the primary's position
# moved while it ran; differing data at a position that held still is a failure.
h_assert_consistent() {
    local expected=${1:-} o p pos ok=1 msg="" w attempt now c0="" c missing
    h_writer_pause || return 1
    w=$(h_primary_of | tr '\n' ' '); w=${w% }
    if [ "$(echo "$w" | wc -w)" != 1 ]; then echo "writable members: '${w}' (expected exactly one)"; h_writer_resume; return 1; fi
    if [ -n "$expected" ] && [ "$w" != "$expected" ]; then echo "writable member is $w, expected $expected"; h_writer_resume; return 1; fi
    p=$w
    sort -n -u <(cut -d' ' -f1 "$T/writer/acked") >"$T/writer/acked.ids"
    for ((attempt = 0; attempt < 5; attempt++)); do
        ok=1 msg="" c0=""
        for o in $(h_pods); do
            [ "$o" = "$p" ] && continue
            if ! h_wait 120 "mysql-$o reaching the primary's position" h_converged "$o" "$p"; then
                ok=0; msg+="mysql-$o did not converge to $(h_sql "$p" "SELECT $H_GTID_PRIMARY" 2>&1) (at $(h_sql "$o" "SELECT $H_GTID_MEMBER" 2>&1)); "
            fi
        done
        pos=$(h_sql "$p" "SELECT $H_GTID_PRIMARY")
        for o in $(h_pods); do
            [ "$o" = "$p" ] || [ "$ok" = 0 ] || h_member_at "$o" "$pos" || { ok=0; msg+="mysql-$o not at $pos; "; }
            h_sql "$o" 'SELECT id FROM mmc_test.acks' | sort -n -u >"$T/writer/member.ids" || { ok=0; msg+="mysql-$o unreadable; "; continue; }
            missing=$(comm -23 "$T/writer/acked.ids" "$T/writer/member.ids" | wc -l)
            [ "$missing" = 0 ] || { ok=0; msg+="mysql-$o lacks $missing acknowledged writes; "; }
            c=$(h_sql "$o" 'CHECKSUM TABLE mmc_test.acks, mmc_test.bulk EXTENDED' | awk '{print $2}' | tr '\n' ' ')
            if [ -z "$c0" ]; then c0=$c; elif [ "$c" != "$c0" ]; then ok=0; msg+="checksum of mysql-$o ($c) differs ($c0); "; fi
        done
        now=$(h_sql "$p" "SELECT $H_GTID_PRIMARY")
        [ "$now" != "$pos" ] || break
        h_log "the primary's position moved during the check ($pos -> $now: a late commit); checking again"
        ok=0; msg+="the primary's position kept moving ($pos -> $now); "
    done
    h_writer_resume
    [ "$ok" = 1 ] || { echo "$msg"; return 1; }
    echo "primary mysql-$p, $(wc -l <"$T/writer/acked.ids") acknowledged writes on all of $(h_pods | wc -l) members, checksums $c0"
}
