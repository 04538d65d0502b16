/**
 * Live status of the set a stack config describes, as a DBA reads it:
 *
 *   npm run status -- --config <stack file> [--watch] [--interval <seconds>] [--kubectl <path>]
 *
 * Reads every cluster of the config through its kubeconfig context (`kubectl get`) and every server
 * through its pod (`kubectl exec` into the mysql container, running the client with the scripts' own
 * modules: root over the local socket, the password never on a command line). It never writes: only
 * reads and SELECT / SHOW statements. Per member: cluster, node, pod phase, the role the server reports
 * (writable or read-only), GTID position, lag in seconds and transactions, I/O and SQL thread state and
 * last error, the claim and its size. Per set: the real primary against the configured one, and every
 * reason the next step should not run. Exit 0 when healthy, 1 when not, 2 on a user error.
 */
import { spawn } from "child_process";
import { ConfigError, StackConfig, parseStackConfig, stripProjectPrefix } from "../components/config";
import { PATHS, selectorLabels } from "../components/contract";
import { claimName, podName } from "../components/naming";
import { formatTable } from "../components/plan";
import { readStackFile } from "./stackFile";

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
        problems.push(`the real primary is ${realPrimary.member}, the config says ${configured}: the last switchover did not run or did not finish`);
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

const short = (s: string | undefined, n = 60) => (s === undefined || s === "" ? "-" : s.length > n ? `${s.slice(0, n - 3)}...` : s);

