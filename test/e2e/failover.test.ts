// End-to-end tier: failover by config while the lost cluster's API server is down (issue 10), with the
// project's own program (index.ts) and real `pulumi up` on the local KWOK clusters.
//
//   1. first deployment: mysql-0 (primary) in cluster1, mysql-1 in cluster2 (set "fo", its own namespace);
//   2. cluster1's kube-apiserver is stopped (its process killed: the cluster is unreachable);
//   3. failover config (primary: 1, failover.lost: [cluster1]) while cluster2's nodes are cordoned: the
//      failover Job cannot start, reaches its deadline and fails; `up` fails and the write Service has not
//      moved. The nodes are uncordoned and the same config is applied again: the failed Job is replaced
//      (re-run) and succeeds; `up` succeeds; cluster2's objects are updated (topology: primary 1, epoch 2;
//      write Service → mysql-1); every cluster1 resource in the state is left exactly as it was;
//   4. cluster1's API server is started again (tools/clusters/up.sh) and failover is removed from the
//      config: `up` reconciles cluster1 (its topology: primary 1, epoch 2); then destroy.
// KWOK pods run no container: the failover Job completes without running failover.sh (the data-plane
// tier proves the script on real servers). Run under `flock /tmp/mmc-k8s.lock`: it stops an API server.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import * as YAML from "yaml";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { CACHE, Engine, REPO, ensureEngine, toolchainKubectl, run } from "./engine";
import { localVolumeName } from "../../components/naming";

const STACK = `e2e-failover-${process.pid}`;
const STACK_FILE = path.join(REPO, `Pulumi.${STACK}.yaml`);
const CLUSTERS_DIR = process.env.MMC_CLUSTERS_DIR ?? path.join(CACHE, "clusters");
const KUBECONFIG = path.join(CLUSTERS_DIR, "kubeconfig");
const SET = "fo";
const NS = "mmc-failover";
const P = "mysql-multicluster";
const CONTEXTS = { cluster1: "kosmos-cluster1", cluster2: "kosmos-cluster2" } as const;
const NODES = { cluster1: ["kosmoscluster1-1", "kosmoscluster1-2"], cluster2: ["kosmoscluster2-1", "kosmoscluster2-2"] };

function config(primary: number, lost?: string[]): Record<string, unknown> {
    return {
        [`${P}:clusters`]: Object.fromEntries(
            (["cluster1", "cluster2"] as const).map((c) => [
                c,
                { context: CONTEXTS[c], clusterId: c, nodes: NODES[c], storage: { localPath: "/data/mysql", capacity: "15Gi" } },
            ]),
        ),
        [`${P}:placement`]: ["cluster1", "cluster2"],
        [`${P}:primary`]: primary,
        [`${P}:mysql`]: { name: SET, namespace: NS, engine: "mariadb", version: "10.11", storageSize: "10Gi" },
        [`${P}:mcs`]: { profile: "kosmos" },
        // The Job's deadline is this + 60 s: a Job that cannot start fails after about a minute.
        [`${P}:migration`]: { switchoverTimeoutSeconds: 5 },
        ...(lost ? { [`${P}:failover`]: { lost } } : {}),
    };
}

const results: Record<string, unknown> = { startedAt: new Date().toISOString() };
let engine: Engine;
let kubectl: string;
let stack: Stack;
let backendDir: string;
let apiserverStopped = false;

