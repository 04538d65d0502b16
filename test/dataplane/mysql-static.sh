#!/usr/bin/env bash
# Static check of the MySQL path against both supported versions, 8.4 and 9.7 (the data-plane tier
# runs 9.7 for real; no 8.4 server package exists in any Debian suite).
# 1. Emits the SQL that the shared helpers produce with MMC_ENGINE=mysql and checks it against 8.4:
#    8.4 names present (CHANGE REPLICATION SOURCE TO, START/STOP/RESET REPLICA, SOURCE_AUTO_POSITION,
#    WAIT_FOR_EXECUTED_GTID_SET, super_read_only, semi-sync *source* variables);
#    syntax removed in 8.4 absent (CHANGE MASTER, MASTER_AUTO_POSITION, SHOW SLAVE STATUS, START SLAVE,
#    RESET MASTER, SHOW MASTER STATUS, rpl_semi_sync_master_*, mysql_native_password).
# 2. Checks the MySQL branches (the `mysql)` arms of lib-engine.sh, where every engine difference
#    lives, and the clone path of init.sh): CLONE INSTANCE FROM ... DATA DIRECTORY, no removed syntax.
#    (The static MySQL server config is baseServerConfig's, checked by test/unit/serverConfig.test.ts.)
# usage: mysql-static.sh SCRIPTS_DIR
set -u
S=$1
fail=0
bad() { echo "FAIL: $*"; fail=1; }

sql=$(
    export MMC_ENGINE=mysql MMC_POD_NAME=mysql-1 MMC_REPL_PASSWORD="r'p" MMC_SEED_PASSWORD=s MMC_ROOT_PASSWORD=x MMC_PORT=3306 \
        MMC_ADMIN_PASSWORD=a MMC_REPL_USER=repl MMC_SEED_USER=seed MMC_ADMIN_USER=mmc_admin MMC_SEMI_SYNC=on
    for f in lib-env.sh lib-sql.sh lib-engine.sh; do
        # shellcheck disable=SC1090
        . "$S/$f"
    done
    mmc_sql_point_to "mysql-0.example" slave_pos
    mmc_sql_promote
    mmc_sql_demote
    mmc_sql_gtid_pos
    mmc_sql_gtid_wait "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5" 10
    mmc_engine_sql_replica_status
    mmc_sql_users
) || { echo "FAIL: emitting the MySQL SQL failed"; exit 1; }

must() { grep -Eq "$1" <<<"$sql" || bad "MySQL SQL lacks: $1"; }
mysql_removed_in_9() { printf '%s\n' 'MD5\(' 'SHA1?\(' 'have_ssl' 'default_authentication_plugin' 'expire_logs_days' 'master_info_repository' 'relay_log_info_repository'; }
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
# removed in 9.x, so the same text runs on 8.4 and 9.7 (see "MySQL versions" in lib-engine.sh)
while IFS= read -r pat; do [ -n "$pat" ] && must_not "$pat"; done <<<"$(mysql_removed_in_9)"

# The MySQL branches: every `mysql)` arm of lib-engine.sh (to its `;;`), plus the clone path of init.sh.
branches=$(awk '
    /^[[:space:]]*mysql\)/ { inb = 1 }
    /^(seed_by_clone|donor_status_sql)\(\)/ { inf = 1 }
    inb || inf { print }
    inb && /;;[[:space:]]*$/ { inb = 0 }
    inf && /^\}/ { inf = 0 }
' "$S/lib-engine.sh" "$S/init.sh")
[ "$(grep -c . <<<"$branches")" -gt 40 ] || bad "found too few MySQL branch lines ($(grep -c . <<<"$branches")): the extraction is broken"
mapfile -t removed9 < <(mysql_removed_in_9)
for pat in 'CHANGE MASTER' 'MASTER_AUTO_POSITION' 'SHOW SLAVE' 'START SLAVE' 'STOP SLAVE' 'RESET SLAVE' 'RESET MASTER' 'SHOW MASTER STATUS' 'rpl_semi_sync_master' "${removed9[@]}"; do
    if grep -Eiq "$pat" <<<"$branches"; then bad "a MySQL branch uses syntax removed in 8.4 or 9.x: $pat"; fi
