// Real-node walk-through: every phase of stacks/ rendered (tools/render.ts) and applied, in the
// plan's order, to three local clusters whose nodes are real kubelets running real MariaDB pods
// (tools/clusters/up.sh --nodes real), while a writer outside the set inserts continuously through
// the published write endpoint. After every step: exactly the placed pods, Ready through the real
// probes; replication running; every acknowledged write on every member; equal checksums; exactly
// one writable member (the planned primary); claims bound on the pod's node; moved claims retained;
// never one pod name in two clusters. Per-step longest write gap -> bench/results/cluster.json.
//
//   npm run test:cluster        (root; MMC_KEEP_CLUSTERS=1 leaves the clusters running)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { FatalError, Kubectl, PodWatcher, run, waitUntil } from "../controlplane/kube";
import {
    afterSwitchover,
    applyObjects,
    isReady,
    jobComplete,
    Plan,
    prune,
    readRender,
    realClusters,
    realClustersDown,
    realClustersUp,
    Rendered,
    renderPhase,
    resourceOf,
} from "./apply";
import { assertSameData, assertWritableAndReplicating, createWriterAccount, longestGapMs, sql, startWriterPod, Writer } from "./db";
import {
    FaultKind,
    FaultRecord,
    HeldLock,
    HOLD_EPOCH_ROW,
    HOLD_ROW,
    HOLD_TABLE,
    HOLD_TABLE_SQL,
    holdLock,
    JobKillPoint,
    jobFault,
    KillWait,
    nodeFault,
    seedFault,
} from "./faults";

const ROOT = process.cwd();
// Own state directory and ports: the KWOK tier (20000+) may run beside it.
// The MCS profile walked: kosmos (the stacks as written) or mcs-api (the same stacks with
// `mcs: { profile: mcs-api }`: seeding, replication and the switchover through clusterset.local names
// that the test MCS controller serves, tools/clusters/mcs-shim.ts --profile mcs-api).
const PROFILE = process.env.MMC_CLUSTER_PROFILE ?? "kosmos";
if (!["kosmos", "mcs-api"].includes(PROFILE)) throw new Error(`MMC_CLUSTER_PROFILE: "${PROFILE}" is not kosmos or mcs-api`);
const CLUSTERS = realClusters(PROFILE);
const ENV = CLUSTERS.env;
const KUBECONFIG = CLUSTERS.kubeconfig;
const CONVERGE_TIMEOUT = 8 * 60_000;
const RESULTS = path.join(ROOT, PROFILE === "kosmos" ? "bench/results/cluster.json" : `bench/results/cluster-${PROFILE}.json`);
// Faults injected beside the walk's steps (test/cluster/faults.ts): the first replica move gets its
// recipient's pod deleted mid-seed, the switchover its Job pod deleted, the second move the primary's
// node stopped. MMC_CLUSTER_FAULTS=none walks without them; a comma list picks some (seed,job,node).
const FAULTS = new Set<FaultKind>(
    (process.env.MMC_CLUSTER_FAULTS ?? "seed,job,node")
        .split(",")
        .map((f) => f.trim())
        .filter((f) => f && f !== "none") as FaultKind[],
);
for (const f of FAULTS) if (!["seed", "job", "node"].includes(f)) throw new Error(`MMC_CLUSTER_FAULTS: "${f}" is not one of seed, job, node, none`);
const NODE_DOWN_MS = 20_000;

