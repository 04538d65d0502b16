// End-to-end tier: the project's own program (index.ts) driven by the Automation API against the
// three local clusters, one real `pulumi up` per file in stacks/ (sorted by name), then destroy.
//
// Needs: the engine (tools/toolchain/pulumi.sh builds or reuses it) with the kubernetes and random
// provider plugins, and the clusters (tools/clusters/up.sh starts or keeps them). Anything missing
// fails the run with the reason; nothing is skipped.
//
// Per step it asserts: no replace in the change summary; only clusters whose rendered objects change
// (tools/render.ts, the same program under mocks) are touched; no pod name is present in two clusters
// at any moment (kubectl watches on all clusters during the up); the pods in each cluster are exactly
// the ordinals the phase places there; the outputs show that placement; `pulumi stack export` holds no
// plaintext secret. Once, after the first phase, a step that moves the primary must be refused with
// the state unchanged. After a phase that retires a cluster, the test plays the retire Job's effect
// (KWOK pods run no container): it runs the Job's own command as the Job's ServiceAccount, which also
// proves the Job's Role. Then destroy must finish and leave exactly what the retention policy keeps:
// the namespace everywhere, every claim outside retired clusters, the volumes of clusters not retired.
// Writes bench/results/e2e.json and prints a table.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import * as YAML from "yaml";
import { LocalWorkspace, Stack, EngineEvent } from "@pulumi/pulumi/automation";
import { CACHE, Engine, PodWatcher, REPO, ensureEngine, plaintextSecrets, run } from "./engine";
import { clustersByProvider } from "../../tools/mocks";
import { localVolumeName } from "../../components/naming";

const PROJECT = "mysql-multicluster";
const STACK = `e2e-${process.pid}`;
const STACK_FILE = path.join(REPO, `Pulumi.${STACK}.yaml`);
const CLUSTERS_DIR = process.env.MMC_CLUSTERS_DIR ?? path.join(CACHE, "clusters");
const KUBECONFIG = path.join(CLUSTERS_DIR, "kubeconfig");
const UP_TIMEOUT_MS = Number(process.env.MMC_E2E_UP_TIMEOUT_MS ?? 20 * 60 * 1000);
const DESTROY_TIMEOUT_MS = Number(process.env.MMC_E2E_DESTROY_TIMEOUT_MS ?? 3 * 60 * 1000);

const phaseFiles = fs
    .readdirSync(path.join(REPO, "stacks"))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(REPO, "stacks", f));

interface Phase {
    file: string;
    name: string;
    doc: any;
    config: Record<string, any>;
    placement: string[];
    primary: number;
    set: string;
    namespace: string;
    contexts: Record<string, string>;
    nodes: Record<string, string[]>;
    retire: string[];
}

function loadPhase(file: string): Phase {
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    assert.ok(doc && typeof doc.config === "object", `${file}: no config: map`);
    const c = doc.config;
    const key = (k: string) => c[`${PROJECT}:${k}`];
    const clusters = key("clusters") ?? {};
    const mysql = key("mysql") ?? {};
    return {
        file,
        name: path.basename(file).replace(/\.ya?ml$/, ""),
        doc,
        config: c,
        placement: key("placement"),
        primary: key("primary") ?? 0,
        set: mysql.name ?? "mysql",
        namespace: mysql.namespace ?? "mysql",
        contexts: Object.fromEntries(Object.entries<any>(clusters).map(([n, v]) => [n, v.context ?? n])),
        nodes: Object.fromEntries(Object.entries<any>(clusters).map(([n, v]) => [n, v.nodes ?? []])),
        retire: key("retire") ?? [],
    };
}

interface StepRecord {
    step: string;
    file: string;
    ok: boolean;
    wallSeconds: number;
    create: number;
    update: number;
    delete: number;
    replace: number;
    same: number;
    touchedClusters: string[];
    expectedClusters: string[];
    podOverlaps: number;
    podsSeen: Record<string, string[]>;
    claims: Record<string, string[]>;
    error?: string;
}

