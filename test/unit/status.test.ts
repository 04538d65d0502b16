import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as path from "path";
import { parseStackConfig } from "../../components/config";
import { Kubectl, REPORT_SCRIPT, SEED_BYTES_SCRIPT, assess, collect, formatStatus, gtidCount, parseArgs, parseReport, seedProgress } from "../../tools/status";
import { ROOT, rawOf } from "../helpers/configs";

const cfg03 = parseStackConfig(rawOf(path.join(ROOT, "stacks/03-switchover-to-mysql-1.yaml")));

/** `mmc_replica_status` output as the scripts print it (engine-neutral keys), then the report's other lines. */
const replicaReport = (o: { io?: string; sql?: string; lag?: string; gtid?: string; sqlErrno?: string; sqlError?: string } = {}) =>
    [
        "alive\t1",
        "readonly\t1",
        `gtid\t${o.gtid ?? "0-1001-57"}`,
        "repl_host\tmysql-1.mysql.mysql.svc.cluster.local",
        `repl_io\t${o.io ?? "Yes"}`,
        `repl_sql\t${o.sql ?? "Yes"}`,
        `repl_lag\t${o.lag ?? "0"}`,
        "repl_io_errno\t0",
        "repl_io_error\t",
        `repl_sql_errno\t${o.sqlErrno ?? "0"}`,
        `repl_sql_error\t${o.sqlError ?? ""}`,
    ].join("\n") + "\n";
const primaryReport = (gtid = "0-1001-60") => `alive\t1\nreadonly\t0\ngtid\t${gtid}\n`;

const podJson = (name: string, node: string, o: { phase?: string; ready?: boolean; init?: boolean; component?: string } = {}) => ({
    metadata: {
        name,
        labels: { "app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql", "app.kubernetes.io/component": o.component ?? "database" },
    },
    spec: { nodeName: node },
    status: {
        phase: o.phase ?? "Running",
        conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }],
        initContainerStatuses: [{ name: "init", state: o.init ? { running: {} } : { terminated: { exitCode: 0 } } }],
    },
});
const pvcJson = (name: string, phase = "Bound") => ({
    metadata: { name },
    spec: { resources: { requests: { storage: "10Gi" } } },
    status: { phase, capacity: { storage: "10Gi" } },
});

/** A fake kubectl: answers per context; records every call so the test can prove status never writes. */
function fakeKubectl(world: Record<string, { pods: object[]; pvcs: object[]; exec?: Record<string, string> }>) {
    const calls: { context?: string; args: readonly string[] }[] = [];
    const run: Kubectl = async (cluster, args) => {
        calls.push({ context: cluster.context, args });
        const w = world[cluster.context ?? ""];
        if (!w) throw new Error(`Unable to connect to the server: dial tcp: connection refused`);
        if (args[0] === "get" && args[1] === "pods") return JSON.stringify({ items: w.pods });
        if (args[0] === "get" && args[1] === "persistentvolumeclaims") return JSON.stringify({ items: w.pvcs });
        if (args[0] === "exec") {
            const pod = args[args.indexOf("-n") + 2];
            const container = args[args.indexOf("-c") + 1];
            const out = w.exec?.[`${pod}/${container}`];
            if (out === undefined) throw new Error(`error: unable to upgrade connection: container not found ("${container}")`);
            return out;
        }
        throw new Error(`unexpected kubectl ${args.join(" ")}`);
    };
    return { run, calls };
}

