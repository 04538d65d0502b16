// Control-plane walk-through: the phases in stacks/*.yaml, rendered by
// tools/render.ts and applied to three real local Kubernetes control planes
// (tools/clusters/up.sh: etcd + kube-apiserver + controller-manager +
// scheduler + KWOK per cluster). Pods run no database: KWOK marks them Running.
//
//   npm run test:controlplane
//
// The test builds the toolchain if it is not cached (cold: tens of minutes),
// starts the clusters from scratch (down.sh --purge, up.sh), and stops them at
// the end (set MMC_KEEP_CLUSTERS=1 to leave them running for inspection).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { FatalError, Kubectl, PodWatcher, run, waitUntil } from "./kube";
import { clusterFeatureSmoke } from "./smoke";

const ROOT = process.cwd();
const FIELD_MANAGER = "mysql-multicluster";
const MANAGED_BY = "app.kubernetes.io/managed-by=mysql-multicluster";
const CLUSTERS_DIR = process.env.MMC_CLUSTERS_DIR ?? path.join(os.homedir(), ".cache/mysql-multicluster/clusters");
const KUBECONFIG = path.join(CLUSTERS_DIR, "kubeconfig");
const KEEP = process.env.MMC_KEEP_CLUSTERS === "1";

const TOOLCHAIN_TIMEOUT = 85 * 60_000; // cold build; seconds when cached
const UP_TIMEOUT = 10 * 60_000;
const RENDER_TIMEOUT = 3 * 60_000;
const APPLY_TIMEOUT = 2 * 60_000;
const CONVERGE_TIMEOUT = 3 * 60_000;

// Order in which kinds are applied (an object's dependencies first); kinds not listed go before StatefulSet.
const KIND_ORDER = [
    "Namespace",
    "CustomResourceDefinition",
    "StorageClass",
    "PersistentVolume",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "Secret",
    "ConfigMap",
    "Service",
];
const LAST_KINDS = ["StatefulSet", "PodDisruptionBudget", "ServiceExport", "ServiceImport"];
// Never pruned: the StatefulSet controller owns claims (retained claims must stay), and deleting a
// namespace would delete them too. Bound PersistentVolumes are not pruned either (they hold data).
const NEVER_PRUNE = new Set(["PersistentVolumeClaim", "Namespace"]);

interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
    spec?: any;
    [k: string]: unknown;
}
interface RenderedObject {
    file: string;
    object: K8sObject;
}
interface PlanCluster {
    context: string;
    ordinals: number[];
    [k: string]: unknown;
}
interface Plan {
    applyOrder: string[];
    clusters: Record<string, PlanCluster>;
    placement: unknown;
    primary: number;
}
interface Phase {
    name: string;
    stackFile: string;
    outDir: string;
    plan: Plan;
    objects: Map<string, RenderedObject[]>; // cluster -> objects
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

function log(msg: string) {
    process.stderr.write(`[controlplane ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function readRender(outDir: string): { plan: Plan; objects: Map<string, RenderedObject[]> } {
    const planFile = path.join(outDir, "plan.json");
    assert.ok(fs.existsSync(planFile), `renderer wrote no ${planFile}`);
    const plan = JSON.parse(fs.readFileSync(planFile, "utf8")) as Plan;
    assert.ok(Array.isArray(plan.applyOrder) && plan.applyOrder.length > 0, "plan.json: applyOrder must be a non-empty array");
    assert.ok(plan.clusters && typeof plan.clusters === "object", "plan.json: clusters missing");
    for (const c of plan.applyOrder) assert.ok(plan.clusters[c], `plan.json: applyOrder names ${c}, which is not in clusters`);
    const objects = new Map<string, RenderedObject[]>();
    for (const [cluster, pc] of Object.entries(plan.clusters)) {
        assert.ok(typeof pc.context === "string" && pc.context, `plan.json: clusters.${cluster}.context missing`);
        assert.ok(Array.isArray(pc.ordinals), `plan.json: clusters.${cluster}.ordinals missing`);
        const dir = path.join(outDir, cluster);
        const list: RenderedObject[] = [];
        if (fs.existsSync(dir)) {
            for (const f of fs.readdirSync(dir).sort()) {
                if (!f.endsWith(".yaml")) continue;
                const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"))
                    .map((d) => d.toJSON())
                    .filter(Boolean);
                assert.equal(docs.length, 1, `${cluster}/${f}: expected exactly one object, found ${docs.length}`);
                const o = docs[0] as K8sObject;
                assert.ok(o.kind && o.apiVersion && o.metadata?.name, `${cluster}/${f}: not a Kubernetes object`);
                assert.equal(f, `${o.kind.toLowerCase()}-${o.metadata.name}.yaml`, `${cluster}/${f}: file name does not match kind/name`);
                list.push({ file: path.join(dir, f), object: o });
            }
        }
        if (Array.isArray(pc.files)) {
            assert.deepEqual(
                list.map((r) => path.basename(r.file)).sort(),
                [...(pc.files as string[])].sort(),
                `plan.json: clusters.${cluster}.files does not list the files in ${dir}`,
            );
        }
        objects.set(cluster, list);
    }
    return { plan, objects };
}

/** The StatefulSet of the set (from any phase: a cluster may declare none in a phase). */
function statefulSetOf(phases: Phase[]): { name: string; namespace: string; claimTemplates: string[] } {
    for (const p of [...phases].reverse()) {
        for (const list of p.objects.values()) {
            const sts = list.find((r) => r.object.kind === "StatefulSet");
            if (sts) {
                return {
                    name: sts.object.metadata.name,
                    namespace: sts.object.metadata.namespace ?? "default",
                    claimTemplates: (sts.object.spec?.volumeClaimTemplates ?? []).map((t: any) => t.metadata.name),
                };
            }
        }
    }
    throw new Error("no phase declares a StatefulSet");
}

function expectedOrdinals(plan: Plan, cluster: string): number[] {
    return [...(plan.clusters[cluster]?.ordinals ?? [])].sort((a, b) => a - b);
}

describe("control-plane walk-through (stacks/*.yaml on three local clusters)", { concurrency: false }, () => {
    let kubectl: Kubectl;
    let watcher: PodWatcher | undefined;
    let failedPhase: string | undefined;
    const phases: Phase[] = [];
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-walkthrough-"));
    const stackFiles = fs.existsSync(path.join(ROOT, "stacks"))
        ? fs
              .readdirSync(path.join(ROOT, "stacks"))
              .filter((f) => f.endsWith(".yaml"))
              .sort()
        : [];

    before(
        async () => {
            const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
            assert.equal(pkg.name, "mysql-multicluster", `run from the repository root (cwd is ${ROOT})`);
            assert.ok(stackFiles.length >= 2, `need at least two walk-through stacks in ${ROOT}/stacks, found ${stackFiles.length}`);
            assert.ok(fs.existsSync(path.join(ROOT, "tools/render.ts")), "tools/render.ts (the renderer) is missing");

            log("toolchain: tools/toolchain/k8s.sh (builds from Go modules when not cached)");
            const tc = await run("bash", [path.join(ROOT, "tools/toolchain/k8s.sh")], { timeoutMs: TOOLCHAIN_TIMEOUT, echo: true });
            const bin = tc.stdout.trim().split("\n").pop()!;
            assert.ok(fs.existsSync(path.join(bin, "kubectl")), `toolchain did not produce ${bin}/kubectl`);

            log("clusters: down.sh --purge, then up.sh (fresh state)");
            const env = { ...process.env, MMC_CLUSTERS_DIR: CLUSTERS_DIR };
            await run("bash", [path.join(ROOT, "tools/clusters/down.sh"), "--purge"], { timeoutMs: 120_000, env, echo: true });
            await run("bash", [path.join(ROOT, "tools/clusters/up.sh")], { timeoutMs: UP_TIMEOUT, env, echo: true });
            kubectl = new Kubectl(path.join(bin, "kubectl"), KUBECONFIG);
        },
        { timeout: TOOLCHAIN_TIMEOUT + UP_TIMEOUT + 3 * 60_000 },
    );

    after(
        async () => {
            watcher?.stop();
            if (KEEP) {
                log(`MMC_KEEP_CLUSTERS=1: clusters left running (KUBECONFIG=${KUBECONFIG}); renders in ${workDir}`);
                return;
            }
            await run("bash", [path.join(ROOT, "tools/clusters/down.sh")], {
                timeoutMs: 120_000,
                env: { ...process.env, MMC_CLUSTERS_DIR: CLUSTERS_DIR },
                echo: true,
            });
            fs.rmSync(workDir, { recursive: true, force: true });
        },
        { timeout: 3 * 60_000 },
    );

    test(
        "cluster features: ordinals.start, WaitForFirstConsumer local volumes, whenScaled: Retain (hand-written objects)",
        { timeout: 8 * 60_000 },
        async () => {
            await clusterFeatureSmoke(kubectl, "kosmos-cluster1", ["kosmoscluster1-1", "kosmoscluster1-2"], log);
        },
    );

    for (const [index, file] of stackFiles.entries()) {
        const name = file.replace(/\.yaml$/, "");
        test(`phase ${name}`, { timeout: 20 * 60_000 }, async () => {
            if (failedPhase) throw new Error(`not run: earlier phase ${failedPhase} failed, the clusters are not in its end state`);
            try {
                await runPhase(index, name, file);
            } catch (e) {
                failedPhase = name;
                throw e;
            }
        });
    }

    test(
        "Pod Security restricted: every rendered object of every phase passes a server-side dry-run into an enforcing namespace",
        { timeout: 10 * 60_000 },
        async () => {
            assert.ok(phases.length === stackFiles.length, "every phase was rendered");
            await restrictedDryRun(kubectl, phases, workDir);
        },
    );

    test("no pod ever existed in two clusters at once, pod watches stayed up", () => {
        assert.ok(watcher, "the pod watch never started");
        assert.deepEqual(watcher.failures, [], "pod watch failures");
        assert.deepEqual(watcher.violations, [], "same pod in two clusters");
    });

    async function runPhase(index: number, name: string, file: string) {
        // ---------------------------------------------------------------- render
        const outDir = path.join(workDir, name);
        const args = [
            "--import",
            "tsx",
            path.join(ROOT, "tools/render.ts"),
            "--config",
            path.join(ROOT, "stacks", file),
            ...(index > 0 ? ["--previous", path.join(ROOT, "stacks", stackFiles[index - 1])] : []),
            "--out",
            outDir,
        ];
        log(`${name}: render`);
        await run(process.execPath, args, { timeoutMs: RENDER_TIMEOUT, cwd: ROOT });
        const { plan, objects } = readRender(outDir);
        const phase: Phase = { name, stackFile: file, outDir, plan, objects };
        const previous = phases[phases.length - 1];
        phases.push(phase);
        const sts = statefulSetOf(phases);
        const allClusters = [...new Set([...Object.keys(plan.clusters), ...(previous ? Object.keys(previous.plan.clusters) : [])])];
        const contextOf = (c: string) => plan.clusters[c]?.context ?? previous!.plan.clusters[c].context;

        // placement (ordinal -> cluster) and the per-cluster ordinals must agree
        if (Array.isArray(plan.placement)) {
            for (const c of Object.keys(plan.clusters)) {
                const fromPlacement: number[] = (plan.placement as unknown[])
                    .map((p, o): [unknown, number] => [typeof p === "string" ? p : (p as any)?.cluster, o])
                    .filter(([pc]) => pc === c)
                    .map(([, o]) => o);
                assert.deepEqual(expectedOrdinals(plan, c), fromPlacement, `plan.json: placement and clusters.${c}.ordinals disagree`);
            }
        }

        if (!watcher) {
            watcher = new PodWatcher(kubectl, Object.fromEntries(allClusters.map((c) => [c, contextOf(c)])));
            watcher.start();
        }

        const eventsBefore = watcher.events.length;
        // -------------------------------------------- apply, prune, converge
        const order = [...plan.applyOrder, ...allClusters.filter((c) => !plan.applyOrder.includes(c))];
        const instances = new Set<string>();
        for (const p of phases)
            for (const list of p.objects.values())
                for (const r of list) {
                    const i = r.object.metadata.labels?.["app.kubernetes.io/instance"];
                    if (i) instances.add(i);
                }
        const kinds = new Set<string>();
        for (const p of phases) for (const list of p.objects.values()) for (const r of list) kinds.add(r.object.kind);

        for (const cluster of order) {
            const ctx = contextOf(cluster);
            const declared = objects.get(cluster) ?? [];
            if (declared.length) await apply(cluster, ctx, declared, name);
            await prune(cluster, ctx, declared, kinds, instances, name);
            await converge(cluster, ctx, plan, sts, name);
            await jobsComplete(cluster, ctx, declared, name);
            await budgetsSynced(cluster, ctx, declared, name);
            await drainRespectsPrimary(cluster, ctx, plan, sts, name);
        }

        // -------------------------------------------------------------- assert
        for (const cluster of allClusters) {
            const ctx = contextOf(cluster);
            const want = expectedOrdinals(plan, cluster).map((o) => `${sts.name}-${o}`);
            const pods = await setPods(ctx, sts);
            assert.deepEqual(pods.map((p) => p.metadata.name).sort(), [...want].sort(), `${name}: pods in ${cluster}`);
            for (const pod of pods) {
                assert.equal(pod.status?.phase, "Running", `${name}: ${cluster}/${pod.metadata.name} phase`);
                assert.ok(isReady(pod), `${name}: ${cluster}/${pod.metadata.name} not Ready`);
                await assertLocalVolumes(cluster, ctx, pod, sts, name);
            }
            // every declared object exists (accepted and not pruned)
            for (const r of objects.get(cluster) ?? []) {
                const o = r.object;
                const got = await kubectl.getOrUndefined(ctx, resourceOf(o), o.metadata.name, o.metadata.namespace);
                assert.ok(got, `${name}: declared ${key(o)} missing in ${cluster}`);
                assert.ok(!got.metadata.deletionTimestamp, `${name}: declared ${key(o)} is being deleted in ${cluster}`);
            }
            // the MCS objects the phase declares
            const mcs = (objects.get(cluster) ?? []).filter((r) => r.object.kind === "ServiceExport" || r.object.kind === "ServiceImport");
            for (const r of mcs) {
                const o = r.object;
                const got = await kubectl.getOrUndefined(ctx, `${o.kind.toLowerCase()}s.multicluster.x-k8s.io`, o.metadata.name, o.metadata.namespace);
                assert.ok(got, `${name}: ${o.kind} ${o.metadata.namespace}/${o.metadata.name} missing in ${cluster}`);
                assert.equal(got.apiVersion, "multicluster.x-k8s.io/v1alpha1");
            }
            // and none it does not declare
            for (const kind of ["serviceexports", "serviceimports"]) {
                const list = await kubectl.json(ctx, ["get", `${kind}.multicluster.x-k8s.io`, "-A", "-l", MANAGED_BY]);
                const declaredNames = new Set(mcs.map((r) => `${r.object.metadata.namespace}/${r.object.metadata.name}`));
                for (const item of list.items.filter((i: any) => `${i.kind.toLowerCase()}s` === kind)) {
                    assert.ok(
                        declaredNames.has(`${item.metadata.namespace}/${item.metadata.name}`) || item.metadata.deletionTimestamp,
                        `${name}: ${item.kind} ${item.metadata.namespace}/${item.metadata.name} in ${cluster} is not declared by the phase`,
                    );
                }
            }
        }

        // ordinals that changed cluster left their claim and volume behind in the source cluster
        if (previous) {
            const prevPlacement = new Map<number, string>();
            for (const [c, pc] of Object.entries(previous.plan.clusters)) for (const o of pc.ordinals) prevPlacement.set(o, c);
            for (const [c, pc] of Object.entries(plan.clusters)) {
                for (const o of pc.ordinals) {
                    const src = prevPlacement.get(o);
                    if (!src || src === c) continue;
                    const ctx = contextOf(src);
                    for (const t of sts.claimTemplates) {
                        const claim = `${t}-${sts.name}-${o}`;
                        const pvc = await kubectl.getOrUndefined(ctx, "persistentvolumeclaims", claim, sts.namespace);
                        assert.ok(pvc, `${name}: ordinal ${o} moved ${src} -> ${c}, but its claim ${claim} is gone from ${src}`);
                        assert.ok(!pvc.metadata.deletionTimestamp, `${name}: retained claim ${src}/${claim} is being deleted`);
                        assert.equal(pvc.status?.phase, "Bound", `${name}: retained claim ${src}/${claim} is not Bound`);
                        const pv = await kubectl.getOrUndefined(ctx, "persistentvolumes", pvc.spec.volumeName);
                        assert.ok(pv, `${name}: volume ${pvc.spec.volumeName} of retained claim ${src}/${claim} is gone`);
                        assert.ok(!pv.metadata.deletionTimestamp, `${name}: volume ${pv.metadata.name} in ${src} is being deleted`);
                        log(`${name}: ordinal ${o} moved ${src} -> ${c}; ${src} keeps ${claim} bound to ${pv.metadata.name}`);
                    }
                }
            }
        }
        assert.deepEqual(watcher.failures, [], `${name}: pod watch failures`);
        assert.deepEqual(watcher.violations, [], `${name}: a pod existed in two clusters at once`);
        log(
            `${name}: ok (${Object.entries(plan.clusters)
                .map(([c, pc]) => `${c}=[${pc.ordinals.join(",")}]`)
                .join(" ")}; ` + `${watcher.events.length - eventsBefore} pod watch events)`,
        );
    }

    async function apply(cluster: string, ctx: string, declared: RenderedObject[], phase: string) {
        const rank = (k: string) => {
            const i = KIND_ORDER.indexOf(k);
            if (i >= 0) return i;
            const j = LAST_KINDS.indexOf(k);
            return j >= 0 ? 100 + j : 50;
        };
        const sorted = [...declared].sort((a, b) => rank(a.object.kind) - rank(b.object.kind) || a.file.localeCompare(b.file));
        // Namespaces first, in their own call: later objects are validated against them.
        const groups = [sorted.filter((r) => r.object.kind === "Namespace"), sorted.filter((r) => r.object.kind !== "Namespace")];
        for (const g of groups) {
            if (!g.length) continue;
            const r = await kubectl.run(ctx, ["apply", "--server-side", "--field-manager", FIELD_MANAGER, ...g.flatMap((x) => ["-f", x.file])], {
                timeoutMs: APPLY_TIMEOUT,
            });
            const applied = r.stdout.split("\n").filter((l) => /serverside-applied$/.test(l.trim()));
            assert.equal(
                applied.length,
                g.length,
                `${phase}: ${cluster}: API server accepted ${applied.length} of ${g.length} objects:\n${r.stdout}\n${r.stderr}`,
            );
        }
        log(`${phase}: ${cluster}: applied ${declared.length} objects`);
    }

    async function prune(cluster: string, ctx: string, declared: RenderedObject[], kinds: Set<string>, instances: Set<string>, phase: string) {
        const want = new Set(declared.map((r) => key(r.object)));
        const resources = [...kinds].filter((k) => !NEVER_PRUNE.has(k)).map((k) => resourceFor(k, phases));
        if (!resources.length || !instances.size) return;
        const selector = `${MANAGED_BY},app.kubernetes.io/instance in (${[...instances].join(",")})`;
        const list = await kubectl.json(ctx, ["get", resources.join(","), "-A", "-l", selector]);
        for (const item of list.items as K8sObject[]) {
            if (want.has(key(item)) || NEVER_PRUNE.has(item.kind) || (item.metadata as any).deletionTimestamp) continue;
            if (item.kind === "PersistentVolume" && (item as any).status?.phase === "Bound") {
                log(`${phase}: ${cluster}: not pruning bound volume ${item.metadata.name} (it holds a retained claim's data)`);
                continue;
            }
            log(`${phase}: ${cluster}: prune ${key(item)}`);
            await kubectl.run(
                ctx,
                [
                    "delete",
                    resourceFor(item.kind, phases),
                    item.metadata.name,
                    ...(item.metadata.namespace ? ["-n", item.metadata.namespace] : []),
                    "--wait=false",
                ],
                { timeoutMs: APPLY_TIMEOUT },
            );
        }
    }

