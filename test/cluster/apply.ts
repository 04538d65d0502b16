// Applying rendered phases the way `pulumi up` orders them, for the real-node tier: the render's
// plan.json gives the cluster order; the program's dependsOn edges that the renderer's files do not
// carry (the write Service and the topology wait for the switchover Job) are replayed here.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { FatalError, Kubectl, run, waitUntil } from "../controlplane/kube";

export const FIELD_MANAGER = "mysql-multicluster";
export const MANAGED_BY = "app.kubernetes.io/managed-by=mysql-multicluster";

export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
    spec?: any;
    [k: string]: unknown;
}
export interface Rendered {
    file: string;
    object: K8sObject;
}
export interface Plan {
    applyOrder: string[];
    clusters: Record<string, { context: string; ordinals: number[]; [k: string]: unknown }>;
    primary: number;
    outputs: { writeEndpoint: string; [k: string]: unknown };
    step: { kind: string; [k: string]: unknown };
}

export const objKey = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
export const component = (o: K8sObject) => o.metadata.labels?.["app.kubernetes.io/component"] ?? "";

/** Objects that the program creates only after the switchover Job succeeded (components/mysqlSlice.ts: afterSwitchover). */
export const afterSwitchover = (o: K8sObject) =>
    (o.kind === "ConfigMap" && component(o) === "topology") || (o.kind === "Service" && component(o) === "service-write");

export function readRender(outDir: string): { plan: Plan; objects: Map<string, Rendered[]> } {
    const plan = JSON.parse(fs.readFileSync(path.join(outDir, "plan.json"), "utf8")) as Plan;
    const objects = new Map<string, Rendered[]>();
    for (const cluster of Object.keys(plan.clusters)) {
        const dir = path.join(outDir, cluster);
        const list: Rendered[] = [];
        if (fs.existsSync(dir)) {
            for (const f of fs.readdirSync(dir).sort()) {
                if (!f.endsWith(".yaml")) continue;
                const o = YAML.parse(fs.readFileSync(path.join(dir, f), "utf8")) as K8sObject;
                list.push({ file: path.join(dir, f), object: o });
            }
        }
        objects.set(cluster, list);
    }
    return { plan, objects };
}

const KIND_ORDER = [
    "Namespace",
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
    "ServiceExport",
    "ServiceImport",
    "StatefulSet",
    "PodDisruptionBudget",
    "Job",
];
const rank = (k: string) => (KIND_ORDER.includes(k) ? KIND_ORDER.indexOf(k) : 50);

/** Server-side apply of a set of rendered objects (Namespaces first, then dependencies before users). */
export async function applyObjects(kubectl: Kubectl, ctx: string, objs: Rendered[], what: string): Promise<void> {
    const sorted = [...objs].sort((a, b) => rank(a.object.kind) - rank(b.object.kind) || a.file.localeCompare(b.file));
    const groups = [sorted.filter((r) => r.object.kind === "Namespace"), sorted.filter((r) => r.object.kind !== "Namespace")];
    for (const g of groups) {
        if (!g.length) continue;
        const r = await kubectl.run(
            ctx,
            ["apply", "--server-side", "--force-conflicts", "--field-manager", FIELD_MANAGER, ...g.flatMap((x) => ["-f", x.file])],
            { timeoutMs: 120_000 },
        );
        const applied = r.stdout.split("\n").filter((l) => /serverside-applied$/.test(l.trim())).length;
        assert.equal(applied, g.length, `${what}: API server accepted ${applied} of ${g.length} objects:\n${r.stdout}\n${r.stderr}`);
    }
}

/** Deletes objects of the set that the phase no longer declares (never claims, namespaces or bound volumes). */
export async function prune(kubectl: Kubectl, ctx: string, declared: Rendered[], kinds: Map<string, string>, log: (m: string) => void, what: string) {
    const want = new Set(declared.map((r) => objKey(r.object)));
    const resources = [...kinds.entries()].filter(([k]) => k !== "PersistentVolumeClaim" && k !== "Namespace").map(([, r]) => r);
    const list = await kubectl.json(ctx, ["get", resources.join(","), "-A", "-l", MANAGED_BY]);
    for (const item of list.items as K8sObject[]) {
        if (want.has(objKey(item)) || (item.metadata as any).deletionTimestamp) continue;
        if (item.kind === "PersistentVolume" && (item as any).status?.phase === "Bound") continue;
        log(`${what}: prune ${objKey(item)}`);
        await kubectl.run(ctx, [
            "delete",
            kinds.get(item.kind)!,
            item.metadata.name,
            ...(item.metadata.namespace ? ["-n", item.metadata.namespace] : []),
            "--wait=false",
        ]);
    }
}

