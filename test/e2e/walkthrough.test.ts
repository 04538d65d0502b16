// End-to-end tier: the project's own program (index.ts) driven by the Automation API against the
// three local clusters with REAL kubelet nodes running real MariaDB pods (tools/clusters/up.sh --nodes
// real, the real-node tier's clusters: kept when they run, e.g. after `MMC_KEEP_CLUSTERS=1 npm run
// test:cluster`, then cleaned to a slate without the set: namespaces, volumes, local volume dirs), one
// real `pulumi up` per file in stacks/ (sorted by name), then destroy.
//
// Needs: root, the engine (tools/toolchain/pulumi.sh builds or reuses it) with the kubernetes and random
// provider plugins, and the clusters (up.sh starts or keeps them). Anything missing fails the run with
// the reason; nothing is skipped.
//
// Per step it asserts: no replace in the change summary; only clusters whose rendered objects change
// (tools/render.ts, the same program under mocks) are touched; no pod name is present in two clusters
// at any moment (kubectl watches on all clusters during the up); the pods in each cluster are exactly
// the ordinals the phase places there, Running and Ready through their real probes; every Job the up
// created (the switchover Job, the retire Job) had already completed when `up` returned (the program's
// resources await them); exactly one writable member, the planned primary; replication running on every
// replica; every write a client acknowledged present on every member, with equal checksums (a writer
// pod inserts continuously through the write endpoint the program publishes in the primary's cluster;
// the longest interval without an acknowledged write per step is recorded); the outputs show the
// placement; `pulumi stack export` holds no plaintext secret. Once, after the first phase, a step that
// moves the primary must be refused with the state unchanged. After a phase that retires a cluster, its
// claims are gone (the retire Job's pod deleted them as its ServiceAccount: the program's Role) and its
// volumes are no longer Bound. Then destroy must finish and leave exactly what the retention policy
// keeps: the namespace everywhere, every claim outside retired clusters, the volumes of clusters not
// retired. Writes bench/results/e2e.json and prints a table. MMC_KEEP_CLUSTERS=1 leaves the clusters up.
// MMC_E2E_NODES=kwok walks the KWOK clusters instead: no container runs there, so the data-plane checks
// and the writer are skipped and the retire Job's command is played by the test as its ServiceAccount.
// MMC_E2E_TLS=1 walks the same phases with `tls: { enabled: true }` added to each one's config (a copy;
// stacks/ is unchanged): the writer speaks verified TLS (the set CA from `<set>-tls-ca`, the server's
// certificate must name the write host it dials), and after each up every member serves the program's
// certificate with require_secure_transport ON, every replica replicates over verified TLS, a plaintext
// client is refused and a verified client dialling the primary's pod IP (a name no certificate lists) is
// refused. Re-issued certificates (a cluster whose members' names changed) are the only replaces allowed.
// Writes bench/results/e2e-tls-walk.json instead.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import * as YAML from "yaml";
import { LocalWorkspace, Stack, EngineEvent } from "@pulumi/pulumi/automation";
import { CACHE, Engine, PodWatcher, REPO, ensureEngine, toolchainKubectl, plaintextSecrets, run } from "./engine";
import { Kubectl } from "../controlplane/kube";
import { MANAGED_BY } from "../cluster/apply";
import {
    assertSameData,
    assertWritableAndReplicating,
    CLIENT_NS,
    CLIENT_TLS_ARGS,
    clientAttempt,
    createWriterAccount,
    longestGapMs,
    Member,
    sql,
    startWriterPod,
    Writer,
} from "../cluster/db";
import { clustersByProvider } from "../../tools/mocks";
import { localVolumeName } from "../../components/naming";
import { PATHS } from "../../components/contract";
import { parseStackConfig, stripProjectPrefix } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { tlsDnsNames } from "../../components/tlsCertificates";