const results: {
    startedAt: string;
    program: { head: string; dirty: string[] };
    preflightError?: string;
    engine?: Partial<Engine> & { env?: undefined };
    steps: StepRecord[];
    refused?: { after: string; tried: string; refused: boolean; stateUnchanged: boolean; wallSeconds: number; message: string };
    retire?: {
        cluster: string;
        job: string;
        jobSucceeded: boolean;
        command: string[];
        as: string;
        claimsBefore: string[];
        claimsAfter: string[];
        volumes: string[];
        note: string;
    }[];
    destroy?: {
        wallSeconds: number;
        deleted: number;
        remaining: Record<string, { namespace: boolean; pvcs: string[]; pvs: string[]; pods: string[] }>;
        expected?: Record<string, { namespace: boolean; pvcs: string[]; pvs: string[]; pods: string[] }>;
        error?: string;
    };
    totalSeconds?: number;
} = {
    startedAt: new Date().toISOString(),
    program: {
        head: spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO, encoding: "utf8" }).stdout?.trim() ?? "",
        // Uncommitted changes to the program's files: the run is of that working tree.
        dirty: (
            spawnSync("git", ["status", "--porcelain", "--", "index.ts", "components", "Pulumi.yaml", "package.json"], { cwd: REPO, encoding: "utf8" })
                .stdout ?? ""
        )
            .split("\n")
            .filter(Boolean),
    },
    steps: [],
};

let engine: Engine;
let kubectl: string;
let stack: Stack;
let baseEnv: Record<string, string>;
let backendDir: string;
let renderRoot: string;
const t0 = Date.now();

function kube(context: string, args: string[], allowFailure = false) {
    return run(kubectl, ["--kubeconfig", KUBECONFIG, "--context", context, ...args], { timeoutMs: 120_000, allowFailure });
}

/** Raw `pulumi stack export` (secrets stay encrypted), with the same environment the workspace uses. */
async function rawExport(): Promise<string> {
    const r = await run(path.join(engine.bin, "pulumi"), ["stack", "export", "--stack", STACK], { cwd: REPO, env: baseEnv, timeoutMs: 120_000 });
    return r.stdout;
}

/**
 * The managed resources of a deployment, for equality: what exists and with which inputs/outputs.
 * Read-only resources (external: the program's StackReference to its own last outputs) are re-read on
 * every run, so they are left out.
 */
function resourcesOf(exported: string): Map<string, string> {
    const d = JSON.parse(exported);
    return new Map(
        (d.deployment?.resources ?? [])
            .filter((r: any) => !r.external)
            .map((r: any) => [r.urn, JSON.stringify({ inputs: r.inputs, outputs: r.outputs, provider: r.provider, dependencies: r.dependencies })]),
    );
}

function stateDiff(a: Map<string, string>, b: Map<string, string>): string[] {
    const urns = new Set([...a.keys(), ...b.keys()]);
    return [...urns].filter((u) => a.get(u) !== b.get(u)).map((u) => `${!a.has(u) ? "added" : !b.has(u) ? "removed" : "changed"} ${u}`);
}

/** Provider name → cluster, from the `clusters` output of every render so far (a dropped cluster's provider stays known). */
const providerClusters = new Map<string, string>();

/** Renders the phase with the project's own renderer; returns per cluster the rendered objects' text. */
async function render(phase: Phase, previous?: Phase): Promise<Record<string, string>> {
    const out = path.join(renderRoot, phase.name + (previous ? `-after-${previous.name}` : ""));
    const args = ["--import", "tsx", path.join(REPO, "tools", "render.ts"), "--config", phase.file, "--out", out, "--quiet"];
    if (previous) args.push("--previous", previous.file);
    await run(process.execPath, args, { cwd: REPO, timeoutMs: 300_000 });
    const outputs = JSON.parse(fs.readFileSync(path.join(out, "plan.json"), "utf8")).outputs;
    for (const [provider, cluster] of clustersByProvider(outputs.clusters)) providerClusters.set(provider, cluster);
    const perCluster: Record<string, string> = {};
    for (const c of Object.keys(phase.contexts)) {
        const dir = path.join(out, c);
        perCluster[c] = fs.existsSync(dir)
            ? fs
                  .readdirSync(dir)
                  .sort()
                  .map((f) => `# ${f}\n${fs.readFileSync(path.join(dir, f), "utf8")}`)
                  .join("\n")
            : "";
    }
    return perCluster;
}

/**
 * Which cluster an engine event's resource belongs to: its Kubernetes provider (or itself, for a provider),
 * looked up in the program's outputs. A provider reference is `<URN>::<id>`; a URN ends in `::<type>::<name>`.
 */
