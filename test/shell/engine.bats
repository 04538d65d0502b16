#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# lib-engine.sh: every engine difference in one file, one arm per engine.
load common

setup() { valid_env; load_libs; }

engine_functions() { grep -oE '^mmc_[a-z_]+\(\)' "$S/lib-engine.sh" | tr -d '()'; }

@test "no script outside lib-engine.sh branches on MMC_ENGINE" {
    run grep -nE 'MMC_ENGINE"? *(=|!=|==)|case "\$MMC_ENGINE"|_\$MMC_ENGINE' "$S"/*.sh
    for l in "${lines[@]}"; do
        [[ "$l" == "$S/lib-engine.sh:"* ]] || [[ "$l" == "$S/lib-env.sh:"* ]] || { echo "engine branch outside lib-engine.sh: $l"; false; }
    done
    [ "$(grep -c 'case "$MMC_ENGINE" in' "$S/lib-engine.sh")" -ge 20 ]
}

@test "every engine function has a mysql and a mariadb arm" {
    local fn body
    for fn in $(engine_functions); do
        body=$(declare -f "$fn")
        [[ "$body" == *'case "$MMC_ENGINE" in'* ]] || continue
        [[ "$body" == *"mysql)"* ]] && [[ "$body" == *"mariadb)"* ]] || { echo "$fn lacks an arm"; false; }
    done
}

@test "replication SQL per engine" {
    MMC_ENGINE=mariadb
    run mmc_sql_point_to "mysql-0.h" current_pos
    [ "${lines[0]}" = "STOP SLAVE;" ]
    [ "${lines[1]}" = "RESET SLAVE ALL;" ]
    [ "${lines[2]}" = "CHANGE MASTER TO MASTER_HOST = 'mysql-0.h', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'repl-pw', MASTER_USE_GTID = current_pos, MASTER_CONNECT_RETRY = 1;" ]
    [ "${lines[3]}" = "START SLAVE;" ]
    MMC_ENGINE=mysql
    run mmc_sql_point_to "mysql-0.h"
    [ "${lines[0]}" = "STOP REPLICA;" ]
    [[ "${lines[2]}" == "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'mysql-0.h', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'repl-pw', SOURCE_AUTO_POSITION = 1,"* ]]
    [ "${lines[3]}" = "START REPLICA;" ]
}

@test "promotion honours semi-sync and the engine's read-only variables" {
    MMC_ENGINE=mysql MMC_SEMI_SYNC=off
    run mmc_sql_promote
    [[ "$output" == *"SET GLOBAL rpl_semi_sync_source_enabled = OFF;"* ]]
    [[ "$output" == *"SET GLOBAL super_read_only = OFF;"* ]]
    MMC_ENGINE=mariadb MMC_SEMI_SYNC=on
    run mmc_sql_promote
    [[ "$output" == *"SET GLOBAL rpl_semi_sync_master_enabled = ON;"* ]]
    [[ "$output" != *"super_read_only"* ]]
    [ "$(MMC_ENGINE=mysql mmc_sql_demote)" = "SET GLOBAL super_read_only = ON;" ]
    # the epoch is recorded before semi-sync is on: nothing follows the new primary yet to acknowledge it
    local e
    for e in mysql mariadb; do
        MMC_ENGINE=$e MMC_SEMI_SYNC=on run mmc_sql_promote 5
        [[ "$output" == *"UPDATE mmc.epoch SET epoch = 5"*"SET GLOBAL rpl_semi_sync_"*"_enabled = ON;"*"SET GLOBAL read_only = OFF;"* ]]
    done
    [ "$(MMC_ENGINE=mariadb mmc_sql_demote)" = "SET GLOBAL read_only = ON;" ]
    [ "$(MMC_ENGINE=mysql mmc_sql_read_only_expr)" = "@@GLOBAL.super_read_only" ]
    [ "$(MMC_ENGINE=mariadb mmc_sql_writable_again)" = "SET GLOBAL read_only = OFF;" ]
}

@test "GTID wait and position per engine, the position quoted" {
    [ "$(MMC_ENGINE=mariadb mmc_sql_gtid_wait "0-1000-5" 7)" = "SELECT MASTER_GTID_WAIT('0-1000-5', 7);" ]
    [ "$(MMC_ENGINE=mysql mmc_sql_gtid_wait "u:1-5" 7)" = "SELECT WAIT_FOR_EXECUTED_GTID_SET('u:1-5', 7);" ]
    [ "$(MMC_ENGINE=mariadb mmc_sql_gtid_pos)" = "SELECT @@GLOBAL.gtid_binlog_pos;" ]
}

@test "seed method and identity config per engine" {
    [ "$(MMC_ENGINE=mysql mmc_engine_seed_method)" = clone ]
    [ "$(MMC_ENGINE=mariadb mmc_engine_seed_method)" = stream ]
    MMC_ENGINE=mariadb MMC_GTID_DOMAIN_ID=4 MMC_SEMI_SYNC=on
    run mmc_engine_identity_config
    [ "$output" = "$(printf 'gtid_domain_id = 4\nrpl_semi_sync_slave_enabled = ON')" ]
    MMC_ENGINE=mysql MMC_SEMI_SYNC=off
    run mmc_engine_identity_config
    [ "$output" = "loose_rpl_semi_sync_replica_enabled = OFF" ]
}

@test "seed position: MariaDB starts its history at the donor's GTID, MySQL keeps the clone's" {
    run env MMC_ENGINE=mariadb bash -c '. "$1/lib-env.sh"; . "$1/lib-sql.sh"; . "$1/lib-engine.sh"; mmc_sql_seed_position "0-1000-9"' _ "$S"
    [ "$output" = "STOP SLAVE; RESET SLAVE ALL; RESET MASTER; SET GLOBAL gtid_binlog_state = '0-1000-9'; SET GLOBAL gtid_slave_pos = '0-1000-9';" ]
    [ "$(MMC_ENGINE=mysql mmc_sql_seed_position "")" = "STOP REPLICA; RESET REPLICA ALL;" ]
}

@test "MySQL users are created with each account's own password" {
    MMC_ENGINE=mysql
    run mmc_sql_users
    [[ "$output" == *"CREATE USER IF NOT EXISTS 'mmc_admin'@'%' IDENTIFIED BY 'admin-pw';"* ]]
    [[ "$output" == *"CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'repl-pw';"* ]]
    [[ "$output" != *"root-pw"* ]]
}

@test "CLONE is MySQL's; MariaDB refuses it" {
    [[ "$(MMC_ENGINE=mysql mmc_sql_clone h1 /d/st)" == *"CLONE INSTANCE FROM 'seed'@'h1':3306 IDENTIFIED BY 'seed-pw' DATA DIRECTORY = '/d/st' REQUIRE SSL;" ]]
    MMC_ENGINE=mariadb run mmc_sql_clone h1 /d/st
    [ "$status" -eq 1 ]
}

@test "MySQL work directories are not dot-named (mysqld cannot run on one); MariaDB's are hidden" {
    MMC_ENGINE=mysql
    [ "$(mmc_engine_work_dirs)" = "mmc-staging mmc-cloneinst" ]
    MMC_ENGINE=mariadb
    [ "$(mmc_engine_work_dirs)" = ".mmc-staging .mmc-cloneinst" ]
}

@test "MySQL users SQL lifts super_read_only first and grants the switchover account RELOAD" {
    MMC_ENGINE=mysql
    run mmc_sql_users
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "SET GLOBAL super_read_only = OFF;" ]
    [[ "$output" == *"GRANT REPLICATION CLIENT, PROCESS, RELOAD ON *.* TO 'mmc_admin'@'%';"* ]] || { echo "$output"; false; }
}

@test "MySQL CLONE fails at once when its donor's connection breaks; progress is observable" {
    MMC_ENGINE=mysql
    run mmc_sql_clone mysql-1.h /data/mmc-staging
    [[ "$output" == *"SET GLOBAL clone_donor_timeout_after_network_failure = 0;"* ]]
    run mmc_sql_clone_progress
    [[ "$output" == *"performance_schema.clone_progress"* ]]
}
