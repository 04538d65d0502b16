/**
 * The live status collector, shared by `npm run status` (tools/status.ts) and the component's
 * `liveStatus` output (components/liveStatus.ts): it reads every cluster of a config through its
 * kubeconfig context (`kubectl get` of the set's pods and claims) and every server through its pod
 * (`kubectl exec` into the mysql container, running the client with the scripts' own modules: root over
 * the local socket, the password never on a command line). It never writes: only reads and SELECT /
 * SHOW statements. `assess` judges what it read against the config.
 */
import { spawn } from "child_process";
import { StackConfig, voterClusters } from "./config";
import { PATHS, selectorLabels } from "./contract";
import { arbiterStatefulSetName, claimName, podName } from "./naming";

/** What one server says about itself (the in-pod report, parsed). */
export interface ServerReport {
    readonly alive: boolean;
    /** 0 when the server accepts writes (the probe's expression), else read-only. */
    readonly readOnly?: boolean;
    readonly gtid?: string;
    readonly replica?: {
        readonly host: string;
        readonly io: string;
        readonly sql: string;
        readonly lagSeconds?: number;
        readonly ioError?: string;
        readonly sqlError?: string;
    };
    /** Bytes in the seeding work directories (a member still seeding). */
    readonly seedBytes?: number;
}

export interface MemberStatus {
    readonly ordinal: number;
    readonly member: string;
    /** Where the config places it. */
    readonly cluster: string;
    /** Clusters where a pod of that name runs (normally exactly [cluster]). */
    readonly foundIn: readonly string[];
    readonly node?: string;
    readonly phase?: string;
    readonly ready?: boolean;
    /** Init container still running (seeding or waiting for its donor). */
    readonly initializing?: boolean;
    readonly server?: ServerReport;
    readonly claim?: { readonly name: string; readonly phase: string; readonly size: string };
    readonly execError?: string;
}

export interface SetStatus {
    readonly set: string;
    readonly namespace: string;
    readonly engine: string;
    readonly configuredPrimary: string;
    readonly realPrimary?: string;
    readonly members: readonly MemberStatus[];
    /** Transactions each replica is behind the real primary (by GTID position). */
    readonly behind: Readonly<Record<string, number | undefined>>;
    /** Why the next step should not run; empty when healthy. */
    readonly problems: readonly string[];
    /** Clusters that could not be read, with the reason. */
    readonly unreachable: Readonly<Record<string, string>>;
    /** Automatic failover only: the arbiter's record (`$K/primary`, `$K/epoch`) as a voter answered it. */
    readonly arbiter?: ArbiterRecord;
}

/** The arbiter's record: its keys' values (null: absent), the voter cluster that answered, or why none did. */
export interface ArbiterRecord {
    readonly primary: string | null;
    readonly epoch: string | null;
    readonly readFrom: string | null;
    readonly error: string | null;
}

/** `etcdctl get --prefix <key>` output (key and value lines) as the record of `key`. Pure. */
export function parseArbiterRecord(out: string, key: string, readFrom: string): ArbiterRecord {
    const lines = out.split("\n");
    const values: Record<string, string> = {};
    for (let i = 0; i + 1 < lines.length; i += 2) values[lines[i]] = lines[i + 1];
    return { primary: values[`${key}/primary`] ?? null, epoch: values[`${key}/epoch`] ?? null, readFrom, error: null };
}

/**
 * Reads the arbiter's record through the first voter cluster that answers (`etcdctl` in its etcd pod,
 * a linearizable read: a voter cut off from the majority answers nothing). Never writes.
 */
