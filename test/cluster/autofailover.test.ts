// Real-node automatic failover (issue 17): the Kosmos set (mysql-0 in cluster1, mysql-1 in cluster2)
// with `failover: { mode: automatic }` and an etcd witness in cluster3, rendered (tools/render.ts) and
// applied to three local clusters whose nodes are real kubelets running real MariaDB and etcd pods,
// while a writer pod in cluster2 inserts continuously through cluster2's write endpoint.
//   1. phases 01 and 02 of stacks/ in automatic mode: the arbiter's three voters Ready, mysql-0 the one
//      writable member, holding the arbiter's key;
//   2. the primary's node stopped (kubelet, containerd and every container killed: tools/clusters/node.sh):
//      mysql-1 promoted by the arbiter alone (no config change, no `up`); sampled all along: never two
//      writable members; every acknowledged write on the new primary; the write gap from the last
//      acknowledgement before the stop to the first on the new primary is
//      `auto_failover_write_unavailability_ms` (bench/results/cluster-autofailover.json);
//   3. the node started again: mysql-0 rejoins as a replica of mysql-1 and never becomes writable;
//      every acknowledged write on both members, equal checksums;
//   4. the same config applied again (what an unrelated `pulumi up` does): nothing reverts the failover.
//
//   npm run test:cluster        (root; runs after the walk-through, which stops its clusters first)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { FatalError, Kubectl, run, sleep, waitUntil } from "../controlplane/kube";
import { applyObjects, isReady, Plan, prune, readRender, realClusters, realClustersDown, realClustersUp, Rendered, renderPhase, resourceOf } from "./apply";
import { assertSameData, createWriterAccount, sql, startWriterPod, Writer } from "./db";

const ROOT = process.cwd();
const CLUSTERS = realClusters("kosmos");
const ENV = CLUSTERS.env;
const RESULTS = path.join(ROOT, "bench/results/cluster-autofailover.json");
const NS = "mysql";
const SET = "mysql";
/** The goal of issue 17 (recorded beside the figure, not asserted: a shared 2-core machine is too noisy for a timed test). */
const GOAL_MS = 30_000;
// The two phases, each with the automatic mode added: three voters (cluster1, cluster2, cluster3) in both.
const PHASES: { file: string; failover: string }[] = [
    { file: "01-all-in-cluster1.yaml", failover: "{ mode: automatic, witnesses: [cluster2, cluster3] }" },
    { file: "02-replica-in-cluster2.yaml", failover: "{ mode: automatic, witnesses: [cluster3] }" },
];

