#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# lib-sql.sh and lib-repl.sh: quoting, credential files, parsing of status and GTID output.
load common

setup() { valid_env; load_libs; mmc_env_load probe; mmc_tmp_init; }

@test "SQL literals escape quotes and backslashes" {
    [ "$(mmc_lit "plain")" = "'plain'" ]
    [ "$(mmc_lit "it's")" = "'it\\'s'" ]
    [ "$(mmc_lit 'a\b')" = "'a\\\\b'" ]
    [ "$(mmc_lit "\\'; DROP USER x; --")" = "'\\\\\\'; DROP USER x; --'" ]
}

@test "option-file values are double-quoted with quotes and backslashes escaped" {
    [ "$(mmc_optquote 'p"w\x')" = '"p\"w\\x"' ]
    [ "$(mmc_optquote "a b#c")" = '"a b#c"' ]
}

@test "a credential file is private, in MMC_TMP, and carries user and quoted password for both groups" {
    local f
    f=$(mmc_cred_file t alice 'p"w')
    [ "$f" = "$MMC_TMP/cred-t.cnf" ]
    [ "$(stat -c %a "$f")" = 600 ]
    [ "$(cat "$f")" = "$(printf '[client]\nuser=alice\npassword="p\\"w"\n[mariadb-backup]\nuser=alice\npassword="p\\"w"')" ]
}

@test "credential helpers take each account's own password (no fallback to root)" {
    [ "$(grep -c 'password="admin-pw"' "$(mmc_admin_cred)")" = 2 ]
    [ "$(grep -c 'password="repl-pw"' "$(mmc_repl_cred)")" = 2 ]
    [ "$(grep -c 'password="seed-pw"' "$(mmc_seed_cred)")" = 2 ]
    [ "$(grep -c 'user=mmc_admin' "$(mmc_admin_cred)")" = 2 ]
}

@test "no password reaches the client's command line" {
    local bin="$BATS_TEST_TMPDIR/bin"
    mkdir -p "$bin"
    printf '#!/bin/sh\necho "$@" >>"%s/argv"\ncat >/dev/null\n' "$BATS_TEST_TMPDIR" >"$bin/client"
    chmod +x "$bin/client"
    MMC_CLIENT="$bin/client"
    mmc_q 'SELECT 1'
    printf 'SELECT 1\n' | mmc_sql_remote "$(mmc_admin_cred)" h1
    [ "$(wc -l <"$BATS_TEST_TMPDIR/argv")" = 2 ]
    ! grep -q 'pw' "$BATS_TEST_TMPDIR/argv" || false
    grep -q -- "--defaults-extra-file=$MMC_TMP/cred-root.cnf --socket=$MMC_SOCKET" "$BATS_TEST_TMPDIR/argv"
    grep -q -- "-h h1 -P 3306 --protocol=tcp" "$BATS_TEST_TMPDIR/argv"
}

@test "redaction hides password literals the client echoes" {
    run mmc_redact <<<"ERROR 1201 at line 3: CHANGE MASTER TO MASTER_HOST = 'h', MASTER_PASSWORD = 'se\\'cret', MASTER_USE_GTID = slave_pos"
    [[ "$output" == *"MASTER_PASSWORD = '<redacted>'"* ]]
    [[ "$output" != *"cret"* ]]
    run mmc_redact <<<"CREATE USER x IDENTIFIED BY 'hunter2'"
    [ "$output" = "CREATE USER x IDENTIFIED BY '<redacted>'" ]
}

mariadb_status() {
    cat <<'OUT'
*************************** 1. row ***************************
                Slave_IO_State: Waiting for master to send event
                   Master_Host: mysql-0.mysql.ns.svc.cluster.local
                   Master_User: repl
              Slave_IO_Running: Yes
             Slave_SQL_Running: No
                 Last_IO_Errno: 0
                 Last_IO_Error: 
                Last_SQL_Errno: 1950
                Last_SQL_Error: An attempt was made: with a colon
         Seconds_Behind_Master: NULL
OUT
}
mysql_status() {
    cat <<'OUT'
*************************** 1. row ***************************
             Replica_IO_State: Waiting for source to send event
                  Source_Host: mysql-0.example
           Replica_IO_Running: Yes
          Replica_SQL_Running: Yes
        Seconds_Behind_Source: 3
                Last_IO_Errno: 0
                Last_IO_Error: 
               Last_SQL_Errno: 0
               Last_SQL_Error: 
OUT
}

@test "replica status of either engine parses to the same neutral keys" {
    local st
    st=$(mariadb_status | mmc_replica_status_filter)
    [ "$(mmc_field host "$st")" = mysql-0.mysql.ns.svc.cluster.local ]
    [ "$(mmc_field io "$st")" = Yes ]
    [ "$(mmc_field sql "$st")" = No ]
    [ "$(mmc_field lag "$st")" = NULL ]
    [ "$(mmc_field sql_errno "$st")" = 1950 ]
    [ "$(mmc_field sql_error "$st")" = "An attempt was made: with a colon" ]
    [ "$(mmc_field io_error "$st")" = "" ]
    st=$(mysql_status | mmc_replica_status_filter)
    [ "$(mmc_field host "$st")" = mysql-0.example ]
    [ "$(mmc_field lag "$st")" = 3 ]
    [ "$(mmc_field nosuchkey "$st")" = "" ]
    [ -z "$(printf '' | mmc_replica_status_filter)" ]
}

@test "replica health, re-seed errors" {
    mmc_replica_healthy "$(mysql_status | mmc_replica_status_filter)" 30
    ! mmc_replica_healthy "$(mysql_status | mmc_replica_status_filter)" 2 || false
    ! mmc_replica_healthy "$(mariadb_status | mmc_replica_status_filter)" 30 || false
    mmc_needs_reseed "$(mariadb_status | mmc_replica_status_filter)"
    ! mmc_needs_reseed "$(mysql_status | mmc_replica_status_filter)" || false
    mmc_needs_reseed "$(printf 'io_errno\t1236\nsql_errno\t0\n')"
    mmc_needs_reseed "$(printf 'io_errno\t13114\nsql_errno\t0\n')"
    ! mmc_needs_reseed "$(printf 'io_errno\t12360\nsql_errno\t0\n')" || false
}

@test "GTID sequence of a domain in a MariaDB position" {
    [ "$(mmc_gtid_seq "0-1000-57" 0)" = 57 ]
    [ "$(mmc_gtid_seq "1-1001-9, 0-1000-123" 0)" = 123 ]
    [ "$(mmc_gtid_seq "1-1001-9" 0)" = 0 ]
    [ "$(mmc_gtid_seq "" 0)" = 0 ]
}

@test "system users of a demotion are quoted literals" {
    MMC_SEED_USER="se'ed"
    [ "$(mmc_system_users_sql_list)" = "'repl', 'se\\'ed', 'mmc_admin', 'root', 'system user', 'event_scheduler'" ]
}

@test "remote errors: unreachable only when no server answered, access or SQL errors are answers" {
    local bin="$BATS_TEST_TMPDIR/bin" rc e out
    mkdir -p "$bin"
    # a client that prints the error in $BATS_TEST_TMPDIR/err and fails, like mysql and mariadb do
    printf '#!/bin/sh\ncat >/dev/null\nif [ -s "%s/err" ]; then cat "%s/err" >&2; exit 1; fi\necho 1\n' "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR" >"$bin/client"
    chmod +x "$bin/client"
    MMC_CLIENT="$bin/client"
    : >"$BATS_TEST_TMPDIR/err"
    out=$(mmc_qr_answered "$(mmc_seed_cred)" h 'SELECT 1')
    [ "$out" = 1 ]
    for e in "ERROR 2003 (HY000): Can't connect to MySQL server on 'h:3306' (111)" "ERROR 2005 (HY000): Unknown server host 'h' (-2)" \
        "ERROR 2013 (HY000): Lost connection to server at 'handshake: reading initial communication packet', system error: 104" "mysql: no answer"; do
        printf '%s\n' "$e" >"$BATS_TEST_TMPDIR/err"
        rc=0
        mmc_qr_answered "$(mmc_seed_cred)" h 'SELECT 1' 2>/dev/null || rc=$?
        [ "$rc" = 1 ]
    done
    for e in "ERROR 1045 (28000): Access denied for user 'seed'@'10.0.0.1' (using password: YES)" \
        "ERROR 1227 (42000): Access denied; you need (at least one of) the REPLICATION CLIENT privilege(s)" \
        "ERROR 1064 (42000): You have an error in your SQL syntax"; do
        printf '%s\n' "$e" >"$BATS_TEST_TMPDIR/err"
        rc=0
        mmc_qr_answered "$(mmc_seed_cred)" h 'SELECT 1' 2>/dev/null || rc=$?
        [ "$rc" = 3 ]
    done
}