export async function readArbiter(cfg: StackConfig, kubectl: Kubectl, skip: Readonly<Record<string, string>>): Promise<ArbiterRecord> {
    const key = `/mysql-multicluster/${cfg.mysql.namespace}/${cfg.mysql.name}`;
    const errors: string[] = [];
    for (const c of voterClusters(Object.keys(cfg.clusters), cfg.placement, cfg.failover.witnesses ?? [])) {
        if (skip[c] !== undefined) continue;
        try {
            const pod = `${arbiterStatefulSetName(cfg.mysql.name, c)}-0`;
            const out = await kubectl(cfg.clusters[c], ["exec", "-n", cfg.mysql.namespace, pod, "-c", "etcd", "--", "etcdctl", "get", "--prefix", key], 20_000);
            return parseArbiterRecord(out, key, c);
        } catch (e) {
            errors.push(`${c}: ${(e as Error).message}`);
        }
    }
    return { primary: null, epoch: null, readFrom: null, error: errors.join("; ") || "no voter cluster to read" };
}

/**
 * The in-pod report: the scripts' own modules (components/scripts/lib-*.sh), loaded as probe.sh loads
 * them, from `scriptsDir` (the pod's mount; the data-plane tier passes its own).
 */
export function reportScript(scriptsDir: string = PATHS.scripts): string {
    return [
        `for m in env sql engine; do . ${scriptsDir}/lib-$m.sh || exit 3; done`,
        "mmc_env_load probe >/dev/null || exit 2",
        "mmc_tmp_init || exit 1",
        'if ! mmc_local_alive; then printf "alive\\t0\\n"; exit 0; fi',
        'printf "alive\\t1\\n"',
        'printf "readonly\\t%s\\n" "$(mmc_q "SELECT $(mmc_sql_writable_expr)")"',
        'printf "gtid\\t%s\\n" "$(mmc_q "$(mmc_sql_gtid_pos)" | tr -d "\\n")"',
        'mmc_replica_status | sed "s/^/repl_/"',
    ].join("\n");
}
export const REPORT_SCRIPT = reportScript();

/** Bytes a member has received so far while it seeds (its work directories in the data volume). */
export const SEED_BYTES_SCRIPT = [
    `. ${PATHS.scripts}/lib-engine.sh || exit 3`,
    'read -r s c <<<"$(mmc_engine_work_dirs)"',
    `d=\${MMC_DATADIR:-${PATHS.data}}`,
    'printf "seed_bytes\\t%s\\n" "$(du -sb "$d/$s" "$d/$c" 2>/dev/null | awk "{n += \\$1} END {print n + 0}")"',
].join("\n");

/** Parses the in-pod report (key<TAB>value lines). */
export function parseReport(text: string): ServerReport {
    const kv = new Map<string, string>();
    for (const line of text.split("\n")) {
        const i = line.indexOf("\t");
        if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
    }
    const alive = kv.get("alive") === "1";
    const num = (v: string | undefined) => (v === undefined || v === "" || v === "NULL" || !/^\d+$/.test(v) ? undefined : Number(v));
    const err = (no: string | undefined, msg: string | undefined) => (no && no !== "0" ? `${no}: ${msg ?? ""}`.trim() : msg ? msg : undefined);
    const replica = kv.has("repl_io")
        ? {
              host: kv.get("repl_host") ?? "",
              io: kv.get("repl_io") ?? "",
              sql: kv.get("repl_sql") ?? "",
              lagSeconds: num(kv.get("repl_lag")),
              ioError: err(kv.get("repl_io_errno"), kv.get("repl_io_error")),
              sqlError: err(kv.get("repl_sql_errno"), kv.get("repl_sql_error")),
          }
        : undefined;
    return {
        alive,
        ...(kv.has("readonly") ? { readOnly: kv.get("readonly") !== "0" } : {}),
        ...(kv.get("gtid") !== undefined ? { gtid: kv.get("gtid") } : {}),
        ...(replica ? { replica } : {}),
        ...(num(kv.get("seed_bytes")) !== undefined ? { seedBytes: num(kv.get("seed_bytes")) } : {}),
    };
}

/**
 * How many transactions a GTID position holds: MySQL `uuid:1-5:7,uuid2:1-3` counts every interval;
 * MariaDB `domain-server-seq,...` is the sequence number of `domain`. Undefined when unreadable.
 */
