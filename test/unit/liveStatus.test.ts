import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig, parseStackConfig, rawFromPulumiConfig } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { deployedStateOf } from "../../components/step";
import { Kubectl, kubectlError } from "../../components/status";
import { LiveStatus, clustersNotRead, liveStatusLine, readLiveStatus, whyNotRead } from "../../components/liveStatus";
import { ROOT, rawOf } from "../helpers/configs";
import { runProgram } from "../helpers/urns";

const raw02 = rawOf(path.join(ROOT, "stacks/02-replica-in-cluster2.yaml"));
const raw03 = rawOf(path.join(ROOT, "stacks/03-switchover-to-mysql-1.yaml"));
const cfg03 = parseStackConfig(raw03);
/** Deployed: phase 2 (mysql-0 primary in cluster1, mysql-1 replica in cluster2); this `up` applies phase 3. */
const deployed02 = deployedStateOf(buildPlan(parseStackConfig(raw02)));

const pod = (name: string, node: string, ready = true) => ({
    metadata: { name, labels: { "app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql", "app.kubernetes.io/component": "database" } },
    spec: { nodeName: node },
    status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }], initContainerStatuses: [] },
});
const pvc = (name: string) => ({ metadata: { name }, spec: {}, status: { phase: "Bound", capacity: { storage: "10Gi" } } });
const primaryReport = "alive\t1\nreadonly\t0\ngtid\t0-1001-60\n";
const replicaReport = (io = "Yes", lag = "1") =>
    `alive\t1\nreadonly\t1\ngtid\t0-1001-58\nrepl_host\tmysql-0\nrepl_io\t${io}\nrepl_sql\tYes\nrepl_lag\t${lag}\nrepl_io_errno\t${io === "Yes" ? "0" : "2003"}\nrepl_io_error\t${io === "Yes" ? "" : "Can't connect to server on 'mysql-0'"}\nrepl_sql_errno\t0\nrepl_sql_error\t\n`;

type World = Record<string, { pods: object[]; pvcs: object[]; exec?: Record<string, string> } | "hang" | "refused">;

/** A fake kubectl per context; records every call (the view only ever gets and execs) and the signal it was given. */
function fake(world: World) {
    const calls: { context?: string; verb: string }[] = [];
    let signal: AbortSignal | undefined;
    const make = (s: AbortSignal): Kubectl => {
        signal = s;
        return async (cluster, args) => {
            calls.push({ context: cluster.context, verb: args[0] });
            const w = world[cluster.context ?? ""];
            if (w === "hang") return new Promise<string>(() => {});
            if (!w || w === "refused") throw new Error("Unable to connect to the server: dial tcp 127.0.0.9:6443: connect: connection refused");
            if (args[0] === "get") return JSON.stringify({ items: args[1] === "pods" ? w.pods : w.pvcs });
            const key = `${args[args.indexOf("-n") + 2]}/${args[args.indexOf("-c") + 1]}`;
            if (w.exec?.[key] === undefined) throw new Error('error: unable to upgrade connection: container not found ("mysql")');
            return w.exec[key];
        };
    };
    return { make, calls, signal: () => signal };
}

const upHow = (kubectl: (s: AbortSignal) => Kubectl) => ({
    dryRun: false,
    mocked: false,
    providersPassed: false,
    kubectl,
    now: () => new Date("2026-12-02T07:00:00Z"),
});

