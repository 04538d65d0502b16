import { StackConfig } from "./config";

/**
 * How long a semi-synchronous commit waits for a replica before the primary falls back to asynchronous
 * commits. Automatic failover raises it above the fence deadline (plan.autoFailover.semiSyncTimeoutMs):
 * a partitioned primary fences itself before it could acknowledge a commit no replica has.
 */
export const DEFAULT_SEMI_SYNC_TIMEOUT_MS = 5000;

/**
 * The static server config shipped in `<set>-config`: the one owner of every setting that is the
 * same for every pod. The scripts add only per-pod identity and locations (server_id, report_host,
 * gtid_domain_id, datadir, socket, port), read after this file.
 */
export function baseServerConfig(engine: StackConfig["mysql"]["engine"], semiSyncTimeoutMs: number = DEFAULT_SEMI_SYNC_TIMEOUT_MS): string {
    const common = [
        "skip_name_resolve = ON",
        "bind_address = 0.0.0.0",
        "log_bin = mysql-bin",
        "log_bin_index = mysql-bin.index",
        "relay_log = relay-bin",
        "relay_log_index = relay-bin.index",
        "relay_log_recovery = ON",
        "sync_binlog = 1",
        "innodb_flush_log_at_trx_commit = 1",
        "max_connections = 500",
        "binlog_expire_logs_seconds = 604800",
        // every server starts read-only; replicate.sh decides who may write (never two writers)
        "read_only = ON",
    ];
    switch (engine) {
        case "mariadb":
            return (
                [
                    "[mariadb]",
                    ...common,
                    "binlog_format = ROW",
                    "log_slave_updates = ON",
                    "gtid_strict_mode = ON",
                    "slave_net_timeout = 20",
                    "rpl_semi_sync_master_enabled = OFF",
                    `rpl_semi_sync_master_timeout = ${semiSyncTimeoutMs}`,
                    "rpl_semi_sync_master_wait_point = AFTER_SYNC",
                    "rpl_semi_sync_master_wait_no_slave = OFF",
                ].join("\n") + "\n"
            );
        case "mysql":
            return (
                [
                    "[mysqld]",
                    ...common,
                    "super_read_only = ON",
                    "gtid_mode = ON",
                    "enforce_gtid_consistency = ON",
                    "log_replica_updates = ON",
                    "replica_net_timeout = 20",
                    // no X protocol: nothing uses it, and it listens on every address (port 33060: the
                    // pods of one node collide) and on a socket under /var/run/mysqld
                    "loose_mysqlx = OFF",
                    "plugin_load_add = mysql_clone.so",
                    "plugin_load_add = semisync_source.so",
                    "plugin_load_add = semisync_replica.so",
                    "loose_rpl_semi_sync_source_enabled = OFF",
                    `loose_rpl_semi_sync_source_timeout = ${semiSyncTimeoutMs}`,
                    "loose_rpl_semi_sync_source_wait_point = AFTER_SYNC",
                    "loose_rpl_semi_sync_source_wait_no_replica = OFF",
                ].join("\n") + "\n"
            );
    }
}

/**
 * Server settings of a set with verified TLS (issue 13): the set's CA and the member's certificate from
 * `dir` (the mounted Secret: `ca.crt`, `tls.crt`, `tls.key`) and no plaintext TCP session; "" without TLS
 * (`dir` undefined). The scripts write the same lines when `MMC_TLS_DIR` is set (lib-engine.sh
 * `mmc_engine_tls_server_config`; test/unit/serverConfig.test.ts keeps the two equal).
 */
export function tlsServerConfig(engine: StackConfig["mysql"]["engine"], dir: string | undefined): string {
    if (dir === undefined) return "";
    if (!/^[A-Za-z0-9/._-]+$/.test(dir)) throw new Error(`TLS directory "${dir}" must be a plain path (letters, digits, / . _ -)`);
    const common = [`ssl_ca = ${dir}/ca.crt`, `ssl_cert = ${dir}/tls.crt`, `ssl_key = ${dir}/tls.key`, "require_secure_transport = ON"];
    switch (engine) {
        case "mariadb":
            return [...common, "tls_version = TLSv1.2,TLSv1.3"].join("\n") + "\n";
        case "mysql":
            return (
                [
                    ...common,
                    "tls_version = TLSv1.2,TLSv1.3",
                    // CLONE's client side presents and verifies with the same files
                    `loose_clone_ssl_ca = ${dir}/ca.crt`,
                    `loose_clone_ssl_cert = ${dir}/tls.crt`,
                    `loose_clone_ssl_key = ${dir}/tls.key`,
                ].join("\n") + "\n"
            );
    }
}
