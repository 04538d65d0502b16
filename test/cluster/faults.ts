// Faults in Kubernetes for the real-node walk-through (test/cluster/walkthrough.test.ts). Each runs
// beside one step of the walk and the step's usual checks follow it (every acknowledged write on every
// member, equal checksums, exactly one writable member, placed pods Ready, no pod name in two clusters):
//   seed   the recipient's pod deleted while its init container streams the seed (a replica move);
//   job    the switchover Job's pod SIGKILLed and force-deleted at two points made certain by a lock the
//          test holds (`holdLock`): inside the demotion, then (its re-run) inside the promotion; each
//          `up` fails and the next runs the Job again, as Pulumi would replace the failed Job;
//   node   the node running the primary stopped (kubelet, kube-proxy, containerd and every container
//          killed: tools/clusters/node.sh) while a moved replica seeds from it, started again later.
// And for the automatic-failover test (test/cluster/autofailover.test.ts): a whole cluster cut off from
// the others and healed (`cutCluster`, `healCluster`: tools/clusters/cut.sh).
import { spawn } from "node:child_process";
import * as path from "node:path";
import { FatalError, Kubectl, run, sleep, waitUntil } from "../controlplane/kube";
import { SQL_IN_POD, sql } from "./db";

export type FaultKind = "seed" | "job" | "node";
export interface FaultRecord {
    kind: FaultKind;
    what: string;
    startMs: number;
    endMs: number;
    detail: string[];
}
type Log = (msg: string) => void;

/** Resolves with the first line of `kubectl logs -f` matching `re` (rejects on `stop` or on timeout). */
function followLog(kubectl: Kubectl, ctx: string, ns: string, pod: string, container: string, re: RegExp, stop: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn(kubectl.bin, ["--kubeconfig", kubectl.kubeconfig, "--context", ctx, "logs", "-f", "-n", ns, pod, "-c", container], {
            stdio: ["ignore", "pipe", "pipe"],
        });
        let buf = "";
        let done = false;
        const finish = (err: Error | undefined, line?: string) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            child.kill("SIGKILL");
            if (err) reject(err);
            else resolve(line!);
        };
        const timer = setTimeout(
            () => finish(new Error(`${pod}/${container}: no log line matching ${re} within ${timeoutMs / 1000}s:\n${buf.slice(-2000)}`)),
            timeoutMs,
        );
        child.stdout.on("data", (d: Buffer) => {
            buf += d.toString();
            for (const line of buf.split("\n")) {
                if (re.test(line)) return finish(undefined, line);
                if (stop.test(line)) return finish(new FatalError(`${pod}/${container}: "${line}" before ${re}: the fault's window was missed`));
            }
        });
        child.on("close", (code) =>
            finish(new Error(`${pod}/${container}: log stream ended (exit ${code}) before a line matching ${re}:\n${buf.slice(-2000)}`)),
        );
    });
}

/** Waits until `pod` exists with its init container running; returns its uid. */
async function initRunning(kubectl: Kubectl, ctx: string, ns: string, pod: string, notUid: string | undefined, timeoutMs: number): Promise<string> {
    let uid = "";
    await waitUntil(
        `${pod}: init container running`,
        timeoutMs,
        async () => {
            const p = await kubectl.getOrUndefined(ctx, "pods", pod, ns);
            if (!p || p.metadata.uid === notUid || p.metadata.deletionTimestamp) return false;
            const s = (p.status?.initContainerStatuses ?? []).find((x: any) => x.name === "init");
            if (s?.state?.terminated) throw new FatalError(`${pod}: init container already finished: the fault's window was missed`);
            uid = p.metadata.uid;
            return !!s?.state?.running;
        },
        async () => JSON.stringify((await kubectl.getOrUndefined(ctx, "pods", pod, ns))?.status ?? {}),
        200,
    );
    return uid;
}

const SEEDING = /seeding from /;
const SEED_DONE = /received and verified|volume trusted|nothing to seed/;

