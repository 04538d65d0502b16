// Helpers for the control-plane tests: bounded child processes, kubectl, and
// a pod watcher that follows several clusters at once.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface RunResult {
    stdout: string;
    stderr: string;
    code: number;
}

/** Runs a command; rejects on timeout (the process group is killed) and, unless allowFailure, on a non-zero exit. */
export function run(
    cmd: string,
    args: string[],
    opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string; input?: string; allowFailure?: boolean; echo?: boolean },
): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, {
            cwd: opts.cwd,
            env: opts.env ?? process.env,
            stdio: ["pipe", "pipe", "pipe"],
            detached: true, // own process group, so a timeout kills children too
        });
        let stdout = "";
        let stderr = "";
        let timedOut = false;
        child.stdout!.on("data", (d: Buffer) => {
            stdout += d.toString();
            if (opts.echo) process.stderr.write(d);
        });
        child.stderr!.on("data", (d: Buffer) => {
            stderr += d.toString();
            if (opts.echo) process.stderr.write(d);
        });
        const timer = setTimeout(() => {
            timedOut = true;
            try {
                process.kill(-child.pid!, "SIGKILL");
            } catch {
                child.kill("SIGKILL");
            }
        }, opts.timeoutMs);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(new Error(`cannot run ${cmd}: ${e.message}`));
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const line = `${cmd} ${args.join(" ")}`;
            if (timedOut) {
                reject(new Error(`TIMEOUT after ${opts.timeoutMs / 1000}s: ${line}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
                return;
            }
            const rc = code ?? (signal ? 128 : 1);
            if (rc !== 0 && !opts.allowFailure) {
                reject(new Error(`exit ${rc}${signal ? ` (${signal})` : ""}: ${line}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
                return;
            }
            resolve({ stdout, stderr, code: rc });
        });
        // A command may exit without reading its input (EPIPE on this write): its exit status judges it,
        // not an unhandled error event thrown into whichever test runs then.
        child.stdin!.on("error", () => {});
        child.stdin!.end(opts.input ?? "");
    });
}

function tail(s: string, n = 40): string {
    const lines = s.trimEnd().split("\n");
    return lines.slice(-n).join("\n");
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Thrown by a waitUntil check to stop waiting at once (the awaited state can no longer be reached). */
export class FatalError extends Error {}

/** Polls check() until it returns true; on timeout throws with describe()'s diagnostics. */
export async function waitUntil(
    what: string,
    timeoutMs: number,
    check: () => Promise<boolean>,
    describe: () => Promise<string>,
    intervalMs = 500,
): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: string;
    for (;;) {
        try {
            if (await check()) return;
            lastError = "";
        } catch (e) {
            if (e instanceof FatalError) throw e;
            lastError = (e as Error).message;
        }
        if (Date.now() > deadline) {
            let diag: string;
            try {
                diag = await describe();
            } catch (e) {
                diag = `(diagnostics failed: ${(e as Error).message})`;
            }
            throw new Error(`TIMEOUT after ${timeoutMs / 1000}s waiting for ${what}${lastError ? `\nlast error: ${lastError}` : ""}\n${diag}`);
        }
        await sleep(intervalMs);
    }
}

export class Kubectl {
    constructor(
        readonly bin: string,
        readonly kubeconfig: string,
    ) {}

    async run(context: string, args: string[], opts: { timeoutMs?: number; input?: string; allowFailure?: boolean } = {}): Promise<RunResult> {
        // Each API request is bounded; so is the whole command (timeoutMs).
        const requestTimeout = `${Math.max(20, Math.ceil((opts.timeoutMs ?? 60_000) / 1000))}s`;
        return run(this.bin, ["--kubeconfig", this.kubeconfig, "--context", context, "--request-timeout", requestTimeout, ...args], {
            timeoutMs: opts.timeoutMs ?? 60_000,
            input: opts.input,
            allowFailure: opts.allowFailure,
        });
    }

    async json<T = any>(context: string, args: string[]): Promise<T> {
        const r = await this.run(context, [...args, "-o", "json"]);
        return JSON.parse(r.stdout) as T;
    }

    /** The object, or undefined when the API server says NotFound. */
    async getOrUndefined<T = any>(context: string, resource: string, name: string, namespace?: string): Promise<T | undefined> {
        const ns = namespace ? ["-n", namespace] : [];
        const r = await this.run(context, ["get", resource, name, ...ns, "-o", "json", "--ignore-not-found"], {});
        return r.stdout.trim() === "" ? undefined : (JSON.parse(r.stdout) as T);
    }
}

/**
 * Follows the pods of several clusters with `kubectl get pods -A -w` and
 * records every moment at which one namespace/name exists in two clusters.
 */
export class PodWatcher {
    private readonly pods = new Map<string, Set<string>>();
    private readonly procs: ChildProcess[] = [];
    readonly violations: string[] = [];
    readonly failures: string[] = [];
    readonly events: string[] = [];
    private stopping = false;
    private readonly overlapping = new Set<string>(); // "ns/name clusterA+clusterB" while both have it

    constructor(
        private readonly kubectl: Kubectl,
        private readonly contexts: Record<string, string>, // cluster -> context
    ) {}

    start(): void {
        for (const [cluster, context] of Object.entries(this.contexts)) {
            this.pods.set(cluster, new Set());
            const p = spawn(
                this.kubectl.bin,
                [
                    "--kubeconfig",
                    this.kubectl.kubeconfig,
                    "--context",
                    context,
                    "get",
                    "pods",
                    "-A",
                    "--watch",
                    "--output-watch-events",
                    "-o",
                    'jsonpath={.type}{" "}{.object.metadata.namespace}{"/"}{.object.metadata.name}{"\\n"}',
                ],
                { stdio: ["ignore", "pipe", "pipe"] },
            );
            let err = "";
            p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
            createInterface({ input: p.stdout! }).on("line", (line) => this.onEvent(cluster, line.trim()));
            p.on("exit", (code, signal) => {
                if (!this.stopping) this.failures.push(`pod watch on ${cluster} ended (code ${code}, signal ${signal}): ${err.trim()}`);
            });
            this.procs.push(p);
        }
    }

    private onEvent(cluster: string, line: string): void {
        if (!line) return;
        const [type, key] = line.split(" ");
        const set = this.pods.get(cluster)!;
        const at = new Date().toISOString();
        this.events.push(`${at} ${cluster} ${type} ${key}`);
        if (type === "DELETED") set.delete(key);
        else if (type === "ADDED" || type === "MODIFIED") set.add(key);
        else if (type === "ERROR") this.failures.push(`pod watch on ${cluster} reported ERROR: ${line}`);
        for (const [other, otherSet] of this.pods) {
            const pair = `${key} ${[other, cluster].sort().join("+")}`;
            if (other !== cluster && set.has(key) && otherSet.has(key)) {
                if (!this.overlapping.has(pair)) {
                    this.overlapping.add(pair);
                    this.violations.push(`${at}: pod ${key} exists in ${other} and ${cluster} at the same time (${type} in ${cluster})`);
                }
            } else {
                this.overlapping.delete(pair);
            }
        }
    }

    /** The pods the watch currently sees in a cluster (namespace/name). */
    seen(cluster: string): Set<string> {
        return new Set(this.pods.get(cluster) ?? []);
    }

    stop(): void {
        this.stopping = true;
        for (const p of this.procs) p.kill("SIGTERM");
    }
}