function clusterOfEvent(md: any): string | undefined {
    const ref: string | undefined = md?.new?.provider || md?.old?.provider;
    if (ref) return providerClusters.get(ref.split("::").slice(-2)[0]);
    const urn = String(md?.urn ?? "");
    return urn.includes("::pulumi:providers:kubernetes::") ? providerClusters.get(urn.split("::").pop()!) : undefined;
}

async function writeStackConfig(phase: Phase) {
    // Keep what the CLI wrote when it created the stack (encryptionsalt, secrets provider), replace config.
    const existing = fs.existsSync(STACK_FILE) ? (YAML.parse(fs.readFileSync(STACK_FILE, "utf8")) ?? {}) : {};
    const doc = { ...existing, config: phase.config };
    fs.writeFileSync(STACK_FILE, YAML.stringify(doc));
}

async function podsIn(phase: Phase, cluster: string): Promise<{ name: string; phase: string }[]> {
    const r = await kube(phase.contexts[cluster], ["-n", phase.namespace, "get", "pods", "-o", "json"]);
    const re = new RegExp(`^${phase.set}-\\d+$`);
    return JSON.parse(r.stdout)
        .items.filter((p: any) => re.test(p.metadata.name))
        .map((p: any) => ({ name: p.metadata.name, phase: p.status?.phase ?? "" }));
}

/** The set's claims in a cluster (volumeClaimTemplate claims: <template>-<set>-<ordinal>). */
async function claimsIn(phase: Phase, cluster: string): Promise<string[]> {
    const r = await kube(phase.contexts[cluster], ["-n", phase.namespace, "get", "pvc", "-o", "json"], true);
    const re = new RegExp(`-${phase.set}-\\d+$`);
    return (JSON.parse(r.stdout || '{"items":[]}').items as any[])
        .map((c) => c.metadata.name)
        .filter((n: string) => re.test(n))
        .sort();
}

/** The set's local volumes in a cluster: name -> status phase, reclaim policy, deleting. */
async function volumesIn(phase: Phase, cluster: string): Promise<Map<string, { phase: string; policy: string; deleting: boolean }>> {
    const r = await kube(phase.contexts[cluster], ["get", "pv", "-o", "json"], true);
    const names = new Set(
        Object.values(phase.nodes)
            .flat()
            .map((n) => localVolumeName(phase.set, n)),
    );
    return new Map(
        (JSON.parse(r.stdout || '{"items":[]}').items as any[])
            .filter((pv) => names.has(pv.metadata.name))
            .map((pv) => [
                pv.metadata.name,
                { phase: pv.status?.phase ?? "", policy: pv.spec?.persistentVolumeReclaimPolicy ?? "", deleting: !!pv.metadata.deletionTimestamp },
            ]),
    );
}

/**
 * The retire Job's effect, played by the test: KWOK pods run no container, so the Job "succeeds"
 * without deleting anything. The test runs the Job's own command (read from the cluster) with the
 * Job's ServiceAccount identity (--as), so the Role the program grants is what allows it.
 */
async function playRetireJob(phase: Phase, cluster: string) {
    const ctx = phase.contexts[cluster];
    const name = `${phase.set}-retire`;
    const job = JSON.parse((await kube(ctx, ["-n", phase.namespace, "get", "job", name, "-o", "json"])).stdout);
    const pod = job.spec.template.spec;
    const c = pod.containers[0];
    const command: string[] = [...(c.command ?? []), ...(c.args ?? [])];
    assert.equal(command[0], "kubectl", `${name}: the retire Job does not run kubectl: ${command.join(" ")}`);
    const as = `system:serviceaccount:${phase.namespace}:${pod.serviceAccountName}`;
    const claimsBefore = await claimsIn(phase, cluster);
    // Without the Role, the ServiceAccount may not delete claims: the impersonation is real RBAC.
    await kube(ctx, ["--as", as, ...command.slice(1)]);
    const claimsAfter = await claimsIn(phase, cluster);
    assert.deepEqual(claimsAfter, [], `${phase.name}: claims left in retired ${cluster} after the retire Job's command`);
    // With the claims gone, the volumes are Released (reclaim policy Retain): nothing binds them.
    const deadline = Date.now() + 120_000;
    let vols = await volumesIn(phase, cluster);
    while ([...vols.values()].some((v) => v.phase === "Bound") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 2000));
        vols = await volumesIn(phase, cluster);
    }
    assert.ok(![...vols.values()].some((v) => v.phase === "Bound"), `${phase.name}: volumes in ${cluster} still Bound: ${JSON.stringify([...vols])}`);
    (results.retire ??= []).push({
        cluster,
        job: name,
        jobSucceeded: (job.status?.succeeded ?? 0) >= 1,
        command,
        as,
        claimsBefore,
        claimsAfter,
        volumes: [...vols].map(([n, v]) => `${n}:${v.phase}`),
        note: "KWOK pods run no container: the Job completed without running; the test ran the Job's own command as the Job's ServiceAccount",
    });
}