    async function setPods(ctx: string, sts: { name: string; namespace: string }): Promise<any[]> {
        const list = await kubectl.json(ctx, ["get", "pods", "-n", sts.namespace]);
        const re = new RegExp(`^${sts.name}-\\d+$`);
        return list.items.filter((p: any) => re.test(p.metadata.name));
    }

    async function converge(cluster: string, ctx: string, plan: Plan, sts: { name: string; namespace: string }, phase: string) {
        const want = expectedOrdinals(plan, cluster)
            .map((o) => `${sts.name}-${o}`)
            .sort();
        const started = Date.now();
        await waitUntil(
            `${phase}: ${cluster} to run exactly [${want.join(", ")}], Running and Ready`,
            CONVERGE_TIMEOUT,
            async () => {
                const pods = await setPods(ctx, sts);
                const names = pods.map((p) => p.metadata.name).sort();
                if (JSON.stringify(names) !== JSON.stringify(want)) return false;
                if (!pods.every((p) => p.status?.phase === "Running" && isReady(p) && !p.metadata.deletionTimestamp)) return false;
                const s = await kubectl.getOrUndefined(ctx, "statefulsets.apps", sts.name, sts.namespace);
                if (s) {
                    if ((s.status?.observedGeneration ?? 0) < s.metadata.generation) return false;
                    if ((s.status?.readyReplicas ?? 0) !== want.length || (s.status?.replicas ?? 0) !== want.length) return false;
                } else if (want.length) return false;
                // the watch agrees (so a pod that left is also gone from the watch's view)
                const seen = [...watcher!.seen(cluster)]
                    .filter((k) => k.startsWith(`${sts.namespace}/`))
                    .map((k) => k.split("/")[1])
                    .filter((n) => new RegExp(`^${sts.name}-\\d+$`).test(n))
                    .sort();
                return JSON.stringify(seen) === JSON.stringify(want);
            },
            async () => {
                const r = await kubectl.run(ctx, ["get", "statefulsets,pods,pvc,pv", "-A", "-o", "wide"], { allowFailure: true });
                const ev = await kubectl.run(ctx, ["get", "events", "-A", "--sort-by", ".lastTimestamp"], { allowFailure: true });
                return `--- ${cluster} objects\n${r.stdout}${r.stderr}\n--- ${cluster} events (last 30)\n${ev.stdout.split("\n").slice(-30).join("\n")}`;
            },
        );
        log(`${phase}: ${cluster}: converged to [${want.join(", ")}] in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    }

    /** Declared Jobs must finish (KWOK completes their pods; Pulumi's await logic waits for Jobs the same way). */
    async function jobsComplete(cluster: string, ctx: string, declared: RenderedObject[], phase: string) {
        for (const r of declared.filter((d) => d.object.kind === "Job")) {
            const { name, namespace } = r.object.metadata;
            await waitUntil(
                `${phase}: ${cluster}: Job ${namespace}/${name} to complete`,
                CONVERGE_TIMEOUT,
                async () => {
                    const job = await kubectl.getOrUndefined(ctx, "jobs.batch", name, namespace);
                    const conds = job?.status?.conditions ?? [];
                    if (conds.some((c: any) => c.type === "Failed" && c.status === "True")) {
                        throw new FatalError(`Job ${namespace}/${name} failed: ${JSON.stringify(job.status)}`);
                    }
                    return conds.some((c: any) => c.type === "Complete" && c.status === "True");
                },
                async () => (await kubectl.run(ctx, ["get", "jobs,pods", "-n", namespace ?? "default", "-o", "wide"], { allowFailure: true })).stdout,
            );
            log(`${phase}: ${cluster}: Job ${namespace}/${name} complete`);
        }
    }

    /** The disruption controller must be able to evaluate every declared PodDisruptionBudget. */
    async function budgetsSynced(cluster: string, ctx: string, declared: RenderedObject[], phase: string) {
        for (const r of declared.filter((d) => d.object.kind === "PodDisruptionBudget")) {
            const { name, namespace } = r.object.metadata;
            let last: any;
            await waitUntil(
                `${phase}: ${cluster}: PodDisruptionBudget ${namespace}/${name} evaluated by the disruption controller`,
                60_000,
                async () => {
                    last = await kubectl.getOrUndefined(ctx, "poddisruptionbudgets.policy", name, namespace);
                    if (!last?.status || (last.status.observedGeneration ?? 0) < last.metadata.generation) return false;
                    const allowed = (last.status.conditions ?? []).find((c: any) => c.type === "DisruptionAllowed");
                    return !!allowed && allowed.reason !== "SyncFailed";
                },
                async () =>
                    `last status: ${JSON.stringify(last?.status)}\n` +
                    (await kubectl.run(ctx, ["get", "pods", "-n", namespace ?? "default", "--show-labels"], { allowFailure: true })).stdout,
            );
        }
    }

    /**
     * A drain never takes the primary: the eviction API (dry run, nothing is deleted) refuses the
     * primary's pod with 429 and allows a replica; the replicas' budget allows one disruption at a time.
     */
    async function drainRespectsPrimary(cluster: string, ctx: string, plan: Plan, sts: { name: string; namespace: string }, phase: string) {
        const ordinals = expectedOrdinals(plan, cluster);
        if (!ordinals.length) return;
        const evict = async (pod: string) => {
            const file = path.join(workDir, `eviction-${cluster}-${pod}.json`);
            const body = {
                apiVersion: "policy/v1",
                kind: "Eviction",
                metadata: { name: pod, namespace: sts.namespace },
                deleteOptions: { dryRun: ["All"] },
            };
            fs.writeFileSync(file, JSON.stringify(body));
            const r = await kubectl.run(ctx, ["create", "--raw", `/api/v1/namespaces/${sts.namespace}/pods/${pod}/eviction?dryRun=All`, "-f", file], {
                allowFailure: true,
            });
            return { allowed: r.code === 0, out: `${r.stdout}${r.stderr}`.trim() };
        };
        const budget = async (name: string) => (await kubectl.getOrUndefined(ctx, "poddisruptionbudgets.policy", name, sts.namespace))?.status;
        const replicas = ordinals.filter((o) => o !== plan.primary);
        let last = "";
        await waitUntil(
            `${phase}: ${cluster}: budgets count the pods (primary ${plan.primary} none allowed, replicas [${replicas}] one)`,
            60_000,
            async () => {
                const p = await budget(`${sts.name}-primary`);
                const r = await budget(sts.name);
                last = JSON.stringify({ primary: p, replicas: r });
                const hasPrimary = ordinals.includes(plan.primary);
                return (
                    p?.expectedPods === (hasPrimary ? 1 : 0) &&
                    p?.disruptionsAllowed === 0 &&
                    r?.expectedPods === replicas.length &&
                    r?.currentHealthy === replicas.length &&
                    r?.disruptionsAllowed === (replicas.length ? 1 : 0)
                );
            },
            async () => last,
        );
        if (ordinals.includes(plan.primary)) {
            const e = await evict(`${sts.name}-${plan.primary}`);
            assert.ok(!e.allowed, `${phase}: ${cluster}: the eviction API allowed evicting the primary ${sts.name}-${plan.primary}: ${e.out}`);
            assert.match(e.out, /TooManyRequests|429|disruption budget/, `${phase}: ${cluster}: primary eviction refused for another reason: ${e.out}`);
            log(`${phase}: ${cluster}: eviction of the primary ${sts.name}-${plan.primary} refused (${e.out.split("\n")[0]})`);
        }
        for (const o of replicas) {
            const e = await evict(`${sts.name}-${o}`);
            assert.ok(e.allowed, `${phase}: ${cluster}: the eviction API refused replica ${sts.name}-${o}: ${e.out}`);
            log(`${phase}: ${cluster}: eviction of replica ${sts.name}-${o} allowed (dry run)`);
        }
    }

    async function assertLocalVolumes(
        cluster: string,
        ctx: string,
        pod: any,
        sts: { name: string; namespace: string; claimTemplates: string[] },
        phase: string,
    ) {
        const node = pod.spec.nodeName;
        assert.ok(node, `${phase}: ${cluster}/${pod.metadata.name} is not scheduled`);
        for (const t of sts.claimTemplates) {
            const claim = `${t}-${pod.metadata.name}`;
            assert.ok(
                (pod.spec.volumes ?? []).some((v: any) => v.persistentVolumeClaim?.claimName === claim),
                `${phase}: ${cluster}/${pod.metadata.name} does not mount claim ${claim}`,
            );
            const pvc = await kubectl.getOrUndefined(ctx, "persistentvolumeclaims", claim, sts.namespace);
            assert.ok(pvc, `${phase}: claim ${cluster}/${claim} missing`);
            assert.equal(pvc.status?.phase, "Bound", `${phase}: claim ${cluster}/${claim} not Bound`);
            const pv = await kubectl.getOrUndefined(ctx, "persistentvolumes", pvc.spec.volumeName);
            assert.ok(pv, `${phase}: volume ${pvc.spec.volumeName} of ${cluster}/${claim} missing`);
            assert.ok(pv.spec.local?.path, `${phase}: volume ${pv.metadata.name} in ${cluster} is not a local volume`);
            assert.equal(pv.spec.claimRef?.name, claim, `${phase}: volume ${pv.metadata.name} is not bound to ${claim}`);
            const terms = pv.spec.nodeAffinity?.required?.nodeSelectorTerms ?? [];
            const pinned = terms.flatMap((term: any) =>
                (term.matchExpressions ?? []).filter((e: any) => e.key === "kubernetes.io/hostname" && e.operator === "In").flatMap((e: any) => e.values),
            );
            assert.deepEqual(
                pinned,
                [node],
                `${phase}: volume ${pv.metadata.name} (claim ${claim}) is pinned to [${pinned}], but ${pod.metadata.name} runs on ${node} in ${cluster}`,
            );
        }
    }
});

function isReady(pod: any): boolean {
    return (pod.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
}

/** kubectl resource name for a kind, qualified by API group so that it is unambiguous. */
function resourceFor(kind: string, phases: Phase[]): string {
    for (const p of phases)
        for (const list of p.objects.values())
            for (const r of list) {
                if (r.object.kind === kind) return resourceOf(r.object);
            }
    return kind.toLowerCase();
}

function resourceOf(o: K8sObject): string {
    const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
    return group ? `${o.kind.toLowerCase()}.${group}` : o.kind.toLowerCase();
}

/**
 * Pod Security "restricted", checked by the API servers themselves: a namespace labelled
 * `pod-security.kubernetes.io/enforce: restricted` (and warn) per cluster; every namespaced object of
 * every phase is dry-run (server side) into it with no PodSecurity warning (workloads are only warned
 * about), and every pod template is dry-run as a Pod, which admission enforces. A pod without a security
 * context is refused there first: enforcement is on.
 */
async function restrictedDryRun(kubectl: Kubectl, phases: Phase[], workDir: string) {
    const ns = "mmc-restricted";
    const contexts = new Map<string, string>();
    for (const p of phases) for (const [c, pc] of Object.entries(p.plan.clusters)) contexts.set(c, pc.context);
    const dir = path.join(workDir, "restricted");
    fs.mkdirSync(dir, { recursive: true });
    // JSON, not YAML: kubectl reads YAML 1.1, where a value such as "on" written unquoted is a boolean.
    const write = (name: string, objs: unknown[]) => {
        const f = path.join(dir, name.replace(/\.yaml$/, ".json"));
        fs.writeFileSync(f, JSON.stringify({ apiVersion: "v1", kind: "List", items: objs }));
        return f;
    };
    let checkedPods = 0;
    for (const [cluster, ctx] of contexts) {
        const labels = {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
        };
        await kubectl.run(ctx, [
            "apply",
            "--server-side",
            "--field-manager",
            FIELD_MANAGER,
            "-f",
            write(`${cluster}-ns.yaml`, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels } }]),
        ]);
        // Enforcement is on: a pod with no security context is refused.
        const plain = { apiVersion: "v1", kind: "Pod", metadata: { name: "plain", namespace: ns }, spec: { containers: [{ name: "c", image: "busybox" }] } };
        const refused = await kubectl.run(ctx, ["create", "--dry-run=server", "-f", write(`${cluster}-plain.yaml`, [plain])], { allowFailure: true });
        assert.notEqual(refused.code, 0, `${cluster}: a plain pod was admitted into the restricted namespace`);
        assert.match(refused.stderr, /violates PodSecurity "restricted/, `${cluster}: ${refused.stderr}`);
        for (const phase of phases) {
            const objs = (phase.objects.get(cluster) ?? []).map((r) => r.object).filter((o) => o.metadata.namespace !== undefined);
            if (!objs.length) continue;
            const moved = objs.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns, resourceVersion: undefined } }));
            // The retire Job's pod needs its ServiceAccount to exist (admission checks it): created for real.
            const sas = moved.filter((o) => o.kind === "ServiceAccount");
            if (sas.length)
                await kubectl.run(ctx, ["apply", "--server-side", "--field-manager", FIELD_MANAGER, "-f", write(`${cluster}-${phase.name}-sa.yaml`, sas)]);
            const all = await kubectl.run(
                ctx,
                ["apply", "--server-side", "--dry-run=server", "--field-manager", FIELD_MANAGER, "-f", write(`${cluster}-${phase.name}.yaml`, moved)],
                {
                    allowFailure: true,
                },
            );
            assert.equal(all.code, 0, `${phase.name}/${cluster}: server-side dry-run refused: ${all.stderr}`);
            assert.doesNotMatch(all.stderr, /PodSecurity|would violate/, `${phase.name}/${cluster}: ${all.stderr}`);
            const pods = moved
                .filter((o) => o.spec?.template?.spec)
                .map((o) => {
                    const spec = { ...o.spec.template.spec };
                    // A StatefulSet's claim templates become the pod's claims.
                    const claims = (o.spec.volumeClaimTemplates ?? []).map((t: any) => ({
                        name: t.metadata.name,
                        persistentVolumeClaim: { claimName: `${t.metadata.name}-${o.metadata.name}-0` },
                    }));
                    spec.volumes = [...(spec.volumes ?? []), ...claims];
                    return {
                        apiVersion: "v1",
                        kind: "Pod",
                        metadata: { name: `${o.kind.toLowerCase()}-${o.metadata.name}`.slice(0, 63), namespace: ns, labels: o.spec.template.metadata?.labels },
                        spec,
                    };
                });
            if (!pods.length) continue;
            const r = await kubectl.run(ctx, ["create", "--dry-run=server", "-f", write(`${cluster}-${phase.name}-pods.yaml`, pods)], { allowFailure: true });
            assert.equal(r.code, 0, `${phase.name}/${cluster}: a pod of the program refused in a restricted namespace: ${r.stderr}`);
            checkedPods += pods.length;
        }
    }
    log(`restricted: ${checkedPods} pod templates admitted by the API servers' PodSecurity (enforce: restricted), every object dry-run`);
    assert.ok(checkedPods >= phases.length, "pod templates were checked");
}