export function gtidCount(engine: string, pos: string | undefined, domain = 0): number | undefined {
    if (pos === undefined) return undefined;
    const p = pos.replace(/\s+/g, "");
    if (p === "") return 0;
    if (engine === "mariadb") {
        const g = p.split(",").find((x) => x.split("-")[0] === String(domain));
        if (!g) return 0;
        const seq = g.split("-")[2];
        return /^\d+$/.test(seq ?? "") ? Number(seq) : undefined;
    }
    let n = 0;
    for (const set of p.split(",")) {
        const [uuid, ...ranges] = set.split(":");
        if (!uuid || !ranges.length) return undefined;
        for (const r of ranges) {
            const m = /^(\d+)(?:-(\d+))?$/.exec(r);
            if (!m) {
                // a tagged GTID (MySQL 8.4: uuid:tag:1-5): the tag is not an interval
                if (/^[a-z_][a-z0-9_]*$/i.test(r)) continue;
                return undefined;
            }
            n += (m[2] ? Number(m[2]) : Number(m[1])) - Number(m[1]) + 1;
        }
    }
    return n;
}

/** Judges the live members against the config: the real primary, the lag, and every problem. */
export function assess(
    cfg: StackConfig,
    members: readonly MemberStatus[],
    unreachable: Readonly<Record<string, string>> = {},
    strays: readonly { readonly member: string; readonly cluster: string }[] = [],
): SetStatus {
    const set = cfg.mysql.name;
    const problems: string[] = [];
    for (const [c, why] of Object.entries(unreachable)) problems.push(`cluster ${c} cannot be read: ${why}`);
    for (const x of strays)
        problems.push(`${x.member} runs in ${x.cluster} but is not in placement (${cfg.placement.length} ordinals): the step is not applied yet`);
    const writable = members.filter((m) => m.server?.alive && m.server.readOnly === false);
    const realPrimary = writable.length === 1 ? writable[0] : undefined;
    const configured = podName(set, cfg.primary);
    if (writable.length === 0) problems.push(`no member accepts writes (configured primary ${configured})`);
    if (writable.length > 1) problems.push(`${writable.length} members accept writes: ${writable.map((m) => m.member).join(", ")}; exactly one may`);
    if (realPrimary && realPrimary.member !== configured) {
        problems.push(
            cfg.failover.mode === "automatic"
                ? `the real primary is ${realPrimary.member}, the config says ${configured}: an automatic failover promoted ${realPrimary.member}; record it with primary: ${realPrimary.ordinal} (docs/runbook.md "Outage")`
                : `the real primary is ${realPrimary.member}, the config says ${configured}: the last switchover did not run or did not finish`,
        );
    }
    const primaryTx = realPrimary ? gtidCount(cfg.mysql.engine, realPrimary.server?.gtid, cfg.mysql.gtidDomainId) : undefined;
    const behind: Record<string, number | undefined> = {};
    for (const m of members) {
        const where = `${m.member} (${m.cluster})`;
        const stray = m.foundIn.filter((c) => c !== m.cluster);
        if (stray.length) problems.push(`${m.member} runs in ${stray.join(", ")}, the config places it in ${m.cluster}: the step is not applied yet`);
        if (!m.foundIn.includes(m.cluster)) {
            problems.push(`${where}: no pod`);
            continue;
        }
        if (m.claim && m.claim.phase !== "Bound") problems.push(`${where}: claim ${m.claim.name} is ${m.claim.phase}`);
        if (m.phase !== "Running") {
            problems.push(`${where}: pod ${m.phase ?? "unknown"}${m.initializing ? " (initialising: seeding or waiting for its donor)" : ""}`);
            continue;
        }
        if (m.execError) {
            problems.push(`${where}: the server cannot be asked: ${m.execError}`);
            continue;
        }
        if (!m.server?.alive) {
            problems.push(`${where}: the server does not answer`);
            continue;
        }
        if (!m.ready) problems.push(`${where}: pod not Ready`);
        if (m === realPrimary || (!realPrimary && m.member === configured && !m.server.replica)) continue;
        const tx = gtidCount(cfg.mysql.engine, m.server.gtid, cfg.mysql.gtidDomainId);
        behind[m.member] = primaryTx !== undefined && tx !== undefined ? Math.max(0, primaryTx - tx) : undefined;
        const r = m.server.replica;
        if (!r) {
            problems.push(`replica ${m.member}: no replication channel`);
            continue;
        }
        if (r.io !== "Yes") problems.push(`replica ${m.member}: replication I/O thread ${r.io || "stopped"}${r.ioError ? ` (last error ${r.ioError})` : ""}`);
        if (r.sql !== "Yes")
            problems.push(`replica ${m.member}: replication SQL thread ${r.sql || "stopped"}${r.sqlError ? ` (last error ${r.sqlError})` : ""}`);
        if (r.lagSeconds !== undefined && r.lagSeconds > cfg.mysql.maxLagSeconds) {
            problems.push(`replica ${m.member} is ${r.lagSeconds} s behind (mysql.maxLagSeconds ${cfg.mysql.maxLagSeconds})`);
        }
    }
    return {
        set,
        namespace: cfg.mysql.namespace,
        engine: cfg.mysql.engine,
        configuredPrimary: configured,
        realPrimary: realPrimary?.member,
        members,
        behind,
        problems,
        unreachable,
    };
}