function expectedPods(phase: Phase, cluster: string): string[] {
    return phase.placement.flatMap((c, o) => (c === cluster ? [`${phase.set}-${o}`] : [])).sort();
}

async function waitForPlacement(phase: Phase, timeoutMs = 180_000) {
    const deadline = Date.now() + timeoutMs;
    let last: string;
    for (;;) {
        const got: Record<string, string[]> = {};
        let ok = true;
        for (const c of Object.keys(phase.contexts)) {
            const pods = await podsIn(phase, c);
            got[c] = pods.map((p) => `${p.name}:${p.phase}`).sort();
            const names = pods.map((p) => p.name).sort();
            if (names.join() !== expectedPods(phase, c).join() || pods.some((p) => p.phase !== "Running")) ok = false;
        }
        last = JSON.stringify(got);
        if (ok) return got;
        if (Date.now() > deadline)
            assert.fail(`${phase.name}: clusters did not reach the declared placement ${JSON.stringify(phase.placement)}; pods: ${last}`);
        await new Promise((r) => setTimeout(r, 2000));
    }
}

async function secretsCheck(label: string) {
    const raw = await rawExport();
    const decrypted = await stack.exportStack();
    const secrets = plaintextSecrets(decrypted);
    assert.ok(secrets.size >= 3, `${label}: expected the set's passwords among the state's secrets, found ${secrets.size}`);
    for (const s of secrets) {
        assert.ok(!raw.includes(s), `${label}: pulumi stack export holds a secret in plaintext (${s.slice(0, 4)}…)`);
        const b64 = Buffer.from(s).toString("base64");
        assert.ok(!raw.includes(b64), `${label}: pulumi stack export holds a secret base64-encoded (${b64.slice(0, 4)}…)`);
    }
}

/** Every Secret the program manages in a cluster holds data, and its values are the state's secrets. */
async function secretsInClusters(phase: Phase) {
    const known = plaintextSecrets(await stack.exportStack());
    for (const [c, ctx] of Object.entries(phase.contexts)) {
        const items = JSON.parse(
            (await kube(ctx, ["-n", phase.namespace, "get", "secrets", "-l", "app.kubernetes.io/managed-by=mysql-multicluster", "-o", "json"])).stdout,
        ).items;
        if (!phase.placement.includes(c)) continue;
        assert.ok(items.length > 0, `${phase.name}: no Secret of the set in ${c}, which runs ordinals`);
        for (const sec of items) {
            const data: Record<string, string> = sec.data ?? {};
            assert.ok(Object.keys(data).length > 0, `${phase.name}: Secret ${sec.metadata.name} in ${c} holds no data`);
            for (const [k, v] of Object.entries(data)) {
                const plain = Buffer.from(v, "base64").toString("utf8");
                assert.ok(known.has(plain), `${phase.name}: Secret ${sec.metadata.name}/${k} in ${c} is not one of the state's secrets`);
            }
        }
    }
}

/**
 * The `liveStatus` output: read by this `up` before its step, it shows the previous phase as the clusters
 * ran it (the first phase: not read, a first deployment). On KWOK pods no server answers: every member
 * says why, and there is no real primary; on real nodes the configured primary is the real one.
 */
