#!/usr/bin/env bash
# Static check of the MySQL 8.4 path (no MySQL server can be installed here).
# 1. Emits the SQL that the shared helpers produce with MMC_ENGINE=mysql and checks it against 8.4:
#    8.4 names present (CHANGE REPLICATION SOURCE TO, START/STOP/RESET REPLICA, SOURCE_AUTO_POSITION,
#    WAIT_FOR_EXECUTED_GTID_SET, super_read_only, semi-sync *source* variables);
#    syntax removed in 8.4 absent (CHANGE MASTER, MASTER_AUTO_POSITION, SHOW SLAVE STATUS, START SLAVE,
#    RESET MASTER, SHOW MASTER STATUS, rpl_semi_sync_master_*, mysql_native_password).
# 2. Checks the MySQL branches of the scripts: CLONE INSTANCE FROM ... DATA DIRECTORY, the clone and
#    semi-sync plugins in the generated config, and no removed syntax anywhere in a mysql branch.
# usage: mysql-static.sh SCRIPTS_DIR
set -u
S=$1
fail=0
bad() { echo "FAIL: $*"; fail=1; }

sql=$(
    export MMC_ENGINE=mysql MMC_POD_NAME=mysql-1 MMC_REPL_PASSWORD="r'p" MMC_SEED_PASSWORD=s MMC_ROOT_PASSWORD=x MMC_PORT=3306
    # shellcheck disable=SC1091
    . "$S/lib.sh"
    mmc_sql_point_to "mysql-0.example" slave_pos
    mmc_sql_promote
    mmc_sql_demote
    mmc_sql_gtid_pos
    mmc_sql_gtid_wait "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5" 10
    mmc_replica_status_sql
    mmc_sql_users
) || { echo "FAIL: emitting the MySQL SQL failed"; exit 1; }

must() { grep -Eq "$1" <<<"$sql" || bad "MySQL SQL lacks: $1"; }
must_not() { if grep -Eiq "$1" <<<"$sql"; then bad "MySQL SQL uses removed/wrong syntax: $1 -> $(grep -Ei "$1" <<<"$sql" | head -1)"; fi; }
must '^CHANGE REPLICATION SOURCE TO SOURCE_HOST = '\''mysql-0.example'\'', SOURCE_PORT = 3306, SOURCE_USER = '
must 'SOURCE_AUTO_POSITION = 1'
must "SOURCE_PASSWORD = 'r\\\\'p'"
must '^START REPLICA;$'
must '^STOP REPLICA;$'
must '^RESET REPLICA ALL;$'
must '^SET GLOBAL super_read_only = ON;$'
must '^SET GLOBAL rpl_semi_sync_source_enabled = (ON|OFF);$'
must "^SELECT WAIT_FOR_EXECUTED_GTID_SET\\('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5', 10\\);$"
must "^SELECT REPLACE\\(@@GLOBAL.gtid_executed, '\\\\n', ''\\);$"
must '^SHOW REPLICA STATUS$'
must 'GRANT REPLICATION SLAVE ON \*\.\* TO'
must 'GRANT BACKUP_ADMIN'
for pat in 'CHANGE MASTER' 'MASTER_AUTO_POSITION' 'MASTER_HOST' 'SHOW SLAVE' 'START SLAVE' 'STOP SLAVE' 'RESET SLAVE' \
    'RESET MASTER' 'SHOW MASTER STATUS' 'rpl_semi_sync_master' 'rpl_semi_sync_slave' 'mysql_native_password' \
    'MASTER_GTID_WAIT' 'gtid_slave_pos' 'gtid_binlog_pos' 'IDENTIFIED BY PASSWORD'; do
    must_not "$pat"
done

# The MySQL branches of the scripts (text between `if [ "$MMC_ENGINE" = mysql ]` and its else/fi,
# plus the mysql-only functions) must not carry removed syntax either.
branches=$(awk '
    /MMC_ENGINE" = mysql \]/ {
        # one-line if/else: only the part before "else" is the MySQL branch
        if (match($0, /[;[:space:]]else[;[:space:]]/)) { print substr($0, 1, RSTART); next }
        inb = 1
    }
    /^(seed_from_mysql|donor_status_mysql)\(\)/ { inf = 1 }
    inb && /^[[:space:]]*(else|fi)([[:space:]]|;|$)/ { inb = 0; next }
    inb || inf { print }
    inf && /^\}/ { inf = 0 }
' "$S"/*.sh)
for pat in 'CHANGE MASTER' 'MASTER_AUTO_POSITION' 'SHOW SLAVE' 'START SLAVE' 'STOP SLAVE' 'RESET SLAVE' 'RESET MASTER' 'SHOW MASTER STATUS' 'rpl_semi_sync_master'; do
    if grep -Eq "$pat" <<<"$branches"; then bad "a MySQL branch uses removed syntax: $pat"; fi
done
grep -q 'CLONE INSTANCE FROM .* IDENTIFIED BY .* DATA DIRECTORY = .* REQUIRE SSL' "$S/init.sh" || bad "init.sh lacks CLONE INSTANCE FROM ... DATA DIRECTORY ... REQUIRE SSL"
grep -q 'SET GLOBAL clone_valid_donor_list' "$S/init.sh" || bad "init.sh does not set clone_valid_donor_list"
grep -q 'RESET BINARY LOGS AND GTIDS' "$S/init.sh" || bad "init.sh lacks the 8.4 RESET BINARY LOGS AND GTIDS"
for opt in 'plugin_load_add = mysql_clone.so' 'plugin_load_add = semisync_source.so' 'plugin_load_add = semisync_replica.so' \
    'gtid_mode = ON' 'enforce_gtid_consistency = ON' 'log_replica_updates = ON' 'super_read_only = ON'; do
    grep -qF "echo \"$opt\"" "$S/init.sh" || bad "generated MySQL config lacks '$opt'"
done
[ "$fail" = 0 ] && echo "MySQL 8.4 SQL and config checked: $(grep -c . <<<"$sql") statements emitted, no removed syntax"
exit "$fail"
