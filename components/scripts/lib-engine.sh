#!/usr/bin/env bash
# shellcheck shell=bash
# Every difference between MySQL (8.4, 9.7) and MariaDB (10.11) the data plane knows, in one place: each
# function is one `case "$MMC_ENGINE"` with an arm per engine (mmc_validate refuses any other value).
# The other files are engine-neutral. Sourcing defines functions only.
# MySQL versions: 8.4 and 9.7 run the same text. It uses only the 8.4 names (CHANGE REPLICATION
# SOURCE, REPLICA, RESET BINARY LOGS AND GTIDS, rpl_semi_sync_source/replica, semisync_*.so,
# caching_sha2_password over TLS) and nothing 9.x removed (MD5(), SHA1(), @@have_ssl,
# mysql_native_password, default_authentication_plugin); test/dataplane/mysql-static.sh checks both.

mmc_engine_client() {
    case "$MMC_ENGINE" in
        mysql) command -v mysql || echo mysql ;;
        mariadb) command -v mariadb || command -v mysql || echo mariadb ;;
    esac
}
mmc_engine_server() {
    case "$MMC_ENGINE" in
        mysql) command -v mysqld || echo mysqld ;;
        mariadb) command -v mariadbd || command -v mysqld || echo mariadbd ;;
    esac
}

# How an empty replica is seeded: MySQL's CLONE plugin, or MariaDB's mariadb-backup stream (donor.sh).
mmc_engine_seed_method() {
    case "$MMC_ENGINE" in
        mysql) echo clone ;;
        mariadb) echo stream ;;
    esac
}

# Names of the seeding work directories inside the data directory: "STAGING CLONE_INSTANCE". MySQL
# cannot run on a data directory whose name starts with a dot (InnoDB then finds none of its files:
# "Can't create UNDO tablespace ... already exists"), so its are not hidden.
mmc_engine_work_dirs() {
    case "$MMC_ENGINE" in
        mysql) echo "mmc-staging mmc-cloneinst" ;;
        mariadb) echo ".mmc-staging .mmc-cloneinst" ;;
    esac
}

# Per-pod server settings that name engine variables (init.sh writes them after the base config).
mmc_engine_identity_config() {
    local semi=OFF
    mmc_semi_sync_on && semi=ON
    case "$MMC_ENGINE" in
        mysql)
            echo "loose_rpl_semi_sync_replica_enabled = $semi"
            ;;
        mariadb)
            echo "gtid_domain_id = $MMC_GTID_DOMAIN_ID"
            echo "rpl_semi_sync_slave_enabled = $semi"
            ;;
    esac
}

# ---------- verified TLS (MMC_TLS_DIR set; docs/dataplane-contract.md "Verified TLS") ----------
# Server settings: the set's certificate, and no plaintext TCP session at all (the local socket stays
# open to root and the probes). MySQL's CLONE client presents and verifies with the same files.
mmc_engine_tls_server_config() {
    mmc_tls_on || return 0
    local d=$MMC_TLS_DIR
    echo "ssl_ca = $d/ca.crt"
    echo "ssl_cert = $d/tls.crt"
    echo "ssl_key = $d/tls.key"
    echo "require_secure_transport = ON"
    case "$MMC_ENGINE" in
        mysql)
            echo "tls_version = TLSv1.2,TLSv1.3"
            echo "loose_clone_ssl_ca = $d/ca.crt"
            echo "loose_clone_ssl_cert = $d/tls.crt"
            echo "loose_clone_ssl_key = $d/tls.key"
            ;;
        mariadb) echo "tls_version = TLSv1.2,TLSv1.3" ;;
    esac
}
# Client options of every remote SQL call, one per line: TLS, the server's certificate verified against
# the set CA and the name dialled; this member's certificate when it has one (the Jobs have none).
mmc_engine_tls_client_args() {
    mmc_tls_on || return 0
    local d=$MMC_TLS_DIR
    case "$MMC_ENGINE" in
        mysql) printf '%s\n' --ssl-mode=VERIFY_IDENTITY "--ssl-ca=$d/ca.crt" ;;
        mariadb) printf '%s\n' --ssl "--ssl-ca=$d/ca.crt" --ssl-verify-server-cert ;;
    esac
    if [ -r "$d/tls.crt" ] && [ -r "$d/tls.key" ]; then printf '%s\n' "--ssl-cert=$d/tls.crt" "--ssl-key=$d/tls.key"; fi
}
# The replication channel's TLS (after its CHANGE, before its START): SSL with the source's certificate
# verified, this member's certificate presented (the replication account requires one). Built on the
# server from its own ssl_ca/ssl_cert/ssl_key: a Job that repoints a member names the member's files, not
# its own. No secret in it (the password went in the statement before); CHANGE is preparable on both.
mmc_sql_tls_channel() {
    mmc_tls_on || return 0
    local change p
    case "$MMC_ENGINE" in
        mysql) change="CHANGE REPLICATION SOURCE TO" p=SOURCE ;;
        mariadb) change="CHANGE MASTER TO" p=MASTER ;;
    esac
    echo "SET @mmc_tls = CONCAT('$change ${p}_SSL = 1, ${p}_SSL_VERIFY_SERVER_CERT = 1, ${p}_SSL_CA = ', QUOTE(@@GLOBAL.ssl_ca), ', ${p}_SSL_CERT = ', QUOTE(@@GLOBAL.ssl_cert), ', ${p}_SSL_KEY = ', QUOTE(@@GLOBAL.ssl_key));"
    echo "PREPARE mmc_tls FROM @mmc_tls; EXECUTE mmc_tls; DEALLOCATE PREPARE mmc_tls;"
}
# What the data-plane accounts require (appended to mmc_sql_users): the replication account (and MySQL's
# CLONE account) a certificate of the set, so its password alone opens nothing; the admin account (the
# Jobs, which hold no certificate) TLS. The MariaDB seed account is local only (socket).
mmc_engine_tls_users() {
    mmc_tls_on || return 0
    echo "ALTER USER $1@'%' REQUIRE X509;"
    echo "ALTER USER $3@'%' REQUIRE SSL;"
    case "$MMC_ENGINE" in
        mysql) echo "ALTER USER $2@'%' REQUIRE X509;" ;;
        mariadb) ;;
    esac
}