test("status: parses the in-pod report (the scripts' engine-neutral replica keys) and counts GTID positions of both engines", () => {
    const r = parseReport(replicaReport({ sql: "No", sqlErrno: "1062", sqlError: "Duplicate entry '7' for key 'PRIMARY'", lag: "NULL" }));
    assert.deepEqual(r, {
        alive: true,
        readOnly: true,
        gtid: "0-1001-57",
        replica: {
            host: "mysql-1.mysql.mysql.svc.cluster.local",
            io: "Yes",
            sql: "No",
            lagSeconds: undefined,
            ioError: undefined,
            sqlError: "1062: Duplicate entry '7' for key 'PRIMARY'",
        },
    });
    assert.deepEqual(parseReport("alive\t0\n"), { alive: false });
    assert.deepEqual(parseReport("seed_bytes\t1048576\n"), { alive: false, seedBytes: 1048576 });
    assert.equal(gtidCount("mariadb", "0-1001-57,1-1002-9", 0), 57);
    assert.equal(gtidCount("mariadb", "0-1001-57,1-1002-9", 1), 9);
    assert.equal(gtidCount("mariadb", "", 0), 0);
    assert.equal(gtidCount("mysql", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:7"), 14);
    assert.equal(gtidCount("mysql", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:mytag:1-2"), 7);
    assert.equal(gtidCount("mysql", "garbage"), undefined);
    assert.equal(gtidCount("mysql", undefined), undefined);
});

test("status: the report only reads (SELECT / SHOW through the scripts' own modules), as root over the local socket", () => {
    assert.doesNotMatch(REPORT_SCRIPT + SEED_BYTES_SCRIPT, /\b(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|GRANT|SET GLOBAL|STOP|START|RESET|CHANGE|KILL|rm)\b/i);
    assert.match(REPORT_SCRIPT, /mmc_env_load probe/);
    assert.match(REPORT_SCRIPT, /mmc_replica_status/);
    assert.doesNotMatch(REPORT_SCRIPT, /PASSWORD/);
});

test("status: a healthy set after the switchover: real primary = configured, lag and transactions behind, claims; only get and exec", async () => {
    const { run, calls } = fakeKubectl({
        "kosmos-cluster1": {
            pods: [podJson("mysql-0", "kosmoscluster1-1"), podJson("mysql-switchover-0-to-1", "kosmoscluster1-2", { component: "switchover" })],
            pvcs: [pvcJson("data-mysql-0"), pvcJson("data-mysql-1")],
            exec: { "mysql-0/mysql": replicaReport({ gtid: "0-1001-57", lag: "2" }) },
        },
        "kosmos-cluster2": { pods: [podJson("mysql-1", "kosmoscluster2-1")], pvcs: [pvcJson("data-mysql-1")], exec: { "mysql-1/mysql": primaryReport() } },
        "kosmos-cluster3": { pods: [], pvcs: [] },
    });
    const { status } = await collect(cfg03, run);
    assert.deepEqual(status.problems, []);
    assert.equal(status.realPrimary, "mysql-1");
    assert.equal(status.configuredPrimary, "mysql-1");
    assert.deepEqual(status.behind, { "mysql-0": 3 });
    assert.deepEqual(
        status.members.map((m) => [m.member, m.cluster, m.node, m.claim?.name, m.claim?.size]),
        [
            ["mysql-0", "cluster1", "kosmoscluster1-1", "data-mysql-0", "10Gi"],
            ["mysql-1", "cluster2", "kosmoscluster2-1", "data-mysql-1", "10Gi"],
        ],
    );
    assert.ok(
        calls.every((c) => c.args[0] === "get" || c.args[0] === "exec"),
        "status only reads",
    );
    const view = formatStatus(status);
    assert.match(view, /^set mysql \(mariadb\) in namespace mysql: primary configured mysql-1, real mysql-1$/m);
    assert.match(view, /^mysql-0 +cluster1 +kosmoscluster1-1 +Running +read-only +0-1001-57 +2 s +3 trx +Yes +Yes +- +data-mysql-0 Bound 10Gi$/m);
    assert.match(view, /^mysql-1 +cluster2 +kosmoscluster2-1 +Running +writable +0-1001-60 +- +- +- +- +- +data-mysql-1 Bound 10Gi$/m);
    assert.match(view, /^healthy: /m);
});

test("status: names every reason the next step should not run: stopped replication, lag, wrong primary, a pod not moved yet, a cluster unreadable", async () => {
    const stopped = fakeKubectl({
        "kosmos-cluster1": {
            pods: [podJson("mysql-0", "kosmoscluster1-1")],
            pvcs: [pvcJson("data-mysql-0")],
            exec: { "mysql-0/mysql": replicaReport({ sql: "No", sqlErrno: "1062", sqlError: "Duplicate entry" }) },
        },
        "kosmos-cluster2": { pods: [podJson("mysql-1", "kosmoscluster2-1")], pvcs: [pvcJson("data-mysql-1")], exec: { "mysql-1/mysql": primaryReport() } },
    });
    const s1 = (await collect(cfg03, stopped.run)).status;
    assert.deepEqual(s1.problems, [
        "cluster cluster3 cannot be read: Unable to connect to the server: dial tcp: connection refused",
        "replica mysql-0: replication SQL thread No (last error 1062: Duplicate entry)",
    ]);
    assert.match(formatStatus(s1), /^NOT HEALTHY: the next step should not run:\n {2}- cluster cluster3 cannot be read/m);

    // Before the switchover ran: mysql-0 still writable; mysql-1 40 s behind; and placement already says cluster3 for mysql-0.
    const cfg05 = parseStackConfig(rawOf(path.join(ROOT, "stacks/05-cluster2-and-cluster3.yaml")));
    const w = fakeKubectl({
        "kosmos-cluster1": { pods: [podJson("mysql-0", "kosmoscluster1-1")], pvcs: [pvcJson("data-mysql-0")], exec: { "mysql-0/mysql": primaryReport() } },
        "kosmos-cluster2": {
            pods: [podJson("mysql-1", "kosmoscluster2-1", { ready: false })],
            pvcs: [pvcJson("data-mysql-1")],
            exec: { "mysql-1/mysql": replicaReport({ lag: "40" }) },
        },
        "kosmos-cluster3": { pods: [], pvcs: [pvcJson("data-mysql-0", "Pending")] },
    });
    const s2 = (await collect(cfg05, w.run)).status;
    assert.equal(s2.realPrimary, undefined, "mysql-0 is writable but not where the config places it: not a member of this placement");
    assert.deepEqual(s2.problems, [
        "no member accepts writes (configured primary mysql-1)",
        "mysql-0 runs in cluster1, the config places it in cluster3: the step is not applied yet",
        "mysql-0 (cluster3): no pod",
        "mysql-1 (cluster2): pod not Ready",
        "replica mysql-1 is 40 s behind (mysql.maxLagSeconds 30)",
    ]);
});

test("status: a seeding member shows bytes copied, rate and time left; two writable members and a primary that is not the configured one are named", () => {
    assert.equal(seedProgress(512 * 1024 * 1024), "seeding: 512.0 MiB copied");
    assert.equal(
        seedProgress(600 * 1024 * 1024, { bytes: 500 * 1024 * 1024, atMs: 0 }, 10_000, 1100 * 1024 * 1024),
        "seeding: 600.0 MiB copied of ~1.1 GiB, 10.0 MiB/s, ~50 s left",
    );
    const m = (member: string, ordinal: number, cluster: string) => ({
        ordinal,
        member,
        cluster,
        foundIn: [cluster],
        phase: "Running",
        ready: true,
        server: { alive: true, readOnly: false, gtid: "0-1001-5" },
    });
    const s = assess(cfg03, [m("mysql-0", 0, "cluster1"), m("mysql-1", 1, "cluster2")]);
    assert.deepEqual(s.problems, ["2 members accept writes: mysql-0, mysql-1; exactly one may", "replica mysql-0: no replication channel"]);
    // The switchover of stacks/03 did not run: mysql-0 is still the writer, mysql-1 replicates from it.
    const notSwitched = assess(cfg03, [m("mysql-0", 0, "cluster1"), { ...m("mysql-1", 1, "cluster2"), server: parseReport(replicaReport()) }]);
    assert.equal(notSwitched.realPrimary, "mysql-0");
    assert.deepEqual(notSwitched.problems, ["the real primary is mysql-0, the config says mysql-1: the last switchover did not run or did not finish"]);
    assert.match(formatStatus(notSwitched), /primary configured mysql-1, real mysql-0/);
});

test("status: bad input is one line naming the flag, exit 2", () => {
    assert.throws(() => parseArgs(["--config"]), /^Error: --config: needs a value/);
    assert.throws(() => parseArgs(["--interval", "0", "--config", "x"]), /--interval 0: must be a whole number of seconds, at least 1/);
    assert.equal(parseArgs(["--config", "x"], { MMC_KUBECTL: "/opt/k" }).kubectl, "/opt/k");
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "tools/status.ts"), "--config", "stacks/nope.yaml"], {
        cwd: ROOT,
        encoding: "utf8",
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^error: --config stacks\/nope\.yaml: cannot read the file \(ENOENT\)\n$/);
});
