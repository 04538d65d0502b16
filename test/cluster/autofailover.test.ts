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
//   4. the same config applied again (what an unrelated `pulumi up` does): nothing reverts the failover;
//   5. the primary's whole cluster (cluster2, mysql-1) cut off from the others (tools/clusters/cut.sh) while
//      writer-auto keeps writing there and a second writer in cluster1 measures: mysql-0 promoted, mysql-1
//      fenced itself first, the cut side got no acknowledgement after the promotion; healed, mysql-1
//      rejoins as a replica;
//   6. a flapping link: cluster1 (mysql-0, the primary again) cut 3 s, healed 4 s, three times: no fence,
//      no failover; then one long cut with the checks of 5: mysql-1 promoted.
// Each of 2, 5 and 6 gives `auto_failover_<node_kill|cut_off|flap>_write_unavailability_ms` (the last
// acknowledgement before the loss -> the first on the new primary, by the writer outside the lost side),
// their largest `auto_failover_write_unavailability_ms`; every scenario asserts never two writable members
// (sampled), 0 acknowledged writes lost, the old primary a replica afterwards and equal checksums.
// Clean start between scenarios: instead of failing back (a switchover, then its Job and a rejoin: minutes),
// each scenario starts from where the previous one left the set (one writable member, the other its
// running replica, equal data, checked first) and cuts the cluster of whichever member is the primary.
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
import { assertSameData, assertWritableAndReplicating, createWriterAccount, longestGapMs, sql, startWriterPod, Writer, WritableSampler } from "./db";
import { cutCluster, healCluster } from "./faults";

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
    /** The second writer, in cluster1 (started for the cut scenarios). */
    let writerC1: Writer | undefined;
    let image = "";
    let writeHostOf: (cluster: string) => string = () => "";
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
            // A failed test must not leave a cut network behind (MMC_KEEP_CLUSTERS=1 keeps the clusters).
            if (kubectl) for (const c of ["cluster1", "cluster2", "cluster3"]) await healCluster(ROOT, ENV, c, log).catch((e) => log(`heal ${c}: ${e}`));
            const measured = ["node_kill", "cut_off", "flap"]
                .map((k) => figures[`auto_failover_${k}_write_unavailability_ms`])
                .filter((v) => typeof v === "number");
            if (measured.length) figures.auto_failover_write_unavailability_ms = Math.max(...(measured as number[]));
            if (Object.keys(figures).length) {
                fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
                const note =
                    "npm run test:cluster (test/cluster/autofailover.test.ts): the Kosmos set in automatic failover mode on real kubelet nodes; " +
                    "scenarios: node_kill (the primary's node stopped), cut_off (the primary's cluster cut off, a writer still writing there), flap (three 3 s cuts, then one long cut); " +
                    "auto_failover_<scenario>_write_unavailability_ms = last acknowledged write before the loss -> first acknowledged on the new primary, by the writer outside the lost side " +
                    "(a writer pod, one client per write, ~50 ms apart, through its own cluster's write endpoint); auto_failover_write_unavailability_ms = the largest of them";
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
            image = sts.object.spec.template.spec.containers[0].image;
            writeHostOf = (c) => (plan!.outputs as any).clusters?.[c]?.writeEndpoint ?? plan!.outputs.writeEndpoint;
            const writeHost = writeHostOf("cluster2");
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
            figures.auto_failover_node_kill_write_unavailability_ms = unavailable;
            const detail: Record<string, unknown> = {
                node_stop_ms: stopDone - stopAt,
                promoted_after_node_stopped_ms: promotedAt - stopDone,
                acknowledged_before_stop: before,
            };
            figures.node_kill = detail;
            log(
                `mysql-1 writable ${promotedAt - stopDone} ms after the node was stopped; writes unavailable ${unavailable} ms (last acknowledgement by mysql-0 -> first by mysql-1)`,
            );
            const agent = await agentLog(ctxOf("cluster2"), `${SET}-1`, stopAt);
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
                detail.acknowledged_total = acked.length;
                detail.lost_acknowledged_writes = missing.length;
            } finally {
                await writer!.resume();
            }
            detail.node = node;
        } catch (e) {
            failed = "failover";
            throw e;
        }
    });

    test("the old primary's node back: mysql-0 rejoins as a replica of mysql-1 and is never writable", { timeout: 15 * 60_000 }, async () => {
        if (failed) throw new Error(`not run: ${failed} failed`);
        try {
            await oldPrimaryBack();
        } catch (e) {
            failed = "rejoin";
            throw e;
        }
    });

    async function oldPrimaryBack() {
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
        await assertAllData("after the old primary rejoined", 1);
    }

    test("the same config applied again (an unrelated up): the failover is not reverted", { timeout: 15 * 60_000 }, async () => {
        if (failed) throw new Error(`not run: ${failed} failed`);
        try {
            plan = await applyPhase(1, "phase-02-again");
            for (let i = 0; i < 20; i++) {
                assert.deepEqual(await writable(), [`${SET}-1`], `${i}: the one writable member after the same config was applied again`);
                await sleep(1000);
            }
            await assertAllData("after the same config was applied again", 1);
        } catch (e) {
            failed = "re-apply";
            throw e;
        }
    });

    test(
        "the primary's cluster (cluster2) cut off, a writer still writing there: mysql-0 promoted; the cut-off primary fenced first; no acknowledged write lost",
        { timeout: 15 * 60_000 },
        async () => {
            if (failed) throw new Error(`not run: ${failed} failed`);
            try {
                // The writer outside the cut side: cluster1, on mysql-0's node, through cluster1's write endpoint.
                const node = (await kubectl.json(ctxOf("cluster1"), ["get", "pods", "-n", NS, `${SET}-0`])).spec.nodeName as string;
                writerC1 = await startWriterPod(kubectl, ctxOf("cluster1"), {
                    name: "writer-c1",
                    image,
                    writeHost: writeHostOf("cluster1"),
                    base: 60_000_000,
                    node,
                    password: secrets.app,
                });
                await longCut("cut_off", "cluster2", 1, 0, writer!, writerC1);
            } catch (e) {
                failed = "cut_off";
                throw e;
            }
        },
    );

    test(
        "a flapping link to the primary's cluster (cluster1): short cuts fail nothing over; then one long cut: mysql-1 promoted, no acknowledged write lost",
        { timeout: 15 * 60_000 },
        async () => {
            if (failed) throw new Error(`not run: ${failed} failed`);
            const m0 = member(0);
            await assertWritableAndReplicating(kubectl, NS, dbMembers(0), "flap: the clean start");
            const e0 = await epochOf(m0.ctx, m0.pod);
            const sampler = new WritableSampler(kubectl, NS, members);
            const start = Date.now();
            sampler.start();
            try {
                for (let i = 0; i < 3; i++) {
                    await cutCluster(ROOT, ENV, "cluster1", log);
                    await sleep(3_000);
                    await healCluster(ROOT, ENV, "cluster1", log);
                    await sleep(4_000);
                }
            } finally {
                await healCluster(ROOT, ENV, "cluster1", log).catch((e) => log(`heal cluster1: ${e}`));
                await sampler.stop();
            }
            const end = Date.now();
            assert.deepEqual(sampler.twoWritable(start), [], "flap: two writable members at once");
            const other = sampler.samples.filter((s) => s.atMs >= start && s.writable.includes(`${SET}-1`));
            assert.deepEqual(other.slice(0, 3), [], `flap: mysql-1 writable during the short cuts:\n${await agentLog(ctxOf("cluster2"), `${SET}-1`, start)}`);
            const agent0 = await agentLog(m0.ctx, m0.pod, start);
            assert.doesNotMatch(agent0, /FENCING/, "flap: mysql-0 fenced itself during a short cut");
            assert.equal(await epochOf(m0.ctx, m0.pod), e0, "flap: the epoch after the short cuts (no failover)");
            assert.deepEqual(await writable(), [`${SET}-0`], "flap: the one writable member after the short cuts");
            await Promise.all([writer!.refresh(), writerC1!.refresh()]);
            const gaps = { outside: longestGapMs(writer!.acks, start, end).gapMs, cutSide: longestGapMs(writerC1!.acks, start, end).gapMs };
            log(
                `flap: 3 cuts of 3 s: no fence, no failover (epoch ${e0}); longest write gap ${gaps.outside} ms (cluster2's writer), ${gaps.cutSide} ms (cluster1's)`,
            );
            figures.flap_short_cuts = {
                cuts: 3,
                cut_ms: 3_000,
                healed_ms: 4_000,
                longest_write_gap_outside_ms: gaps.outside,
                longest_write_gap_cut_side_ms: gaps.cutSide,
                ...sampler.resolution(start, end),
            };
            await longCut("flap", "cluster1", 0, 1, writerC1!, writer!);
        },
    );

    const member = (o: number) => members().find((m) => m.o === o)!;
    const dbMembers = (primary: number) => members().map((m) => ({ ctx: m.ctx, pod: m.pod, primary: m.o === primary }));
    async function epochOf(ctx: string, pod: string): Promise<number> {
        return Number((await sql(kubectl, ctx, NS, pod, "SELECT epoch FROM mmc.epoch WHERE id = 1;")).trim());
    }

    /** Waits until each writer acknowledged `n` more writes. */
    async function settle(label: string, writers: Writer[], n: number) {
        for (const w of writers) {
            await w.refresh();
            const want = w.acks.length + n;
            await waitUntil(
                `${label}: ${w.name} acknowledges ${n} more writes`,
                120_000,
                async () => (await w.refresh(), w.acks.length >= want),
                async () => w.errors.slice(-5).join("\n"),
                500,
            );
        }
    }

    /**
     * `cluster` (running mysql-`oldOrd`, the primary) cut off until mysql-`newOrd` is promoted, plus 5 s;
     * `cutSide` keeps writing inside it, `outside` measures. Asserted: the promotion, the old primary's
     * fence before it (the servers' own times), no acknowledgement on the cut side after it, never two
     * writable members (sampled), exactly one failover (epoch + 1); healed: the old primary rejoins as a
     * replica and is never writable again; every acknowledged write on both members, equal checksums.
     */
    async function longCut(tag: string, cluster: string, oldOrd: number, newOrd: number, cutSide: Writer, outside: Writer) {
        const [o, n] = [member(oldOrd), member(newOrd)];
        await assertWritableAndReplicating(kubectl, NS, dbMembers(oldOrd), `${tag}: the clean start`);
        const e0 = await epochOf(o.ctx, o.pod);
        await settle(tag, [cutSide, outside], 20);
        const sampler = new WritableSampler(kubectl, NS, members);
        sampler.start();
        const detail: Record<string, unknown> = { cut: cluster };
        figures[tag] = detail;
        let healStart = 0;
        const cutAt = Date.now();
        try {
            const cutDone = await cutCluster(ROOT, ENV, cluster, log);
            await waitUntil(
                `${tag}: ${n.pod} writable after ${cluster} was cut off`,
                5 * 60_000,
                async () => sampler.writableFrom(n.pod, cutAt) !== undefined,
                async () => agentLog(n.ctx, n.pod, cutAt),
                500,
            );
            const seenWritable = sampler.writableFrom(n.pod, cutAt)!;
            await waitUntil(
                `${tag}: ${outside.name} acknowledges a write on ${n.pod}`,
                120_000,
                async () => (await outside.refresh(), outside.acks.some((a) => a.atMs > cutDone)),
                async () => outside.errors.slice(-5).join("\n"),
                1000,
            );
            const lastBefore = Math.max(...outside.acks.filter((a) => a.atMs <= cutAt).map((a) => a.atMs));
            const firstAfter = Math.min(...outside.acks.filter((a) => a.atMs > cutDone).map((a) => a.atMs));
            // The order, from the servers' own clocks (one machine): the cut-off primary's agent logged its
            // fence done before the new primary recorded its epoch (failover.sh's promotion).
            const promotedAt = Number((await sql(kubectl, n.ctx, NS, n.pod, "SELECT ROUND(UNIX_TIMESTAMP(at) * 1000) FROM mmc.epoch WHERE id = 1;")).trim());
            const oldLog = await agentLog(o.ctx, o.pod, cutAt);
            const fencedAt = logTimes(oldLog, /fenced: read-only/).find((t) => t >= cutAt);
            assert.ok(fencedAt, `${tag}: ${o.pod} logged no fence after the cut:\n${oldLog}`);
            assert.ok(fencedAt < promotedAt, `${tag}: ${o.pod} fenced at ${iso(fencedAt)}, not before ${n.pod}'s promotion at ${iso(promotedAt)}`);
            Object.assign(detail, {
                fenced_after_cut_ms: fencedAt - cutAt,
                promoted_after_cut_ms: promotedAt - cutAt,
                writable_seen_after_cut_ms: seenWritable - cutAt,
                cut_ms: cutDone - cutAt,
            });
            figures[`auto_failover_${tag}_write_unavailability_ms`] = firstAfter - lastBefore;
            log(
                `${tag}: ${o.pod} fenced ${fencedAt - cutAt} ms after the cut, ${n.pod} promoted ${promotedAt - cutAt} ms after; ` +
                    `${outside.name}'s writes unavailable ${firstAfter - lastBefore} ms (its last acknowledgement before the cut -> its first after)`,
            );
            await sleep(5_000);
            // Inside the cut: the old primary fenced, the new one out of reach: no acknowledgement after the promotion.
            await cutSide.refresh();
            const late = cutSide.acks.filter((a) => a.atMs >= promotedAt);
            assert.deepEqual(late.slice(0, 5), [], `${tag}: ${cutSide.name} (cut side) acknowledged ${late.length} writes after ${n.pod}'s promotion`);
            detail.cut_side_acknowledged_during_cut = cutSide.acks.filter((a) => a.atMs > cutDone).length;
            healStart = Date.now();
            await healCluster(ROOT, ENV, cluster, log);
            await waitUntil(
                `${tag}: ${o.pod} a replica of ${n.pod} (I/O and SQL threads running)`,
                8 * 60_000,
                async () => {
                    const st = await sql(kubectl, o.ctx, NS, o.pod, "SHOW SLAVE STATUS;", 8_000, ["-E", "--column-names"]).catch(() => "");
                    return /Slave_IO_Running: Yes/.test(st) && /Slave_SQL_Running: Yes/.test(st);
                },
                async () => agentLog(o.ctx, o.pod, cutAt),
                1000,
            );
            detail.rejoined_after_heal_ms = Date.now() - healStart;
            // A few more samples with the old primary back.
            await sleep(3_000);
        } finally {
            if (!healStart) await healCluster(ROOT, ENV, cluster, log).catch((e) => log(`heal ${cluster}: ${e}`));
            await sampler.stop();
        }
        assert.deepEqual(sampler.twoWritable(cutAt).slice(0, 3), [], `${tag}: two writable members at once`);
        const oldWritable = sampler.samples.filter((s) => s.atMs > sampler.writableFrom(n.pod, cutAt)! && s.writable.includes(o.pod));
        assert.deepEqual(oldWritable.slice(0, 3), [], `${tag}: ${o.pod} writable again after ${n.pod}'s promotion`);
        assert.equal(await epochOf(n.ctx, n.pod), e0 + 1, `${tag}: exactly one failover (the epoch was ${e0})`);
        await assertWritableAndReplicating(kubectl, NS, dbMembers(newOrd), `${tag}: after the heal`);
        Object.assign(detail, sampler.resolution(cutAt));
        const acked = await assertAllData(`${tag}: after the heal`, newOrd, [outside, cutSide]);
        detail.acknowledged_total = acked;
        detail.lost_acknowledged_writes = 0;
    }

    /** With the writers paused: every write they got acknowledged on both members, equal checksums; their count. */
    async function assertAllData(label: string, primary: number, writers: Writer[] = [writer!]): Promise<number> {
        for (const w of writers) await w.pause();
        try {
            const acked = new Set<number>();
            for (const w of writers) {
                await w.refresh();
                for (const a of w.acks) acked.add(a.id);
            }
            const sum = await assertSameData(kubectl, NS, dbMembers(primary), acked, label);
            log(`${label}: ${acked.size} acknowledged writes on both members; checksum ${sum}`);
            return acked.size;
        } finally {
            for (const w of writers) await w.resume();
        }
    }

    /** The failover agent's log lines since `sinceMs` (its last 40 lines without it). */
    async function agentLog(ctx: string, pod: string, sinceMs?: number): Promise<string> {
        const since = sinceMs ? ["--since-time", new Date(sinceMs - 1000).toISOString()] : ["--tail", "40"];
        const r = await kubectl.run(ctx, ["logs", "-n", NS, pod, "-c", "failover-agent", ...since], { allowFailure: true });
        return `${r.stdout}${r.stderr}`;
    }
});

const iso = (ms: number) => new Date(ms).toISOString();
/** The times (ms) of the log lines matching `re` (the scripts' lines start with an ISO time: lib-env.sh mmc_log). */
function logTimes(text: string, re: RegExp): number[] {
    return text
        .split("\n")
        .filter((l) => re.test(l))
        .map((l) => Date.parse(l.split(" ")[0]))
        .filter((t) => !Number.isNaN(t));
}