# Options of a temporary local server (initialisation, clone): writable, no replication, no network.
mmc_engine_tmp_server_args() {
    case "$MMC_ENGINE" in
        mysql) echo "--skip-replica-start --super-read-only=OFF --read-only=OFF --loose-mysqlx=OFF" ;;
        mariadb) echo "--skip-slave-start --read-only=OFF" ;;
    esac
}

# mmc_engine_initialize DATADIR LOG : creates an empty data directory.
mmc_engine_initialize() {
    local dd=$1 log=$2
    case "$MMC_ENGINE" in
        mysql)
            # shellcheck disable=SC2046
            "$MMC_SERVER" --defaults-file="$MMC_CNF" $(mmc_run_as_args) --datadir="$dd" --initialize-insecure \
                --super-read-only=OFF --read-only=OFF >"$log" 2>&1
            ;;
        mariadb)
            local installdb
            installdb=$(command -v mariadb-install-db || command -v mysql_install_db) || return 1
            # shellcheck disable=SC2046
            "$installdb" --defaults-file="$MMC_CNF" $(mmc_run_as_args) --datadir="$dd" --skip-test-db \
                --auth-root-authentication-method=normal >"$log" 2>&1
            ;;
    esac
}

# mmc_sql_bootstrap_root PASSWORD -> SQL (no binlog) that sets root's password and clears the binlog.
mmc_sql_bootstrap_root() {
    local pw
    pw=$(mmc_lit "$1")
    case "$MMC_ENGINE" in
        mysql)
            echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
            echo "RESET BINARY LOGS AND GTIDS;"
            ;;
        mariadb)
            echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD($pw) OR unix_socket;"
            echo "RESET MASTER;"
            ;;
    esac
}

# mmc_sql_clone HOST STAGING -> SQL that clones HOST into STAGING (MySQL only).
mmc_sql_clone() {
    case "$MMC_ENGINE" in
        mysql)
            echo "SET GLOBAL clone_valid_donor_list = $(mmc_lit "$1:$MMC_PORT");"
            # a donor-side setting (how long a donor waits for its recipient to come back; default
            # 5 min), sent to this recipient too, where it does not end a CLONE whose donor died:
            # init.sh's clone_watched does that
            echo "SET GLOBAL clone_donor_timeout_after_network_failure = 0;"
            echo "CLONE INSTANCE FROM $(mmc_lit "$MMC_SEED_USER")@$(mmc_lit "$1"):$MMC_PORT IDENTIFIED BY $(mmc_lit "$MMC_SEED_PASSWORD") DATA DIRECTORY = $(mmc_lit "$2") REQUIRE SSL;"
            ;;
        mariadb) mmc_log "MariaDB seeds with the donor stream, not CLONE"; return 1 ;;
    esac
}