function log(msg: string) {
    process.stderr.write(`[cluster ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

interface Phase {
    name: string;
    plan: Plan;
    objects: Map<string, Rendered[]>;
}
interface StepResult {
    phase: string;
    step: string;
    applySeconds: number;
    longestWriteGapMs: number;
    acknowledgedInStep: number;
    acknowledgedTotal: number;
    primary: string;
    /** Fault steps only: what was injected and what followed. */
    fault?: string;
    faultDetail?: string[];
}

describe("real-node walk-through (stacks/*.yaml, real MariaDB pods, continuous writes)", { concurrency: false }, () => {
    let kubectl: Kubectl;
    let watcher: PodWatcher | undefined;
    let failed: string | undefined;
    const phases: Phase[] = [];
    const results: StepResult[] = [];
    const writers: { cluster: string; writer: Writer; base: number; node: string }[] = [];
    const faultsDone: FaultRecord[] = [];
    let moves = 0;
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-cluster-"));
    const stackFiles = fs
        .readdirSync(path.join(ROOT, "stacks"))
        .filter((f) => f.endsWith(".yaml"))
        .sort();
    // The stacks as walked: stacks/ itself, or copies with the MCS profile replaced.
    let stackDir = path.join(ROOT, "stacks");
    if (PROFILE !== "kosmos") {
        stackDir = path.join(workDir, "stacks");
        fs.mkdirSync(stackDir);
        for (const f of stackFiles) {
            const text = fs.readFileSync(path.join(ROOT, "stacks", f), "utf8");
            const out = text.replace(/^(\s*mysql-multicluster:mcs:\s*)\{ profile: kosmos \}$/m, `$1{ profile: ${PROFILE} }`);
            if (out === text) throw new Error(`stacks/${f}: no "mysql-multicluster:mcs: { profile: kosmos }" line to replace`);
            fs.writeFileSync(path.join(stackDir, f), out);
        }
    }
    // What the random provider would generate once for the whole set (never printed).
    const secrets: Record<string, string> = Object.fromEntries(
        ["admin-password", "replication-password", "root-password", "seed-password", "app"].map((k) => [k, crypto.randomBytes(18).toString("base64url")]),
    );
    const kinds = new Map<string, string>(); // kind -> kubectl resource

    before(
        async () => {
            log("clusters: down.sh --purge, then up.sh --nodes real");
            kubectl = await realClustersUp(ROOT, CLUSTERS);
        },
        { timeout: 150 * 60_000 },
    );

    after(
        async () => {
            watcher?.stop();
            if (results.length) {
                fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
                fs.writeFileSync(
                    RESULTS,
                    JSON.stringify(
                        {
                            note:
                                "npm run test:cluster (MCS profile " +
                                PROFILE +
                                "): stacks/ applied to real kubelet nodes running MariaDB 10.11 pods; a writer pod inserts through the published write endpoint (one client per write, ~50 ms apart); longestWriteGapMs = longest interval without an acknowledged write while the step was applied and converged",
                            measuredAt: new Date().toISOString(),
                            machine: { cpus: os.cpus().length, loadAverage1m: os.loadavg()[0] },
                            lostAcknowledgedWrites: failed ? null : 0,
                            steps: results,
                        },
                        null,
                        2,
                    ) + "\n",
                );
                log(`results: ${RESULTS}`);
            }
            await realClustersDown(ROOT, CLUSTERS, workDir, log);
        },
        { timeout: 4 * 60_000 },
    );

    for (const [index, file] of stackFiles.entries()) {
        const name = file.replace(/\.yaml$/, "");
        test(`phase ${name}`, { timeout: 30 * 60_000 }, async () => {
            if (failed) throw new Error(`not run: earlier phase ${failed} failed`);
            try {
                await runPhase(index, name, file);
            } catch (e) {
                failed = name;
                throw e;
            }
        });
    }

    test(
        "npm run status: a replica whose replication is stopped makes it exit non-zero, naming the member; healthy again once it runs",
        { timeout: 5 * 60_000 },
        async () => {
            if (failed) throw new Error(`not run: phase ${failed} failed`);
            const file = stackFiles[stackFiles.length - 1];
            const plan = phases[phases.length - 1].plan;
            const place = placement(plan);
            const [ordinal, cluster] = [...place.entries()].find(([o]) => o !== plan.primary)!;
            const pod = `mysql-${ordinal}`;
            await sql(kubectl, contextOf(cluster), "mysql", pod, "STOP SLAVE;");
            try {
                const st = await status(file);
                assert.equal(st.code, 1, `status exits 1 with ${pod}'s replication stopped:\n${st.stdout}${st.stderr}`);
                assert.match(st.stdout, new RegExp(`^NOT HEALTHY: the next step should not run:$`, "m"));
                assert.match(st.stdout, new RegExp(`^  - replica ${pod}: replication I/O thread No$`, "m"));
                assert.match(st.stdout, new RegExp(`^  - replica ${pod}: replication SQL thread No$`, "m"));
                log(`status with ${pod}'s replication stopped: exit 1, names ${pod}`);
            } finally {
                await sql(kubectl, contextOf(cluster), "mysql", pod, "START SLAVE;");
            }
            await waitUntil(
                "npm run status healthy again",
                120_000,
                async () => (await status(file)).code === 0,
                async () => (await status(file)).stdout,
                3000,
            );
        },
    );

    async function status(file: string) {
        return run(
            process.execPath,
            ["--import", "tsx", path.join(ROOT, "tools/status.ts"), "--config", path.join(ROOT, "stacks", file), "--kubectl", kubectl.bin],
            {
                timeoutMs: 180_000,
                cwd: ROOT,
                env: { ...process.env, KUBECONFIG },
                allowFailure: true,
            },
        );
    }

    test("no pod ever existed in two clusters at once; the writers saw every step", () => {
        assert.ok(watcher, "the pod watch never started");
        assert.deepEqual(watcher.failures, [], "pod watch failures");
        assert.deepEqual(watcher.violations, [], "same pod in two clusters");
        assert.equal(results.filter((r) => !r.fault).length, stackFiles.length, "a step result per phase");
        assert.deepEqual(
            faultsDone.map((f) => f.kind).sort(),
            [...FAULTS].sort(),
            "every fault asked for was injected (seed: first replica move, job: switchover, node: second move)",
        );
    });

    function contextOf(c: string): string {
        for (const p of [...phases].reverse()) if (p.plan.clusters[c]) return p.plan.clusters[c].context;
        throw new Error(`no context for ${c}`);
    }
    function placement(plan: Plan): Map<number, string> {
        const m = new Map<number, string>();
        for (const [c, pc] of Object.entries(plan.clusters)) for (const o of pc.ordinals) m.set(o, c);
        return m;
    }

    async function runPhase(index: number, name: string, file: string) {
        const outDir = path.join(workDir, name);
        // the whole deployed history, oldest first, as the stack's state carries it (the epoch counts switchovers)
        await renderPhase(
            ROOT,
            path.join(stackDir, file),
            stackFiles.slice(0, index).map((f) => path.join(stackDir, f)),
            outDir,
        );
        const { plan, objects } = readRender(outDir);
        // The Secret gets the set's passwords, as the random provider's outputs would fill it.
        for (const list of objects.values())
            for (const r of list) {
                kinds.set(r.object.kind, resourceOf(r.object));
                if (r.object.kind === "Secret" && (r.object as any).stringData) {
                    const sd = (r.object as any).stringData as Record<string, string>;
                    for (const k of Object.keys(sd)) {
                        assert.ok(secrets[k], `${name}: unexpected Secret key ${k}`);
                        sd[k] = secrets[k];
                    }
                    fs.writeFileSync(r.file, YAML.stringify(r.object), { mode: 0o600 });
                }
            }
        const previous = phases[phases.length - 1];
        phases.push({ name, plan, objects });
        const clusters = [...new Set([...Object.keys(plan.clusters), ...(previous ? Object.keys(previous.plan.clusters) : [])])];
        if (!watcher) {
            watcher = new PodWatcher(kubectl, Object.fromEntries(clusters.map((c) => [c, contextOf(c)])));
            watcher.start();
        }
        const order = [...plan.applyOrder, ...clusters.filter((c) => !plan.applyOrder.includes(c))];
        const ns = "mysql";
        const set = "mysql";
        const start = Date.now();
        log(`${name}: ${plan.step.kind}; order ${order.join(" -> ")}`);

        // A fault beside this step, started before the apply: it waits for its moment itself.
        let fault: FaultKind | undefined;
        if (plan.step.kind === "move") fault = ([undefined, "seed", "node"] as const)[++moves];
        if (plan.step.kind === "switchover") fault = "job";
        if (fault && !FAULTS.has(fault)) fault = undefined;
        const moved = previous ? [...placement(plan)].filter(([o, c]) => placement(previous.plan).get(o) !== c && o !== plan.primary) : [];
        let background: Promise<FaultRecord> | undefined;
        if (fault === "seed" || fault === "node") {
            assert.equal(moved.length, 1, `${name}: the ${fault} fault needs one moved replica (moved: ${JSON.stringify(moved)})`);
            const [o, to] = moved[0];
            const primaryCluster = placement(plan).get(plan.primary)!;
            background =
                fault === "seed"
                    ? seedFault(kubectl, contextOf(to), ns, `${set}-${o}`, log)
                    : nodeFault(
                          kubectl,
                          ROOT,
                          ENV,
                          contextOf(primaryCluster),
                          contextOf(to),
                          ns,
                          `${set}-${plan.primary}`,
                          `${set}-${o}`,
                          writers[writers.length - 1].node,
                          NODE_DOWN_MS,
                          log,
                      );
            // Rejections are read after the step; none may go unhandled meanwhile.
            background.catch(() => undefined);
        }
        let jobFaultRecord: Omit<FaultRecord, "endMs"> | undefined;

        // A switchover: everything but the write Service and the topology first, then the Job; those two
        // only once it succeeded (the program's dependsOn on the Job).
        const jobs = [...objects.entries()].flatMap(([c, l]) => l.filter((r) => r.object.kind === "Job").map((r) => ({ c, r })));
        const switchoverJob = jobs.find((j) => j.r.object.metadata.labels?.["app.kubernetes.io/component"] === "switchover");
        if (switchoverJob) {
            for (const c of order) {
                const l = (objects.get(c) ?? []).filter((r) => !afterSwitchover(r.object) && r.object.kind !== "Job");
                if (l.length) await applyObjects(kubectl, contextOf(c), l, `${name}: ${c} (before the switchover)`);
            }
            const jobName = switchoverJob.r.object.metadata.name;
            // The job fault: the Job killed after its demotion, then its re-run inside its promotion, each
            // point reached through client locks the test holds (test/cluster/faults.ts).
            const oldPod = `${set}-${previous!.plan.primary}`;
            const oldCtx = contextOf(placement(plan).get(previous!.plan.primary)!);
            const newPod = `${set}-${plan.primary}`;
            const newCtx = contextOf(placement(plan).get(plan.primary)!);
            if (fault === "job") {
                await sql(kubectl, oldCtx, ns, oldPod, HOLD_TABLE_SQL);
                await waitUntil(
                    `${newPod}: the test table replicated`,
                    60_000,
                    async () => (await sql(kubectl, newCtx, ns, newPod, "SELECT v FROM mmc_test.hold WHERE id = 1;").catch(() => "")).trim() !== "",
                    async () => "",
                    500,
                );
            }
            const killPoints: JobKillPoint[] = fault === "job" ? ["demotion", "promotion"] : [];
            for (const point of killPoints) {
                const holds: HeldLock[] = [];
                try {
                    let waits: KillWait[];
                    if (point === "demotion") {
                        holds.push(await holdLock(kubectl, newCtx, ns, newPod, HOLD_ROW, log));
                        const table = await holdLock(kubectl, oldCtx, ns, oldPod, HOLD_TABLE, log);
                        holds.push(table);
                        waits = [
                            {
                                ctx: oldCtx,
                                pod: oldPod,
                                like: "SET GLOBAL read_only%",
                                then: () => table.exec("UPDATE mmc_test.hold SET v = v + 1 WHERE id = 1; UNLOCK TABLES;"),
                            },
                            { ctx: newCtx, pod: newPod, like: "SELECT MASTER_GTID_WAIT%" },
                        ];
                    } else {
                        holds.push(await holdLock(kubectl, newCtx, ns, newPod, HOLD_EPOCH_ROW, log));
                        // The promotion's first statement on that row: INSERT IGNORE (its duplicate-key check waits on the lock).
                        waits = [{ ctx: newCtx, pod: newPod, like: "INSERT IGNORE INTO mmc.epoch%" }];
                    }
                    await applyObjects(kubectl, contextOf(switchoverJob.c), [switchoverJob.r], `${name}: switchover Job (to be killed in its ${point})`);
                    const jf = await jobFault(kubectl, contextOf(switchoverJob.c), ns, jobName, point, waits, holds, log);
                    if (!jobFaultRecord) jobFaultRecord = jf.record;
                    else jobFaultRecord.detail.push(...jf.record.detail);
                    const logLines = jf.jobLog.filter((l) => /demoted|resuming|interrupted|applied/.test(l));
                    jobFaultRecord.detail.push(...logLines.map((l) => `${point}: Job log: ${l.trim()}`));
                    // The run after the demotion's kill found the old primary demoted and resumed.
                    if (point === "promotion")
                        assert.ok(
                            jf.jobLog.some((l) => /read-only without a channel: an interrupted switchover; resuming it/.test(l)),
                            `${name}: the re-run Job did not resume the interrupted switchover:\n${jf.jobLog.join("\n")}`,
                        );
                    const writable = await writableMembers(plan, ns, set);
                    jobFaultRecord.detail.push(`${point}: writable members once the killed Job ended: ${writable.join(", ") || "none"}`);
                    // Killed after the old primary's demotion took effect, before the new one was made writable.
                    assert.deepEqual(writable, [], `${name}: writable members after the Job was killed in its ${point}`);
                    assert.ok(jf.jobFailed, `${name}: the Job killed in its ${point} ended ${jf.state}, not Failed`);
                    // The `up` failed on the Job; the next `up` (same config) replaces the failed Job.
                    await kubectl.run(contextOf(switchoverJob.c), ["delete", "job", "-n", ns, jobName, "--cascade=foreground", "--wait=true"], {
                        timeoutMs: 120_000,
                    });
                    log(`${name}: the failed Job deleted (the next up replaces it)`);
                } finally {
                    for (const h of holds) await h.release();
                }
            }
            await applyObjects(kubectl, contextOf(switchoverJob.c), [switchoverJob.r], `${name}: switchover Job`);
            log(`${name}: ${switchoverJob.c}: Job ${jobName} applied`);
            await jobComplete(kubectl, contextOf(switchoverJob.c), switchoverJob.r.object.metadata.name, ns, 6 * 60_000);
            if (jobFaultRecord) {
                // The last run found the new primary out of its channel and read-only: it resumed the promotion.
                const last = (await kubectl.run(contextOf(switchoverJob.c), ["logs", "-n", ns, `job/${jobName}`])).stdout;
                const resumed = last.split("\n").find((l) => /an interrupted promotion\): resuming it/.test(l));
                assert.ok(resumed, `${name}: the Job run after the promotion's kill did not resume the promotion:\n${last}`);
                jobFaultRecord.detail.push(`the next up: ${resumed.trim()}`);
            }
            log(`${name}: ${switchoverJob.c}: switchover Job complete after ${((Date.now() - start) / 1000).toFixed(1)}s`);
        }
        for (const c of order) {
            const ctx = contextOf(c);
            const declared = objects.get(c) ?? [];
            if (declared.length) await applyObjects(kubectl, ctx, declared, `${name}: ${c}`);
            await converge(c, ctx, plan, set, ns, name);
            for (const j of jobs.filter((x) => x.c === c && x !== switchoverJob)) {
                await jobComplete(kubectl, ctx, j.r.object.metadata.name, ns, 6 * 60_000);
                log(`${name}: ${c}: Job ${j.r.object.metadata.name} complete`);
            }
        }
        // Objects the step no longer declares go last, as Pulumi deletes them after every create/update.
        for (const c of order) await prune(kubectl, contextOf(c), objects.get(c) ?? [], kinds, log, `${name}: ${c}`);
        let faultRecord: FaultRecord | undefined;
        if (background) {
            faultRecord = await background;
            // The step converged before the fault was over (a node back after Ready): converge again.
            for (const c of order) await converge(c, contextOf(c), plan, set, ns, `${name} (after the ${fault} fault)`);
        }
        const end = Date.now();
        if (jobFaultRecord) faultRecord = { ...jobFaultRecord, endMs: end };
        if (faultRecord) faultsDone.push(faultRecord);

        if (index === 0) await createAppUser(plan, ns, set);
        // The writer follows the published write endpoint from the primary's cluster.
        const primaryCluster = placement(plan).get(plan.primary)!;
        if (!writers.length || writers[writers.length - 1].cluster !== primaryCluster) await startWriter(primaryCluster, plan, ns);

        for (const w of writers) await w.writer.refresh();
        const allAcks = writers.flatMap((w) => w.writer.acks);
        const gap = index === 0 ? { gapMs: 0, acks: 0 } : longestGapMs(allAcks, start, end);
        await assertPhase(name, plan, previous, ns, set);
        // npm run status reads the same clusters and servers: healthy, and the real primary is the planned one.
        const st = await status(file);
        assert.equal(st.code, 0, `${name}: npm run status exits 0 after the step:\n${st.stdout}${st.stderr}`);
        assert.match(st.stdout, new RegExp(`primary configured ${set}-${plan.primary}, real ${set}-${plan.primary}\\n`), `${name}: status names the primary`);
        log(`${name}: npm run status: healthy, real primary ${set}-${plan.primary}`);
        if (PROFILE === "mcs-api") await assertClustersetPaths(name, plan, ns, set);
        if (switchoverJob) log(`${name}: switchover Job ran: mysql-${plan.primary} is the only writable member`);
        if (jobs.some((j) => j.r.object.metadata.labels?.["app.kubernetes.io/component"] === "retire")) {
            for (const j of jobs.filter((x) => x.r.object.metadata.labels?.["app.kubernetes.io/component"] === "retire")) {
                const left = await kubectl.json(contextOf(j.c), [
                    "get",
                    "persistentvolumeclaims",
                    "-n",
                    ns,
                    "-l",
                    `app.kubernetes.io/name=${set},app.kubernetes.io/instance=${set}`,
                ]);
                assert.deepEqual(
                    left.items.map((i: any) => i.metadata.name),
                    [],
                    `${name}: the retire Job left claims in ${j.c}`,
                );
                log(`${name}: retire Job deleted every claim of the set in ${j.c}`);
            }
        }
        results.push({
            phase: name,
            step: plan.step.kind,
            applySeconds: Math.round((end - start) / 100) / 10,
            longestWriteGapMs: gap.gapMs,
            acknowledgedInStep: gap.acks,
            acknowledgedTotal: new Set(allAcks.map((a) => a.id)).size,
            primary: `mysql-${plan.primary}@${primaryCluster}`,
        });
        if (faultRecord) {
            // The fault's own window: from the injection to the end of the step (its checks passed).
            const fg = longestGapMs(allAcks, faultRecord.startMs, end);
            results.push({
                phase: name,
                step: `fault: ${faultRecord.kind}`,
                applySeconds: Math.round((end - faultRecord.startMs) / 100) / 10,
                longestWriteGapMs: fg.gapMs,
                acknowledgedInStep: fg.acks,
                acknowledgedTotal: new Set(allAcks.map((a) => a.id)).size,
                primary: `mysql-${plan.primary}@${primaryCluster}`,
                fault: faultRecord.what,
                faultDetail: faultRecord.detail,
            });
            log(`${name}: fault ${faultRecord.kind} (${faultRecord.what}): guarantees hold; longest write gap ${fg.gapMs} ms`);
            for (const d of faultRecord.detail) log(`${name}:   ${d}`);
        }
        log(`${name}: ok in ${((end - start) / 1000).toFixed(1)}s; longest write gap ${gap.gapMs} ms (${gap.acks} writes acknowledged during the step)`);
    }

    async function setPods(ctx: string, ns: string, set: string): Promise<any[]> {
        const list = await kubectl.json(ctx, ["get", "pods", "-n", ns]);
        return list.items.filter((p: any) => new RegExp(`^${set}-\\d+$`).test(p.metadata.name));
    }

    async function converge(cluster: string, ctx: string, plan: Plan, set: string, ns: string, phase: string) {
        const want = [...(plan.clusters[cluster]?.ordinals ?? [])].sort().map((o) => `${set}-${o}`);
        const started = Date.now();
        await waitUntil(
            `${phase}: ${cluster} to run exactly [${want.join(", ")}], Ready`,
            CONVERGE_TIMEOUT,
            async () => {
                const pods = await setPods(ctx, ns, set);
                for (const p of pods) {
                    const bad = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find(
                        (s: any) => s.state?.waiting?.reason && /ErrImage|ImagePull|CreateContainerConfigError|InvalidImageName/.test(s.state.waiting.reason),
                    );
                    if (bad) throw new FatalError(`${cluster}/${p.metadata.name}: ${bad.name} ${bad.state.waiting.reason}: ${bad.state.waiting.message ?? ""}`);
                }
                const names = pods.map((p) => p.metadata.name).sort();
                if (JSON.stringify(names) !== JSON.stringify(want)) return false;
                if (!pods.every((p) => p.status?.phase === "Running" && isReady(p) && !p.metadata.deletionTimestamp)) return false;
                const s = await kubectl.getOrUndefined(ctx, "statefulsets.apps", set, ns);
                if (s && ((s.status?.observedGeneration ?? 0) < s.metadata.generation || (s.status?.readyReplicas ?? 0) !== want.length)) return false;
                return true;
            },
            async () => {
                const r = await kubectl.run(ctx, ["get", "statefulsets,pods,pvc", "-n", ns, "-o", "wide"], { allowFailure: true });
                const ev = await kubectl.run(ctx, ["get", "events", "-n", ns, "--sort-by", ".lastTimestamp"], { allowFailure: true });
                let logs = "";
                for (const p of await setPods(ctx, ns, set).catch(() => [])) {
                    for (const c of ["init", "mysql", "replicate"]) {
                        const l = await kubectl.run(ctx, ["logs", "-n", ns, p.metadata.name, "-c", c, "--tail", "15"], { allowFailure: true });
                        logs += `--- ${p.metadata.name}/${c}\n${l.stdout}${l.stderr}`;
                    }
                }
                return `${r.stdout}${r.stderr}\n--- events\n${ev.stdout.split("\n").slice(-25).join("\n")}\n${logs}`;
            },
            1000,
        );
        log(`${phase}: ${cluster}: [${want.join(", ")}] Ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    }

    async function createAppUser(plan: Plan, ns: string, set: string) {
        const c = placement(plan).get(plan.primary)!;
        await createWriterAccount(kubectl, contextOf(c), ns, `${set}-${plan.primary}`, secrets.app);
    }

    async function startWriter(cluster: string, plan: Plan, ns: string) {
        const ctx = contextOf(cluster);
        const base = (writers.length + 1) * 1_000_000;
        const podName = `writer-${writers.length + 1}`;
        // Not the primary's node: the node fault stops that one, and the client must outlive it.
        const primaryNode = (await kubectl.getOrUndefined(ctx, "pods", `mysql-${plan.primary}`, "mysql"))?.spec?.nodeName;
        const node = (await kubectl.json(ctx, ["get", "nodes"])).items.map((n: any) => n.metadata.name).find((n: string) => n !== primaryNode);
        const sts = [...phases[phases.length - 1].objects.values()].flat().find((r) => r.object.kind === "StatefulSet")!;
        const image = sts.object.spec.template.spec.containers[0].image;
        const writeHost = (plan.outputs as any).clusters?.[cluster]?.writeEndpoint ?? plan.outputs.writeEndpoint;
        const w = await startWriterPod(kubectl, ctx, { name: podName, image, writeHost, base, node, password: secrets.app });
        const old = writers[writers.length - 1];
        writers.push({ cluster, writer: w, base, node });
        if (old) {
            await old.writer.stop();
            log(`writer handed over: ${old.cluster}/${old.writer.name} stopped, ${cluster}/${podName} writes through ${writeHost}`);
        } else log(`${cluster}/${podName} writes through ${writeHost}`);
        void ns;
    }

    /**
     * mcs-api: every replica in another cluster than the primary replicates through a clusterset.local
     * name (the write Service's ClusterSetIP or the primary pod's), and from every member in another
     * cluster `<write>.<ns>.svc.clusterset.local` (the ClusterSetIP) reaches the primary.
     */
    async function assertClustersetPaths(name: string, plan: Plan, ns: string, set: string) {
        const place = placement(plan);
        const primaryCluster = place.get(plan.primary)!;
        let checked = 0;
        for (const [o, c] of place) {
            if (c === primaryCluster) continue;
            const pod = `${set}-${o}`;
            const st = await sql(kubectl, contextOf(c), ns, pod, "SHOW SLAVE STATUS;", 60_000, ["-E", "--column-names"]);
            const host = /Master_Host: (\S+)/.exec(st)?.[1] ?? "";
            // The program points replicas at the write Service's clusterset name (the ClusterSetIP) or the primary pod's.
            assert.ok(
                [`${set}-write.${ns}.svc.clusterset.local`, `${set}-${plan.primary}.${primaryCluster}.${set}.${ns}.svc.clusterset.local`].includes(host),
                `${name}: ${pod} replicates from ${host}, not through a clusterset.local name`,
            );
            const r = await kubectl.run(
                contextOf(c),
                [
                    "exec",
                    "-i",
                    "-n",
                    ns,
                    pod,
                    "-c",
                    "mysql",
                    "--",
                    "bash",
                    "-c",
                    `read -r p; MYSQL_PWD="$p" mariadb -h ${set}-write.${ns}.svc.clusterset.local -u app -N -B -e "SELECT @@hostname"`,
                ],
                { input: `${secrets.app}\n` },
            );
            assert.equal(r.stdout.trim(), `${set}-${plan.primary}`, `${name}: ${c}/${pod}: ${set}-write.${ns}.svc.clusterset.local reached ${r.stdout.trim()}`);
            checked++;
        }
        if (checked)
            log(
                `${name}: mcs-api: ${checked} member(s) outside ${primaryCluster} replicate through clusterset.local and reach the primary through its ClusterSetIP`,
            );
    }

    async function writableMembers(plan: Plan, ns: string, set: string): Promise<string[]> {
        const out: string[] = [];
        for (const [o, c] of placement(plan)) {
            const ro = await sql(kubectl, contextOf(c), ns, `${set}-${o}`, "SELECT @@GLOBAL.read_only;").catch(() => "?");
            if (ro.trim() === "0") out.push(`${set}-${o}`);
        }
        return out;
    }

    /**
     * Roles on pods (issue 16): every member's pod carries the role it really has (primary / replica,
     * healthy: threads running above) as it labelled itself, and each cluster's read Service's
     * EndpointSlices list exactly that cluster's replicas, never the primary.
     */
    async function assertRoles(name: string, plan: Plan, members: { o: number; c: string; ctx: string; pod: string }[], ns: string, set: string) {
        for (const m of members) {
            const want = m.o === plan.primary ? "primary/true" : "replica/true";
            const labelsOf = async () => {
                const l = (await kubectl.getOrUndefined(m.ctx, "pods", m.pod, ns))?.metadata?.labels ?? {};
                return `${l["mysql-multicluster/role"]}/${l["mysql-multicluster/healthy"]}`;
            };
            await waitUntil(`${name}: ${m.pod} labelled ${want}`, 90_000, async () => (await labelsOf()) === want, labelsOf, 1000);
        }
        for (const c of new Set(members.map((m) => m.c))) {
            const want = members
                .filter((m) => m.c === c && m.o !== plan.primary)
                .map((m) => m.pod)
                .sort();
            const endpoints = async () => {
                const list = await kubectl.json(contextOf(c), [
                    "get",
                    "endpointslices.discovery.k8s.io",
                    "-n",
                    ns,
                    "-l",
                    `kubernetes.io/service-name=${set}-read,endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io`,
                ]);
                return list.items
                    .flatMap((s: any) => s.endpoints ?? [])
                    .filter((e: any) => e.conditions?.ready)
                    .map((e: any) => e.targetRef?.name)
                    .sort();
            };
            await waitUntil(
                `${name}: the read Service in ${c} lists exactly ${want.join(", ") || "nothing"}`,
                90_000,
                async () => JSON.stringify(await endpoints()) === JSON.stringify(want),
                async () => JSON.stringify(await endpoints()),
                1000,
            );
        }
        log(`${name}: pod labels equal the real roles; each read Service lists exactly its cluster's healthy replicas`);
    }

    async function assertPhase(name: string, plan: Plan, previous: Phase | undefined, ns: string, set: string) {
        const place = placement(plan);
        const members = [...place.entries()].sort(([a], [b]) => a - b).map(([o, c]) => ({ o, c, ctx: contextOf(c), pod: `${set}-${o}` }));
        const clusters = new Set([...Object.keys(plan.clusters), ...(previous ? Object.keys(previous.plan.clusters) : [])]);
        for (const c of clusters) {
            const want = [...(plan.clusters[c]?.ordinals ?? [])].sort().map((o) => `${set}-${o}`);
            const pods = await setPods(contextOf(c), ns, set);
            assert.deepEqual(pods.map((p) => p.metadata.name).sort(), want, `${name}: pods in ${c}`);
            for (const p of pods) {
                assert.ok(isReady(p), `${name}: ${c}/${p.metadata.name} not Ready`);
                // The claim is bound to the local volume pinned to the node the pod runs on.
                const claim = `data-${p.metadata.name}`;
                const pvc = await kubectl.getOrUndefined(contextOf(c), "persistentvolumeclaims", claim, ns);
                assert.equal(pvc?.status?.phase, "Bound", `${name}: claim ${c}/${claim} not Bound`);
                const pv = await kubectl.getOrUndefined(contextOf(c), "persistentvolumes", pvc.spec.volumeName);
                const pinned = (pv?.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []).flatMap((t: any) =>
                    (t.matchExpressions ?? []).filter((e: any) => e.key === "kubernetes.io/hostname").flatMap((e: any) => e.values),
                );
                assert.deepEqual(pinned, [p.spec.nodeName], `${name}: ${claim}'s volume is pinned to ${pinned}, the pod runs on ${p.spec.nodeName}`);
            }
        }
        if (previous) {
            const before = placement(previous.plan);
            for (const [o, c] of place) {
                const src = before.get(o);
                if (!src || src === c || plan.clusters[src]?.retired || (plan as any).config?.retire?.includes(src)) continue;
                const pvc = await kubectl.getOrUndefined(contextOf(src), "persistentvolumeclaims", `data-${set}-${o}`, ns);
                assert.equal(pvc?.status?.phase, "Bound", `${name}: ordinal ${o} moved ${src} -> ${c}; its claim in ${src} must be retained and Bound`);
            }
        }
        // Exactly one writable member: the planned primary. Replication running on every replica.
        const dbMembers = members.map((m) => ({ ctx: m.ctx, pod: m.pod, primary: m.o === plan.primary }));
        await assertWritableAndReplicating(kubectl, ns, dbMembers, name);
        await assertRoles(name, plan, members, ns, set);
        // Every acknowledged write on every member, equal checksums (writes paused for the comparison).
        const active = writers[writers.length - 1].writer;
        await active.pause();
        try {
            for (const w of writers) await w.writer.refresh();
            const acked = new Set(writers.flatMap((w) => w.writer.acks.map((a) => a.id)));
            const checksum = await assertSameData(kubectl, ns, dbMembers, acked, name);
            log(`${name}: primary ${set}-${plan.primary}; ${acked.size} acknowledged writes on all ${members.length} members; checksum ${checksum}`);
        } finally {
            await active.resume();
        }
        assert.deepEqual(watcher!.failures, [], `${name}: pod watch failures`);
        assert.deepEqual(watcher!.violations, [], `${name}: a pod existed in two clusters at once`);
    }
});
