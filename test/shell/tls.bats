#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# Verified TLS (MMC_TLS_DIR): off = every command and statement exactly as without it; on = the option
# builders, the input check, and the seed stream's end-of-stream record.
load common

setup() {
    valid_env; load_libs
    TLS="$BATS_TEST_TMPDIR/tls"
    mkdir -p "$TLS"; for f in ca.crt tls.crt tls.key; do echo pem >"$TLS/$f"; done
}

@test "TLS off: no server setting, no client option, no channel clause, no account requirement" {
    unset MMC_TLS_DIR
    for e in mariadb mysql; do
        MMC_ENGINE=$e
        [ -z "$(mmc_engine_tls_server_config)" ]
        [ -z "$(mmc_engine_tls_client_args)" ]
        [ -z "$(mmc_sql_tls_channel)" ]
        [ -z "$(mmc_engine_tls_users "'repl'" "'seed'" "'adm'")" ]
    done
    MMC_ENGINE=mariadb
    [[ "$(mmc_sql_point_to h)" == *"MASTER_CONNECT_RETRY = 1;"* ]]
}

@test "TLS on, MariaDB: the channel verifies the source's certificate and presents the member's own files" {
    MMC_TLS_DIR=$TLS MMC_ENGINE=mariadb
    run mmc_sql_point_to "mysql-0.h" slave_pos
    [ "${lines[2]}" = "CHANGE MASTER TO MASTER_HOST = 'mysql-0.h', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'repl-pw', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;" ]
    # the member's own ssl_* (a Job repointing it names the member's files, not its own); no secret in it
    [ "${lines[3]}" = "SET @mmc_tls = CONCAT('CHANGE MASTER TO MASTER_SSL = 1, MASTER_SSL_VERIFY_SERVER_CERT = 1, MASTER_SSL_CA = ', QUOTE(@@GLOBAL.ssl_ca), ', MASTER_SSL_CERT = ', QUOTE(@@GLOBAL.ssl_cert), ', MASTER_SSL_KEY = ', QUOTE(@@GLOBAL.ssl_key));" ]
    [ "${lines[4]}" = "PREPARE mmc_tls FROM @mmc_tls; EXECUTE mmc_tls; DEALLOCATE PREPARE mmc_tls;" ]
    [ "${lines[5]}" = "START SLAVE;" ]
    run mmc_engine_tls_client_args
    [ "$output" = "--ssl
--ssl-ca=$TLS/ca.crt
--ssl-verify-server-cert
--ssl-cert=$TLS/tls.crt
--ssl-key=$TLS/tls.key" ]
}

@test "TLS on, MySQL: VERIFY_IDENTITY client, SOURCE_SSL_VERIFY_SERVER_CERT channel, CLONE with the same files" {
    MMC_TLS_DIR=$TLS MMC_ENGINE=mysql
    run mmc_sql_point_to "mysql-0.h"
    [[ "${lines[2]}" == *"SOURCE_SSL = 1, GET_SOURCE_PUBLIC_KEY = 1, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 86400;" ]]
    [[ "${lines[3]}" == "SET @mmc_tls = CONCAT('CHANGE REPLICATION SOURCE TO SOURCE_SSL = 1, SOURCE_SSL_VERIFY_SERVER_CERT = 1, SOURCE_SSL_CA = ', QUOTE(@@GLOBAL.ssl_ca), "* ]]
    [ "${lines[5]}" = "START REPLICA;" ]
    run mmc_engine_tls_client_args
    [ "${lines[0]}" = --ssl-mode=VERIFY_IDENTITY ] && [ "${lines[1]}" = "--ssl-ca=$TLS/ca.crt" ]
    run mmc_engine_tls_server_config
    [[ "$output" == *"loose_clone_ssl_ca = $TLS/ca.crt"* ]] && [[ "$output" == *"require_secure_transport = ON"* ]]
    run mmc_engine_tls_users "'repl'" "'seed'" "'adm'"
    [ "$output" = "ALTER USER 'repl'@'%' REQUIRE X509;
ALTER USER 'adm'@'%' REQUIRE SSL;
ALTER USER 'seed'@'%' REQUIRE X509;" ]
}

@test "a Job (no member certificate) verifies the server with the CA only" {
    rm -f "$TLS/tls.crt" "$TLS/tls.key"
    MMC_TLS_DIR=$TLS MMC_ENGINE=mariadb
    run mmc_engine_tls_client_args
    [ "$output" = "--ssl
--ssl-ca=$TLS/ca.crt
--ssl-verify-server-cert" ]
    run mmc_validate switchover
    [ "$status" = 0 ]
    run mmc_validate replicate
    [ "$status" = 2 ] && [ "$output" = "mmc: MMC_TLS_DIR='$TLS' has no readable tls.crt (PEM: ca.crt, tls.crt, tls.key)" ]
}

@test "MMC_TLS_DIR: a missing file or an unsafe path is one line naming it, status 2" {
    MMC_TLS_DIR="$BATS_TEST_TMPDIR/none"
    run mmc_validate init
    [ "$status" = 2 ] && [ "$output" = "mmc: MMC_TLS_DIR='$BATS_TEST_TMPDIR/none' has no readable ca.crt (PEM: ca.crt, tls.crt, tls.key)" ]
    MMC_TLS_DIR="/etc/x,verify=0"
    run mmc_validate init
    [ "$status" = 2 ] && [ "$output" = "mmc: MMC_TLS_DIR='/etc/x,verify=0' must be a plain path (letters, digits, / . _ -)" ]
    MMC_TLS_DIR=$TLS
    run mmc_validate init
    [ "$status" = 0 ]
}

@test "mmc_sql_remote passes the TLS options only when TLS is on" {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/sh\nprintf "%%s\\n" "$@"\n' >"$BATS_TEST_TMPDIR/bin/client"; chmod +x "$BATS_TEST_TMPDIR/bin/client"
    MMC_CLIENT="$BATS_TEST_TMPDIR/bin/client"
    unset MMC_TLS_DIR
    run mmc_sql_remote cred h1
    [ "$output" = "--defaults-extra-file=cred
-h
h1
-P
3306
--protocol=tcp
--connect-timeout=3
-N
-B" ]
    MMC_TLS_DIR=$TLS
    run mmc_sql_remote cred h1
    [ "${lines[1]}" = --ssl ] && [ "${lines[3]}" = --ssl-verify-server-cert ] && [ "${lines[6]}" = -h ]
}

@test "socat addresses: mutual TLS with the set CA; the listener bounds handshakes and sessions" {
    MMC_TLS_DIR=$TLS
    [ "$(mmc_timeval_hex 10)" = x0a000000000000000000000000000000 ]
    [ "$(mmc_timeval_hex 300)" = x2c010000000000000000000000000000 ]
    run mmc_tls_listen_addr 3307 127.0.0.5
    [ "$output" = "OPENSSL-LISTEN:3307,reuseaddr,fork,max-children=4,setsockopt=1:20:x0a000000000000000000000000000000,bind=127.0.0.5,cert=$TLS/tls.crt,key=$TLS/tls.key,cafile=$TLS/ca.crt,verify=1,openssl-min-proto-version=TLS1.2" ]
    run mmc_tls_connect_addr mysql-0.h 3307
    [ "$output" = "OPENSSL:mysql-0.h:3307,connect-timeout=5,commonname=mysql-0.h,cert=$TLS/tls.crt,key=$TLS/tls.key,cafile=$TLS/ca.crt,verify=1,openssl-min-proto-version=TLS1.2" ]
}

@test "end-of-stream record: trusted only when present, well formed and naming the received checkpoints" {
    local st="$BATS_TEST_TMPDIR/st" d="$BATS_TEST_TMPDIR/donor"
    mkdir -p "$st" "$d"
    printf 'backup_type = full-backuped\nto_lsn = 123\n' >"$d/xtrabackup_checkpoints"
    cp "$d/xtrabackup_checkpoints" "$st/"
    run mmc_eos_verify "$st"
    [ "$status" = 1 ] && [[ "$output" == "no end-of-stream record"* ]]
    mmc_eos_record "$d/xtrabackup_checkpoints" >"$st/mmc-end-of-stream"
    run mmc_eos_verify "$st"
    [ "$status" = 0 ] && [ ! -e "$st/mmc-end-of-stream" ]
    mmc_eos_record "$d/xtrabackup_checkpoints" >"$st/mmc-end-of-stream"
    printf 'backup_type = full-backuped\nto_lsn = 99\n' >"$st/xtrabackup_checkpoints"
    run mmc_eos_verify "$st"
    [ "$status" = 1 ] && [[ "$output" == *"differs"* ]]
    printf 'mmc-end-of-stream 1 checkpoints-sha256=zz\n' >"$st/mmc-end-of-stream"
    run mmc_eos_verify "$st"
    [ "$status" = 1 ] && [[ "$output" == "malformed"* ]]
}