# mmc_sql_clone_progress -> SQL whose one-line answer changes while a CLONE makes progress.
mmc_sql_clone_progress() {
    case "$MMC_ENGINE" in
        mysql) echo "SELECT CONCAT(GROUP_CONCAT(CONCAT(STAGE, ':', STATE) ORDER BY ID), '/', SUM(DATA), '/', SUM(NETWORK)) FROM performance_schema.clone_progress;" ;;
        mariadb) mmc_log "MariaDB seeds with the donor stream, not CLONE"; return 1 ;;
    esac
}

# mmc_sql_seed_position GTID -> SQL that starts a freshly seeded server's history at the donor's position.
mmc_sql_seed_position() {
    case "$MMC_ENGINE" in
        mysql)
            # the clone carries gtid_executed itself
            echo "STOP REPLICA; RESET REPLICA ALL;"
            ;;
        mariadb)
            # binlogs are not part of the copy: start this server's GTID history at the donor's position
            local sql="STOP SLAVE; RESET SLAVE ALL; RESET MASTER;"
            [ -n "$1" ] && sql+=" SET GLOBAL gtid_binlog_state = $(mmc_lit "$1"); SET GLOBAL gtid_slave_pos = $(mmc_lit "$1");"
            echo "$sql"
            ;;
    esac
}

mmc_engine_sql_replica_status() {
    case "$MMC_ENGINE" in
        mysql) echo 'SHOW REPLICA STATUS' ;;
        mariadb) echo 'SHOW SLAVE STATUS' ;;
    esac
}
mmc_sql_start_replica() {
    case "$MMC_ENGINE" in
        mysql) echo "START REPLICA;" ;;
        mariadb) echo "START SLAVE;" ;;
    esac
}

# The variable that says "no client may write" (1 after a demotion).
mmc_sql_read_only_expr() {
    case "$MMC_ENGINE" in
        mysql) echo '@@GLOBAL.super_read_only' ;;
        mariadb) echo '@@GLOBAL.read_only' ;;
    esac
}
# 0 exactly when the server accepts writes (the readiness probe's view).
mmc_sql_writable_expr() {
    case "$MMC_ENGINE" in
        mysql) echo '@@GLOBAL.read_only + @@GLOBAL.super_read_only' ;;
        mariadb) echo '@@GLOBAL.read_only' ;;
    esac
}