test("liveStatus: a healthy deployed set, read before the step and judged against the deployed state (not this up's config)", async () => {
    const k = fake({
        "kosmos-cluster1": { pods: [pod("mysql-0", "kosmoscluster1-1")], pvcs: [pvc("data-mysql-0")], exec: { "mysql-0/mysql": primaryReport } },
        "kosmos-cluster2": { pods: [pod("mysql-1", "kosmoscluster2-1")], pvcs: [pvc("data-mysql-1")], exec: { "mysql-1/mysql": replicaReport() } },
        "kosmos-cluster3": { pods: [], pvcs: [] },
    });
    const s = await readLiveStatus(cfg03, deployed02, upHow(k.make));
    // cfg03 configures mysql-1 as the primary: the view is of what is deployed (primary 0) before the switchover.
    assert.deepEqual(
        { read: s.read, note: s.note, at: s.at, deployed: s.deployed, configured: s.configuredPrimary, real: s.realPrimary, healthy: s.healthy },
        {
            read: true,
            note: null,
            at: "2026-12-02T07:00:00.000Z",
            deployed: { placement: ["cluster1", "cluster2"], primary: 0 },
            configured: "mysql-0",
            real: "mysql-0",
            healthy: true,
        },
    );
    assert.deepEqual(s.problems, []);
    assert.deepEqual(s.members, [
        {
            ordinal: 0,
            member: "mysql-0",
            cluster: "cluster1",
            foundIn: ["cluster1"],
            node: "kosmoscluster1-1",
            phase: "Running",
            ready: true,
            role: "writable",
            gtid: "0-1001-60",
            lagSeconds: null,
            behindTransactions: null,
            io: null,
            sql: null,
            lastError: null,
            claim: { name: "data-mysql-0", phase: "Bound", size: "10Gi" },
        },
        {
            ordinal: 1,
            member: "mysql-1",
            cluster: "cluster2",
            foundIn: ["cluster2"],
            node: "kosmoscluster2-1",
            phase: "Running",
            ready: true,
            role: "read-only",
            gtid: "0-1001-58",
            lagSeconds: 1,
            behindTransactions: 2,
            io: "Yes",
            sql: "Yes",
            lastError: null,
            claim: { name: "data-mysql-1", phase: "Bound", size: "10Gi" },
        },
    ]);
    assert.ok(
        k.calls.every((c) => c.verb === "get" || c.verb === "exec"),
        "the read only gets and execs",
    );
    assert.ok(k.signal()?.aborted, "every kubectl still running is stopped once the read is done");
    assert.equal(liveStatusLine(s), "live status before the step: primary configured mysql-0, real mysql-0; healthy");
});

test("liveStatus: a stopped replica and an unreadable cluster are fields (problems, unreachable, lastError), never a failure", async () => {
    const k = fake({
        "kosmos-cluster1": { pods: [pod("mysql-0", "kosmoscluster1-1")], pvcs: [pvc("data-mysql-0")], exec: { "mysql-0/mysql": primaryReport } },
        "kosmos-cluster2": {
            pods: [pod("mysql-1", "kosmoscluster2-1", false)],
            pvcs: [pvc("data-mysql-1")],
            exec: { "mysql-1/mysql": replicaReport("No", "NULL") },
        },
        "kosmos-cluster3": "refused",
    });
    const s = await readLiveStatus(cfg03, deployed02, upHow(k.make));
    assert.equal(s.read, true);
    assert.equal(s.healthy, false);
    assert.deepEqual(s.unreachable, { cluster3: "Unable to connect to the server: dial tcp 127.0.0.9:6443: connect: connection refused" });
    assert.deepEqual(s.problems, [
        "cluster cluster3 cannot be read: Unable to connect to the server: dial tcp 127.0.0.9:6443: connect: connection refused",
        "mysql-1 (cluster2): pod not Ready",
        "replica mysql-1: replication I/O thread No (last error 2003: Can't connect to server on 'mysql-0')",
    ]);
    const m1 = s.members[1];
    assert.deepEqual([m1.io, m1.sql, m1.lagSeconds, m1.ready, m1.lastError], ["No", "Yes", null, false, "2003: Can't connect to server on 'mysql-0'"]);
    assert.match(liveStatusLine(s), /NOT HEALTHY: cluster cluster3 cannot be read: .*; replica mysql-1: replication I\/O thread No/);
});

