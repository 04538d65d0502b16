// End-to-end tier: two sets side by side in one Pulumi program (docs/two-sets.md), deployed by real
// `pulumi up` (the locally built engine, an inline program of two MysqlMultiCluster components) on the
// local clusters (KWOK pods, or real nodes: the assertions hold on both).
//
//   1. orders (MariaDB, namespace mmc-orders: orders-0 in cluster1, orders-1 in cluster2, cluster3 a
//      consumer, with the application account) and billing (MySQL, namespace mmc-billing: both members in
//      cluster1). No object collides; each set's pods, Services, claims, volumes and Roles are its own;
//      orders' connection Secret `orders-app` is in every cluster that runs its pods or consumes it, with
//      that cluster's hosts, and its password is never in plaintext in state or outputs.
//   2. billing-1 moves to cluster2: no orders resource changes (engine events, and every orders object in
//      every cluster keeps its uid and generation); each set's `liveStatus` was read by this `up`.
//   3. billing leaves the program: its pods and StatefulSets are deleted, its claims and volumes kept;
//      orders again untouched. Then destroy.
// Run under `flock /tmp/mmc-k8s.lock` (it starts the clusters as the other e2e files do).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { CACHE, Engine, REPO, ensureEngine, inlineStack, run, toolchainKubectl } from "./engine";
import { MysqlMultiCluster } from "../../components/mysqlMultiCluster";
import { CONNECTION_KEYS, PORTS } from "../../components/contract";
import { localVolumeName } from "../../components/naming";

const STACK = `e2e-twosets-${process.pid}`;
const CLUSTERS_DIR = process.env.MMC_CLUSTERS_DIR ?? path.join(CACHE, "clusters");
const KUBECONFIG = path.join(CLUSTERS_DIR, "kubeconfig");
const CONTEXTS = { cluster1: "kosmos-cluster1", cluster2: "kosmos-cluster2", cluster3: "kosmos-cluster3" } as const;
type Cluster = keyof typeof CONTEXTS;
const NODES: Record<Cluster, string[]> = {
    cluster1: ["kosmoscluster1-1", "kosmoscluster1-2"],
    cluster2: ["kosmoscluster2-1", "kosmoscluster2-2"],
    cluster3: ["kosmoscluster3-1", "kosmoscluster3-2"],
};
const SETS = { orders: "mmc-orders", billing: "mmc-billing" } as const;
type SetName = keyof typeof SETS;
const APP = { database: "orders", user: "orders_app" };

const clusters = Object.fromEntries(
    (Object.keys(CONTEXTS) as Cluster[]).map((c) => [
        c,
        { context: CONTEXTS[c], clusterId: c, nodes: NODES[c], storage: { localPath: "/data/mysql", capacity: "15Gi" } },
    ]),
);
const ordersConfig = {
    clusters,
    placement: ["cluster1", "cluster2"],
    mysql: { name: "orders", namespace: SETS.orders, engine: "mariadb", version: "10.11", storageSize: "10Gi", application: APP },
    mcs: { profile: "kosmos", consumers: ["cluster3"] },
};
const billingConfig = (placement: string[]) => ({
    clusters,
    placement,
    mysql: { name: "billing", namespace: SETS.billing, engine: "mysql", storageSize: "10Gi" },
    mcs: { profile: "kosmos" },
});

/** What the inline program declares this run: billing's placement, or no billing at all. */
let billingPlacement: string[] | undefined = ["cluster1", "cluster1"];
const program = async () => {
    const orders = await MysqlMultiCluster.create("orders", { config: ordersConfig, stateOutput: "orders.migrationState" });
    if (!billingPlacement) return { orders: orders.outputs };
    const billing = await MysqlMultiCluster.create("billing", { config: billingConfig(billingPlacement), stateOutput: "billing.migrationState" });
    return { orders: orders.outputs, billing: billing.outputs };
};