async function liveStatusCheck(phase: Phase, previous: Phase | undefined, s: any) {
    assert.ok(s, `${phase.name}: no liveStatus output`);
    if (!previous) {
        assert.deepEqual([s.read, s.note], [false, "not read: a first deployment (nothing deployed yet)"], `${phase.name}: liveStatus`);
        return;
    }
    assert.equal(s.read, true, `${phase.name}: liveStatus not read: ${s.note}`);
    assert.deepEqual(s.deployed, { placement: previous.placement, primary: previous.primary });
    assert.equal(s.configuredPrimary, `${previous.set}-${previous.primary}`);
    assert.deepEqual(
        s.members.map((m: any) => [m.member, m.cluster, m.foundIn, m.phase, m.claim?.phase ?? null]),
        previous.placement.map((c, i) => [`${previous.set}-${i}`, c, [c], "Running", "Bound"]),
        `${phase.name}: liveStatus members are not what the clusters ran`,
    );
    const nodes = JSON.parse((await kube(Object.values(previous.contexts)[0], ["get", "nodes", "-o", "json"])).stdout).items;
    if (nodes.every((n: any) => n.metadata.annotations?.["kwok.x-k8s.io/node"] === "fake")) {
        assert.equal(s.realPrimary, null, `${phase.name}: a real primary on KWOK pods`);
        for (const m of s.members) assert.ok(m.role === null && typeof m.lastError === "string" && m.lastError !== "", `${phase.name}: ${JSON.stringify(m)}`);
        assert.ok(s.problems.includes(`no member accepts writes (configured primary ${s.configuredPrimary})`), s.problems.join("\n"));
    } else {
        assert.equal(s.realPrimary, s.configuredPrimary, `${phase.name}: ${s.problems.join("; ")}`);
        assert.deepEqual(
            s.members.map((m: any) => m.role),
            previous.placement.map((_, i) => (i === previous.primary ? "writable" : "read-only")),
        );
    }
}

function table(rows: StepRecord[]) {
    const head = ["step", "ok", "wall s", "create", "update", "delete", "replace", "same", "touched", "overlaps"];
    const body = rows.map((r) =>
        [
            r.step,
            r.ok ? "yes" : "NO",
            r.wallSeconds.toFixed(1),
            r.create,
            r.update,
            r.delete,
            r.replace,
            r.same,
            r.touchedClusters.join(",") || "-",
            r.podOverlaps,
        ].map(String),
    );
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join("  ");
    return [line(head), line(w.map((n) => "-".repeat(n))), ...body.map(line)].join("\n");
}

function writeResults() {
    results.totalSeconds = (Date.now() - t0) / 1000;
    const dir = path.join(REPO, "bench", "results");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "e2e.json"), JSON.stringify(results, null, 2) + "\n");
    console.log(`\n${table(results.steps)}`);
    if (results.refused)
        console.log(
            `refused step: ${results.refused.tried} after ${results.refused.after}: refused=${results.refused.refused}, state unchanged=${results.refused.stateUnchanged}`,
        );
    if (results.destroy) console.log(`destroy: ${results.destroy.wallSeconds.toFixed(1)}s, retained: ${JSON.stringify(results.destroy.remaining)}`);
}