function log(msg: string) {
    process.stderr.write(`[autofailover ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

describe("real-node automatic failover (etcd voters in three clusters, real MariaDB pods, continuous writes)", { concurrency: false }, () => {
    let kubectl: Kubectl;
    let failed: string | undefined;
    let writer: Writer | undefined;
    let plan: Plan | undefined;
    const stackFiles: string[] = [];
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-autofailover-"));
    const secrets: Record<string, string> = Object.fromEntries(
        ["admin-password", "replication-password", "root-password", "seed-password", "app"].map((k) => [k, crypto.randomBytes(18).toString("base64url")]),
    );
    const kinds = new Map<string, string>();
    const figures: Record<string, unknown> = {};
    const ctxOf = (c: string) => plan!.clusters[c].context;
    const members = () => Object.entries(plan!.clusters).flatMap(([c, pc]) => pc.ordinals.map((o) => ({ o, c, ctx: pc.context, pod: `${SET}-${o}` })));

    before(
        async () => {
            kubectl = await realClustersUp(ROOT, CLUSTERS);
            for (const p of PHASES) {
                const text = fs.readFileSync(path.join(ROOT, "stacks", p.file), "utf8");
                assert.doesNotMatch(text, /mysql-multicluster:failover:/, `stacks/${p.file} already sets failover`);
                const out = path.join(workDir, p.file);
                fs.writeFileSync(out, `${text.trimEnd()}\n  mysql-multicluster:failover: ${p.failover}\n`);
                stackFiles.push(out);
            }
        },
        { timeout: 150 * 60_000 },
    );

    after(
        async () => {
            if (Object.keys(figures).length) {
                fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
                const note =
                    "npm run test:cluster (test/cluster/autofailover.test.ts): the Kosmos set in automatic failover mode on real kubelet nodes; " +
                    "the primary's node stopped; auto_failover_write_unavailability_ms = last acknowledged write before the stop -> first acknowledged on the new primary " +
                    "(one writer pod, one client per write, ~50 ms apart, through cluster2's write endpoint)";
                const body = { note, measuredAt: new Date().toISOString(), machine: { cpus: os.cpus().length, loadAverage1m: os.loadavg()[0] }, ...figures };
                fs.writeFileSync(RESULTS, JSON.stringify(body, null, 2) + "\n");
                log(`results: ${RESULTS}`);
            }
            await realClustersDown(ROOT, CLUSTERS, workDir, log);
        },
        { timeout: 6 * 60_000 },
    );

    /** Renders phase `index` (with the earlier phases as its history) and applies it; returns its plan. */
    async function applyPhase(index: number, label: string): Promise<Plan> {
        const outDir = path.join(workDir, `${label}-${index}`);
        await renderPhase(ROOT, stackFiles[index], stackFiles.slice(0, index), outDir);
        const r = readRender(outDir);
        for (const list of r.objects.values())
            for (const o of list) {
                kinds.set(o.object.kind, resourceOf(o.object));
                const sd = (o.object as any).stringData as Record<string, string> | undefined;
                if (o.object.kind === "Secret" && sd) {
                    for (const k of Object.keys(sd)) {
                        assert.ok(secrets[k], `${label}: unexpected Secret key ${k}`);
                        sd[k] = secrets[k];
                    }
                    fs.writeFileSync(o.file, YAML.stringify(o.object), { mode: 0o600 });
                }
            }
        const order = [...r.plan.applyOrder, ...Object.keys(r.plan.clusters).filter((c) => !r.plan.applyOrder.includes(c))];
        // The arbiter's voters first, in every cluster: a member may become writable only once they have a quorum.
        const arbiter = (o: Rendered) => (o.object.metadata.labels?.["app.kubernetes.io/component"] ?? "").startsWith("arbiter");
        for (const c of order) {
            const l = (r.objects.get(c) ?? []).filter(arbiter);
            if (l.length)
                await applyObjects(
                    kubectl,
                    r.plan.clusters[c].context,
                    [...(r.objects.get(c) ?? []).filter((o) => o.object.kind === "Namespace"), ...l],
                    `${label}: ${c} arbiter`,
                );
        }
        for (const c of order) {
            const declared = r.objects.get(c) ?? [];
            if (declared.length) await applyObjects(kubectl, r.plan.clusters[c].context, declared, `${label}: ${c}`);
        }
        for (const c of order) await prune(kubectl, r.plan.clusters[c].context, r.objects.get(c) ?? [], kinds, log, `${label}: ${c}`);
        for (const c of order) await converge(r.plan, c, label);
        return r.plan;
    }

    /** Every pod of the namespace in `cluster` Running and Ready, the set's exactly the placed ones. */
    async function converge(p: Plan, cluster: string, label: string) {
        const ctx = p.clusters[cluster].context;
        const want = [...p.clusters[cluster].ordinals].sort().map((o) => `${SET}-${o}`);
        await waitUntil(
            `${label}: ${cluster}: every pod Ready, the set's exactly [${want.join(", ")}]`,
            8 * 60_000,
            async () => {
                const pods = (await kubectl.json(ctx, ["get", "pods", "-n", NS])).items as any[];
                for (const pod of pods) {
                    const bad = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find((s: any) =>
                        /ErrImage|ImagePull|CreateContainerConfigError|InvalidImageName/.test(s.state?.waiting?.reason ?? ""),
                    );
                    if (bad)
                        throw new FatalError(`${cluster}/${pod.metadata.name}: ${bad.name} ${bad.state.waiting.reason}: ${bad.state.waiting.message ?? ""}`);
                }
                const set = pods.filter((x) => new RegExp(`^${SET}-\\d+$`).test(x.metadata.name)).map((x) => x.metadata.name);
                return JSON.stringify(set.sort()) === JSON.stringify(want) && pods.every((x) => isReady(x) && !x.metadata.deletionTimestamp);
            },
            async () => (await kubectl.run(ctx, ["get", "pods", "-n", NS, "-o", "wide"], { allowFailure: true })).stdout,
            1000,
        );
    }

    async function readOnly(ctx: string, pod: string): Promise<string> {
        return (await sql(kubectl, ctx, NS, pod, "SELECT @@GLOBAL.read_only;", 8_000).catch(() => "?")).trim();
    }
    async function writable(): Promise<string[]> {
        const out: string[] = [];
        for (const m of members()) if ((await readOnly(m.ctx, m.pod)) === "0") out.push(m.pod);
        return out;
    }

    test("phases 01 and 02 in automatic mode: three voters Ready, mysql-0 the one writable member", { timeout: 30 * 60_000 }, async () => {
        try {
            plan = await applyPhase(0, "phase-01");
            await createWriterAccount(kubectl, ctxOf("cluster1"), NS, `${SET}-0`, secrets.app);
            plan = await applyPhase(1, "phase-02");
            const arbiters: string[] = [];
            for (const c of Object.keys(plan.clusters)) {
                const pods = (await kubectl.json(plan.clusters[c].context, ["get", "pods", "-n", NS])).items as any[];
                arbiters.push(
                    ...pods.filter((p) => p.metadata.labels?.["app.kubernetes.io/component"]?.startsWith("arbiter")).map((p) => `${c}/${p.metadata.name}`),
                );
            }
            assert.equal(arbiters.length, 3, `one arbiter voter per cluster: ${arbiters.join(", ")}`);
            assert.deepEqual(await writable(), [`${SET}-0`], "writable members after phase 02");
            // The writer runs in cluster2 and writes through cluster2's write endpoint: it outlives cluster1's node.
            const sts = [...readRender(path.join(workDir, "phase-02-1")).objects.values()]
                .flat()
                .find((r) => r.object.kind === "StatefulSet" && r.object.metadata.name === SET)!;
            const image = sts.object.spec.template.spec.containers[0].image;
            const writeHost = (plan.outputs as any).clusters?.cluster2?.writeEndpoint ?? plan.outputs.writeEndpoint;
            const node = (await kubectl.json(ctxOf("cluster2"), ["get", "pods", "-n", NS, `${SET}-1`])).spec.nodeName;
            writer = await startWriterPod(kubectl, ctxOf("cluster2"), { name: "writer-auto", image, writeHost, base: 50_000_000, node, password: secrets.app });
            log(`phase 02: arbiters ${arbiters.join(", ")}; mysql-0 the primary; writer-auto writes through ${writeHost}`);
        } catch (e) {
            failed = "phases";
            throw e;
        }
    });

    test("the primary's node stopped: mysql-1 promoted by the arbiter; never two writable; no acknowledged write lost", { timeout: 15 * 60_000 }, async () => {
        if (failed) throw new Error(`not run: ${failed} failed`);
        try {
            const node = (await kubectl.json(ctxOf("cluster1"), ["get", "pods", "-n", NS, `${SET}-0`])).spec.nodeName as string;
            // Writes flowing steadily through the cross-cluster write endpoint first.
            const settled = writer!.acks.length + 40;
            await waitUntil(
                "writer-auto acknowledges 40 more writes before the stop",
                120_000,
                async () => (await writer!.refresh(), writer!.acks.length >= settled),
                async () => writer!.errors.slice(-5).join("\n"),
                500,
            );
            const before = writer!.acks.length;
            const stopAt = Date.now();
            await run("bash", [path.join(ROOT, "tools/clusters/node.sh"), "stop", node], { timeoutMs: 120_000, env: ENV, echo: true });
            // Once node.sh returned every process of the node is gone, mysql-0's server with it: an acknowledgement
            // after this moment can only come from a new primary.
            const stopDone = Date.now();
            log(`node ${node} (mysql-0, the primary) stopped (${stopDone - stopAt} ms to kill everything on it)`);
            // Sampling: mysql-1's state every round (mysql-0's node is gone: its server with it).
            const samples: { at: number; w: string[] }[] = [];
            let promotedAt = 0;
            const deadline = Date.now() + 5 * 60_000;
            while (Date.now() < deadline) {
                const w = (await readOnly(ctxOf("cluster2"), `${SET}-1`)) === "0" ? [`${SET}-1`] : [];
                samples.push({ at: Date.now(), w });
                if (w.length && !promotedAt) promotedAt = Date.now();
                if (promotedAt && Date.now() - promotedAt > 10_000) break;
                await sleep(300);
            }
            assert.ok(promotedAt, `mysql-1 not writable within 5 min of the stop:\n${await agentLog(ctxOf("cluster2"), `${SET}-1`)}`);
            await waitUntil(
                "writer-auto acknowledges writes on the new primary",
                120_000,
                async () => {
                    await writer!.refresh();
                    return writer!.acks.some((a) => a.atMs > promotedAt - 2_000 && a.atMs > stopDone);
                },
                async () => writer!.errors.slice(-5).join("\n"),
                1000,
            );
            // The loss: mysql-0's last acknowledgement (it died at most a write interval later); the end: the first
            // acknowledgement once the node was gone, which only the new primary can give.
            const lastBefore = Math.max(...writer!.acks.filter((a) => a.atMs <= stopDone).map((a) => a.atMs));
            const firstAfter = Math.min(...writer!.acks.filter((a) => a.atMs > stopDone).map((a) => a.atMs));
            const unavailable = firstAfter - lastBefore;
            figures.auto_failover_write_unavailability_ms = unavailable;
            figures.node_stop_ms = stopDone - stopAt;
            figures.auto_failover_promoted_after_node_stopped_ms = promotedAt - stopDone;
            figures.acknowledged_before_stop = before;
            log(
                `mysql-1 writable ${promotedAt - stopDone} ms after the node was stopped; writes unavailable ${unavailable} ms (last acknowledgement by mysql-0 -> first by mysql-1)`,
            );
            const agent = await agentLog(ctxOf("cluster2"), `${SET}-1`);
            assert.match(agent, /epoch/, `mysql-1's agent logged no promotion:\n${agent}`);
            // A figure, not an assertion (goals live in the benchmark results, these machines are noisy).
            figures.auto_failover_goal_ms = GOAL_MS;
            // Every write acknowledged before and after the stop is on the new primary.
            await writer!.pause();
            try {
                await writer!.refresh();
                const acked = writer!.acks.map((a) => a.id);
                const ids = new Set(
                    (await sql(kubectl, ctxOf("cluster2"), NS, `${SET}-1`, "SELECT id FROM mmc_test.acks;", 120_000)).split("\n").filter(Boolean).map(Number),
                );
                const missing = acked.filter((id) => !ids.has(id));
                assert.deepEqual(missing.slice(0, 20), [], `the new primary lacks ${missing.length} acknowledged writes`);
                figures.acknowledged_total = acked.length;
                figures.lost_acknowledged_writes = missing.length;
            } finally {
                await writer!.resume();
            }
            (figures as any).node = node;
        } catch (e) {
            failed = "failover";
            throw e;
        }
    });

    test("the old primary's node back: mysql-0 rejoins as a replica of mysql-1 and is never writable", { timeout: 15 * 60_000 }, async () => {
        if (failed) throw new Error(`not run: ${failed} failed`);
        const node = (await kubectl.json(ctxOf("cluster1"), ["get", "pods", "-n", NS, `${SET}-0`])).spec.nodeName as string;
        await run("bash", [path.join(ROOT, "tools/clusters/node.sh"), "start", node], { timeoutMs: 120_000, env: ENV, echo: true });
        const both: string[] = [];
        await waitUntil(
            "mysql-0 a replica of mysql-1 (I/O and SQL threads running)",
            8 * 60_000,
            async () => {
                const w = await writable();
                if (w.length > 1) both.push(`${new Date().toISOString()} ${w.join(",")}`);
                const st = await sql(kubectl, ctxOf("cluster1"), NS, `${SET}-0`, "SHOW SLAVE STATUS;", 8_000, ["-E", "--column-names"]).catch(() => "");
                return /Slave_IO_Running: Yes/.test(st) && /Slave_SQL_Running: Yes/.test(st);
            },
            async () => agentLog(ctxOf("cluster1"), `${SET}-0`),
            1000,
        );
        assert.deepEqual(both, [], "two writable members at once");
        assert.deepEqual(await writable(), [`${SET}-1`], "the one writable member");
        await assertAllData("after the old primary rejoined");
    });

    test("the same config applied again (an unrelated up): the failover is not reverted", { timeout: 15 * 60_000 }, async () => {
        if (failed) throw new Error(`not run: ${failed} failed`);
        plan = await applyPhase(1, "phase-02-again");
        for (let i = 0; i < 20; i++) {
            assert.deepEqual(await writable(), [`${SET}-1`], `${i}: the one writable member after the same config was applied again`);
            await sleep(1000);
        }
        await assertAllData("after the same config was applied again");
    });

    async function assertAllData(label: string) {
        await writer!.pause();
        try {
            await writer!.refresh();
            const acked = new Set(writer!.acks.map((a) => a.id));
            const dbMembers = members().map((m) => ({ ctx: m.ctx, pod: m.pod, primary: m.o === 1 }));
            const sum = await assertSameData(kubectl, NS, dbMembers, acked, label);
            log(`${label}: ${acked.size} acknowledged writes on both members; checksum ${sum}`);
        } finally {
            await writer!.resume();
        }
    }

    async function agentLog(ctx: string, pod: string): Promise<string> {
        const r = await kubectl.run(ctx, ["logs", "-n", NS, pod, "-c", "failover-agent", "--tail", "40"], { allowFailure: true });
        return `${r.stdout}${r.stderr}`;
    }
});