let engine: Engine;
let kubectl: string;
let stack: Stack;
let backendDir: string;
const results: Record<string, unknown> = { startedAt: new Date().toISOString() };

function kube(context: string, args: string[], allowFailure = false, timeoutMs = 60_000) {
    return run(kubectl, ["--kubeconfig", KUBECONFIG, "--context", context, "--request-timeout=20s", ...args], { timeoutMs, allowFailure });
}
async function items(context: string, args: string[]): Promise<any[]> {
    return JSON.parse((await kube(context, [...args, "-o", "json"])).stdout).items ?? [];
}
const KINDS = "statefulsets,services,configmaps,secrets,serviceaccounts,roles,rolebindings,poddisruptionbudgets,networkpolicies,jobs,persistentvolumeclaims";
const CLUSTER_KINDS = "persistentvolumes,storageclasses";

/** Every object of the two sets in a cluster (by the managed-by label), plus their pods. */
async function objectsIn(c: Cluster): Promise<any[]> {
    const sel = "app.kubernetes.io/managed-by=mysql-multicluster,app.kubernetes.io/instance in (orders,billing)";
    const namespaced = await items(CONTEXTS[c], ["get", KINDS, "-A", "-l", sel]);
    const cluster = await items(CONTEXTS[c], ["get", CLUSTER_KINDS, "-l", sel]);
    const pods = (await Promise.all(Object.values(SETS).map((ns) => items(CONTEXTS[c], ["-n", ns, "get", "pods"])))).flat();
    return [...namespaced, ...cluster, ...pods];
}
/** The set an engine event's resource belongs to (children are named `<set>-...`), "stack" for the stack itself. */
function ofSet(op: string): string {
    const urn = op.split(" ")[1] ?? "";
    if (urn.includes("::pulumi:pulumi:Stack::")) return "stack";
    const name = urn.split("::").pop() ?? "";
    return name.split("-")[0];
}
const setOf = (o: any): string => o.metadata.labels?.["app.kubernetes.io/instance"];
const id = (o: any) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/** uid and what changes only when the object is changed (generation, else spec/data, else resourceVersion). */
function fingerprint(o: any): string {
    const changed =
        o.kind === "Pod"
            ? { node: o.spec.nodeName, labels: o.metadata.labels, containers: o.spec.containers.map((x: any) => x.image) }
            : o.metadata.generation !== undefined
              ? { generation: o.metadata.generation }
              : o.kind === "PersistentVolume" || o.kind === "PersistentVolumeClaim"
                ? { spec: o.spec }
                : { resourceVersion: o.metadata.resourceVersion };
    return JSON.stringify({ uid: o.metadata.uid, ...changed });
}
async function ordersSnapshot(): Promise<Map<string, string>> {
    const m = new Map<string, string>();
    for (const c of Object.keys(CONTEXTS) as Cluster[]) for (const o of await objectsIn(c)) if (setOf(o) === "orders") m.set(`${c} ${id(o)}`, fingerprint(o));
    return m;
}
function mapDiff(a: Map<string, string>, b: Map<string, string>): string[] {
    const keys = new Set([...a.keys(), ...b.keys()]);
    return [...keys].filter((k) => a.get(k) !== b.get(k)).map((k) => `${k}: ${a.get(k) ?? "absent"} -> ${b.get(k) ?? "absent"}`);
}

async function up(label: string): Promise<{ ops: string[] }> {
    const t = Date.now();
    const ops: string[] = [];
    let log = "";
    try {
        await stack.up({
            onOutput: (s) => (log += s),
            onEvent: (ev) => {
                const md = ev.resOutputsEvent?.metadata;
                if (md && !["same", "read", "refresh"].includes(md.op)) ops.push(`${md.op} ${md.urn}`);
            },
        });
    } catch (e) {
        results[label] = { ok: false, seconds: (Date.now() - t) / 1000, error: (e as Error).message.slice(-2000) };
        throw new Error(`${label}: up failed: ${(e as Error).message.slice(-2000)}\n${log.slice(-2000)}`, { cause: e });
    }
    results[label] = { ok: true, seconds: (Date.now() - t) / 1000, changes: ops.length };
    return { ops };
}

