import { StackConfig } from "./config";

/** Base server config shipped in `<set>-config`; the scripts add identity and replication settings. */
export function baseServerConfig(engine: StackConfig["mysql"]["engine"]): string {
    const common = [
        "skip_name_resolve = ON",
        "bind_address = 0.0.0.0",
        "log_bin = mysql-bin",
        "binlog_format = ROW",
        "sync_binlog = 1",
        "innodb_flush_log_at_trx_commit = 1",
        "max_connections = 500",
    ];
    const perEngine =
        engine === "mariadb"
            ? ["[mariadb]", ...common, "log_slave_updates = ON", "gtid_strict_mode = ON", "binlog_expire_logs_seconds = 604800"]
            : ["[mysqld]", ...common.filter((l) => !l.startsWith("binlog_format")), "gtid_mode = ON", "enforce_gtid_consistency = ON",
               "log_replica_updates = ON", "binlog_expire_logs_seconds = 604800"];
    return perEngine.join("\n") + "\n";
}