/** (b) The recipient's pod deleted while its init container streams the seed. */
export async function seedFault(kubectl: Kubectl, ctx: string, ns: string, pod: string, log: Log): Promise<FaultRecord> {
    const uid = await initRunning(kubectl, ctx, ns, pod, undefined, 8 * 60_000);
    const line = await followLog(kubectl, ctx, ns, pod, "init", SEEDING, SEED_DONE, 8 * 60_000);
    // Attached to the deleted pod's init container before the delete: did it finish (and verify) the seed
    // within its termination grace? (SIGTERM stops init.sh after its current step, a stream included.)
    const finishedInGrace = followLog(kubectl, ctx, ns, pod, "init", /received and verified/, /(?!)/, 5 * 60_000).catch(() => "");
    const startMs = Date.now();
    await kubectl.run(ctx, ["delete", "pod", "-n", ns, pod, "--wait=false"]);
    log(`fault seed: ${pod} deleted while its init container streams ("${line.trim()}")`);
    // The StatefulSet recreates it; its init container must find the interrupted seed and seed again.
    await initRunning(kubectl, ctx, ns, pod, uid, 5 * 60_000).catch((e) => {
        if (!/already finished/.test(String(e))) throw e;
    });
    const again = await followLog(kubectl, ctx, ns, pod, "init", SEED_DONE, /(?!)/, 8 * 60_000);
    const logs = await kubectl.run(ctx, ["logs", "-n", ns, pod, "-c", "init"], { allowFailure: true });
    const initLog = logs.stdout.split("\n").filter((l) => /seeding from|wiping|received and verified|trusted|failed/.test(l));
    const finished = await finishedInGrace;
    assertSeededAgain(pod, initLog, finished);
    return {
        kind: "seed",
        what: `${pod} deleted mid-seed`,
        startMs,
        endMs: Date.now(),
        detail: [
            `deleted at: ${line.trim()}`,
            ...(finished ? [`the deleted pod finished its seed within its termination grace: ${finished.trim()}`] : []),
            `replacement pod: ${again.trim()}`,
            ...initLog.map((l) => `replacement init: ${l.trim()}`),
        ],
    };
}

function assertSeededAgain(pod: string, initLog: string[], finishedInGrace: string) {
    // The deleted pod verified its whole seed before it stopped: the replacement rightly trusts it (the
    // step's checks then prove every acknowledged write and equal checksums on it).
    if (finishedInGrace && initLog.some((l) => /volume is trusted; nothing to seed/.test(l))) return;
    // Otherwise the volume of the deleted pod carried no trust marker: the replacement must not trust it.
    if (initLog.some((l) => /volume (is )?trusted/.test(l)) && !initLog.some((l) => /received and verified/.test(l)))
        throw new Error(`${pod}: the replacement trusted the half-seeded volume:\n${initLog.join("\n")}`);
    if (!initLog.some((l) => /received and verified/.test(l))) throw new Error(`${pod}: the replacement did not seed again:\n${initLog.join("\n")}`);
}

/** Where the job fault kills the switchover Job (each made certain by a lock the test holds; see `holdLock`). */
export type JobKillPoint = "demotion" | "promotion";

// The kill points, each reached for certain through ordinary client locks (product code unchanged:
// any application session could hold them), never by timing:
//   demotion   killed after its demotion took effect, in its catch-up: the test holds a row of a test
//              table on the new primary (SELECT ... FOR UPDATE) and LOCK TABLES ... WRITE of that table
//              on the old one, so the demotion's `SET GLOBAL read_only = ON` waits ("Waiting for backup
//              lock"); then, inside its lock, the test updates that row and unlocks: the demotion
//              completes with the update in the old primary's final position, and the new primary's
//              applier waits on the held row, so the Job's catch-up (MASTER_GTID_WAIT) waits: the old
//              primary read-only without a channel, the new one still replicating, nothing writable.
//   promotion  killed inside its promotion: the test holds mmc.epoch's row on the new primary (SELECT
//              ... FOR UPDATE); the promotion's INSERT IGNORE of that row waits on it after STOP SLAVE and
//              RESET SLAVE ALL: the new primary read-only without a channel, nothing writable.
// (Killed while its demotion itself waits, the server drops the waiting statement with the client:
// the old primary stays the writable primary, nothing changed. Seen on real nodes; not a kill point.)
export const HOLD_TABLE_SQL =
    "CREATE DATABASE IF NOT EXISTS mmc_test; CREATE TABLE IF NOT EXISTS mmc_test.hold (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB; INSERT IGNORE INTO mmc_test.hold VALUES (1, 0);";