test("liveStatus: pods whose server cannot be reached (KWOK) say so per member; no writable member is a problem, not an error", async () => {
    const k = fake({
        "kosmos-cluster1": { pods: [pod("mysql-0", "kosmoscluster1-1")], pvcs: [pvc("data-mysql-0")] },
        "kosmos-cluster2": { pods: [pod("mysql-1", "kosmoscluster2-1")], pvcs: [pvc("data-mysql-1")] },
        "kosmos-cluster3": { pods: [], pvcs: [] },
    });
    const s = await readLiveStatus(cfg03, deployed02, upHow(k.make));
    assert.equal(s.read, true);
    assert.equal(s.realPrimary, null);
    assert.equal(s.configuredPrimary, "mysql-0");
    assert.deepEqual(
        s.members.map((m) => [m.member, m.phase, m.role, m.lastError]),
        [
            ["mysql-0", "Running", null, 'error: unable to upgrade connection: container not found ("mysql")'],
            ["mysql-1", "Running", null, 'error: unable to upgrade connection: container not found ("mysql")'],
        ],
    );
    assert.deepEqual(s.problems, [
        "no member accepts writes (configured primary mysql-0)",
        'mysql-0 (cluster1): the server cannot be asked: error: unable to upgrade connection: container not found ("mysql")',
        'mysql-1 (cluster2): the server cannot be asked: error: unable to upgrade connection: container not found ("mysql")',
    ]);
});

test("liveStatus: bounded by liveStatus.timeoutSeconds: a cluster that never answers ends the read with a one-line note, its kubectl stopped", async () => {
    const k = fake({ "kosmos-cluster1": "hang", "kosmos-cluster2": "hang", "kosmos-cluster3": "hang" });
    const cfg = parseStackConfig({ ...raw03, liveStatus: { timeoutSeconds: 1 } });
    const t = Date.now();
    const s = await readLiveStatus(cfg, deployed02, upHow(k.make));
    assert.ok(Date.now() - t < 3000, `the read took ${Date.now() - t} ms`);
    assert.equal(s.read, false);
    assert.equal(s.note, "not read: the clusters did not answer within liveStatus.timeoutSeconds (1 s)");
    assert.equal(s.healthy, null);
    assert.deepEqual(s.deployed, { placement: ["cluster1", "cluster2"], primary: 0 });
    assert.ok(k.signal()?.aborted, "the kubectl requests still running are killed at the deadline");
});

test("liveStatus: a collector that throws (no kubectl) is a note, one line", async () => {
    const broken = () => {
        throw new Error("kubectl: ENOENT\n  at spawn");
    };
    const s = await readLiveStatus(cfg03, deployed02, upHow(broken));
    assert.equal(s.read, false);
    assert.equal(s.note, "not read: kubectl: ENOENT");
});

test("liveStatus: read only at `pulumi up` of a deployed set with liveStatus.read true; the preview says it is read at up", () => {
    const up = { dryRun: false, mocked: false };
    assert.equal(whyNotRead(cfg03, deployed02, up), undefined);
    assert.equal(whyNotRead(cfg03, deployed02, { ...up, dryRun: true }), "read at `pulumi up`, before the step is declared; a preview reads nothing");
    assert.equal(whyNotRead(cfg03, undefined, up), "not read: a first deployment (nothing deployed yet)");
    assert.equal(whyNotRead(cfg03, deployed02, { ...up, mocked: true }), "not read: Pulumi mocks (unit tests, the offline renderer) have no cluster to read");
    assert.equal(whyNotRead(parseStackConfig({ ...raw03, liveStatus: { read: false } }), deployed02, up), "not read: liveStatus.read is false");
    // From the CLI (`pulumi config set --path liveStatus.read false`) the value arrives as a string.
    const cli = parseStackConfig(
        rawFromPulumiConfig(
            Object.fromEntries([
                ...Object.entries(raw03).map(([k, v]) => [`mysql-multicluster:${k}`, JSON.stringify(v)]),
                ["mysql-multicluster:liveStatus", '{"read":"false","timeoutSeconds":"45"}'],
            ]),
        ),
    );
    assert.deepEqual(cli.liveStatus, { read: false, timeoutSeconds: 45 });
    assert.deepEqual(cfg03.liveStatus, { read: true, timeoutSeconds: 30 });
});