describe("walkthrough: every stacks/*.yaml phase with real pulumi up on three clusters", { timeout: 3 * 3600 * 1000 }, () => {
    const phases = phaseFiles.map(loadPhase);

    // A failed preflight fails every test with its reason (rather than cancelling them).
    before(async () => {
        try {
            await preflight();
        } catch (e) {
            results.preflightError = (e as Error).message;
            console.error(`preflight failed: ${results.preflightError}`);
        }
    });
    const preflightOk = () => assert.equal(results.preflightError, undefined, `preflight failed: ${results.preflightError}`);

    async function preflight() {
        assert.ok(phases.length >= 2, `stacks/ must hold at least two phase files, found ${phases.length}`);
        engine = ensureEngine();
        results.engine = { version: engine.version, providers: engine.providers, substitutes: engine.substitutes, missing: engine.missing, bin: engine.bin };
        console.log(
            `engine: pulumi ${engine.version}; providers: ${engine.providers || "none"}${engine.substitutes ? `; SUBSTITUTES: ${engine.substitutes}` : ""}`,
        );
        const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8"));
        for (const dep of Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith("@pulumi/") && d !== "@pulumi/pulumi")) {
            const name = dep.slice("@pulumi/".length);
            const have = engine.providers.split(/\s+/).some((p) => p.startsWith(`${name}@`));
            assert.ok(have, `provider plugin for ${dep} is not available, so the program cannot run: ${engine.missing || "not built"}`);
        }

        // Clusters: start or keep them (idempotent), then check every context answers.
        const k8sBin = spawnSync("bash", [path.join(REPO, "tools", "toolchain", "k8s.sh")], { cwd: REPO, encoding: "utf8", timeout: 3 * 3600 * 1000 });
        assert.equal(k8sBin.status, 0, `tools/toolchain/k8s.sh failed: ${k8sBin.stderr?.slice(-2000)}`);
        kubectl = path.join(k8sBin.stdout.trim().split("\n").pop()!, "kubectl");
        process.env.MMC_KUBECTL = kubectl; // the program's liveStatus reads through the same kubectl
        const up = await run("bash", [path.join(REPO, "tools", "clusters", "up.sh")], { cwd: REPO, timeoutMs: 15 * 60 * 1000 });
        assert.equal(up.code, 0);
        for (const ctx of Object.values(phases[0].contexts)) await kube(ctx, ["get", "nodes", "-o", "name"]);

        // A clean start: no leftovers of the set from an earlier run (pods, claims, volumes).
        for (const ctx of new Set(phases.flatMap((p) => Object.values(p.contexts)))) {
            for (const ns of new Set(phases.map((p) => p.namespace))) {
                await kube(ctx, ["delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"]);
                const pvs = JSON.parse((await kube(ctx, ["get", "pv", "-o", "json"])).stdout).items;
                const names = new Set(
                    phases.flatMap((p) =>
                        Object.values(p.nodes)
                            .flat()
                            .map((n) => localVolumeName(p.set, n)),
                    ),
                );
                const mine = pvs.filter((pv: any) => pv.spec?.claimRef?.namespace === ns || names.has(pv.metadata.name)).map((pv: any) => pv.metadata.name);
                if (mine.length) await kube(ctx, ["delete", "pv", ...mine, "--wait=true", "--timeout=120s"]);
            }
        }

        backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-e2e-backend-"));
        renderRoot = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-e2e-render-"));
        baseEnv = {
            ...(process.env as Record<string, string>),
            ...engine.env,
            PULUMI_BACKEND_URL: `file://${backendDir}`,
            PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(18).toString("base64url"),
            KUBECONFIG,
        };
        // Only the engine's variables go to the workspace; the CLI itself comes from PATH via env.
        const envVars = {
            ...engine.env,
            PULUMI_BACKEND_URL: baseEnv.PULUMI_BACKEND_URL,
            PULUMI_CONFIG_PASSPHRASE: baseEnv.PULUMI_CONFIG_PASSPHRASE,
            KUBECONFIG,
        };
        for (const [k, v] of Object.entries(envVars)) process.env[k] = v; // the Automation API resolves `pulumi` from PATH
        stack = await LocalWorkspace.createOrSelectStack({ workDir: REPO, stackName: STACK }, { envVars, secretsProvider: "passphrase" });
    }

    /** Destroys the stack (bounded), then lists what is left in every cluster: the retention policy's keep. */
    async function destroyAndInventory(): Promise<string | undefined> {
        const t = Date.now();
        let deleted = 0;
        let error: string | undefined;
        // Bounded: a volume whose claim still exists stays in deletion (pv-protection) and the provider would wait.
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), DESTROY_TIMEOUT_MS);
        let log = "";
        try {
            const d = await stack.destroy({ onOutput: (o) => (log += o), signal: abort.signal });
            deleted = d.summary.resourceChanges?.delete ?? 0;
        } catch (e) {
            error = (
                abort.signal.aborted ? `destroy did not finish within ${DESTROY_TIMEOUT_MS / 1000}s; last output:\n${log.slice(-1500)}` : (e as Error).message
            ).slice(-3000);
        } finally {
            clearTimeout(timer);
        }
        const wall = (Date.now() - t) / 1000;
        type Inventory = { namespace: boolean; pvcs: string[]; pvs: string[]; pods: string[] };
        const remaining: Record<string, Inventory> = {};
        const expected: Record<string, Inventory> = {};
        const last = phases[phases.length - 1];
        for (const [c, ctx] of Object.entries(last.contexts)) {
            const ns = await kube(ctx, ["get", "namespace", last.namespace, "-o", "name"], true);
            const vols = await volumesIn(last, c);
            remaining[c] = {
                namespace: ns.code === 0,
                pvcs: await claimsIn(last, c),
                pvs: [...vols]
                    .filter(([, v]) => !v.deleting)
                    .map(([n, v]) => `${n}:${v.policy}`)
                    .sort(),
                pods: (await podsIn(last, c)).map((p) => p.name).sort(),
            };
            // The retention policy: the namespace is never deleted; claims stay unless the cluster was
            // retired (its Job deleted them); local volumes (Retain) stay unless the cluster was retired.
            const retired = last.retire.includes(c);
            expected[c] = {
                namespace: true,
                pvcs: retired ? [] : [...(claimsEver.get(c) ?? [])].sort(),
                pvs: retired ? [] : last.nodes[c].map((n) => `${localVolumeName(last.set, n)}:Retain`).sort(),
                pods: [],
            };
        }
        results.destroy = { wallSeconds: wall, deleted, remaining, expected, ...(error ? { error } : {}) };
        return error;
    }

    let destroyed = false;
    // Every claim each cluster held after any step: the retention policy keeps them (unless retired).
    const claimsEver = new Map<string, Set<string>>();
    after(async () => {
        try {
            // Clean up after a failed walk-through too (the destroy step did not run).
            if (stack && !destroyed) await destroyAndInventory();
            if (stack) await stack.workspace.removeStack(STACK, { force: true }).catch(() => {});
        } finally {
            fs.rmSync(STACK_FILE, { force: true });
            writeResults();
        }
    });

    let previous: Phase | undefined;
    let broken = "";
    let previousRender: Record<string, string> | undefined;
    for (const [i, phase] of phases.entries()) {
        it(`${phase.name}: up applies the phase safely`, { timeout: UP_TIMEOUT_MS + 10 * 60 * 1000 }, async () => {
            const rec: StepRecord = {
                step: phase.name,
                file: path.relative(REPO, phase.file),
                ok: false,
                wallSeconds: 0,
                create: 0,
                update: 0,
                delete: 0,
                replace: 0,
                same: 0,
                touchedClusters: [],
                expectedClusters: [],
                podOverlaps: 0,
                podsSeen: {},
                claims: {},
            };
            results.steps.push(rec);
            preflightOk();
            assert.equal(broken, "", `not run: an earlier step failed (${broken})`);
            broken = phase.name;
            const rendered = await render(phase, previous);
            const clusters = Object.keys(phase.contexts);
            rec.expectedClusters = clusters.filter((c) => !previousRender || previousRender[c] !== rendered[c]);

            await writeStackConfig(phase);
            const watcher = new PodWatcher(kubectl, KUBECONFIG, phase.contexts, phase.namespace, (n) => new RegExp(`^${phase.set}-\\d+$`).test(n));
            await watcher.start();
            const touched = new Set<string>();
            const ops: string[] = [];
            const onEvent = (ev: EngineEvent) => {
                const md = ev.resOutputsEvent?.metadata ?? ev.resourcePreEvent?.metadata;
                if (!md || md.op === "same" || md.op === "read" || md.op === "refresh") return;
                ops.push(`${md.op} ${md.urn}`);
                const c = clusterOfEvent(md);
                if (c) touched.add(c);
            };
            const t = Date.now();
            let log = "";
            try {
                const res = await stack.up({ onEvent, onOutput: (s) => (log += s) });
                rec.wallSeconds = (Date.now() - t) / 1000;
                const ch = res.summary.resourceChanges ?? {};
                Object.assign(rec, { create: ch.create ?? 0, update: ch.update ?? 0, delete: ch.delete ?? 0, replace: ch.replace ?? 0, same: ch.same ?? 0 });
            } catch (e) {
                rec.wallSeconds = (Date.now() - t) / 1000;
                rec.error = (e as Error).message.slice(-3000);
                throw e;
            } finally {
                watcher.stop();
                rec.podOverlaps = watcher.overlaps.length;
                rec.podsSeen = Object.fromEntries([...watcher.seen].map(([c, s]) => [c, [...s].sort()]));
                rec.touchedClusters = [...touched].sort();
            }

            assert.equal(
                rec.replace,
                0,
                `${phase.name}: the change summary has replaces:\n${ops.filter((o) => o.startsWith("replace") || o.includes("replacement")).join("\n")}`,
            );
            assert.ok(!ops.some((o) => /replace/.test(o.split(" ")[0])), `${phase.name}: replace steps: ${ops.join("\n")}`);
            const stray = rec.touchedClusters.filter((c) => !rec.expectedClusters.includes(c));
            assert.deepEqual(stray, [], `${phase.name}: touched clusters whose rendered objects did not change: ${stray}\n${ops.join("\n")}`);
            assert.deepEqual(watcher.overlaps, [], `${phase.name}: a pod name was present in two clusters at once`);
            assert.deepEqual(
                watcher.errors.filter((e) => !/^\S+: $/.test(e)),
                [],
                `${phase.name}: pod watch errors`,
            );

            // The clusters end in the state the phase declares.
            await waitForPlacement(phase);
            await secretsInClusters(phase);
            for (const c of phase.retire) await playRetireJob(phase, c);
            for (const c of Object.keys(phase.contexts)) {
                rec.claims[c] = await claimsIn(phase, c);
                const ever = claimsEver.get(c) ?? new Set<string>();
                rec.claims[c].forEach((n) => ever.add(n));
                claimsEver.set(c, ever);
                if (phase.retire.includes(c)) ever.clear();
            }

            // Outputs show the placement.
            const outs = await stack.outputs();
            const placement = outs.placement?.value as { ordinal: number; cluster: string }[];
            assert.ok(Array.isArray(placement), `${phase.name}: no placement output`);
            assert.deepEqual(
                placement.map((p) => p.cluster),
                phase.placement,
                `${phase.name}: placement output`,
            );
            assert.equal((outs.primary?.value as any)?.ordinal, phase.primary, `${phase.name}: primary output`);
            assert.equal((outs.primary?.value as any)?.cluster, phase.placement[phase.primary], `${phase.name}: primary cluster output`);

            await secretsCheck(phase.name);
            await liveStatusCheck(phase, previous, outs.liveStatus?.value);
            rec.ok = true;
            broken = "";
            previous = phase;
            previousRender = rendered;
        });

        if (i === 0) {
            it("an unsafe step (the primary changes cluster) is refused before anything changes", { timeout: UP_TIMEOUT_MS }, async () => {
                preflightOk();
                assert.ok(previous, "the first phase did not apply; nothing to refuse against");
                const from = previous!;
                const primaryCluster = from.placement[from.primary];
                const unsafe =
                    phases.slice(1).find((p) => p.placement[p.primary] !== primaryCluster) ??
                    phases.slice(1).find((p) => p.placement[from.primary] !== from.placement[from.primary]);
                assert.ok(unsafe, "no later phase moves the primary; cannot exercise the refusal");
                // Decrypted exports: the passphrase provider re-encrypts secrets (new nonces) on every checkpoint.
                const before = resourcesOf(JSON.stringify(await stack.exportStack()));
                const podsBefore = await Promise.all(Object.keys(from.contexts).map((c) => podsIn(from, c)));
                await writeStackConfig(unsafe!);
                const t = Date.now();
                let message = "";
                let refused = false;
                const changed: string[] = [];
                try {
                    await stack.up({
                        onOutput: () => {},
                        onEvent: (ev) => {
                            const md = ev.resOutputsEvent?.metadata;
                            if (md && !["same", "read", "refresh"].includes(md.op)) changed.push(`${md.op} ${md.urn}`);
                        },
                    });
                } catch (e) {
                    refused = true;
                    message = (e as Error).message;
                }
                const wall = (Date.now() - t) / 1000;
                const afterState = resourcesOf(JSON.stringify(await stack.exportStack()));
                const diff = stateDiff(before, afterState);
                const stateUnchanged = diff.length === 0;
                const podsAfter = await Promise.all(Object.keys(from.contexts).map((c) => podsIn(from, c)));
                const line = message.split("\n").find((l) => /TransitionError|primary|never changes cluster|step of its own/.test(l)) ?? message.slice(-300);
                results.refused = { after: from.name, tried: unsafe!.name, refused, stateUnchanged, wallSeconds: wall, message: line.trim() };
                // Back to the applied phase's config for the next step.
                await writeStackConfig(from);
                assert.ok(refused, `up of ${unsafe!.name} right after ${from.name} succeeded; it must be refused`);
                assert.match(message, /primary|switch/i, `refusal does not name the rule: ${message.slice(-500)}`);
                assert.deepEqual(changed, [], "resources changed during a refused up");
                assert.deepEqual(diff, [], "pulumi stack export differs after the refused up");
                assert.deepEqual(podsAfter, podsBefore, "pods changed during a refused up");
            });
        }
    }

    it("destroy removes the set; the retention policy keeps the data volumes", { timeout: DESTROY_TIMEOUT_MS + 5 * 60 * 1000 }, async () => {
        preflightOk();
        assert.ok(stack, "no stack");
        destroyed = true;
        const error = await destroyAndInventory();
        assert.equal(error, undefined, `pulumi destroy failed: ${error}`);
        assert.deepEqual(results.destroy!.remaining, results.destroy!.expected, "what destroy left is not what the retention policy promises");
    });
});