export function humanBytes(n: number): string {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

/** Seed progress of a member: bytes copied, and with an earlier sample and the donor's size, rate and time left. */
export function seedProgress(bytes: number, earlier?: { bytes: number; atMs: number }, nowMs?: number, total?: number): string {
    let s = `seeding: ${humanBytes(bytes)} copied`;
    if (total) s += ` of ~${humanBytes(total)}`;
    if (earlier && nowMs !== undefined && nowMs > earlier.atMs) {
        const rate = ((bytes - earlier.bytes) * 1000) / (nowMs - earlier.atMs);
        s += `, ${humanBytes(Math.max(0, Math.round(rate)))}/s`;
        if (total && rate > 0 && total > bytes) s += `, ~${Math.ceil((total - bytes) / rate)} s left`;
    }
    return s;
}

/** The terminal view: the set line, one row per member, then health. */
export function formatStatus(s: SetStatus, seedNotes: Readonly<Record<string, string>> = {}): string {
    const rows = s.members.map((m) => {
        const r = m.server?.replica;
        const role = !m.server?.alive ? "-" : m.server.readOnly === false ? "writable" : "read-only";
        const isPrimary = m.member === s.realPrimary;
        const lag = isPrimary ? "-" : r?.lagSeconds !== undefined ? `${r.lagSeconds} s` : r ? "NULL" : "-";
        const behind = isPrimary ? "-" : s.behind[m.member] !== undefined ? `${s.behind[m.member]} trx` : "-";
        const err = r?.ioError ?? r?.sqlError ?? m.execError;
        return [
            m.member,
            m.foundIn.length && !m.foundIn.includes(m.cluster) ? `${m.cluster} (runs in ${m.foundIn.join(", ")})` : m.cluster,
            m.node ?? "-",
            m.phase ? `${m.phase}${m.ready ? "" : m.phase === "Running" ? " (not Ready)" : ""}` : "absent",
            role,
            short(m.server?.gtid, 48),
            lag,
            behind,
            r ? r.io : "-",
            r ? r.sql : "-",
            short(err, 50),
            m.claim ? `${m.claim.name} ${m.claim.phase} ${m.claim.size}` : "-",
        ];
    });
    const table = formatTable(["member", "cluster", "node", "pod", "role", "gtid", "lag", "behind", "io", "sql", "last error", "claim"], rows);
    const notes = Object.entries(seedNotes).map(([m, n]) => `${m}: ${n}`);
    const head =
        `set ${s.set} (${s.engine}) in namespace ${s.namespace}: primary configured ${s.configuredPrimary}, ` +
        `real ${s.realPrimary ?? "none (no single writable member)"}`;
    const verdict = s.problems.length
        ? `NOT HEALTHY: the next step should not run:\n${s.problems.map((p) => `  - ${p}`).join("\n")}`
        : "healthy: every member runs where the config places it, one writable primary, replication running within mysql.maxLagSeconds";
    return [head, "", table, ...(notes.length ? ["", ...notes] : []), "", verdict].join("\n");
}

// ---- reading the clusters ----

export interface Kubectl {
    /** Runs kubectl against one cluster; resolves with stdout, rejects with a one-line reason. */
    (cluster: StackConfig["clusters"][string], args: readonly string[], timeoutMs?: number): Promise<string>;
}

/** kubectl through a binary: the cluster's own kubeconfig and context, each request bounded. */
export function kubectlRunner(bin: string): Kubectl {
    return (cluster, args, timeoutMs = 30_000) =>
        new Promise((resolve, reject) => {
            const argv = [
                ...(cluster.kubeconfig ? ["--kubeconfig", cluster.kubeconfig] : []),
                ...(cluster.context ? ["--context", cluster.context] : []),
                "--request-timeout",
                `${Math.ceil(timeoutMs / 1000)}s`,
                ...args,
            ];
            const p = spawn(bin, argv, { stdio: ["ignore", "pipe", "pipe"] });
            let out = "";
            let err = "";
            const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs + 5000);
            p.stdout.on("data", (d) => (out += d));
            p.stderr.on("data", (d) => (err += d));
            p.on("error", (e) => {
                clearTimeout(t);
                reject(new Error(`${bin}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
            });
            p.on("close", (code) => {
                clearTimeout(t);
                if (code === 0) resolve(out);
                else reject(new Error(err.trim().split("\n").pop() || `kubectl exited ${code}`));
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

/** Reads every cluster of the config and every member's server: never writes. */
export async function collect(cfg: StackConfig, kubectl: Kubectl): Promise<{ status: SetStatus; donorBytes?: number }> {
    const set = cfg.mysql.name;
    const ns = cfg.mysql.namespace;
    const selector = Object.entries(selectorLabels(set))
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
    const memberName = new RegExp(`^${set.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d+)$`);
    const unreachable: Record<string, string> = {};
    const pods: PodInfo[] = [];
    const claims = new Map<string, { cluster: string; phase: string; size: string }>();
    await Promise.all(
        Object.entries(cfg.clusters).map(async ([cluster, cc]) => {
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
    const status = assess(cfg, members, unreachable, strays);
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

// ---- command line ----

class UsageError extends Error {}
const USAGE = "usage: npm run status -- --config <stack config file> [--watch] [--interval <seconds>] [--kubectl <path>]";

export interface StatusArgs {
    config: string;
    watch: boolean;
    interval: number;
    kubectl: string;
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): StatusArgs {
    const a: Partial<StatusArgs> = { watch: false, interval: 5, kubectl: env.MMC_KUBECTL || "kubectl" };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag}: needs a value. ${USAGE}`);
            return v;
        };
        if (flag === "--config") a.config = value();
        else if (flag === "--watch") a.watch = true;
        else if (flag === "--interval") {
            const v = value();
            if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--interval ${v}: must be a whole number of seconds, at least 1`);
            a.interval = Number(v);
        } else if (flag === "--kubectl") a.kubectl = value();
        else if (flag === "--help" || flag === "-h") throw new UsageError(USAGE);
        else throw new UsageError(`${flag}: unknown argument. ${USAGE}`);
    }
    if (!a.config) throw new UsageError(`--config is required. ${USAGE}`);
    return a as StatusArgs;
}

export async function main(argv: string[], kubectl?: Kubectl): Promise<number> {
    const args = parseArgs(argv);
    const cfg = parseStackConfig(stripProjectPrefix(readStackFile(args.config, "--config").config));
    const run = kubectl ?? kubectlRunner(args.kubectl);
    const samples = new Map<string, { bytes: number; atMs: number }>();
    for (;;) {
        const { status, donorBytes } = await collect(cfg, run);
        const now = Date.now();
        const notes: Record<string, string> = {};
        for (const m of status.members) {
            const b = m.server?.seedBytes;
            if (b === undefined) continue;
            notes[m.member] = seedProgress(b, samples.get(m.member), now, donorBytes);
            samples.set(m.member, { bytes: b, atMs: now });
        }
        const view = formatStatus(status, notes);
        const code = status.problems.length ? 1 : 0;
        if (!args.watch) {
            console.log(view);
            return code;
        }
        process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}  (every ${args.interval} s; Ctrl-C ends)\n\n${view}\n`);
        process.exitCode = code;
        await new Promise((r) => setTimeout(r, args.interval * 1000));
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e) => {
            if (e instanceof UsageError || e instanceof ConfigError) {
                console.error(`error: ${e.message}`);
                process.exit(2);
            }
            console.error(e);
            process.exit(3);
        },
    );
}