test("liveStatus: a bad liveStatus value is one line naming the key", () => {
    assert.throws(() => parseStackConfig({ ...raw03, liveStatus: { timeoutSeconds: 0 } }), /^ConfigError: mysql-multicluster:liveStatus\.timeoutSeconds: 0: /);
    assert.throws(() => parseStackConfig({ ...raw03, liveStatus: { reed: true } }), /liveStatus.*reed/);
});

test("liveStatus: lost clusters are not read (nothing is sent there); with providers passed in, clusters without a context are not read", async () => {
    const lost: StackConfig = { ...cfg03, failover: { lost: ["cluster2"] } };
    assert.deepEqual(clustersNotRead(lost, deployed02, false), { cluster2: "declared lost (failover.lost): not read" });
    const noCtx: StackConfig = {
        ...cfg03,
        clusters: Object.fromEntries(Object.entries(cfg03.clusters).map(([n, c]) => [n, n === "cluster1" ? c : { ...c, context: undefined }])),
    };
    assert.deepEqual(Object.keys(clustersNotRead(noCtx, deployed02, true)), ["cluster2", "cluster3"]);
    assert.deepEqual(clustersNotRead(noCtx, deployed02, false), {}, "without providers passed in, no context means the current context");
    const k = fake({
        "kosmos-cluster1": { pods: [pod("mysql-0", "kosmoscluster1-1")], pvcs: [pvc("data-mysql-0")], exec: { "mysql-0/mysql": primaryReport } },
        "kosmos-cluster3": { pods: [], pvcs: [] },
    });
    const s = await readLiveStatus(lost, deployed02, upHow(k.make));
    assert.ok(!k.calls.some((c) => c.context === "kosmos-cluster2"), "a lost cluster was read");
    assert.deepEqual(s.unreachable, { cluster2: "declared lost (failover.lost): not read" });
    assert.equal(s.realPrimary, "mysql-0");
});

test("liveStatus: the program's output under mocks (the offline renderer, unit tests): same shape, not read, saying why", async () => {
    const flat = Object.fromEntries(Object.entries(raw02).map(([k, v]) => [`mysql-multicluster:${k}`, JSON.stringify(v)]));
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- index.ts, loaded as the language host loads it
    const program = require(path.join(ROOT, "index.ts"));
    const state = deployedStateOf(buildPlan(parseStackConfig(raw02)));
    const run = await runProgram(program, flat, (args) =>
        args.type === "pulumi:pulumi:StackReference" ? { outputs: { migrationState: state }, secretOutputNames: [] } : undefined,
    );
    const s = run.outputs.liveStatus as LiveStatus;
    assert.deepEqual(s, {
        read: false,
        note: "not read: Pulumi mocks (unit tests, the offline renderer) have no cluster to read",
        at: null,
        deployed: { placement: ["cluster1", "cluster2"], primary: 0 },
        configuredPrimary: null,
        realPrimary: null,
        healthy: null,
        problems: [],
        unreachable: {},
        members: [],
    });
    assert.ok(pulumi.runtime.isDryRun() === false);
});

test("liveStatus: kubectl's error is its last stderr line, an exec URL without its query (the report script)", () => {
    const stderr =
        'Warning: something\nerror: Internal error occurred: error sending request: Post "https://127.0.0.1:10250/exec/mmc-orders/orders-0/mysql?command=bash&command=-c&command=for+m+in&error=1&output=1": dial tcp 127.0.0.1:10250: connect: connection refused\n';
    assert.equal(
        kubectlError(stderr, 1),
        'error: Internal error occurred: error sending request: Post "https://127.0.0.1:10250/exec/mmc-orders/orders-0/mysql": dial tcp 127.0.0.1:10250: connect: connection refused',
    );
    assert.equal(kubectlError("", 7), "kubectl exited 7");
});