const PROJECT = "mysql-multicluster";
const TLS_ENV = process.env.MMC_E2E_TLS ?? "";
if (!["", "0", "1"].includes(TLS_ENV)) throw new Error(`MMC_E2E_TLS: "${TLS_ENV}" is not 0 or 1`);
const TLS = TLS_ENV === "1";
const STACK = `e2e-${TLS ? "tls-" : ""}${process.pid}`;
const STACK_FILE = path.join(REPO, `Pulumi.${STACK}.yaml`);
// The real-node tier's clusters (test/cluster: same state directory and ports), so CI's e2e reuses them.
// MMC_E2E_NODES=kwok walks on the KWOK clusters instead (no container runs: the data-plane checks are
// skipped and the retire Job's command is played by the test as its ServiceAccount).
const NODES = process.env.MMC_E2E_NODES ?? "real";
if (!["real", "kwok"].includes(NODES)) throw new Error(`MMC_E2E_NODES: "${NODES}" is not real or kwok`);
const REAL = NODES === "real";
const CLUSTERS_DIR = process.env.MMC_E2E_CLUSTERS_DIR ?? path.join(CACHE, REAL ? "clusters-real" : "clusters");
const PORT_BASE = process.env.MMC_E2E_PORT_BASE ?? (REAL ? "30000" : "20000");
const CLUSTERS_ENV = { ...process.env, MMC_CLUSTERS_DIR: CLUSTERS_DIR, MMC_PORT_BASE: PORT_BASE, MMC_MCS_PROFILE: "kosmos" };
const KEEP = process.env.MMC_KEEP_CLUSTERS === "1";
const KUBECONFIG = path.join(CLUSTERS_DIR, "kubeconfig");
const UP_TIMEOUT_MS = Number(process.env.MMC_E2E_UP_TIMEOUT_MS ?? 20 * 60 * 1000);
const DESTROY_TIMEOUT_MS = Number(process.env.MMC_E2E_DESTROY_TIMEOUT_MS ?? 6 * 60 * 1000);

const phaseFiles = fs
    .readdirSync(path.join(REPO, "stacks"))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(REPO, "stacks", f));

/** MMC_E2E_TLS=1: a copy of the phase file with `tls: { enabled: true }` added (stacks/ stays as it is). */
const tlsPhaseDir = TLS ? fs.mkdtempSync(path.join(os.tmpdir(), "mmc-e2e-tls-phases-")) : "";
function withTls(file: string): string {
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    assert.equal(doc?.config?.[`${PROJECT}:tls`], undefined, `${file}: already sets tls; the TLS walk adds it`);
    doc.config[`${PROJECT}:tls`] = { enabled: true };
    const copy = path.join(tlsPhaseDir, path.basename(file));
    fs.writeFileSync(copy, YAML.stringify(doc));
    return copy;
}