async function waitFor(what: string, f: () => Promise<boolean>, timeoutMs = 180_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await f())) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 2000));
    }
}
const podNames = async (c: Cluster, set: SetName) =>
    (await items(CONTEXTS[c], ["-n", SETS[set], "get", "pods"]))
        .map((p) => p.metadata.name)
        .filter((n: string) => new RegExp(`^${set}-\\d+$`).test(n))
        .sort();

async function cleanup() {
    for (const ctx of Object.values(CONTEXTS)) {
        for (const ns of Object.values(SETS))
            await kube(ctx, ["delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"], true, 180_000);
        const pvs = (Object.keys(SETS) as SetName[]).flatMap((s) =>
            Object.values(NODES)
                .flat()
                .map((n) => localVolumeName(s, n)),
        );
        await kube(ctx, ["delete", "pv", ...pvs, "--ignore-not-found", "--wait=true", "--timeout=120s"], true, 180_000);
    }
}

describe("two sets in one program, side by side on the same clusters (real pulumi up)", { timeout: 3600 * 1000 }, () => {
    before(async () => {
        engine = ensureEngine();
        kubectl = toolchainKubectl();
        const upClusters = await run("bash", [path.join(REPO, "tools", "clusters", "up.sh")], { cwd: REPO, timeoutMs: 15 * 60 * 1000 });
        assert.equal(upClusters.code, 0);
        await cleanup();
        ({ stack, backendDir } = await inlineStack(engine, "twosets", STACK, program, KUBECONFIG, kubectl));
    });

    after(async () => {
        try {
            if (stack) {
                results.destroy = await stack.destroy({ onOutput: () => {} }).then(
                    (r) => ({ ok: true, deleted: r.summary.resourceChanges?.delete ?? 0 }),
                    (e: Error) => ({ ok: false, error: e.message.slice(-1500) }),
                );
                await stack.workspace.removeStack(STACK, { force: true }).catch(() => {});
            }
            await cleanup();
        } finally {
            if (backendDir) fs.rmSync(backendDir, { recursive: true, force: true });
            // The inline program's workspace directory (Pulumi.yaml written by the Automation API).
            if (stack) fs.rmSync(stack.workspace.workDir, { recursive: true, force: true });
            results.totalSeconds = (Date.now() - Date.parse(results.startedAt as string)) / 1000;
            fs.mkdirSync(path.join(REPO, "bench", "results"), { recursive: true });
            fs.writeFileSync(path.join(REPO, "bench", "results", "e2e-twosets.json"), JSON.stringify(results, null, 2) + "\n");
        }
    });

    it("deploys both sets: no object collides, each set's pods, Services, claims, volumes and Roles are its own", async () => {
        await up("both");
        const outs = await stack.outputs();
        const o = outs.orders.value as any;
        const b = outs.billing.value as any;
        assert.equal(o.liveStatus.read, false);
        assert.equal(o.liveStatus.note, "not read: a first deployment (nothing deployed yet)");

        // The state: every Kubernetes object (cluster provider, kind, namespace, name) declared once.
        const d = (await stack.exportStack()).deployment as any;
        const seen = new Map<string, string>();
        // Each set has its own provider per cluster: objects are compared per cluster, whichever set declares them.
        const clusterOfProvider = new Map<string, string>();
        for (const set of [o, b])
            for (const [c, v] of Object.entries(set.clusters as Record<string, { provider: string }>)) clusterOfProvider.set(v.provider, c);
        for (const r of (d.resources ?? []).filter((x: any) => x.type.startsWith("kubernetes:") && x.inputs?.metadata)) {
            const cluster = clusterOfProvider.get(String(r.provider).split("::")[3]);
            assert.ok(cluster, `${r.urn}: provider ${r.provider} is no set's`);
            const k = `${cluster} ${r.inputs.kind}/${r.inputs.metadata.namespace ?? ""}/${r.inputs.metadata.name}`;
            assert.equal(seen.get(k), undefined, `${k} declared by ${seen.get(k)} and ${r.urn}`);
            seen.set(k, r.urn);
        }
        const urns = (d.resources ?? []).map((r: any) => r.urn);
        assert.equal(new Set(urns).size, urns.length, "a URN twice in the state");

        await waitFor("orders-0, orders-1, billing-0, billing-1 running where placed", async () => {
            const [o1, o2, b1] = await Promise.all([podNames("cluster1", "orders"), podNames("cluster2", "orders"), podNames("cluster1", "billing")]);
            return o1.join() === "orders-0" && o2.join() === "orders-1" && b1.join() === "billing-0,billing-1";
        });
        const roles: Record<string, any[]> = {};
        for (const c of Object.keys(CONTEXTS) as Cluster[]) {
            const objs = await objectsIn(c);
            for (const obj of objs) {
                const set = setOf(obj) as SetName;
                assert.ok(set === "orders" || set === "billing", `${c} ${id(obj)}: instance label ${set}`);
                // Namespaced objects live in their own set's namespace; cluster-wide ones carry its name.
                if (obj.metadata.namespace) assert.equal(obj.metadata.namespace, SETS[set], `${c} ${id(obj)} is in another set's namespace`);
                else assert.ok(obj.metadata.name.startsWith(`${set}-`), `${c} ${id(obj)}: a cluster-wide object not named after its set`);
                if (obj.kind === "Service" && obj.spec.selector)
                    assert.equal(obj.spec.selector["app.kubernetes.io/instance"], set, `${c} ${id(obj)} selects another set`);
                if (obj.kind === "StatefulSet") assert.equal(obj.spec.selector.matchLabels["app.kubernetes.io/instance"], set);
                if (obj.kind === "PersistentVolumeClaim") {
                    assert.equal(obj.status.phase, "Bound", `${c} ${id(obj)}`);
                    assert.ok(obj.spec.volumeName.startsWith(`${set}-data-`), `${c} ${id(obj)} bound to ${obj.spec.volumeName}`);
                    assert.equal(obj.spec.storageClassName, `${set}-local`);
                }
                if (obj.kind === "PersistentVolume" && obj.spec.claimRef)
                    assert.equal(obj.spec.claimRef.namespace, SETS[set], `${c} ${id(obj)} holds another set's claim`);
                if (obj.kind === "Role") (roles[`${c}/${set}`] ??= []).push(obj);
            }
            // Each set's Role names only its own pods; its ServiceAccount may patch them and nothing of the other set.
            for (const set of Object.keys(SETS) as SetName[]) {
                for (const role of roles[`${c}/${set}`] ?? []) {
                    for (const rule of role.rules) {
                        for (const n of rule.resourceNames ?? []) assert.ok(n.startsWith(`${set}-`), `${c} Role ${role.metadata.name} names ${n}`);
                        if (rule.resources?.includes("pods")) assert.ok(rule.resourceNames?.length, `${c} Role ${role.metadata.name}: every pod`);
                    }
                }
                const bindings = (await items(CONTEXTS[c], ["-n", SETS[set], "get", "rolebindings", "-l", `app.kubernetes.io/instance=${set}`])).filter(
                    (x) => x.roleRef.kind === "Role",
                );
                const other: SetName = set === "orders" ? "billing" : "orders";
                for (const rb of bindings) {
                    for (const s of rb.subjects.filter((x: any) => x.kind === "ServiceAccount")) {
                        const as = `system:serviceaccount:${s.namespace ?? SETS[set]}:${s.name}`;
                        for (const ord of [0, 1]) {
                            const r = await kube(CONTEXTS[c], ["auth", "can-i", "patch", `pods/${other}-${ord}`, "-n", SETS[other], "--as", as], true);
                            assert.equal(r.stdout.trim(), "no", `${c}: ${as} may patch ${other}-${ord}`);
                        }
                    }
                }
            }
        }
        assert.ok((roles["cluster1/orders"] ?? []).length && (roles["cluster1/billing"] ?? []).length, "each set has its own Role in cluster1");
        assert.deepEqual(b.migrationState.placement, ["cluster1", "cluster1"]);
        assert.deepEqual(o.migrationState.placement, ["cluster1", "cluster2"]);
    });

    it("orders' connection Secret: in every cluster that runs its pods or consumes it, that cluster's hosts, the password never in plaintext in state or outputs", async () => {
        const outs = await stack.outputs();
        const o = outs.orders.value as any;
        let password: string | undefined;
        for (const c of Object.keys(CONTEXTS) as Cluster[]) {
            const [secret] = await items(CONTEXTS[c], ["-n", SETS.orders, "get", "secrets", "--field-selector", "metadata.name=orders-app"]);
            assert.ok(secret, `${c}: no Secret orders-app (cluster1, cluster2 run pods; cluster3 consumes the set)`);
            const data = Object.fromEntries(
                Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
            );
            assert.deepEqual(Object.keys(data).sort(), Object.values(CONNECTION_KEYS).sort(), `${c}: keys`);
            assert.equal(data[CONNECTION_KEYS.host], o.clusters[c].writeEndpoint, `${c}: host is this cluster's write endpoint`);
            assert.equal(data[CONNECTION_KEYS.readHost], o.clusters[c].readEndpoint, `${c}: read-host`);
            assert.equal(data[CONNECTION_KEYS.port], String(PORTS.mysql));
            assert.equal(data[CONNECTION_KEYS.user], APP.user);
            assert.equal(data[CONNECTION_KEYS.database], APP.database);
            assert.ok(data[CONNECTION_KEYS.password].length >= 16, `${c}: password`);
            password ??= data[CONNECTION_KEYS.password];
            assert.equal(data[CONNECTION_KEYS.password], password, `${c}: the same account everywhere`);
            const billing = await items(CONTEXTS[c], ["get", "secrets", "-A", "--field-selector", "metadata.name=billing-app"]);
            assert.deepEqual(billing, [], `${c}: billing has no application account, yet a Secret billing-app exists`);
        }
        // The export as stored (encrypted secrets), through the CLI.
        const raw = (
            await run(path.join(engine.bin, "pulumi"), ["stack", "export", "--stack", STACK], {
                cwd: stack.workspace.workDir,
                env: process.env as Record<string, string>,
                timeoutMs: 120_000,
            })
        ).stdout;
        assert.ok(raw.includes("orders-app"), "the export holds the Secret resources");
        for (const form of [password!, Buffer.from(password!).toString("base64")]) {
            assert.ok(!raw.includes(form), "pulumi stack export holds the application password in plaintext");
            assert.ok(!JSON.stringify(outs).includes(form), "the stack outputs hold the application password");
        }
    });

    it("billing-1 moves to cluster2: nothing of orders changes; each set's liveStatus was read before its step", async () => {
        // The second `up` of a set clears its first-deployment flag (MMC_BOOTSTRAP) in its topology: an `up`
        // with no change first, so that the move below is billing's only change.
        const settle = await up("settle");
        assert.deepEqual(
            settle.ops.filter((op) => !/^update \S+ConfigMap::(orders|billing)-cluster\d-mysql-topology$/.test(op)),
            [],
            "an up without a change changed more than the topology's first-deployment flag",
        );
        const before = await ordersSnapshot();
        billingPlacement = ["cluster1", "cluster2"];
        const { ops } = await up("billing-moves");
        const touchedOrders = ops.filter((op) => ofSet(op) === "orders");
        assert.deepEqual(touchedOrders, [], "the engine changed orders resources");
        assert.ok(
            ops.some((op) => ofSet(op) === "billing"),
            `billing's move changed nothing: ${ops.join("\n")}`,
        );
        await waitFor(
            "billing-1 in cluster2",
            async () => (await podNames("cluster2", "billing")).join() === "billing-1" && (await podNames("cluster1", "billing")).join() === "billing-0",
        );
        assert.deepEqual(mapDiff(before, await ordersSnapshot()), [], "orders objects changed in the clusters");

        const outs = await stack.outputs();
        for (const [set, deployed] of [
            ["orders", ["cluster1", "cluster2"]],
            ["billing", ["cluster1", "cluster1"]],
        ] as const) {
            const s = (outs[set].value as any).liveStatus;
            results[`liveStatus-${set}`] = s;
            assert.equal(s.read, true, `${set}: ${s.note}`);
            assert.deepEqual(s.deployed, { placement: deployed, primary: 0 });
            assert.equal(s.configuredPrimary, `${set}-0`);
            assert.deepEqual(s.unreachable, {});
            assert.deepEqual(
                s.members.map((m: any) => [m.member, m.cluster, m.foundIn, m.phase, m.claim?.phase]),
                deployed.map((c, i) => [`${set}-${i}`, c, [c], "Running", "Bound"]),
                `${set}: members as the clusters showed them`,
            );
            await assertRoles(set, s);
        }
    });

    it("billing leaves the program: its pods go, its claims and volumes stay; orders untouched", async () => {
        const before = await ordersSnapshot();
        billingPlacement = undefined;
        const { ops } = await up("billing-removed");
        assert.ok(
            ops.some((op) => op.startsWith("delete") && ofSet(op) === "billing"),
            "billing's resources were not deleted",
        );
        assert.deepEqual(
            ops.filter((op) => !["billing", "stack"].includes(ofSet(op))),
            [],
            "anything but billing changed",
        );
        await waitFor("billing's pods gone", async () => (await podNames("cluster1", "billing")).length + (await podNames("cluster2", "billing")).length === 0);
        assert.deepEqual(mapDiff(before, await ordersSnapshot()), [], "orders objects changed in the clusters");
        const claims = [
            ...(await items(CONTEXTS.cluster1, ["-n", SETS.billing, "get", "pvc"])).map((x) => `cluster1/${x.metadata.name}`),
            ...(await items(CONTEXTS.cluster2, ["-n", SETS.billing, "get", "pvc"])).map((x) => `cluster2/${x.metadata.name}`),
        ].sort();
        assert.deepEqual(claims, ["cluster1/data-billing-0", "cluster1/data-billing-1", "cluster2/data-billing-1"], "billing's claims are kept");
        results.billingClaimsKept = claims;
    });
});

/**
 * The roles the live status reports: on real nodes the servers answer (one writable primary, the
 * configured one); on KWOK no server runs, and every member says why it could not be asked.
 */
async function assertRoles(set: SetName, s: any) {
    const nodes = await items(CONTEXTS.cluster1, ["get", "nodes"]);
    const fake = nodes.every((n) => n.metadata.annotations?.["kwok.x-k8s.io/node"] === "fake");
    if (fake) {
        assert.equal(s.realPrimary, null, `${set}: a real primary on KWOK pods`);
        for (const m of s.members) assert.ok(m.role === null && typeof m.lastError === "string" && m.lastError.length > 0, `${set}: ${JSON.stringify(m)}`);
        assert.ok(s.problems.includes(`no member accepts writes (configured primary ${set}-0)`), s.problems.join("\n"));
        assert.equal(s.healthy, false);
    } else {
        assert.equal(s.realPrimary, `${set}-0`);
        assert.deepEqual(
            s.members.map((m: any) => m.role),
            ["writable", "read-only"],
        );
    }
}