# mmc_sql_point_to HOST [slave_pos|current_pos] -> SQL that (re)points this server's channel at HOST.
mmc_sql_point_to() {
    local host=$1 mode=${2:-slave_pos}
    case "$MMC_ENGINE" in
        mysql)
            echo "STOP REPLICA;"
            # A channel left half-written by a crash (error 1201 on CHANGE) is dropped; the GTID position
            # lives in gtid_executed, not in the channel, so nothing is lost.
            echo "RESET REPLICA ALL;"
            echo "CHANGE REPLICATION SOURCE TO SOURCE_HOST = $(mmc_lit "$host"), SOURCE_PORT = $MMC_PORT, SOURCE_USER = $(mmc_lit "$MMC_REPL_USER"), SOURCE_PASSWORD = $(mmc_lit "$MMC_REPL_PASSWORD"), SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1, GET_SOURCE_PUBLIC_KEY = 1, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 86400;"
            mmc_sql_tls_channel
            echo "START REPLICA;"
            ;;
        mariadb)
            echo "STOP SLAVE;"
            # As above: the position is gtid_slave_pos (MASTER_USE_GTID), not the channel's files.
            echo "RESET SLAVE ALL;"
            echo "CHANGE MASTER TO MASTER_HOST = $(mmc_lit "$host"), MASTER_PORT = $MMC_PORT, MASTER_USER = $(mmc_lit "$MMC_REPL_USER"), MASTER_PASSWORD = $(mmc_lit "$MMC_REPL_PASSWORD"), MASTER_USE_GTID = $mode, MASTER_CONNECT_RETRY = 1;"
            mmc_sql_tls_channel
            echo "START SLAVE;"
            ;;
    esac
}
# mmc_sql_promote [EPOCH] -> SQL that makes this server the primary: no channel, semi-sync source on,
# EPOCH recorded (mmc_sql_record_epoch, while still read-only: root and the admin user may write),
# writable.
# The epoch is recorded before semi-sync is switched on: no replica follows this member yet, so its
# own record would wait out the semi-sync timeout for an acknowledgement that cannot come.
mmc_sql_promote() {
    local semi=OFF
    mmc_semi_sync_on && semi=ON
    case "$MMC_ENGINE" in
        mysql)
            echo "STOP REPLICA;"
            echo "RESET REPLICA ALL;"
            echo "SET GLOBAL super_read_only = OFF;"
            if [ -n "${1:-}" ]; then mmc_sql_record_epoch "$1"; fi
            echo "SET GLOBAL rpl_semi_sync_source_enabled = $semi;"
            echo "SET GLOBAL read_only = OFF;"
            ;;
        mariadb)
            echo "STOP SLAVE;"
            echo "RESET SLAVE ALL;"
            if [ -n "${1:-}" ]; then mmc_sql_record_epoch "$1"; fi
            echo "SET GLOBAL rpl_semi_sync_master_enabled = $semi;"
            echo "SET GLOBAL read_only = OFF;"
            ;;
    esac
}
# SQL that stops writes on this server (clients of the application are cut off by the caller).
mmc_sql_demote() {
    case "$MMC_ENGINE" in
        mysql) echo "SET GLOBAL super_read_only = ON;" ;;
        mariadb) echo "SET GLOBAL read_only = ON;" ;;
    esac
}
# The automatic-failover fence (autofailover.sh) around mmc_sql_demote. MySQL: a commit waiting for a
# semi-sync acknowledgement is not interrupted by KILL and holds up super_read_only until the semi-sync
# timeout; so application sessions are refused and cut first (offline_mode), then the waiting commits
# are released without an acknowledgement reaching any client (their sessions are gone), then the
# demotion, then sessions are allowed again (the server is read-only by then). MariaDB: KILL ends such
# a wait; nothing to add.
mmc_sql_fence_begin() {
    case "$MMC_ENGINE" in
        mysql) echo "SET GLOBAL offline_mode = ON;" ;;
        mariadb) : ;;
    esac
}
mmc_sql_fence_release() {
    case "$MMC_ENGINE" in
        mysql) echo "SET GLOBAL rpl_semi_sync_source_enabled = OFF;" ;;
        mariadb) : ;;
    esac
}
mmc_sql_fence_end() {
    case "$MMC_ENGINE" in
        mysql) echo "SET GLOBAL offline_mode = OFF;" ;;
        mariadb) : ;;
    esac
}
# SQL that makes a demoted primary writable again (the switchover's rollback).
mmc_sql_writable_again() {
    case "$MMC_ENGINE" in
        mysql) echo "SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF;" ;;
        mariadb) echo "SET GLOBAL read_only = OFF;" ;;
    esac
}
# The server's GTID position as one SQL expression (what it has written, or applied).
mmc_sql_gtid_expr() {
    case "$MMC_ENGINE" in
        mysql) echo "REPLACE(@@GLOBAL.gtid_executed, '\n', '')" ;;
        mariadb) echo "@@GLOBAL.gtid_binlog_pos" ;;
    esac
}
mmc_sql_gtid_pos() { echo "SELECT $(mmc_sql_gtid_expr);"; }
# SQL returning 0 when GTID set/position POS has been applied within TIMEOUT seconds.
mmc_sql_gtid_wait() {
    case "$MMC_ENGINE" in
        mysql) echo "SELECT WAIT_FOR_EXECUTED_GTID_SET($(mmc_lit "$1"), $2);" ;;
        mariadb) echo "SELECT MASTER_GTID_WAIT($(mmc_lit "$1"), $2);" ;;
    esac
}

# mmc_engine_ahead_of_primary CREDFILE HOST : status 0 when this replica is strictly ahead of HOST
# (then HOST lost data: never re-seed from it).
mmc_engine_ahead_of_primary() {
    local cred=$1 host=$2 theirs mine
    case "$MMC_ENGINE" in
        mysql)
            theirs=$(mmc_qr "$cred" "$host" 'SELECT @@GLOBAL.gtid_executed' | tr -d '\n') || return 1
            mine=$(mmc_q 'SELECT @@GLOBAL.gtid_executed' | tr -d '\n') || return 1
            [ "$(mmc_q "SELECT GTID_SUBSET($(mmc_lit "$theirs"), $(mmc_lit "$mine")) AND NOT GTID_SUBSET($(mmc_lit "$mine"), $(mmc_lit "$theirs"))")" = 1 ]
            ;;
        mariadb)
            theirs=$(mmc_qr "$cred" "$host" 'SELECT @@GLOBAL.gtid_binlog_pos') || return 1
            mine=$(mmc_q 'SELECT @@GLOBAL.gtid_slave_pos') || return 1
            [ "$(mmc_gtid_seq "$mine" "$MMC_GTID_DOMAIN_ID")" -gt "$(mmc_gtid_seq "$theirs" "$MMC_GTID_DOMAIN_ID")" ]
            ;;
    esac
}