interface Phase {
    /** The config file up and render use: the stacks/ file, or its TLS copy (MMC_E2E_TLS=1). */
    file: string;
    /** The stacks/ file. */
    source: string;
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

function loadPhase(source: string): Phase {
    const file = TLS ? withTls(source) : source;
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    assert.ok(doc && typeof doc.config === "object", `${file}: no config: map`);
    const c = doc.config;
    const key = (k: string) => c[`${PROJECT}:${k}`];
    const clusters = key("clusters") ?? {};
    const mysql = key("mysql") ?? {};
    return {
        file,
        source,
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
    /** Seconds after `up` returned until every placed pod was Running and Ready (0: already). */
    readyAfterUpSeconds: number;
    /** Jobs the up created or replaced, and whether each had completed when `up` returned. */
    jobs: { cluster: string; name: string; component: string; completeWhenUpReturned: boolean }[];
    /** Longest interval without an acknowledged write, from the start of `up` to the end of the step's checks. */
    longestWriteGapMs: number;
    acknowledgedInStep: number;
    acknowledgedTotal: number;
    checksum: string;
    /** MMC_E2E_TLS=1: what the step's TLS checks saw. */
    tls?: {
        reissued: string[];
        members: Record<string, { sslCert: string; requireSecureTransport: string }>;
        replicas: Record<string, { sslAllowed: string; verifyServerCert: string }>;
        verified: string;
        plaintext: string;
        podIp: string;
    };
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
        serviceAccount?: string;
        command?: string[];
        as?: string;
        claimsBefore?: string[];
        claimsAfter: string[];
        volumes: string[];
        note?: string;
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
let kc: Kubectl;
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

async function podsIn(phase: Phase, cluster: string): Promise<{ name: string; phase: string; ready: boolean; node: string }[]> {
    const r = await kube(phase.contexts[cluster], ["-n", phase.namespace, "get", "pods", "-o", "json"]);
    const re = new RegExp(`^${phase.set}-\\d+$`);
    return JSON.parse(r.stdout)
        .items.filter((p: any) => re.test(p.metadata.name))
        .map((p: any) => ({
            name: p.metadata.name,
            phase: p.metadata.deletionTimestamp ? "Terminating" : (p.status?.phase ?? ""),
            ready: (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"),
            node: p.spec?.nodeName ?? "",
        }));
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
 * A retired cluster after its up: the retire Job (already awaited by `up`) ran its pod, kubectl as the
 * Job's ServiceAccount (so the program's Role is what allowed it), and deleted the set's claims; with
 * the claims gone the volumes are Released (reclaim policy Retain): nothing binds them.
 */
async function checkRetired(phase: Phase, cluster: string) {
    const ctx = phase.contexts[cluster];
    const name = `${phase.set}-retire`;
    const job = JSON.parse((await kube(ctx, ["-n", phase.namespace, "get", "job", name, "-o", "json"])).stdout);
    assert.ok((job.status?.succeeded ?? 0) >= 1, `${phase.name}: the retire Job in ${cluster} did not succeed: ${JSON.stringify(job.status)}`);
    const claimsAfter = await claimsIn(phase, cluster);
    assert.deepEqual(claimsAfter, [], `${phase.name}: claims left in retired ${cluster} after the retire Job`);
    const vols = await volumesReleased(phase, cluster);
    (results.retire ??= []).push({
        cluster,
        job: name,
        jobSucceeded: true,
        serviceAccount: job.spec.template.spec.serviceAccountName,
        claimsAfter,
        volumes: [...vols].map(([n, v]) => `${n}:${v.phase}`),
    });
}

/** The set's volumes in a retired cluster, once none is Bound (its claims are gone; reclaim policy Retain): at most 120 s. */
async function volumesReleased(phase: Phase, cluster: string) {
    const deadline = Date.now() + 120_000;
    let vols = await volumesIn(phase, cluster);
    while ([...vols.values()].some((v) => v.phase === "Bound") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 2000));
        vols = await volumesIn(phase, cluster);
    }
    assert.ok(![...vols.values()].some((v) => v.phase === "Bound"), `${phase.name}: volumes in ${cluster} still Bound: ${JSON.stringify([...vols])}`);
    return vols;
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
    const vols = await volumesReleased(phase, cluster);
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
            got[c] = pods.map((p) => `${p.name}:${p.phase}${p.ready ? ":Ready" : ""}`).sort();
            const names = pods.map((p) => p.name).sort();
            if (names.join() !== expectedPods(phase, c).join() || pods.some((p) => p.phase !== "Running" || (REAL && !p.ready))) ok = false;
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
    if (TLS) {
        // Certificates are public (the provider's certPem outputs are plaintext); private keys never are.
        for (const c of [...secrets].filter((v) => /^-----BEGIN CERTIFICATE-----[^]*-----END CERTIFICATE-----\s*$/.test(v))) secrets.delete(c);
        assert.ok(
            [...secrets].some((v) => v.includes("PRIVATE KEY")),
            `${label}: the private keys are not among the state's secrets`,
        );
        assert.doesNotMatch(raw, /PRIVATE KEY/, `${label}: pulumi stack export holds a private key in plaintext`);
    }
    for (const s of secrets) {
        assert.ok(!raw.includes(s), `${label}: pulumi stack export holds a secret in plaintext (${s.slice(0, 4)}…)`);
        const b64 = Buffer.from(s).toString("base64");
        assert.ok(!raw.includes(b64), `${label}: pulumi stack export holds a secret base64-encoded (${b64.slice(0, 4)}…)`);
    }
}

/** Every Secret the program manages in a cluster holds data, and its values are the state's secrets. */
async function secretsInClusters(phase: Phase) {
    const exported = await stack.exportStack();
    const known = plaintextSecrets(exported);
    // TLS: a certificate (public: ca.crt, tls.crt) need not be secret in state, but must be one the state holds.
    const stateText = TLS ? JSON.stringify(exported) : "";
    const publicCert = (v: string) =>
        TLS && /^-----BEGIN CERTIFICATE-----/.test(v) && !/PRIVATE KEY/.test(v) && stateText.includes(JSON.stringify(v).slice(1, -1));
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
                assert.ok(known.has(plain) || publicCert(plain), `${phase.name}: Secret ${sec.metadata.name}/${k} in ${c} is not one of the state's secrets`);
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

/** The certificate names of every member cluster of a phase (tlsDnsNames, as the program computes them). */
function certificateNames(phase: Phase): Map<string, string> {
    const plan = buildPlan(parseStackConfig(stripProjectPrefix(phase.config)));
    return new Map([...new Set(phase.placement)].map((c) => [c, JSON.stringify(tlsDnsNames(plan, c))]));
}

/** Clusters that run members before and after a step whose certificate names change: their certificates are re-issued. */
function certificatesReissued(previous: Phase | undefined, phase: Phase): string[] {
    if (!previous) return [];
    const before = certificateNames(previous);
    return [...certificateNames(phase)].filter(([c, names]) => before.has(c) && before.get(c) !== names).map(([c]) => c);
}

/** A member certificate's request or certificate of `cluster` (TlsCertificates names them `<name>-<cluster>-member`). */
function reissueUrn(urn: string, cluster: string): boolean {
    return /tls:index\/(certRequest:CertRequest|locallySignedCert:LocallySignedCert)::/.test(urn) && urn.endsWith(`-${cluster}-member`);
}

function table(rows: StepRecord[]) {
    const head = ["step", "ok", "wall s", "create", "update", "delete", "replace", "same", "touched", "overlaps", "jobs", "write gap ms", "acks"];
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
            r.jobs.map((j) => j.component).join(",") || "-",
            r.longestWriteGapMs,
            r.acknowledgedTotal,
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
    fs.writeFileSync(path.join(dir, TLS ? "e2e-tls-walk.json" : "e2e.json"), JSON.stringify(results, null, 2) + "\n");
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
        kubectl = toolchainKubectl();
        kc = new Kubectl(kubectl, KUBECONFIG);
        process.env.MMC_KUBECTL = kubectl; // the program's liveStatus reads through the same kubectl
        if (REAL) assert.equal(process.getuid?.(), 0, "real nodes need root (network namespaces, mounts, cgroups)");
        const up = await run("bash", [path.join(REPO, "tools", "clusters", "up.sh"), "--nodes", NODES], {
            cwd: REPO,
            env: { ...CLUSTERS_ENV, MMC_UP_TIMEOUT: "600" },
            timeoutMs: 60 * 60 * 1000,
            echo: true,
        });
        assert.equal(up.code, 0);
        for (const ctx of Object.values(phases[0].contexts)) await kube(ctx, ["get", "nodes", "-o", "name"]);

        // A clean slate: nothing of the set from an earlier run (pods, claims, cluster-scoped objects,
        // volumes, the data in the nodes' local volume directories), nor of the test's writers.
        const t = Date.now();
        const namespaces = [...new Set(phases.map((p) => p.namespace)), CLIENT_NS];
        const names = new Set(
            phases.flatMap((p) =>
                Object.values(p.nodes)
                    .flat()
                    .map((n) => localVolumeName(p.set, n)),
            ),
        );
        for (const ctx of new Set(phases.flatMap((p) => Object.values(p.contexts)))) {
            await run(
                kubectl,
                ["--kubeconfig", KUBECONFIG, "--context", ctx, "delete", "namespace", ...namespaces, "--ignore-not-found", "--wait=true", "--timeout=300s"],
                {
                    timeoutMs: 330_000,
                },
            );
            await kube(ctx, ["delete", "storageclasses,clusterroles,clusterrolebindings", "-l", MANAGED_BY, "--ignore-not-found", "--wait=true"]);
            const pvs = JSON.parse((await kube(ctx, ["get", "pv", "-o", "json"])).stdout).items;
            const mine = pvs
                .filter((pv: any) => namespaces.includes(pv.spec?.claimRef?.namespace) || names.has(pv.metadata.name))
                .map((pv: any) => pv.metadata.name);
            if (mine.length) await kube(ctx, ["delete", "pv", ...mine, "--wait=true", "--timeout=120s"]);
        }
        // A node's local volume root (/data/mysql inside it) is <state>/<cluster>/nodes/<node>/hostpaths/data/mysql
        // on the host (tools/clusters/node-run.sh); the set's data is its <namespace>_<set> subdirectory.
        const wiped: string[] = [];
        for (const p of phases)
            for (const [c, nodes] of Object.entries(p.nodes)) {
                const localPath: string | undefined = p.config[`${PROJECT}:clusters`]?.[c]?.storage?.localPath;
                if (!localPath) continue;
                for (const n of nodes) {
                    const dir = path.join(CLUSTERS_DIR, c, "nodes", n, "hostpaths", localPath, `${p.namespace}_${p.set}`);
                    if (fs.existsSync(dir)) {
                        fs.rmSync(dir, { recursive: true, force: true });
                        wiped.push(dir);
                    }
                }
            }
        console.log(`clean slate in ${((Date.now() - t) / 1000).toFixed(1)}s; local volume directories emptied: ${[...new Set(wiped)].length}`);

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
        // The writers first: the set they write to goes away.
        for (const w of writers) await w.writer.stop().catch(() => {});
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
        // Real pods take their grace period to stop once their StatefulSet is gone: wait (bounded) until none is left.
        const podsDeadline = Date.now() + 180_000;
        for (const c of Object.keys(last.contexts))
            while ((await podsIn(last, c)).length && Date.now() < podsDeadline) await new Promise((r) => setTimeout(r, 2000));
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

    // The continuous writers: one pod in the primary's cluster writing through the write endpoint the
    // program publishes there; a new one when the primary's cluster changes (the old one stops once
    // the new one writes). Its account is the test's, created as root on the first primary.
    const appPassword = crypto.randomBytes(18).toString("base64url");
    const writers: { cluster: string; writer: Writer }[] = [];
    async function startWriter(phase: Phase, cluster: string, outs: Record<string, { value: any }>) {
        const ctx = phase.contexts[cluster];
        const writeHost: string = outs.clusters?.value?.[cluster]?.writeEndpoint;
        assert.ok(writeHost, `${phase.name}: no write endpoint for ${cluster} in the clusters output`);
        const sts = await kc.json(ctx, ["-n", phase.namespace, "get", "statefulset", phase.set]);
        const image: string = sts.spec.template.spec.containers.find((c: any) => c.name === "mysql")?.image ?? sts.spec.template.spec.containers[0].image;
        const primaryNode = (await podsIn(phase, cluster)).find((p) => p.name === `${phase.set}-${phase.primary}`)?.node;
        const node = (await kc.json(ctx, ["get", "nodes"])).items.map((n: any) => n.metadata.name).find((n: string) => n !== primaryNode);
        const name = `writer-${writers.length + 1}`;
        // TLS: the writer verifies the server with the set CA, as the program publishes it in this cluster.
        const tlsCa = TLS ? { secret: `${phase.set}-tls-ca`, pem: await caOf(phase, ctx) } : undefined;
        let writer: Writer;
        try {
            writer = await startWriterPod(kc, ctx, { name, image, writeHost, base: (writers.length + 1) * 1_000_000, node, password: appPassword, tlsCa });
        } catch (e) {
            throw new Error(
                `${(e as Error).message}\n--- why (writer on ${node}, primary on ${primaryNode}):\n${await writePathReport(phase, ctx, name, writeHost)}`,
                { cause: e },
            );
        }
        const old = writers[writers.length - 1];
        writers.push({ cluster, writer });
        if (old) await old.writer.stop();
        console.log(
            `${phase.name}: ${cluster}/${name} writes through ${writeHost}${TLS ? " (verified TLS)" : ""}${old ? ` (${old.cluster}/${old.writer.name} stopped)` : ""}`,
        );
    }

    /** The set CA as a member cluster holds it (`<set>-tls-ca`, ca.crt). */
    async function caOf(phase: Phase, ctx: string): Promise<string> {
        const s = await kc.json(ctx, ["-n", phase.namespace, "get", "secret", `${phase.set}-tls-ca`]);
        const pem = Buffer.from(s.data?.["ca.crt"] ?? "", "base64").toString("utf8");
        assert.match(pem, /^-----BEGIN CERTIFICATE-----/, `${phase.name}: ${phase.set}-tls-ca in ${ctx} holds no ca.crt`);
        return pem;
    }

    /**
     * MMC_E2E_TLS=1, after a step: every member serves the program's certificate files with
     * require_secure_transport ON; every replica's source connection allows TLS and verifies the
     * source's certificate (with both threads running: assertWritableAndReplicating); from the writer
     * (the set CA only), a verified session to the write host, the same host refused in plaintext, and
     * the primary's pod IP refused by verification (no certificate names it: the check is real).
     */
    async function tlsChecks(phase: Phase, members: Member[], rec: StepRecord) {
        const t = rec.tls!;
        for (const m of members) {
            const row = await sql(
                kc,
                m.ctx,
                phase.namespace,
                m.pod,
                "SELECT @@GLOBAL.ssl_cert, @@GLOBAL.ssl_key, @@GLOBAL.ssl_ca, @@GLOBAL.have_ssl, @@GLOBAL.require_secure_transport;",
            );
            const [sslCert, sslKey, sslCa, haveSsl, requireSecureTransport] = row.trim().split("\t");
            assert.deepEqual(
                [sslCert, sslKey, sslCa, haveSsl, requireSecureTransport],
                [`${PATHS.tls}/tls.crt`, `${PATHS.tls}/tls.key`, `${PATHS.tls}/ca.crt`, "YES", "1"],
                `${phase.name}: ${m.pod}: the server's TLS settings`,
            );
            t.members[m.pod] = { sslCert, requireSecureTransport };
            if (m.primary) continue;
            const st = await sql(kc, m.ctx, phase.namespace, m.pod, "SHOW SLAVE STATUS;", 60_000, ["-E", "--column-names"]);
            const field = (k: string) => new RegExp(`^\\s*${k}: (.*)$`, "m").exec(st)?.[1]?.trim() ?? "";
            t.replicas[m.pod] = { sslAllowed: field("Master_SSL_Allowed"), verifyServerCert: field("Master_SSL_Verify_Server_Cert") };
            assert.deepEqual(
                [field("Master_SSL_Allowed"), field("Master_SSL_Verify_Server_Cert"), field("Master_SSL_CA_File")],
                ["Yes", "Yes", `${PATHS.tls}/ca.crt`],
                `${phase.name}: ${m.pod}: replication is not over verified TLS:\n${st}`,
            );
        }
        const { cluster, writer } = writers[writers.length - 1];
        const ctx = phase.contexts[cluster];
        const outs = await stack.outputs();
        const writeHost: string = outs.clusters?.value?.[cluster]?.writeEndpoint;
        const verified = await clientAttempt(kc, ctx, writer.name, writeHost, CLIENT_TLS_ARGS);
        t.verified = verified.out;
        assert.ok(
            verified.code === 0 && /^TLSv1\.[23]$/.test(verified.out),
            `${phase.name}: a verified TLS client to ${writeHost}: exit ${verified.code}: ${verified.out}`,
        );
        // The same account and host in plaintext: refused. MariaDB 10.11 answers a plaintext login under
        // require_secure_transport with 1045 "Access denied" (MySQL: 3159); the account is the one that just
        // logged in over TLS, so the transport is what is refused.
        const plain = await clientAttempt(kc, ctx, writer.name, writeHost, "--skip-ssl");
        t.plaintext = plain.out;
        assert.ok(
            plain.code !== 0 && /^ERROR (1045|3159) /m.test(plain.out),
            `${phase.name}: a plaintext client to ${writeHost} was not refused: exit ${plain.code}: ${plain.out}`,
        );
        const ip = (await kc.json(phase.contexts[phase.placement[phase.primary]], ["-n", phase.namespace, "get", "pod", `${phase.set}-${phase.primary}`]))
            .status?.podIP;
        assert.ok(ip, `${phase.name}: the primary has no pod IP`);
        const byIp = await clientAttempt(kc, ctx, writer.name, ip, CLIENT_TLS_ARGS);
        t.podIp = byIp.out;
        assert.ok(
            byIp.code !== 0 && /^ERROR 2026 .*certificate/im.test(byIp.out),
            `${phase.name}: a verified client dialling the primary's pod IP ${ip} (in no certificate) was not refused by verification: exit ${byIp.code}: ${byIp.out}`,
        );
        console.log(
            `${phase.name}: TLS: ${members.length} members require it, replicas verify their source; writer ${verified.out}; plaintext refused; pod IP refused`,
        );
    }

    /** What the writer's path looks like when it cannot write: the name as the writer resolves it, the Service, its endpoints, a direct connection. */
    async function writePathReport(phase: Phase, ctx: string, writer: string, writeHost: string): Promise<string> {
        const out: string[] = [];
        const step = async (label: string, args: string[]) => {
            const r = await kc.run(ctx, args, { allowFailure: true, timeoutMs: 30_000 }).catch((e) => ({ stdout: "", stderr: String(e), code: -1 }));
            out.push(`# ${label} (exit ${r.code})\n${r.stdout}${r.stderr}`);
        };
        await step("the name in the writer", ["exec", "-n", CLIENT_NS, writer, "--", "getent", "hosts", writeHost]);
        await step("Services and EndpointSlices", ["get", "svc,endpointslices", "-n", phase.namespace, "-o", "wide"]);
        await step("pods", ["get", "pods", "-A", "-o", "wide"]);
        const primary = await kc.getOrUndefined(ctx, "pods", `${phase.set}-${phase.primary}`, phase.namespace);
        const ip = primary?.status?.podIP;
        if (ip)
            await step(`TCP to the primary's pod IP ${ip}:3306 from the writer`, [
                "exec",
                "-n",
                CLIENT_NS,
                writer,
                "--",
                "bash",
                "-c",
                `timeout 5 bash -c 'exec 3<>/dev/tcp/${ip}/3306' && echo connected`,
            ]);
        await step(`TCP to ${writeHost}:3306 from the writer`, [
            "exec",
            "-n",
            CLIENT_NS,
            writer,
            "--",
            "bash",
            "-c",
            `timeout 5 bash -c 'exec 3<>/dev/tcp/${writeHost}/3306' && echo connected`,
        ]);
        return out.join("\n");
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
            if (KEEP) console.log(`MMC_KEEP_CLUSTERS=1: the real-node clusters stay up (KUBECONFIG=${KUBECONFIG})`);
            else if (REAL && kubectl)
                await run("bash", [path.join(REPO, "tools", "clusters", "down.sh")], { cwd: REPO, env: CLUSTERS_ENV, timeoutMs: 300_000, echo: true });
        }
    });

    let previous: Phase | undefined;
    let broken = "";
    let previousRender: Record<string, string> | undefined;
    for (const [i, phase] of phases.entries()) {
        it(`${phase.name}: up applies the phase safely`, { timeout: UP_TIMEOUT_MS + 10 * 60 * 1000 }, async () => {
            const rec: StepRecord = {
                step: phase.name,
                file: path.relative(REPO, phase.source),
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
                readyAfterUpSeconds: 0,
                jobs: [],
                longestWriteGapMs: 0,
                acknowledgedInStep: 0,
                acknowledgedTotal: 0,
                checksum: "",
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
            const jobs: { cluster: string; name: string; namespace: string; component: string }[] = [];
            const onEvent = (ev: EngineEvent) => {
                const md = ev.resOutputsEvent?.metadata ?? ev.resourcePreEvent?.metadata;
                if (!md || md.op === "same" || md.op === "read" || md.op === "refresh") return;
                ops.push(`${md.op} ${md.urn}`);
                const c = clusterOfEvent(md);
                if (c) touched.add(c);
                // A Job the up created (or replaced): its cluster and name, once its outputs are known.
                const meta = md.new?.outputs?.metadata ?? md.new?.inputs?.metadata;
                if (
                    ev.resOutputsEvent &&
                    md.type === "kubernetes:batch/v1:Job" &&
                    ["create", "replace", "create-replacement"].includes(md.op) &&
                    c &&
                    meta?.name
                )
                    jobs.push({ cluster: c, name: meta.name, namespace: meta.namespace, component: meta.labels?.["app.kubernetes.io/component"] ?? "" });
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

            // With TLS, a cluster whose members' names change gets its certificate re-issued (request and
            // certificate replaced, same key and CA): those replaces, and only those, are expected.
            const reissued = TLS ? certificatesReissued(previous, phase) : [];
            const replaceOps = (o: string) => /replace/.test(o.split(" ")[0]);
            const isReissue = (o: string) => reissued.some((c) => reissueUrn(o.split(" ")[1] ?? "", c));
            assert.equal(
                rec.replace,
                new Set(ops.filter((o) => o.startsWith("replace ") && isReissue(o))).size,
                `${phase.name}: the change summary has replaces:\n${ops.filter((o) => o.startsWith("replace") || o.includes("replacement")).join("\n")}`,
            );
            assert.ok(!ops.some((o) => replaceOps(o) && !isReissue(o)), `${phase.name}: replace steps: ${ops.join("\n")}`);
            if (TLS) {
                const got = reissued.filter((c) => ops.some((o) => o.startsWith("replace ") && reissueUrn(o.split(" ")[1], c)));
                assert.deepEqual(got, reissued, `${phase.name}: certificates re-issued (clusters whose names changed: ${reissued})\n${ops.join("\n")}`);
                rec.tls = { reissued, members: {}, replicas: {}, verified: "", plaintext: "", podIp: "" };
            }
            const stray = rec.touchedClusters.filter((c) => !rec.expectedClusters.includes(c));
            assert.deepEqual(stray, [], `${phase.name}: touched clusters whose rendered objects did not change: ${stray}\n${ops.join("\n")}`);
            assert.deepEqual(watcher.overlaps, [], `${phase.name}: a pod name was present in two clusters at once`);
            assert.deepEqual(
                watcher.errors.filter((e) => !/^\S+: $/.test(e)),
                [],
                `${phase.name}: pod watch errors`,
            );

            // Every Job the up created had completed before `up` returned: the program's resources await them.
            for (const j of jobs) {
                const job = JSON.parse((await kube(phase.contexts[j.cluster], ["-n", j.namespace, "get", "job", j.name, "-o", "json"])).stdout);
                const complete = (job.status?.conditions ?? []).some((x: any) => x.type === "Complete" && x.status === "True");
                rec.jobs.push({ cluster: j.cluster, name: j.name, component: j.component, completeWhenUpReturned: complete });
            }
            const want = [
                ...(previous && previous.primary !== phase.primary ? ["switchover"] : []),
                ...phase.retire.filter((c) => !previous?.retire.includes(c)).map(() => "retire"),
            ].sort();
            assert.deepEqual(rec.jobs.map((j) => j.component).sort(), want, `${phase.name}: Jobs the up created: ${JSON.stringify(rec.jobs)}`);
            assert.deepEqual(
                rec.jobs.filter((j) => !j.completeWhenUpReturned),
                [],
                `${phase.name}: Jobs not complete when up returned (the program must await them)`,
            );

            // The clusters end in the state the phase declares: the placed pods Running and Ready (real probes).
            const tReady = Date.now();
            await waitForPlacement(phase);
            rec.readyAfterUpSeconds = (Date.now() - tReady) / 1000;
            await secretsInClusters(phase);
            for (const c of phase.retire) await (REAL ? checkRetired(phase, c) : playRetireJob(phase, c));

            if (REAL) {
                // The data plane: one writable member (the planned primary), replication running, every
                // acknowledged write on every member, equal checksums.
                const members: Member[] = phase.placement.map((c, o) => ({ ctx: phase.contexts[c], pod: `${phase.set}-${o}`, primary: o === phase.primary }));
                await assertWritableAndReplicating(kc, phase.namespace, members, phase.name);
                const outsNow = await stack.outputs();
                const primaryCluster = phase.placement[phase.primary];
                if (i === 0) await createWriterAccount(kc, phase.contexts[primaryCluster], phase.namespace, `${phase.set}-${phase.primary}`, appPassword);
                // The writer follows the published write endpoint from the primary's cluster.
                if (!writers.length || writers[writers.length - 1].cluster !== primaryCluster) await startWriter(phase, primaryCluster, outsNow);
                const active = writers[writers.length - 1].writer;
                const stepEnd = Date.now();
                await active.pause();
                try {
                    for (const w of writers) await w.writer.refresh();
                    const acks = writers.flatMap((w) => w.writer.acks);
                    const acked = new Set(acks.map((a) => a.id));
                    rec.checksum = await assertSameData(kc, phase.namespace, members, acked, phase.name);
                    const gap = i === 0 ? { gapMs: 0, acks: 0 } : longestGapMs(acks, t, stepEnd);
                    Object.assign(rec, { longestWriteGapMs: gap.gapMs, acknowledgedInStep: gap.acks, acknowledgedTotal: acked.size });
                    console.log(
                        `${phase.name}: ${acked.size} acknowledged writes on all ${members.length} members, checksum ${rec.checksum}; longest write gap ${gap.gapMs} ms`,
                    );
                } finally {
                    await active.resume();
                }
                if (TLS) await tlsChecks(phase, members, rec);
            }
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
