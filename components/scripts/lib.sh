#!/usr/bin/env bash
# shellcheck shell=bash
# Shared helpers of the data-plane scripts (docs/dataplane-contract.md). Sourced, never executed.
# Everything is driven by MMC_* environment; secrets never reach a command line or a log:
# passwords go to clients through private option files, to SQL through stdin.

# shellcheck disable=SC2034  # variables here are used by the scripts that source this file
set -o pipefail
export LC_ALL=C

MMC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Re-read the topology file (phase changes are file updates, not pod restarts).
mmc_load_topology() {
    if [ -n "${MMC_TOPOLOGY_FILE:-}" ] && [ -f "$MMC_TOPOLOGY_FILE" ]; then
        set -a
        # shellcheck disable=SC1090
        . "$MMC_TOPOLOGY_FILE"
        set +a
    fi
}
mmc_load_topology

: "${MMC_ENGINE:=mariadb}"
: "${MMC_POD_NAME:=$(hostname)}"
: "${MMC_PORT:=3306}"
: "${MMC_DONOR_PORT:=3307}"
: "${MMC_SERVER_ID_BASE:=1000}"
: "${MMC_GTID_DOMAIN_ID:=0}"
: "${MMC_DATADIR:=/var/lib/mysql}"
: "${MMC_CONF_DIR:=/etc/mmc/conf.d}"
: "${MMC_BASE_CONF:=/etc/mmc/base/my.cnf}"
: "${MMC_RUN_DIR:=/var/run/mysqld}"
: "${MMC_SEMI_SYNC:=on}"
: "${MMC_SEMI_SYNC_TIMEOUT_MS:=5000}"
: "${MMC_MAX_LAG_SECONDS:=30}"
: "${MMC_PRIMARY_ORDINAL:=0}"
: "${MMC_REPL_USER:=repl}"
: "${MMC_SEED_USER:=seed}"
: "${MMC_ADMIN_USER:=mmc_admin}"
: "${MMC_SEED_TIMEOUT_SECONDS:=3600}"
: "${MMC_BIND_ADDRESS:=}"
: "${MMC_COMPONENT:=$(basename "$0" .sh)}"

MMC_SOCKET="$MMC_RUN_DIR/mysqld.sock"
MMC_CNF="$MMC_CONF_DIR/my.cnf"
MMC_TRUSTED="$MMC_DATADIR/.mmc-trusted"
MMC_UNTRUSTED="$MMC_DATADIR/.mmc-untrusted"
MMC_STAGING="$MMC_DATADIR/.mmc-staging"
MMC_CLONE_INST="$MMC_DATADIR/.mmc-cloneinst"
# MySQL cannot run on a data directory whose name starts with a dot (InnoDB then finds none of its
# files: "Can't create UNDO tablespace ... already exists"): its staging directories are not hidden.
if [ "$MMC_ENGINE" = mysql ]; then
    MMC_STAGING="$MMC_DATADIR/mmc-staging" MMC_CLONE_INST="$MMC_DATADIR/mmc-cloneinst"
fi
MMC_SEED_GTID="$MMC_DATADIR/.mmc-seed-gtid"

case "$MMC_ENGINE" in
    mariadb)
        MMC_CLIENT=$(command -v mariadb || command -v mysql || echo mariadb)
        MMC_SERVER=$(command -v mariadbd || command -v mysqld || echo mariadbd)
        ;;
    mysql)
        MMC_CLIENT=$(command -v mysql || echo mysql)
        MMC_SERVER=$(command -v mysqld || echo mysqld)
        ;;
    *) echo "MMC_ENGINE must be mariadb or mysql, got '$MMC_ENGINE'" >&2; exit 2 ;;
esac
# MySQL versions: 8.4 and 9.7 run the same text. It uses only the 8.4 names (CHANGE REPLICATION
# SOURCE, REPLICA, RESET BINARY LOGS AND GTIDS, rpl_semi_sync_source/replica, semisync_*.so,
# caching_sha2_password over TLS) and nothing 9.x removed (MD5(), SHA1(), @@have_ssl,
# mysql_native_password, default_authentication_plugin); test/dataplane/mysql-static.sh checks both.