function kube(context: string, args: string[], allowFailure = false, timeoutMs = 60_000) {
    return run(kubectl, ["--kubeconfig", KUBECONFIG, "--context", context, "--request-timeout=10s", ...args], { timeoutMs, allowFailure });
}
async function getJson(context: string, args: string[]) {
    return JSON.parse((await kube(context, [...args, "-o", "json"])).stdout);
}
function writeStackConfig(cfg: Record<string, unknown>) {
    const existing = fs.existsSync(STACK_FILE) ? (YAML.parse(fs.readFileSync(STACK_FILE, "utf8")) ?? {}) : {};
    fs.writeFileSync(STACK_FILE, YAML.stringify({ ...existing, config: cfg }));
}
/** Resources of the state whose provider is `k8s-<cluster>`: URN → inputs and outputs. */
async function stateOf(cluster: string): Promise<Map<string, string>> {
    const d = (await stack.exportStack()).deployment as any;
    return new Map(
        (d.resources ?? [])
            .filter((r: any) => String(r.provider ?? "").includes(`::k8s-${cluster}::`))
            .map((r: any) => [r.urn, JSON.stringify({ inputs: r.inputs, outputs: r.outputs })]),
    );
}
/** The kube-apiserver of a cluster, as tools/clusters/lib.sh records it (pid file, binary and cluster dir checked). */
function apiserverPid(cluster: string): number | undefined {
    const pf = path.join(CLUSTERS_DIR, cluster, "run", "kube-apiserver.pid");
    if (!fs.existsSync(pf)) return undefined;
    const pid = Number(fs.readFileSync(pf, "utf8").trim());
    const cmd = fs.existsSync(`/proc/${pid}/cmdline`) ? fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0") : [];
    return cmd[0]?.endsWith("/kube-apiserver") && cmd.some((a) => a.includes(path.join(CLUSTERS_DIR, cluster) + "/")) ? pid : undefined;
}
async function reachable(context: string) {
    return (await kube(context, ["get", "--raw", "/readyz"], true, 20_000)).code === 0;
}
async function startClusters() {
    const up = await run("bash", [path.join(REPO, "tools", "clusters", "up.sh")], { cwd: REPO, timeoutMs: 15 * 60 * 1000 });
    assert.equal(up.code, 0);
    apiserverStopped = false;
}
interface UpResult {
    ok: boolean;
    seconds: number;
    changes: Record<string, number>;
    ops: string[];
    log: string;
    error?: string;
}
async function up(label: string): Promise<UpResult> {
    const t = Date.now();
    let log = "";
    const ops: string[] = [];
    try {
        const res = await stack.up({
            onOutput: (s) => (log += s),
            onEvent: (ev) => {
                const md = ev.resOutputsEvent?.metadata;
                if (md && !["same", "read", "refresh"].includes(md.op)) ops.push(`${md.op} ${md.urn.split("::").pop()}`);
            },
        });
        const r: UpResult = { ok: true, seconds: (Date.now() - t) / 1000, changes: { ...(res.summary.resourceChanges ?? {}) }, ops, log };
        results[label] = { ...r, log: undefined };
        return r;
    } catch (e) {
        const error = (e as Error).message;
        const r: UpResult = { ok: false, seconds: (Date.now() - t) / 1000, changes: {}, ops, log, error };
        results[label] = { ...r, log: undefined, error: error.slice(-2000) };
        return r;
    }
}
const topologyOf = async (cluster: keyof typeof CONTEXTS) =>
    String((await getJson(CONTEXTS[cluster], ["-n", NS, "get", "configmap", `${SET}-topology`])).data["topology.env"]);
const writeSelector = async (cluster: keyof typeof CONTEXTS) =>
    (await getJson(CONTEXTS[cluster], ["-n", NS, "get", "service", `${SET}-write`])).spec.selector["statefulset.kubernetes.io/pod-name"];
async function waitFor(what: string, f: () => Promise<boolean>, timeoutMs = 180_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await f())) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 2000));
    }
}