export const HOLD_ROW = "BEGIN; SELECT v FROM mmc_test.hold WHERE id = 1 FOR UPDATE;";
export const HOLD_TABLE = "LOCK TABLES mmc_test.hold WRITE;";
export const HOLD_EPOCH_ROW = "BEGIN; SELECT epoch FROM mmc.epoch WHERE id = 1 FOR UPDATE;";

/** A client session held open in `pod`'s server container (root over the socket) holding a lock. */
export interface HeldLock {
    pod: string;
    /** Runs more SQL in the held session; resolves once it has run. */
    exec(text: string): Promise<void>;
    release(): Promise<void>;
}

export async function holdLock(kubectl: Kubectl, ctx: string, ns: string, pod: string, lock: string, log: Log): Promise<HeldLock> {
    // -n: the client flushes each result, so the marker arrives while the session stays open.
    const child = spawn(
        kubectl.bin,
        [
            "--kubeconfig",
            kubectl.kubeconfig,
            "--context",
            ctx,
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
            `export MMC_SQL_TIMEOUT=900; ${SQL_IN_POD}`,
            "sql",
            "-n",
        ],
        { stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    let exited = false;
    let marks = 0;
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((resolve) =>
        child.on("close", (code) => {
            exited = true;
            resolve(code);
        }),
    );
    const exec = async (text: string) => {
        const mark = `mmc-hold-${++marks}`;
        child.stdin.write(`${text}\nSELECT '${mark}';\n`);
        await waitUntil(
            `${pod}: held session ran "${text}"`,
            60_000,
            async () => {
                if (out.includes(mark)) return true;
                if (exited) throw new FatalError(`${pod}: the held session ended before it ran "${text}": ${out}${err}`);
                return false;
            },
            async () => out + err,
            100,
        );
    };
    await exec(lock).catch((e) => {
        child.kill("SIGKILL");
        throw e;
    });
    log(`fault job: held on ${pod}: ${lock}`);
    let released = false;
    return {
        pod,
        exec,
        async release() {
            if (released) return;
            released = true;
            child.stdin.end("UNLOCK TABLES;\nROLLBACK;\nSELECT 'mmc-hold-released';\n");
            const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
            await closed;
            clearTimeout(timer);
            if (!out.includes("mmc-hold-released")) throw new Error(`${pod}: the held session was not released cleanly: ${out}${err}`);
            log(`fault job: released the lock on ${pod}`);
        },
    };
}

/** Where the Job is: a statement waiting on the held server (its PROCESSLIST), then what the test does there. */
export interface KillWait {
    ctx: string;
    pod: string;
    like: string;
    then?: () => Promise<void>;
}

/**
 * (c) The switchover Job killed at `point`: once each of `waits` shows the Job's statement waiting (the
 * held server's PROCESSLIST) and its `then` ran, the Job's container is SIGKILLed and its pod
 * force-deleted, then `holds` are released. Returns how the Job ended and its log up to the kill.
 */
export async function jobFault(
    kubectl: Kubectl,
    ctx: string,
    ns: string,
    job: string,
    point: JobKillPoint,
    waits: KillWait[],
    holds: HeldLock[],
    log: Log,
): Promise<{ record: Omit<FaultRecord, "endMs">; jobFailed: boolean; state: string; jobLog: string[] }> {
    let pod = "";
    await waitUntil(
        `Job ${job}: its pod running`,
        3 * 60_000,
        async () => {
            const l = await kubectl.json(ctx, ["get", "pods", "-n", ns, "-l", `job-name=${job}`]);
            const p = l.items.find((x: any) => x.status?.containerStatuses?.[0]?.state?.running || x.status?.containerStatuses?.[0]?.state?.terminated);
            if (p?.status?.containerStatuses?.[0]?.state?.terminated) throw new FatalError(`Job ${job}: pod ${p.metadata.name} finished before the fault`);
            pod = p?.metadata.name ?? "";
            return !!pod;
        },
        async () => (await kubectl.run(ctx, ["get", "pods", "-n", ns, "-o", "wide"], { allowFailure: true })).stdout,
        100,
    );
    const p = await kubectl.getOrUndefined(ctx, "pods", pod, ns);
    const containerId = String(p?.status?.containerStatuses?.[0]?.containerID ?? "").replace(/^containerd:\/\//, "");
    const node = p?.spec?.nodeName;
    if (!containerId || !node) throw new Error(`Job ${job}: pod ${pod} has no container id or node`);
    // The Job's statements waiting on the locks: the kill point is reached (and stays reached: the locks hold).
    const seen: string[] = [];
    for (const w of waits) {
        const waitingSql = `SELECT CONCAT(state, ': ', LEFT(info, 60)) FROM information_schema.PROCESSLIST WHERE info LIKE '${w.like}' AND id <> CONNECTION_ID();`;
        let waiting = "";
        await waitUntil(
            `Job ${job}: "${w.like}" waiting on ${w.pod}`,
            3 * 60_000,
            async () => {
                const l = await kubectl.json(ctx, ["get", "pods", "-n", ns, pod]).catch(() => undefined);
                if (l?.status?.containerStatuses?.[0]?.state?.terminated) throw new FatalError(`Job ${job}: pod ${pod} finished before "${w.like}" waited`);
                waiting = (await sql(kubectl, w.ctx, ns, w.pod, waitingSql, 30_000).catch(() => "")).trim();
                return !!waiting;
            },
            async () => (await kubectl.run(ctx, ["logs", "-n", ns, pod], { allowFailure: true })).stdout,
            250,
        );
        seen.push(`${w.pod}: ${waiting}`);
        if (w.then) await w.then();
    }
    const jobLog = (await kubectl.run(ctx, ["logs", "-n", ns, pod], { allowFailure: true })).stdout.split("\n").filter((l) => l.trim());
    const startMs = Date.now();
    // The script runs as the container's PID 1 (bash: it ignores SIGTERM), so a graceful deletion would
    // let it finish. Killed at once instead, through the node's containerd, as a deletion with no grace
    // does; then the pod is force-deleted.
    const killed = await run("ctr", ["-a", `/run/mmc-nodes/${node}/containerd.sock`, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", containerId], {
        timeoutMs: 30_000,
        allowFailure: true,
    });
    if (killed.code) throw new Error(`Job ${job}: SIGKILL of ${pod}'s container failed: ${killed.stderr.trim()}`);
    await kubectl.run(ctx, ["delete", "pod", "-n", ns, pod, "--grace-period=0", "--force", "--wait=false"], { allowFailure: true });
    log(`fault job: ${pod} SIGKILLed and force-deleted in its ${point} (${seen.join("; ")})`);
    for (const h of holds) await h.release();
    let state = "";
    await waitUntil(
        `Job ${job} to end (Complete or Failed) after its pod was deleted`,
        6 * 60_000,
        async () => {
            const j = await kubectl.getOrUndefined(ctx, "jobs.batch", job, ns);
            const c = (j?.status?.conditions ?? []).find((x: any) => (x.type === "Complete" || x.type === "Failed") && x.status === "True");
            state = c ? `${c.type}${c.reason ? ` (${c.reason})` : ""}` : "";
            return !!c;
        },
        async () => (await kubectl.run(ctx, ["get", "jobs,pods", "-n", ns, "-o", "wide"], { allowFailure: true })).stdout,
        500,
    );
    log(`fault job: Job ${job} ended ${state}`);
    return {
        record: {
            kind: "job",
            what: `switchover Job pod ${pod} SIGKILLed and force-deleted after its demotion, then its re-run inside its promotion`,
            startMs,
            detail: [`${point}: killed while ${seen.join("; ")}`, `${point}: Job ${state}`],
        },
        jobFailed: state.startsWith("Failed"),
        state,
        jobLog,
    };
}

/** (a) The node running `donorPod` stopped once `recipient` seeds from it; started again after `downMs`. */
export async function nodeFault(
    kubectl: Kubectl,
    root: string,
    env: NodeJS.ProcessEnv,
    ctx: string,
    recipientCtx: string,
    ns: string,
    donorPod: string,
    recipient: string,
    avoidNode: string,
    downMs: number,
    log: Log,
): Promise<FaultRecord> {
    await initRunning(kubectl, recipientCtx, ns, recipient, undefined, 8 * 60_000);
    const line = await followLog(kubectl, recipientCtx, ns, recipient, "init", SEEDING, SEED_DONE, 8 * 60_000);
    const node = (await kubectl.getOrUndefined(ctx, "pods", donorPod, ns))?.spec?.nodeName as string;
    if (!node) throw new Error(`${donorPod}: no node`);
    if (node === avoidNode) throw new Error(`${donorPod} runs on ${node}, the writer's node: stopping it would stop the client too`);
    const startMs = Date.now();
    const script = path.join(root, "tools/clusters/node.sh");
    await run("bash", [script, "stop", node], { timeoutMs: 120_000, env, echo: true });
    log(`fault node: ${node} (runs ${donorPod}, the primary) stopped while ${recipient} seeds ("${line.trim()}")`);
    await sleep(downMs);
    await run("bash", [script, "start", node], { timeoutMs: 120_000, env, echo: true });
    log(`fault node: ${node} started again after ${((Date.now() - startMs) / 1000).toFixed(1)}s`);
    // The primary's pod runs again on its node (same pod object, containers restarted by kubelet).
    let restarts = 0;
    await waitUntil(
        `${donorPod} Ready again on ${node}`,
        8 * 60_000,
        async () => {
            const p = await kubectl.getOrUndefined(ctx, "pods", donorPod, ns);
            restarts = (p?.status?.containerStatuses ?? []).reduce((n: number, s: any) => n + (s.restartCount ?? 0), 0);
            return p?.spec?.nodeName === node && (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
        },
        async () => JSON.stringify((await kubectl.getOrUndefined(ctx, "pods", donorPod, ns))?.status ?? {}),
        1000,
    );
    const logs = await kubectl.run(recipientCtx, ["logs", "-n", ns, recipient, "-c", "init"], { allowFailure: true });
    const initLog = logs.stdout.split("\n").filter((l) => /seeding from|wiping|received and verified|trusted|failed|broke|waiting/.test(l));
    return {
        kind: "node",
        what: `node ${node} (primary ${donorPod}) stopped for ${downMs / 1000}s during a move`,
        startMs,
        endMs: Date.now(),
        detail: [`stopped while: ${line.trim()}`, `${donorPod} container restarts: ${restarts}`, ...initLog.map((l) => `${recipient} init: ${l.trim()}`)],
    };
}

/**
 * Cuts `cluster` off from the other clusters (tools/clusters/cut.sh: every node of it drops all traffic
 * from and to the other clusters' nodes and pods; its own API server and the pods inside it still reach
 * each other). Returns the time the cut was in place. Callers heal it in a `finally`.
 */
export async function cutCluster(root: string, env: NodeJS.ProcessEnv, cluster: string, log: Log): Promise<number> {
    const r = await run("bash", [path.join(root, "tools/clusters/cut.sh"), "cut", cluster], { timeoutMs: 30_000, env, allowFailure: true });
    if (r.code) {
        // Half a cut is not a state to leave behind.
        await healCluster(root, env, cluster, log).catch(() => undefined);
        throw new Error(`cutting ${cluster} off failed: ${r.stderr.trim()}`);
    }
    log(`fault cut: ${cluster} cut off from the other clusters`);
    return Date.now();
}

/** Heals a cut made by `cutCluster` (nothing to do when `cluster` is not cut); the time it was healed. */
export async function healCluster(root: string, env: NodeJS.ProcessEnv, cluster: string, log: Log): Promise<number> {
    const state = async () => (await run("bash", [path.join(root, "tools/clusters/cut.sh"), "state", cluster], { timeoutMs: 30_000, env })).stdout.trim();
    if ((await state()) === "healed") return Date.now();
    await run("bash", [path.join(root, "tools/clusters/cut.sh"), "heal", cluster], { timeoutMs: 30_000, env });
    const now = Date.now();
    const after = await state();
    if (after !== "healed") throw new Error(`${cluster}: still ${after} after the heal`);
    log(`fault cut: ${cluster} healed`);
    return now;
}