export function resourceOf(o: K8sObject): string {
    const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
    return group ? `${o.kind.toLowerCase()}.${group}` : o.kind.toLowerCase();
}

export function isReady(pod: any): boolean {
    return (pod.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
}

/** Waits for a Job to complete; a Failed condition ends the wait at once. */
export async function jobComplete(kubectl: Kubectl, ctx: string, name: string, ns: string, timeoutMs: number): Promise<void> {
    await waitUntil(
        `Job ${ns}/${name} to complete`,
        timeoutMs,
        async () => {
            const job = await kubectl.getOrUndefined(ctx, "jobs.batch", name, ns);
            const conds = job?.status?.conditions ?? [];
            if (conds.some((c: any) => c.type === "Failed" && c.status === "True")) {
                const logs = await kubectl.run(ctx, ["logs", "-n", ns, `job/${name}`, "--tail", "40"], { allowFailure: true });
                throw new FatalError(`Job ${ns}/${name} failed: ${JSON.stringify(job.status)}\n${logs.stdout}${logs.stderr}`);
            }
            return conds.some((c: any) => c.type === "Complete" && c.status === "True");
        },
        async () => (await kubectl.run(ctx, ["get", "jobs,pods", "-n", ns, "-o", "wide"], { allowFailure: true })).stdout,
        1000,
    );
}

/**
 * The real-node clusters a test of this tier runs on (`tools/clusters/up.sh --nodes real`): their own
 * state directory and ports (the KWOK tier, 20000+, may run beside them); MMC_KEEP_CLUSTERS=1 leaves them
 * running after the test.
 */
export interface RealClusters {
    kubeconfig: string;
    env: NodeJS.ProcessEnv;
    keep: boolean;
}
export function realClusters(profile: string): RealClusters {
    const dir = process.env.MMC_CLUSTERS_DIR ?? path.join(os.homedir(), ".cache/mysql-multicluster/clusters-real");
    return {
        kubeconfig: path.join(dir, "kubeconfig"),
        env: { ...process.env, MMC_CLUSTERS_DIR: dir, MMC_PORT_BASE: process.env.MMC_PORT_BASE ?? "30000", MMC_MCS_PROFILE: profile },
        keep: process.env.MMC_KEEP_CLUSTERS === "1",
    };
}

/** Builds (or finds) the control-plane toolchain, starts the clusters afresh (purged first); their kubectl. */
export async function realClustersUp(root: string, rc: RealClusters): Promise<Kubectl> {
    assert.equal(process.getuid?.(), 0, "the real-node tier needs root (network namespaces, mounts, cgroups)");
    const tc = await run("bash", [path.join(root, "tools/toolchain/k8s.sh")], { timeoutMs: 85 * 60_000, echo: true });
    const bin = tc.stdout.trim().split("\n").pop()!;
    // Purging deletes every node's image store and volumes: minutes on a busy disk.
    await run("bash", [path.join(root, "tools/clusters/down.sh"), "--purge"], { timeoutMs: 900_000, env: rc.env, echo: true });
    await run("bash", [path.join(root, "tools/clusters/up.sh"), "--nodes", "real"], {
        timeoutMs: 60 * 60_000,
        env: { ...rc.env, MMC_UP_TIMEOUT: "600" },
        echo: true,
    });
    return new Kubectl(path.join(bin, "kubectl"), rc.kubeconfig);
}

/** Stops the clusters and removes the test's work directory, unless MMC_KEEP_CLUSTERS=1 keeps both. */
export async function realClustersDown(root: string, rc: RealClusters, workDir: string, log: (m: string) => void): Promise<void> {
    if (rc.keep) {
        log(`MMC_KEEP_CLUSTERS=1: clusters left running (KUBECONFIG=${rc.kubeconfig}); renders in ${workDir}`);
        return;
    }
    await run("bash", [path.join(root, "tools/clusters/down.sh")], { timeoutMs: 300_000, env: rc.env, echo: true });
    fs.rmSync(workDir, { recursive: true, force: true });
}

/** Renders one phase (tools/render.ts) into `outDir`, with the earlier phases, oldest first, as its deployed history. */
export async function renderPhase(root: string, config: string, previous: string[], outDir: string): Promise<void> {
    const args = ["--import", "tsx", path.join(root, "tools/render.ts"), "--config", config, ...previous.flatMap((f) => ["--previous", f]), "--out", outDir];
    await run(process.execPath, args, { timeoutMs: 180_000, cwd: root });
}