// ---- reading the clusters ----

export interface Kubectl {
    /** Runs kubectl against one cluster; resolves with stdout, rejects with a one-line reason. */
    (cluster: StackConfig["clusters"][string], args: readonly string[], timeoutMs?: number): Promise<string>;
}

/**
 * kubectl's failure as one line: the last line of its stderr, with an exec URL's query (the whole
 * report script, URL-encoded) cut off.
 */
export function kubectlError(stderr: string, code: number | null): string {
    const line = stderr.trim().split("\n").pop() || `kubectl exited ${code}`;
    return line.replace(/(\/exec\/[^?"\s]+)\?[^"\s]*/g, "$1");
}

/**
 * kubectl through a binary: the cluster's own kubeconfig and context, each request bounded. `signal`
 * ends every request still running (the component's read has a deadline of its own).
 */
export function kubectlRunner(bin: string, signal?: AbortSignal): Kubectl {
    return (cluster, args, timeoutMs = 30_000) =>
        new Promise((resolve, reject) => {
            const argv = [
                ...(cluster.kubeconfig ? ["--kubeconfig", cluster.kubeconfig] : []),
                ...(cluster.context ? ["--context", cluster.context] : []),
                "--request-timeout",
                `${Math.ceil(timeoutMs / 1000)}s`,
                ...args,
            ];
            const p = spawn(bin, argv, { stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal, killSignal: "SIGKILL" as const } : {}) });
            let out = "";
            let err = "";
            const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs + 5000);
            p.stdout.on("data", (d) => (out += d));
            p.stderr.on("data", (d) => (err += d));
            p.on("error", (e) => {
                clearTimeout(t);
                reject(new Error(e.name === "AbortError" ? `${bin}: stopped at the deadline` : `${bin}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
            });
            p.on("close", (code) => {
                clearTimeout(t);
                if (code === 0) resolve(out);
                else reject(new Error(kubectlError(err, code)));
            });
        });
}

interface PodInfo {
    cluster: string;
    name: string;
    node?: string;
    phase?: string;
    ready: boolean;
    initializing: boolean;
}

/**
 * Reads every cluster of the config and every member's server: never writes. `skip` names clusters not
 * to read at all, each with the reason (reported as unreadable, e.g. a cluster declared lost).
 */
export async function collect(
    cfg: StackConfig,
    kubectl: Kubectl,
    skip: Readonly<Record<string, string>> = {},
): Promise<{ status: SetStatus; donorBytes?: number }> {
    const set = cfg.mysql.name;
    const ns = cfg.mysql.namespace;
    const selector = Object.entries(selectorLabels(set))
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
    const memberName = new RegExp(`^${set.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d+)$`);
    const unreachable: Record<string, string> = { ...skip };
    const pods: PodInfo[] = [];
    const claims = new Map<string, { cluster: string; phase: string; size: string }>();
    await Promise.all(
        Object.entries(cfg.clusters).map(async ([cluster, cc]) => {
            if (skip[cluster] !== undefined) return;
            try {
                const [p, c] = await Promise.all([
                    kubectl(cc, ["get", "pods", "-n", ns, "-l", selector, "-o", "json"]),
                    kubectl(cc, ["get", "persistentvolumeclaims", "-n", ns, "-l", selector, "-o", "json"]),
                ]);
                for (const pod of JSON.parse(p).items ?? []) {
                    if (!memberName.test(pod.metadata?.name ?? "") || pod.metadata?.labels?.["app.kubernetes.io/component"] !== "database") continue;
                    const conds = pod.status?.conditions ?? [];
                    pods.push({
                        cluster,
                        name: pod.metadata.name,
                        node: pod.spec?.nodeName,
                        phase: pod.metadata.deletionTimestamp ? "Terminating" : pod.status?.phase,
                        ready: conds.some((x: { type: string; status: string }) => x.type === "Ready" && x.status === "True"),
                        initializing: (pod.status?.initContainerStatuses ?? []).some((s: { state?: { running?: unknown } }) => s.state?.running),
                    });
                }
                for (const pvc of JSON.parse(c).items ?? []) {
                    claims.set(`${cluster}/${pvc.metadata.name}`, {
                        cluster,
                        phase: pvc.status?.phase ?? "Unknown",
                        size: pvc.status?.capacity?.storage ?? pvc.spec?.resources?.requests?.storage ?? "?",
                    });
                }
            } catch (e) {
                unreachable[cluster] = (e as Error).message;
            }
        }),
    );
    const members: MemberStatus[] = await Promise.all(
        cfg.placement.map(async (cluster, ordinal) => {
            const member = podName(set, ordinal);
            const found = pods.filter((p) => p.name === member);
            const here = found.find((p) => p.cluster === cluster);
            const claim = claims.get(`${cluster}/${claimName(set, ordinal)}`);
            const base = {
                ordinal,
                member,
                cluster,
                foundIn: found.map((p) => p.cluster),
                ...(here ? { node: here.node, phase: here.phase, ready: here.ready, initializing: here.initializing } : {}),
                ...(claim ? { claim: { name: claimName(set, ordinal), phase: claim.phase, size: claim.size } } : {}),
            };
            if (!here) return base;
            const cc = cfg.clusters[cluster];
            try {
                if (here.phase === "Running" && !here.initializing) {
                    const out = await kubectl(cc, ["exec", "-n", ns, member, "-c", "mysql", "--", "bash", "-c", REPORT_SCRIPT], 60_000);
                    return { ...base, server: parseReport(out) };
                }
                if (here.initializing) {
                    const out = await kubectl(cc, ["exec", "-n", ns, member, "-c", "init", "--", "bash", "-c", SEED_BYTES_SCRIPT], 30_000);
                    return { ...base, server: parseReport(out) };
                }
            } catch (e) {
                return here.initializing ? base : { ...base, execError: (e as Error).message };
            }
            return base;
        }),
    );
    const strays = pods.filter((p) => Number(memberName.exec(p.name)![1]) >= cfg.placement.length).map((p) => ({ member: p.name, cluster: p.cluster }));
    const assessed = assess(cfg, members, unreachable, strays);
    const status = cfg.failover.mode === "automatic" ? { ...assessed, arbiter: await readArbiter(cfg, kubectl, skip) } : assessed;
    let donorBytes: number | undefined;
    const seeding = members.some((m) => m.server?.seedBytes !== undefined);
    const primary = members.find((m) => m.member === (status.realPrimary ?? status.configuredPrimary) && m.phase === "Running");
    if (seeding && primary) {
        try {
            const out = await kubectl(cfg.clusters[primary.cluster], ["exec", "-n", ns, primary.member, "-c", "mysql", "--", "du", "-sb", PATHS.data], 30_000);
            donorBytes = Number(out.trim().split(/\s+/)[0]) || undefined;
        } catch {
            donorBytes = undefined;
        }
    }
    return { status, donorBytes };
}