# Users the data plane needs (least privilege); run on the primary, replicated to every member.
mmc_sql_users() {
    local repl_pw seed_pw admin_pw ru su au
    repl_pw=$(mmc_lit "$MMC_REPL_PASSWORD")
    seed_pw=$(mmc_lit "$MMC_SEED_PASSWORD")
    admin_pw=$(mmc_lit "$MMC_ADMIN_PASSWORD")
    ru=$(mmc_lit "$MMC_REPL_USER")
    su=$(mmc_lit "$MMC_SEED_USER")
    au=$(mmc_lit "$MMC_ADMIN_USER")
    case "$MMC_ENGINE" in
        mysql)
            # super_read_only blocks even root (MariaDB's read_only does not): lift it, keep read_only
            # (ordinary clients still cannot write until the promotion). RESET REPLICA (switchover:
            # promote, repoint) needs RELOAD.
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
GRANT CREATE, SELECT, INSERT, UPDATE ON mmc.* TO $au@'%';
GRANT SELECT ON mmc.* TO $ru@'%';
SQL
            mmc_engine_tls_users "$ru" "$su" "$au"
            mmc_sql_app_user "$(mmc_lit "${MMC_APP_PASSWORD:-}")"
            ;;
        mariadb)
            # password hashes are computed first so no clear-text password reaches the binary log
            local rh sh ah
            rh=$(mmc_q "SELECT PASSWORD($repl_pw)") || return 1
            sh=$(mmc_q "SELECT PASSWORD($seed_pw)") || return 1
            ah=$(mmc_q "SELECT PASSWORD($admin_pw)") || return 1
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
GRANT CREATE, SELECT, INSERT, UPDATE ON mmc.* TO $au@'%';
GRANT SELECT ON mmc.* TO $ru@'%';
SQL
            mmc_engine_tls_users "$ru" "$su" "$au"
            if [ -n "${MMC_APP_USER:-}" ]; then
                local aph
                aph=$(mmc_q "SELECT PASSWORD($(mmc_lit "${MMC_APP_PASSWORD:-}"))") || return 1
                mmc_sql_app_user "PASSWORD '$aph'"
            fi
            ;;
    esac
}
# mmc_sql_app_user IDENTIFIED -> SQL for the application's database and account (mysql.application;
# nothing without MMC_APP_USER): all privileges on its database, none elsewhere. IDENTIFIED: what
# follows IDENTIFIED BY (a quoted password, or PASSWORD 'hash'). The database is never dropped.
mmc_sql_app_user() {
    [ -n "${MMC_APP_USER:-}" ] || return 0
    local u db
    u=$(mmc_lit "$MMC_APP_USER")
    # the name is an identifier by config (lower-case letters, digits, '_'); quoted anyway
    db=${MMC_APP_DATABASE:-}
    db="\`${db//\`/}\`"
    cat <<SQL
CREATE DATABASE IF NOT EXISTS $db;
CREATE USER IF NOT EXISTS $u@'%' IDENTIFIED BY $1;
ALTER USER $u@'%' IDENTIFIED BY $1;
GRANT ALL PRIVILEGES ON $db.* TO $u@'%';
SQL
}

# SQL that stops receiving from the source (the applier goes on with what was received).
mmc_sql_stop_receiving() {
    case "$MMC_ENGINE" in
        mysql) echo "STOP REPLICA IO_THREAD;" ;;
        mariadb) echo "STOP SLAVE IO_THREAD;" ;;
    esac
}
# The server's full GTID history as one SQL expression (MariaDB: the last GTID of every domain and
# server, which errant-transaction detection compares; MySQL: gtid_executed).
mmc_sql_gtid_state_expr() {
    case "$MMC_ENGINE" in
        mysql) mmc_sql_gtid_expr ;;
        mariadb) echo "@@GLOBAL.gtid_binlog_state" ;;
    esac
}
# mmc_engine_gtid_missing A B [CREDFILE HOST] -> the GTIDs of A that B lacks (empty: B has all of A).
# A and B are mmc_sql_gtid_expr values (positions) or mmc_sql_gtid_state_expr values (histories).
# MariaDB compares in bash (mmc_gtid_missing_mariadb); MySQL asks GTID_SUBTRACT of HOST (or the
# local server without CREDFILE HOST).
mmc_engine_gtid_missing() {
    local a=$1 b=$2 sql
    case "$MMC_ENGINE" in
        mysql)
            sql="SELECT REPLACE(GTID_SUBTRACT($(mmc_lit "$a"), $(mmc_lit "$b")), '\n', '')"
            if [ $# -ge 4 ]; then mmc_qr "$3" "$4" "$sql"; else mmc_q "$sql"; fi
            ;;
        mariadb) mmc_gtid_missing_mariadb "$a" "$b" ;;
    esac
}