mmc_log() { printf '%s %s/%s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$MMC_POD_NAME" "$MMC_COMPONENT" "$*" >&2; }
mmc_die() { mmc_log "FATAL: $*"; exit 1; }

mmc_ordinal() {
    local o="${MMC_POD_NAME##*-}"
    [[ "$o" =~ ^[0-9]+$ ]] || mmc_die "cannot take an ordinal from MMC_POD_NAME='$MMC_POD_NAME'"
    echo "$o"
}
mmc_server_id() { echo $((MMC_SERVER_ID_BASE + $(mmc_ordinal))); }
mmc_is_primary_ordinal() { [ "$(mmc_ordinal)" = "$MMC_PRIMARY_ORDINAL" ]; }

# Host of an ordinal from MMC_PEERS ("0=host0 1=host1 ...").
mmc_peer_host() {
    local want=$1 kv
    for kv in ${MMC_PEERS:-}; do
        if [ "${kv%%=*}" = "$want" ]; then echo "${kv#*=}"; return 0; fi
    done
    return 1
}
mmc_self_host() { mmc_peer_host "$(mmc_ordinal)" || hostname -f 2>/dev/null || hostname; }

# ---------- credentials: private option files, removed on exit ----------
MMC_TMPFILES=()
mmc_cleanup() { local f; for f in "${MMC_TMPFILES[@]}"; do rm -rf -- "$f"; done; }
trap mmc_cleanup EXIT

mmc_optquote() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# mmc_cred_file USER PASSWORD -> path of a mode-0600 option file ([client] and [mariadb-backup]).
mmc_cred_file() {
    local f
    f=$(umask 077; mktemp "${TMPDIR:-/tmp}/mmc-cred.XXXXXX") || mmc_die "mktemp failed"
    MMC_TMPFILES+=("$f")
    {
        local g
        for g in client mariadb-backup; do
            printf '[%s]\nuser=%s\npassword=%s\n' "$g" "$1" "$(mmc_optquote "$2")"
        done
    } >"$f"
    echo "$f"
}

# The switchover account: MMC_ADMIN_PASSWORD if set, else derived from the root password
# (one-way, so the Job never needs root's own password over the network).
mmc_admin_password() {
    if [ -n "${MMC_ADMIN_PASSWORD:-}" ]; then printf '%s' "$MMC_ADMIN_PASSWORD"; return; fi
    [ -n "${MMC_ROOT_PASSWORD:-}" ] || mmc_die "MMC_ROOT_PASSWORD (or MMC_ADMIN_PASSWORD) is required"
    printf 'mmc-admin-v1\n%s' "$MMC_ROOT_PASSWORD" | sha256sum | cut -c1-40
}

MMC_ROOT_CRED=""
mmc_root_cred() {
    if [ -z "$MMC_ROOT_CRED" ]; then
        [ -n "${MMC_ROOT_PASSWORD:-}" ] || mmc_die "MMC_ROOT_PASSWORD is required"
        MMC_ROOT_CRED=$(mmc_cred_file root "$MMC_ROOT_PASSWORD")
    fi
}
MMC_ADMIN_CRED=""
mmc_admin_cred() { [ -n "$MMC_ADMIN_CRED" ] || MMC_ADMIN_CRED=$(mmc_cred_file "$MMC_ADMIN_USER" "$(mmc_admin_password)"); }
MMC_REPL_CRED=""
mmc_repl_cred() {
    [ -n "${MMC_REPL_PASSWORD:-}" ] || mmc_die "MMC_REPL_PASSWORD is required"
    [ -n "$MMC_REPL_CRED" ] || MMC_REPL_CRED=$(mmc_cred_file "$MMC_REPL_USER" "$MMC_REPL_PASSWORD")
}

# ---------- SQL ----------
# mmc_sql_local [client args...] : SQL on stdin, root over the local socket; tab-separated, no headers.
mmc_sql_local() {
    mmc_root_cred
    timeout "${MMC_SQL_TIMEOUT:-20}" "$MMC_CLIENT" --defaults-extra-file="$MMC_ROOT_CRED" --socket="$MMC_SOCKET" \
        --protocol=socket --connect-timeout=5 -N -B "$@"
}
mmc_q() { printf '%s\n' "$1" | mmc_sql_local; }
# Client output with any password literal replaced: the client echoes a failed statement.
mmc_redact() { sed -E "s/((PASSWORD|IDENTIFIED BY)[[:space:]]*=?[[:space:]]*)'([^'\\\\]|\\\\.)*'/\\1'<redacted>'/Ig"; }
# mmc_sql_remote CREDFILE HOST [client args...] : SQL on stdin.
mmc_sql_remote() {
    local cred=$1 host=$2; shift 2
    timeout "${MMC_SQL_TIMEOUT:-20}" "$MMC_CLIENT" --defaults-extra-file="$cred" -h "$host" -P "$MMC_PORT" \
        --protocol=tcp --connect-timeout=3 -N -B "$@"
}
mmc_qr() { printf '%s\n' "$3" | mmc_sql_remote "$1" "$2"; }

# SQL string literal (single quotes, backslashes escaped).
mmc_lit() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }

