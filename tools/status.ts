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
import { ConfigError, parseStackConfig, stripProjectPrefix } from "../components/config";
import { Kubectl, SetStatus, collect, kubectlRunner } from "../components/status";
import { formatTable } from "../components/plan";
import { readStackFile } from "./stackFile";

// The collector lives in components/status.ts (the component's `liveStatus` output reads through it too).
export * from "../components/status";

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
    const a = s.arbiter;
    const arbiter = a
        ? [
              `arbiter: ${a.error ? `not read (${a.error})` : `primary ${a.primary ?? "(none: nobody holds the lease)"}, epoch ${a.epoch ?? "(none)"} (read in ${a.readFrom})`}`,
          ]
        : [];
    return [head, ...arbiter, "", table, ...(notes.length ? ["", ...notes] : []), "", verdict].join("\n");
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
