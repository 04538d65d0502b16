// Helpers for the end-to-end tier: the locally built Pulumi engine, the local clusters,
// bounded child processes and a pod watcher that follows several clusters at once.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, PulumiFn, Stack } from "@pulumi/pulumi/automation";

export const REPO = path.resolve(__dirname, "..", "..");
export const CACHE = process.env.MMC_CACHE_DIR ?? path.join(os.homedir(), ".cache", "mysql-multicluster");

export interface Engine {
    env: Record<string, string>;
    bin: string;
    version: string;
    providers: string;
    substitutes: string;
    missing: string;
}

/**
 * Builds (or reuses, in seconds) the engine with tools/toolchain/pulumi.sh and returns the environment
 * its env file sets. Never silently degrades: `missing` lists what the build could not produce.
 */
export function ensureEngine(): Engine {
    const script = path.join(REPO, "tools", "toolchain", "pulumi.sh");
    const build = spawnSync("bash", [script], {
        cwd: REPO,
        env: { ...process.env, MMC_PULUMI_ALLOW_PARTIAL: "1" },
        encoding: "utf8",
        timeout: 3 * 3600 * 1000,
        maxBuffer: 64 << 20,
    });
    if (build.status !== 0) {
        throw new Error(`tools/toolchain/pulumi.sh failed (exit ${build.status}):\n${(build.stderr ?? "").slice(-4000)}`);
    }
    const envFile = spawnSync("bash", [script, "--env"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
    if (!envFile || !fs.existsSync(envFile)) throw new Error(`engine env file missing: ${envFile}`);
    const dump = spawnSync("bash", ["-c", `set -a; source "$1"; env -0`, "env", envFile], { encoding: "utf8", env: process.env });
    if (dump.status !== 0) throw new Error(`cannot source ${envFile}: ${dump.stderr}`);
    const env: Record<string, string> = {};
    for (const kv of dump.stdout.split("\0")) {
        const i = kv.indexOf("=");
        if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const bin = env.MMC_PULUMI_BIN;
    const v = spawnSync(path.join(bin, "pulumi"), ["version"], { encoding: "utf8", env });
    if (v.status !== 0) throw new Error(`pulumi version failed: ${v.stderr}`);
    return {
        env,
        bin,
        version: v.stdout.trim(),
        providers: env.MMC_PULUMI_PROVIDERS ?? "",
        substitutes: env.MMC_PULUMI_SUBSTITUTES ?? "",
        missing: env.MMC_PULUMI_MISSING ?? "",
    };
}

// One bounded process runner for every tier that drives external commands.
export { run, type RunResult } from "../controlplane/kube";

/** Builds (or reuses) the Kubernetes toolchain (tools/toolchain/k8s.sh) and returns the path of its kubectl. */
export function toolchainKubectl(): string {
    const k8sBin = spawnSync("bash", [path.join(REPO, "tools", "toolchain", "k8s.sh")], { cwd: REPO, encoding: "utf8", timeout: 3 * 3600 * 1000 });
    assert.equal(k8sBin.status, 0, `tools/toolchain/k8s.sh failed: ${k8sBin.stderr?.slice(-2000)}`);
    return path.join(k8sBin.stdout.trim().split("\n").pop()!, "kubectl");
}

/**
 * A stack of an inline `program` (project `mmc-<tag>`) on a fresh local backend with a random
 * passphrase, reaching the clusters through `kubeconfig`. The inline program runs in this process, so
 * the environment (and the live status's `MMC_KUBECTL`) is set here too.
 */
export async function inlineStack(engine: Engine, tag: string, stackName: string, program: PulumiFn, kubeconfig: string, kubectl: string) {
    const backendDir = fs.mkdtempSync(path.join(os.tmpdir(), `mmc-e2e-${tag}-backend-`));
    const envVars = {
        ...engine.env,
        PULUMI_BACKEND_URL: `file://${backendDir}`,
        PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(18).toString("base64url"),
        KUBECONFIG: kubeconfig,
    };
    for (const [k, v] of Object.entries({ ...envVars, MMC_KUBECTL: kubectl })) process.env[k] = v;
    const project = `mmc-${tag}`;
    const stack: Stack = await LocalWorkspace.createOrSelectStack(
        { stackName, projectName: project, program },
        { envVars, secretsProvider: "passphrase", projectSettings: { name: project, runtime: "nodejs" } },
    );
    return { stack, backendDir };
}

export class JsonStream {
    private buf = "";
    private depth = 0;
    private inString = false;
    private escaped = false;
    private start = -1;
    constructor(private readonly onDoc: (doc: any) => void) {}
    push(chunk: string) {
        const base = this.buf.length;
        this.buf += chunk;
        for (let i = base; i < this.buf.length; i++) {
            const ch = this.buf[i];
            if (this.inString) {
                if (this.escaped) this.escaped = false;
                else if (ch === "\\") this.escaped = true;
                else if (ch === '"') this.inString = false;
                continue;
            }
            if (ch === '"') this.inString = true;
            else if (ch === "{") {
                if (this.depth === 0) this.start = i;
                this.depth++;
            } else if (ch === "}") {
                this.depth--;
                if (this.depth === 0 && this.start >= 0) {
                    this.onDoc(JSON.parse(this.buf.slice(this.start, i + 1)));
                    this.buf = this.buf.slice(i + 1);
                    i = -1;
                    this.start = -1;
                }
            }
        }
        if (this.depth === 0 && this.start < 0) this.buf = "";
    }
}

export interface Overlap {
    pod: string;
    clusters: string[];
    atMs: number;
}

/**
 * Follows the set's pods in every cluster with `kubectl get pods --watch` and records each moment a pod
 * name is present in two clusters (present = from its ADDED event until its DELETED event, so a pod that
 * is still terminating counts as present).
 */
export class PodWatcher {
    private procs: ReturnType<typeof spawn>[] = [];
    private live = new Map<string, Set<string>>();
    readonly overlaps: Overlap[] = [];
    readonly seen = new Map<string, Set<string>>();
    readonly errors: string[] = [];
    private t0 = Date.now();

    constructor(
        private readonly kubectl: string,
        private readonly kubeconfig: string,
        private readonly contexts: Record<string, string>,
        private readonly namespace: string,
        private readonly isSetPod: (name: string) => boolean,
    ) {}

    async start() {
        this.t0 = Date.now();
        for (const [cluster, context] of Object.entries(this.contexts)) {
            this.live.set(cluster, new Set());
            this.seen.set(cluster, new Set());
            const p = spawn(
                this.kubectl,
                ["--kubeconfig", this.kubeconfig, "--context", context, "-n", this.namespace, "get", "pods", "--watch", "--output-watch-events", "-o", "json"],
                { stdio: ["ignore", "pipe", "pipe"] },
            );
            const stream = new JsonStream((ev) => this.onEvent(cluster, ev));
            p.stdout!.on("data", (d: Buffer) => stream.push(d.toString()));
            p.stderr!.on("data", (d: Buffer) => this.errors.push(`${cluster}: ${d.toString().trim()}`));
            this.procs.push(p);
        }
        // The watch lists existing pods first; give every stream time to connect.
        await new Promise((r) => setTimeout(r, 2000));
    }

    private onEvent(cluster: string, ev: any) {
        const name: string | undefined = ev?.object?.metadata?.name;
        if (!name || !this.isSetPod(name)) return;
        const live = this.live.get(cluster)!;
        if (ev.type === "DELETED") live.delete(name);
        else if (ev.type === "ADDED" || ev.type === "MODIFIED") {
            live.add(name);
            this.seen.get(cluster)!.add(name);
        }
        const where = [...this.live].filter(([, s]) => s.has(name)).map(([c]) => c);
        if (where.length > 1) this.overlaps.push({ pod: name, clusters: where, atMs: Date.now() - this.t0 });
    }

    stop() {
        for (const p of this.procs) p.kill("SIGTERM");
        this.procs = [];
    }
}

/** Every plaintext value of a secret in a `--show-secrets` export ({sig: 1b47..., plaintext: "<json>"}). */
export function plaintextSecrets(node: unknown, out: Set<string> = new Set()): Set<string> {
    if (Array.isArray(node)) node.forEach((n) => plaintextSecrets(n, out));
    else if (node && typeof node === "object") {
        const o = node as Record<string, unknown>;
        if (o["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270" && typeof o.plaintext === "string") {
            const collect = (v: unknown) => {
                if (typeof v === "string") {
                    if (v.length >= 8) out.add(v);
                } else if (v && typeof v === "object") Object.values(v as object).forEach(collect);
            };
            try {
                collect(JSON.parse(o.plaintext));
            } catch {
                collect(o.plaintext);
            }
        }
        Object.values(o).forEach((v) => plaintextSecrets(v, out));
    }
    return out;
}