mmc_local_alive() { mmc_q 'SELECT 1' >/dev/null 2>&1; }

# Replica status as "key<TAB>value" lines with engine-neutral keys; empty when no channel.
# Keys: host io sql lag io_errno io_error sql_errno sql_error
mmc_replica_status_filter() {
    awk -v engine="$MMC_ENGINE" '
        /^\*+ .* row \*+$/ { next }
        {
            i = index($0, ":"); if (i == 0) next
            k = $0; sub(/^[ \t]+/, "", k); k = substr(k, 1, index(k, ":") - 1)
            v = substr($0, i + 1); sub(/^ /, "", v)
            map["Master_Host"]="host"; map["Source_Host"]="host"
            map["Slave_IO_Running"]="io"; map["Replica_IO_Running"]="io"
            map["Slave_SQL_Running"]="sql"; map["Replica_SQL_Running"]="sql"
            map["Seconds_Behind_Master"]="lag"; map["Seconds_Behind_Source"]="lag"
            map["Last_IO_Errno"]="io_errno"; map["Last_IO_Error"]="io_error"
            map["Last_SQL_Errno"]="sql_errno"; map["Last_SQL_Error"]="sql_error"
            if (k in map) printf "%s\t%s\n", map[k], v
        }'
}
mmc_replica_status_sql() {
    if [ "$MMC_ENGINE" = mysql ]; then echo 'SHOW REPLICA STATUS'; else echo 'SHOW SLAVE STATUS'; fi
}
# Fills the associative array RS (must be declared by the caller with declare -A RS).
mmc_read_replica_status() { # [CREDFILE HOST] (remote) or nothing (local)
    local out
    RS=()
    if [ $# -eq 2 ]; then
        out=$(mmc_replica_status_sql | mmc_sql_remote "$1" "$2" -E --column-names | mmc_replica_status_filter) || return 1
    else
        out=$(mmc_replica_status_sql | mmc_sql_local -E --column-names | mmc_replica_status_filter) || return 1
    fi
    local k v
    while IFS=$'\t' read -r k v; do [ -n "$k" ] && RS[$k]=$v; done <<<"$out"
    return 0
}

# ---------- HMAC-SHA256 with openssl dgst (keys never on a command line) ----------
mmc_hex() { od -An -v -tx1 | tr -d ' \n'; }
mmc_hex_to_esc() { local h=$1 i out=""; for ((i = 0; i < ${#h}; i += 2)); do out+="\\x${h:i:2}"; done; printf '%s' "$out"; }
# mmc_pad_esc KEY PADBYTE -> printf escape string of (key padded to 64 bytes) XOR pad
mmc_pad_esc() {
    local key=$1 pad=$2 khex i b out=""
    if [ "${#key}" -gt 64 ]; then
        khex=$(printf '%s' "$key" | openssl dgst -sha256 -binary | mmc_hex)
    else
        khex=$(printf '%s' "$key" | mmc_hex)
    fi
    for ((i = 0; i < 128; i += 2)); do
        b=0
        if [ "$i" -lt "${#khex}" ]; then b=$((16#${khex:i:2})); fi
        out+=$(printf '\\x%02x' $((b ^ pad)))
    done
    printf '%s' "$out"
}
# mmc_hmac KEY MESSAGE -> hex
mmc_hmac() {
    local ipad opad inner
    ipad=$(mmc_pad_esc "$1" $((0x36)))
    opad=$(mmc_pad_esc "$1" $((0x5c)))
    # shellcheck disable=SC2059
    inner=$( { printf "$ipad"; printf '%s' "$2"; } | openssl dgst -sha256 -binary | mmc_hex)
    # shellcheck disable=SC2059
    { printf "$opad"; printf "$(mmc_hex_to_esc "$inner")"; } | openssl dgst -sha256 -binary | mmc_hex
}
# mmc_hmac_stream KEY < data -> hex (streaming, for large data)
mmc_hmac_stream() {
    local ipad opad inner
    ipad=$(mmc_pad_esc "$1" $((0x36)))
    opad=$(mmc_pad_esc "$1" $((0x5c)))
    # shellcheck disable=SC2059
    inner=$( { printf "$ipad"; cat; } | openssl dgst -sha256 -binary | mmc_hex)
    # shellcheck disable=SC2059
    { printf "$opad"; printf "$(mmc_hex_to_esc "$inner")"; } | openssl dgst -sha256 -binary | mmc_hex
}
# Streaming HMAC without an extra copy: mmc_hmac_open KEY DIR opens fd MMC_HMAC_FD; whatever is
# written to it is MACed (a `tee /dev/fd/$MMC_HMAC_FD` in a pipeline); mmc_hmac_close sets MMC_HMAC_TAG.
MMC_HMAC_FD="" MMC_HMAC_PID="" MMC_HMAC_DIR="" MMC_HMAC_KEY="" MMC_HMAC_TAG=""
mmc_hmac_open() {
    MMC_HMAC_KEY=$1 MMC_HMAC_DIR=$2
    rm -f "$MMC_HMAC_DIR/hmac.fifo"; mkfifo "$MMC_HMAC_DIR/hmac.fifo"
    openssl dgst -sha256 -binary <"$MMC_HMAC_DIR/hmac.fifo" >"$MMC_HMAC_DIR/hmac.inner" &
    MMC_HMAC_PID=$!
    exec {MMC_HMAC_FD}>"$MMC_HMAC_DIR/hmac.fifo"
    # shellcheck disable=SC2059
    printf "$(mmc_pad_esc "$MMC_HMAC_KEY" $((0x36)))" >&"$MMC_HMAC_FD"
}
mmc_hmac_close() { # sets MMC_HMAC_TAG (must run in the shell that opened it, not in $(...))
    MMC_HMAC_TAG=""
    exec {MMC_HMAC_FD}>&-
    wait "$MMC_HMAC_PID" || return 1
    local opad inner
    opad=$(mmc_pad_esc "$MMC_HMAC_KEY" $((0x5c)))
    inner=$(mmc_hex <"$MMC_HMAC_DIR/hmac.inner")
    [ "${#inner}" = 64 ] || return 1
    # shellcheck disable=SC2059
    MMC_HMAC_TAG=$( { printf "$opad"; printf "$(mmc_hex_to_esc "$inner")"; } | openssl dgst -sha256 -binary | mmc_hex)
}
mmc_nonce() { head -c 16 /dev/urandom | mmc_hex; }

# ---------- GTID helpers ----------
# Highest seq_no of domain D in a GTID position string (MariaDB "d-s-n,...").
mmc_gtid_seq() {
    local pos=$1 dom=$2 g
    local IFS=,
    for g in $pos; do
        g=${g// /}
        if [ "${g%%-*}" = "$dom" ]; then echo "${g##*-}"; return; fi
    done
    echo 0
}

# The server's own gtid position (what it has applied or written).
mmc_local_gtid() {
    if [ "$MMC_ENGINE" = mysql ]; then mmc_q 'SELECT @@GLOBAL.gtid_executed' | tr -d '\n'
    else mmc_q 'SELECT @@GLOBAL.gtid_current_pos'; fi
}

mmc_run_as_args() { if [ "$(id -u)" = 0 ]; then echo "--user=mysql"; fi; }
mmc_chown_data() { if [ "$(id -u)" = 0 ] && id mysql >/dev/null 2>&1; then chown -R mysql:mysql "$@"; fi; }

# ---------- replication SQL (engine-specific, shared by replicate.sh and switchover.sh) ----------
# mmc_sql_point_to HOST [slave_pos|current_pos] -> SQL that (re)points this server's channel at HOST.
mmc_sql_point_to() {
    local host=$1 mode=${2:-slave_pos}
    [ -n "${MMC_REPL_PASSWORD:-}" ] || mmc_die "MMC_REPL_PASSWORD is required"
    if [ "$MMC_ENGINE" = mysql ]; then
        echo "STOP REPLICA;"
        # A channel left half-written by a crash (error 1201 on CHANGE) is dropped; the GTID position
        # lives in gtid_executed, not in the channel, so nothing is lost.
        echo "RESET REPLICA ALL;"
        echo "CHANGE REPLICATION SOURCE TO SOURCE_HOST = $(mmc_lit "$host"), SOURCE_PORT = $MMC_PORT, SOURCE_USER = $(mmc_lit "$MMC_REPL_USER"), SOURCE_PASSWORD = $(mmc_lit "$MMC_REPL_PASSWORD"), SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1, GET_SOURCE_PUBLIC_KEY = 1, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 86400;"
        echo "START REPLICA;"
    else
        echo "STOP SLAVE;"
        # As above: the position is gtid_slave_pos (MASTER_USE_GTID), not the channel's files.
        echo "RESET SLAVE ALL;"
        echo "CHANGE MASTER TO MASTER_HOST = $(mmc_lit "$host"), MASTER_PORT = $MMC_PORT, MASTER_USER = $(mmc_lit "$MMC_REPL_USER"), MASTER_PASSWORD = $(mmc_lit "$MMC_REPL_PASSWORD"), MASTER_USE_GTID = $mode, MASTER_CONNECT_RETRY = 1;"
        echo "START SLAVE;"
    fi
}
# SQL that makes this server the primary: no channel, semi-sync source on, writable.
mmc_sql_promote() {
    local semi=OFF; case "${MMC_SEMI_SYNC,,}" in on|true|1|yes) semi=ON ;; esac
    if [ "$MMC_ENGINE" = mysql ]; then
        echo "STOP REPLICA;"
        echo "RESET REPLICA ALL;"
        echo "SET GLOBAL rpl_semi_sync_source_enabled = $semi;"
        echo "SET GLOBAL super_read_only = OFF;"
        echo "SET GLOBAL read_only = OFF;"
    else
        echo "STOP SLAVE;"
        echo "RESET SLAVE ALL;"
        echo "SET GLOBAL rpl_semi_sync_master_enabled = $semi;"
        echo "SET GLOBAL read_only = OFF;"
    fi
}
# SQL that stops writes on this server (clients of the application are cut off by the caller).
mmc_sql_demote() {
    if [ "$MMC_ENGINE" = mysql ]; then
        echo "SET GLOBAL super_read_only = ON;"
    else
        echo "SET GLOBAL read_only = ON;"
    fi
}
mmc_sql_gtid_expr() {
    if [ "$MMC_ENGINE" = mysql ]; then echo "REPLACE(@@GLOBAL.gtid_executed, '\n', '')"; else echo "@@GLOBAL.gtid_binlog_pos"; fi
}
mmc_sql_gtid_pos() { echo "SELECT $(mmc_sql_gtid_expr);"; }
# SQL returning 0 when GTID set/position POS has been applied within TIMEOUT seconds.
mmc_sql_gtid_wait() {
    if [ "$MMC_ENGINE" = mysql ]; then echo "SELECT WAIT_FOR_EXECUTED_GTID_SET($(mmc_lit "$1"), $2);"
    else echo "SELECT MASTER_GTID_WAIT($(mmc_lit "$1"), $2);"; fi
}
# Users the data plane needs (least privilege); run on the primary, replicated to every member.
# MySQL's RESET REPLICA (switchover: promote, repoint) needs RELOAD.
mmc_sql_users() {
    local repl_pw seed_pw admin_pw
    repl_pw=$(mmc_lit "$MMC_REPL_PASSWORD"); seed_pw=$(mmc_lit "$MMC_SEED_PASSWORD"); admin_pw=$(mmc_lit "$(mmc_admin_password)")
    local ru su au
    ru=$(mmc_lit "$MMC_REPL_USER"); su=$(mmc_lit "$MMC_SEED_USER"); au=$(mmc_lit "$MMC_ADMIN_USER")
    if [ "$MMC_ENGINE" = mysql ]; then
        # super_read_only blocks even root (MariaDB's read_only does not): lift it, keep read_only
        # (ordinary clients still cannot write until the promotion)
        cat <<SQL
SET GLOBAL super_read_only = OFF;
CREATE USER IF NOT EXISTS $ru@'%' IDENTIFIED BY $repl_pw;
ALTER USER $ru@'%' IDENTIFIED BY $repl_pw;
GRANT REPLICATION SLAVE ON *.* TO $ru@'%';
CREATE USER IF NOT EXISTS $su@'%' IDENTIFIED BY $seed_pw;
ALTER USER $su@'%' IDENTIFIED BY $seed_pw;
GRANT BACKUP_ADMIN, REPLICATION CLIENT ON *.* TO $su@'%';
CREATE USER IF NOT EXISTS $au@'%' IDENTIFIED BY $admin_pw;
ALTER USER $au@'%' IDENTIFIED BY $admin_pw;
GRANT REPLICATION CLIENT, PROCESS, RELOAD ON *.* TO $au@'%';
GRANT SYSTEM_VARIABLES_ADMIN, CONNECTION_ADMIN, REPLICATION_SLAVE_ADMIN ON *.* TO $au@'%';
SQL
    else
        # password hashes are computed first so no clear-text password reaches the binary log
        local rh sh ah
        rh=$(mmc_q "SELECT PASSWORD($repl_pw)"); sh=$(mmc_q "SELECT PASSWORD($seed_pw)"); ah=$(mmc_q "SELECT PASSWORD($admin_pw)")
        cat <<SQL
CREATE USER IF NOT EXISTS $ru@'%' IDENTIFIED BY PASSWORD '$rh';
ALTER USER $ru@'%' IDENTIFIED BY PASSWORD '$rh';
GRANT REPLICATION SLAVE ON *.* TO $ru@'%';
CREATE USER IF NOT EXISTS $su@'localhost' IDENTIFIED BY PASSWORD '$sh';
ALTER USER $su@'localhost' IDENTIFIED BY PASSWORD '$sh';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO $su@'localhost';
CREATE USER IF NOT EXISTS $au@'%' IDENTIFIED BY PASSWORD '$ah';
ALTER USER $au@'%' IDENTIFIED BY PASSWORD '$ah';
GRANT RELOAD, READ_ONLY ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, BINLOG MONITOR, SLAVE MONITOR, PROCESS ON *.* TO $au@'%';
SQL
    fi
}
# Accounts whose connections a demotion keeps (everything else is an application session).
mmc_system_users_sql_list() {
    printf "%s, %s, %s, 'root', 'system user', 'event_scheduler'" "$(mmc_lit "$MMC_REPL_USER")" "$(mmc_lit "$MMC_SEED_USER")" "$(mmc_lit "$MMC_ADMIN_USER")"
}