# The GTID mode a member without a channel joins the primary with (mmc_sql_point_to): MariaDB
# current_pos for a member that wrote itself (a former primary: its binary log is ahead of its applied
# position), slave_pos otherwise; MySQL's auto-positioning needs no choice.
mmc_engine_join_mode() {
    case "$MMC_ENGINE" in
        mysql) echo slave_pos ;;
        mariadb)
            if [ "$(mmc_q "SELECT @@GLOBAL.gtid_binlog_pos <> @@GLOBAL.gtid_slave_pos" 2>/dev/null)" = 1 ]; then echo current_pos; else echo slave_pos; fi
            ;;
    esac
}

# mmc_sql_reconcile_users -> SQL (binary log off: no GTID, nothing replicated) that sets the password of
# root and of each data-plane user that exists on this member to the values of its Secret, run by init.sh
# on a server started with skip-grant-tables and skip-networking (after FLUSH PRIVILEGES, which enables
# account management again; LOCAL: not binlogged). A member keeps working when the Secret changes (a destroy then up).
mmc_sql_reconcile_users() {
    local root_pw repl_pw seed_pw admin_pw ru su au
    root_pw=$(mmc_lit "$MMC_ROOT_PASSWORD")
    repl_pw=$(mmc_lit "$MMC_REPL_PASSWORD")
    seed_pw=$(mmc_lit "$MMC_SEED_PASSWORD")
    admin_pw=$(mmc_lit "$MMC_ADMIN_PASSWORD")
    ru=$(mmc_lit "$MMC_REPL_USER")
    su=$(mmc_lit "$MMC_SEED_USER")
    au=$(mmc_lit "$MMC_ADMIN_USER")
    # binary log off first: FLUSH is binlogged unless LOCAL (an errant GTID on a replica otherwise)
    echo "SET SESSION sql_log_bin = 0;"
    echo "FLUSH LOCAL PRIVILEGES;"
    case "$MMC_ENGINE" in
        mysql)
            echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root_pw;"
            echo "ALTER USER IF EXISTS $ru@'%' IDENTIFIED BY $repl_pw;"
            echo "ALTER USER IF EXISTS $su@'%' IDENTIFIED BY $seed_pw;"
            echo "ALTER USER IF EXISTS $au@'%' IDENTIFIED BY $admin_pw;"
            ;;
        mariadb)
            echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD($root_pw) OR unix_socket;"
            echo "ALTER USER IF EXISTS $ru@'%' IDENTIFIED BY $repl_pw;"
            echo "ALTER USER IF EXISTS $su@'localhost' IDENTIFIED BY $seed_pw;"
            echo "ALTER USER IF EXISTS $au@'%' IDENTIFIED BY $admin_pw;"
            ;;
    esac
    if [ -n "${MMC_APP_USER:-}" ]; then echo "ALTER USER IF EXISTS $(mmc_lit "$MMC_APP_USER")@'%' IDENTIFIED BY $(mmc_lit "${MMC_APP_PASSWORD:-}");"; fi
}
# mmc_sql_channel_password -> SQL that gives the existing replication channel the replication password
# of the Secret, keeping its source and position (the server's replication threads are stopped).
mmc_sql_channel_password() {
    case "$MMC_ENGINE" in
        mysql) echo "CHANGE REPLICATION SOURCE TO SOURCE_USER = $(mmc_lit "$MMC_REPL_USER"), SOURCE_PASSWORD = $(mmc_lit "$MMC_REPL_PASSWORD");" ;;
        mariadb) echo "CHANGE MASTER TO MASTER_USER = $(mmc_lit "$MMC_REPL_USER"), MASTER_PASSWORD = $(mmc_lit "$MMC_REPL_PASSWORD");" ;;
    esac
}