done
grep -q 'CLONE INSTANCE FROM .* IDENTIFIED BY .* DATA DIRECTORY = .* REQUIRE SSL' <<<"$branches" || bad "lib-engine.sh lacks CLONE INSTANCE FROM ... DATA DIRECTORY ... REQUIRE SSL"
grep -q 'SET GLOBAL clone_valid_donor_list' <<<"$branches" || bad "lib-engine.sh does not set clone_valid_donor_list"
grep -q 'RESET BINARY LOGS AND GTIDS' <<<"$branches" || bad "lib-engine.sh lacks the 8.4 RESET BINARY LOGS AND GTIDS"
grep -q 'mmc_sql_clone' "$S/init.sh" || bad "init.sh does not seed with mmc_sql_clone"
# 3. Run the MySQL branches of switchover.sh, replicate.sh and probe.sh against a stand-in client
#    (fake-mysql/mysql: records the SQL, keeps read-only/channel state per server) and check the
#    outcome and every statement actually sent.
F=$(mktemp -d)
FAKE_BIN="$(cd "$(dirname "$0")" && pwd)/fake-mysql"
run_fake() {
    (
        export FAKE_MYSQL_DIR=$F PATH="$FAKE_BIN:$PATH"
        export MMC_ENGINE=mysql MMC_PORT=3306 MMC_ROOT_PASSWORD=r MMC_REPL_PASSWORD=p MMC_SEED_PASSWORD=s MMC_ADMIN_PASSWORD=a \
            MMC_REPL_USER=repl MMC_SEED_USER=seed MMC_ADMIN_USER=mmc_admin MMC_SEMI_SYNC=on MMC_SERVER_ID_BASE=1000 \
            MMC_GTID_DOMAIN_ID=0 MMC_MAX_LAG_SECONDS=30 MMC_SWITCHOVER_TIMEOUT_SECONDS=60 \
            TMPDIR=$F MMC_RUN_DIR=$F MMC_DATADIR=$F/data MMC_CONF_DIR=$F MMC_TOPOLOGY_FILE='' MMC_EPOCH=1 MMC_LOST=''
        mkdir -p "$F/data"
        printf 'ro=0\nchannel=\nsid=1000\n' >"$F/state.old"; printf 'ro=1\nchannel=old\nsid=1001\n' >"$F/state.new"
        printf 'ro=1\nchannel=old\nsid=1002\n' >"$F/state.r2"
        MMC_POD_NAME=job MMC_OLD_PRIMARY_HOST=old MMC_NEW_PRIMARY_HOST=new MMC_REPLICA_HOSTS=r2 MMC_SOURCE_FOR="old=new r2=new" \
            bash "$S/switchover.sh" || { echo "switchover.sh (mysql) rc=$?"; exit 1; }
        grep -q '^ro=1$' "$F/state.old" && grep -q '^channel=new$' "$F/state.old" || { echo "old primary not demoted+repointed"; exit 1; }
        grep -q '^ro=0$' "$F/state.new" && grep -q '^channel=$' "$F/state.new" || { echo "new primary not promoted"; exit 1; }
        grep -q '^channel=new$' "$F/state.r2" || { echo "replica not repointed"; exit 1; }
        printf 'ro=1\nchannel=\nsid=1000\n' >"$F/state.local"
        MMC_POD_NAME=mysql-0 MMC_PRIMARY_ORDINAL=0 MMC_WRITE_HOST=wh MMC_PEERS="0=p0 1=p1" MMC_REPLICATE_ONCE=1 bash "$S/replicate.sh"
        grep -q '^ro=0$' "$F/state.local" || { echo "replicate.sh (mysql) did not make the primary writable"; exit 1; }
        printf 'ro=1\nchannel=\nsid=1001\n' >"$F/state.local"; printf 'ro=0\nchannel=\nsid=1000\n' >"$F/state.wh"
        MMC_POD_NAME=mysql-1 MMC_PRIMARY_ORDINAL=0 MMC_WRITE_HOST=wh MMC_PEERS="0=wh 1=p1" MMC_REPLICATE_ONCE=1 bash "$S/replicate.sh"
        grep -q '^channel=wh$' "$F/state.local" && grep -q '^ro=1$' "$F/state.local" || { echo "replicate.sh (mysql) did not point the replica at the write host"; exit 1; }
        MMC_POD_NAME=mysql-1 bash "$S/probe.sh" ready || { echo "probe.sh ready (mysql) failed on a healthy replica"; exit 1; }
    ) 2>"$F/stderr"
}
if out=$(run_fake); then
    sent=$(grep -v '^-- ' "$F/sql.log")
    for pat in 'CHANGE MASTER' 'MASTER_AUTO_POSITION' 'SHOW SLAVE' 'START SLAVE' 'STOP SLAVE' 'RESET SLAVE' 'RESET MASTER' \
        'SHOW MASTER STATUS' 'rpl_semi_sync_master' 'MASTER_GTID_WAIT' 'gtid_slave_pos' 'gtid_binlog_pos' 'IDENTIFIED BY PASSWORD'; do
        if grep -Eiq "$pat" <<<"$sent"; then bad "the MySQL path sent removed/MariaDB syntax: $pat"; fi
    done
    for pat in 'CHANGE REPLICATION SOURCE TO' 'SOURCE_AUTO_POSITION = 1' 'WAIT_FOR_EXECUTED_GTID_SET' 'RESET REPLICA ALL' 'SET GLOBAL super_read_only = ON'; do
        grep -q "$pat" <<<"$sent" || bad "the MySQL path never sent: $pat"
    done
    echo "MySQL branches run against a stand-in client: $(grep -c . <<<"$sent") statements sent"
else
    bad "MySQL branches against a stand-in client: $out $(tail -3 "$F/stderr")"
fi
rm -rf "$F"

[ "$fail" = 0 ] && echo "MySQL 8.4/9.7 SQL and config checked: $(grep -c . <<<"$sql") statements emitted, no removed syntax"
exit "$fail"