describe("failover by config with the lost cluster's API server stopped", { timeout: 3600 * 1000 }, () => {
    before(async () => {
        engine = ensureEngine();
        kubectl = toolchainKubectl();
        await startClusters();
        for (const ctx of Object.values(CONTEXTS)) {
            await kube(ctx, ["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], false, 180_000);
            const mine = Object.values(NODES)
                .flat()
                .map((n) => localVolumeName(SET, n));
            await kube(ctx, ["delete", "pv", ...mine, "--ignore-not-found", "--wait=true", "--timeout=120s"], false, 180_000);
            for (const n of Object.values(NODES).flat()) await kube(ctx, ["uncordon", n], true);
        }
        backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-e2e-failover-backend-"));
        const envVars = {
            ...engine.env,
            PULUMI_BACKEND_URL: `file://${backendDir}`,
            PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(18).toString("base64url"),
            KUBECONFIG,
        };
        for (const [k, v] of Object.entries(envVars)) process.env[k] = v;
        stack = await LocalWorkspace.createOrSelectStack({ workDir: REPO, stackName: STACK }, { envVars, secretsProvider: "passphrase" });
    });

    after(async () => {
        try {
            if (apiserverStopped) await startClusters();
            for (const n of NODES.cluster2) await kube(CONTEXTS.cluster2, ["uncordon", n], true);
            if (stack) {
                const d = await stack.destroy({ onOutput: () => {} }).then(
                    (r) => ({ ok: true, deleted: r.summary.resourceChanges?.delete ?? 0 }),
                    (e: Error) => ({ ok: false, error: e.message.slice(-1500) }),
                );
                results.destroy = d;
                await stack.workspace.removeStack(STACK, { force: true }).catch(() => {});
            }
            for (const ctx of Object.values(CONTEXTS)) await kube(ctx, ["delete", "namespace", NS, "--ignore-not-found", "--wait=false"], true);
        } finally {
            fs.rmSync(STACK_FILE, { force: true });
            results.totalSeconds = (Date.now() - Date.parse(results.startedAt as string)) / 1000;
            fs.mkdirSync(path.join(REPO, "bench", "results"), { recursive: true });
            fs.writeFileSync(path.join(REPO, "bench", "results", "e2e-failover.json"), JSON.stringify(results, null, 2) + "\n");
        }
    });

    it("deploys mysql-0 (primary) in cluster1 and mysql-1 in cluster2", async () => {
        writeStackConfig(config(0));
        const r = await up("initial");
        assert.ok(r.ok, `first up failed: ${r.error}`);
        const outs = await stack.outputs();
        assert.equal((outs.migrationState.value as any).epoch, 1);
        assert.match(await topologyOf("cluster2"), /^MMC_PRIMARY_ORDINAL='0'$[\s\S]*^MMC_EPOCH='1'$/m);
    });

    it("with cluster1's API server stopped, the failover step fails while its Job cannot run, and a re-run up re-runs the Job and succeeds", async () => {
        const c1Before = await stateOf("cluster1");
        assert.ok(c1Before.size > 10, `cluster1 resources in state: ${c1Before.size}`);
        const pid = apiserverPid("cluster1");
        assert.ok(pid, "cluster1's kube-apiserver pid (tools/clusters/lib.sh pid file)");
        process.kill(pid!, "SIGTERM");
        apiserverStopped = true;
        await waitFor("cluster1's API server to stop answering", async () => !(await reachable(CONTEXTS.cluster1)), 60_000);

        // The failover Job cannot start: cluster2's nodes are cordoned. It fails at its deadline; so does up.
        for (const n of NODES.cluster2) await kube(CONTEXTS.cluster2, ["cordon", n]);
        writeStackConfig(config(1, ["cluster1"]));
        const failed = await up("failover-job-fails");
        assert.ok(!failed.ok, "up must fail while the failover Job cannot run");
        assert.match(failed.error ?? "", /fo-failover-e2/);
        const job = await getJson(CONTEXTS.cluster2, ["-n", NS, "get", "job", `${SET}-failover-e2`]);
        assert.ok(
            (job.status.conditions ?? []).some((c: any) => c.type === "Failed" && c.status === "True"),
            "the Job failed",
        );
        const failedUid = job.metadata.uid;
        assert.equal(await writeSelector("cluster2"), `${SET}-0`, "the write Service did not move after a failed Job");
        assert.match(await topologyOf("cluster2"), /^MMC_EPOCH='1'$/m, "the topology did not move after a failed Job");

        // The same config again, the nodes schedulable: the failed Job is replaced and runs.
        for (const n of NODES.cluster2) await kube(CONTEXTS.cluster2, ["uncordon", n]);
        const ok = await up("failover");
        assert.ok(ok.ok, `failover up failed: ${ok.error}\n${ok.log.slice(-3000)}`);
        assert.ok(!ok.ops.some((o) => /^replace .*(statefulset|topology|svc)/.test(o)), `unexpected replaces: ${ok.ops.join(", ")}`);
        assert.ok(
            ok.ops.some((o) => /^(replace|create-replacement|delete-replaced) failover-job$/.test(o)),
            `the Job was re-run: ${ok.ops.join(", ")}`,
        );
        const job2 = await getJson(CONTEXTS.cluster2, ["-n", NS, "get", "job", `${SET}-failover-e2`]);
        assert.notEqual(job2.metadata.uid, failedUid, "a new Job");
        assert.ok((job2.status.succeeded ?? 0) >= 1, "the new Job succeeded");

        // The reachable cluster is updated after the Job.
        assert.equal(await writeSelector("cluster2"), `${SET}-1`);
        const topo = await topologyOf("cluster2");
        assert.match(topo, /^MMC_PRIMARY_ORDINAL='1'$/m);
        assert.match(topo, /^MMC_EPOCH='2'$/m);
        assert.match(topo, /^MMC_LOST='0'$/m);
        const outs = await stack.outputs();
        assert.equal((outs.primary.value as any).ordinal, 1);
        assert.equal((outs.migrationState.value as any).epoch, 2);
        assert.deepEqual((outs.migrationState.value as any).lost, { cluster1: { primary: 0, placement: ["cluster1", "cluster2"], epoch: 1, lost: [] } });
        // The lost cluster's resources are left in state exactly as they were.
        const c1After = await stateOf("cluster1");
        const changed = [...new Set([...c1Before.keys(), ...c1After.keys()])].filter((u) => c1Before.get(u) !== c1After.get(u));
        assert.deepEqual(changed, [], "cluster1's resources changed in state");
        results.lostClusterResources = c1After.size;
        assert.ok(!(await reachable(CONTEXTS.cluster1)), "cluster1 was unreachable throughout");
    });

    it("cluster1's API server comes back; removing it from failover.lost reconciles it", async () => {
        await startClusters();
        await waitFor("cluster1's API server", () => reachable(CONTEXTS.cluster1), 120_000);
        assert.match(await topologyOf("cluster1"), /^MMC_PRIMARY_ORDINAL='0'$[\s\S]*^MMC_EPOCH='1'$/m, "nothing reached cluster1 while it was lost");
        writeStackConfig(config(1));
        const r = await up("rejoin");
        assert.ok(r.ok, `rejoin up failed: ${r.error}\n${r.log.slice(-3000)}`);
        assert.equal(r.changes.replace ?? 0, 0, `replaces: ${r.ops.join(", ")}`);
        const topo = await topologyOf("cluster1");
        assert.match(topo, /^MMC_PRIMARY_ORDINAL='1'$/m);
        assert.match(topo, /^MMC_EPOCH='2'$/m);
        assert.match(topo, /^MMC_LOST=''$/m);
        assert.equal(await writeSelector("cluster1"), `${SET}-1`);
        const outs = await stack.outputs();
        assert.equal((outs.migrationState.value as any).lost, undefined);
        // A further up is a no-op.
        const again = await up("after-rejoin");
        assert.ok(again.ok);
        assert.deepEqual(again.ops, [], `a no-op up changed: ${again.ops.join(", ")}`);
    });
});
