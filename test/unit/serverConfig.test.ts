import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { baseServerConfig, tlsServerConfig } from "../../components/serverConfig";
import { execFileSync } from "child_process";
import { scriptCommand } from "../../components/contract";

const SCRIPTS = path.resolve(__dirname, "../../components/scripts");
const keysOf = (cnf: string) =>
    cnf
        .split("\n")
        .filter((l) => /^[a-z_]+ = /.test(l))
        .map((l) => l.split(" = ")[0]);

/** Settings the scripts write: the per-pod identity and locations, nothing else (init.sh + lib-engine.sh). */
function keysWrittenByScripts(): string[] {
    const text = ["init.sh", "lib-engine.sh"].map((f) => fs.readFileSync(path.join(SCRIPTS, f), "utf8")).join("\n");
    const init = text.slice(text.indexOf("write_config() {"), text.indexOf("\n}\n", text.indexOf("write_config() {")));
    const ident = text.slice(text.indexOf("mmc_engine_identity_config() {"), text.indexOf("\n}\n", text.indexOf("mmc_engine_identity_config() {")));
    return [...`${init}\n${ident}`.matchAll(/echo "([a-z_]+) = /g)].map((m) => m[1]);
}

const IDENTITY = [
    "server_id",
    "report_host",
    "report_port",
    "port",
    "datadir",
    "socket",
    "pid_file",
    "bind_address",
    "gtid_domain_id",
    "rpl_semi_sync_slave_enabled",
    "loose_rpl_semi_sync_replica_enabled",
];

test("the scripts write only per-pod identity and locations", () => {
    const written = keysWrittenByScripts();
    assert.ok(written.includes("server_id") && written.includes("report_host"), `parsed ${written.join(", ")}`);
    assert.deepEqual(
        written.filter((k) => !IDENTITY.includes(k)),
        [],
    );
});

for (const engine of ["mariadb", "mysql"] as const) {
    test(`${engine}: baseServerConfig owns every static setting, and none the scripts write (bind_address: tests override it)`, () => {
        const cnf = baseServerConfig(engine);
        const keys = keysOf(cnf);
        assert.equal(new Set(keys.filter((k) => k !== "plugin_load_add")).size, keys.filter((k) => k !== "plugin_load_add").length, "no key twice");
        assert.deepEqual(
            keys.filter((k) => keysWrittenByScripts().includes(k)),
            ["bind_address"],
        );
        for (const line of [
            "read_only = ON",
            "log_bin = mysql-bin",
            "relay_log = relay-bin",
            "relay_log_recovery = ON",
            "sync_binlog = 1",
            "innodb_flush_log_at_trx_commit = 1",
            "skip_name_resolve = ON",
        ])
            assert.ok(cnf.includes(`\n${line}\n`), `${engine} lacks ${line}`);
    });
}

test("mariadb: GTID strict mode, semi-sync source settings off until promotion", () => {
    const cnf = baseServerConfig("mariadb");
    assert.match(cnf, /^\[mariadb\]\n/);
    for (const line of [
        "gtid_strict_mode = ON",
        "log_slave_updates = ON",
        "binlog_format = ROW",
        "rpl_semi_sync_master_enabled = OFF",
        "rpl_semi_sync_master_timeout = 5000",
        "rpl_semi_sync_master_wait_point = AFTER_SYNC",
        "slave_net_timeout = 20",
    ])
        assert.ok(cnf.includes(`${line}\n`), line);
});

test("mysql: 8.4 names, CLONE and semi-sync plugins, super_read_only", () => {
    const cnf = baseServerConfig("mysql");
    assert.match(cnf, /^\[mysqld\]\n/);
    for (const line of [
        "gtid_mode = ON",
        "enforce_gtid_consistency = ON",
        "log_replica_updates = ON",
        "super_read_only = ON",
        "plugin_load_add = mysql_clone.so",
        "plugin_load_add = semisync_source.so",
        "plugin_load_add = semisync_replica.so",
        "loose_rpl_semi_sync_source_enabled = OFF",
        "replica_net_timeout = 20",
    ])
        assert.ok(cnf.includes(`${line}\n`), line);
    assert.doesNotMatch(cnf, /master|slave/);
});

test("a container command runs the script itself (it loads its own topology)", () => {
    assert.deepEqual(scriptCommand("probe.sh", "ready"), ["bash", "/opt/mmc/probe.sh", "ready"]);
});

/** What the scripts write for TLS (lib-engine.sh mmc_engine_tls_server_config) with MMC_TLS_DIR = dir. */
function tlsWrittenByScripts(engine: string, dir: string): string {
    const src = ["lib-env.sh", "lib-sql.sh", "lib-engine.sh"].map((f) => `. ${JSON.stringify(path.join(SCRIPTS, f))}`).join("; ");
    return execFileSync("bash", ["-c", `${src}; mmc_engine_tls_server_config`], {
        env: { ...process.env, MMC_ENGINE: engine, MMC_TLS_DIR: dir },
        encoding: "utf8",
    });
}

for (const engine of ["mariadb", "mysql"] as const) {
    test(`${engine}: TLS server settings only with a TLS directory, equal to what the scripts write`, () => {
        assert.equal(tlsServerConfig(engine, undefined), "");
        const cnf = tlsServerConfig(engine, "/etc/mmc/tls");
        for (const line of [
            "ssl_ca = /etc/mmc/tls/ca.crt",
            "ssl_cert = /etc/mmc/tls/tls.crt",
            "ssl_key = /etc/mmc/tls/tls.key",
            "require_secure_transport = ON",
        ])
            assert.ok(cnf.includes(`${line}\n`), line);
        assert.equal(cnf, tlsWrittenByScripts(engine, "/etc/mmc/tls"));
        assert.deepEqual(
            keysOf(cnf).filter((k) => keysOf(baseServerConfig(engine)).includes(k)),
            [],
            "no key of the base config",
        );
        assert.throws(() => tlsServerConfig(engine, "/etc/x,verify=0"), /TLS directory "\/etc\/x,verify=0" must be a plain path/);
    });
}
