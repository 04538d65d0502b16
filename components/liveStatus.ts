/**
 * The `liveStatus` output: the view of `npm run status` (the collector of components/status.ts), read by
 * `pulumi up` before the step is declared and exported with the set's outputs. It never fails the
 * update (a failure to read is a one-line `note`), never writes (kubectl `get` and read-only SQL through
 * `exec`), is bounded by `liveStatus.timeoutSeconds`, and holds no secret (positions, states, errors).
 * Its shape is the same whether it was read or not: unknown values are `null`.
 */
import { StackConfig } from "./config";
import { DeployedState } from "./step";
import { ArbiterRecord, Kubectl, SetStatus, collect, kubectlRunner } from "./status";

/** One member as the last `up` read it. */
export interface LiveMember {
    readonly ordinal: number;
    readonly member: string;
    /** Where the deployed state places it. */
    readonly cluster: string;
    /** Clusters where a pod of that name was found (normally exactly [cluster]). */
    readonly foundIn: string[];
    readonly node: string | null;
    readonly phase: string | null;
    readonly ready: boolean | null;
    /** As the server reports it; null when it could not be asked. */
    readonly role: "writable" | "read-only" | null;
    readonly gtid: string | null;
    readonly lagSeconds: number | null;
    /** Transactions behind the real primary (GTID arithmetic). */
    readonly behindTransactions: number | null;
    readonly io: string | null;
    readonly sql: string | null;
    /** The replication channel's last error, or why the server could not be asked. */
    readonly lastError: string | null;
    readonly claim: { name: string; phase: string; size: string } | null;
}

/** The `liveStatus` output. */
export interface LiveStatus {
    /** Whether the clusters were read (false in a preview, when disabled, under mocks, on a first deployment, past the deadline). */
    readonly read: boolean;
    /** Why it was not read, in one line; null when it was. */
    readonly note: string | null;
    /** When it was read (ISO 8601, UTC). */
    readonly at: string | null;
    /** What the clusters should show: the deployed state this `up`'s step starts from. */
    readonly deployed: { placement: string[]; primary: number } | null;
    readonly configuredPrimary: string | null;
    /** The one member that accepts writes; null when none or several do. */
    readonly realPrimary: string | null;
    /** No problem found; null when not read. */
    readonly healthy: boolean | null;
    /** Every reason the next step should not run (as `npm run status` lists them). */
    readonly problems: string[];
    /** Clusters that could not be read, with the reason. */
    readonly unreachable: Record<string, string>;
    readonly members: LiveMember[];
    /** Automatic failover only (absent otherwise): the arbiter's record as read (`primary`, `epoch`), or why it could not be. */
    readonly arbiter?: ArbiterRecord;
}

/** The output when the clusters were not read, with the reason. */
export function liveStatusNotRead(note: string, previous?: DeployedState): LiveStatus {
    return {
        read: false,
        note,
        at: null,
        deployed: previous ? { placement: [...previous.placement], primary: previous.primary } : null,
        configuredPrimary: null,
        realPrimary: null,
        healthy: null,
        problems: [],
        unreachable: {},
        members: [],
    };
}

/** The collector's view as the output's stable shape. */
export function liveStatusOf(s: SetStatus, at: Date, previous: DeployedState): LiveStatus {
    return {
        read: true,
        note: null,
        at: at.toISOString(),
        deployed: { placement: [...previous.placement], primary: previous.primary },
        configuredPrimary: s.configuredPrimary,
        realPrimary: s.realPrimary ?? null,
        healthy: s.problems.length === 0,
        problems: [...s.problems],
        unreachable: { ...s.unreachable },
        members: s.members.map((m) => {
            const r = m.server?.replica;
            const isPrimary = m.member === s.realPrimary;
            return {
                ordinal: m.ordinal,
                member: m.member,
                cluster: m.cluster,
                foundIn: [...m.foundIn],
                node: m.node ?? null,
                phase: m.phase ?? null,
                ready: m.phase === undefined ? null : (m.ready ?? false),
                role: !m.server?.alive || m.server.readOnly === undefined ? null : m.server.readOnly ? "read-only" : "writable",
                gtid: m.server?.gtid ?? null,
                lagSeconds: isPrimary ? null : (r?.lagSeconds ?? null),
                behindTransactions: isPrimary ? null : (s.behind[m.member] ?? null),
                io: r?.io ?? null,
                sql: r?.sql ?? null,
                lastError: r?.ioError ?? r?.sqlError ?? m.execError ?? null,
                claim: m.claim ? { ...m.claim } : null,
            };
        }),
        ...(s.arbiter ? { arbiter: { ...s.arbiter } } : {}),
    };
}

/**
 * The config the live view is judged against: this `up`'s config (contexts, names, bounds) with the
 * placement and primary of the deployed state, which is what the clusters run before the step.
 */
export function deployedView(cfg: StackConfig, previous: DeployedState): StackConfig {
    return { ...cfg, placement: [...previous.placement], primary: previous.primary };
}

/**
 * Clusters not to read, each with why: a cluster declared lost (nothing is sent there), and with
 * providers passed in, a cluster whose config names no kubeconfig context or file (its provider is
 * opaque to the collector, which reads through kubectl).
 */
export function clustersNotRead(cfg: StackConfig, previous: DeployedState, providersPassed: boolean): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of new Set([...(cfg.failover.lost ?? []), ...Object.keys(previous.lost ?? {})])) {
        if (cfg.clusters[c]) out[c] = "declared lost (failover.lost): not read";
    }
    if (providersPassed) {
        for (const [name, c] of Object.entries(cfg.clusters)) {
            if (!out[name] && !c.context && !c.kubeconfig)
                out[name] = `its provider was passed in and clusters.${name} names no context or kubeconfig: the status is read through kubectl only`;
        }
    }
    return out;
}

export interface LiveStatusRead {
    /** A preview: nothing is read. */
    readonly dryRun: boolean;
    /** Under Pulumi mocks (unit tests, the offline renderer): there is no cluster to read. */
    readonly mocked: boolean;
    readonly providersPassed: boolean;
    /** kubectl (default: `$MMC_KUBECTL` or `kubectl` on the PATH); tests pass a fake. */
    readonly kubectl?: (signal: AbortSignal) => Kubectl;
    readonly now?: () => Date;
}

/** The one-line reason the status is not read in this run, or undefined when it is read. */
export function whyNotRead(cfg: StackConfig, previous: DeployedState | undefined, how: Pick<LiveStatusRead, "dryRun" | "mocked">): string | undefined {
    if (!cfg.liveStatus.read) return "not read: liveStatus.read is false";
    if (how.mocked) return "not read: Pulumi mocks (unit tests, the offline renderer) have no cluster to read";
    if (how.dryRun) return "read at `pulumi up`, before the step is declared; a preview reads nothing";
    if (!previous) return "not read: a first deployment (nothing deployed yet)";
    return undefined;
}

/**
 * Reads the deployed set's live status for the output. Never rejects: any failure, and the deadline
 * (`liveStatus.timeoutSeconds`, every kubectl still running is then killed), become the `note`.
 */
export async function readLiveStatus(cfg: StackConfig, previous: DeployedState | undefined, how: LiveStatusRead): Promise<LiveStatus> {
    const why = whyNotRead(cfg, previous, how);
    if (why !== undefined || !previous) return liveStatusNotRead(why ?? "not read", previous);
    const now = how.now ?? (() => new Date());
    const abort = new AbortController();
    const bound = cfg.liveStatus.timeoutSeconds;
    let timer: NodeJS.Timeout | undefined;
    try {
        const kubectl = (how.kubectl ?? ((signal) => kubectlRunner(process.env.MMC_KUBECTL || "kubectl", signal)))(abort.signal);
        const deadline = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`not read: the clusters did not answer within liveStatus.timeoutSeconds (${bound} s)`)), bound * 1000);
        });
        const at = now();
        const { status } = await Promise.race([collect(deployedView(cfg, previous), kubectl, clustersNotRead(cfg, previous, how.providersPassed)), deadline]);
        return liveStatusOf(status, at, previous);
    } catch (e) {
        const msg = ((e as Error).message ?? String(e)).split("\n")[0];
        return liveStatusNotRead(msg.startsWith("not read") ? msg : `not read: ${msg}`, previous);
    } finally {
        if (timer) clearTimeout(timer);
        abort.abort();
    }
}

/** One line for the `up` log: what the read found. */
export function liveStatusLine(s: LiveStatus): string {
    if (!s.read) return `live status: ${s.note}`;
    const arbiter = s.arbiter
        ? `; arbiter: ${s.arbiter.error ? `not read (${s.arbiter.error})` : `primary ${s.arbiter.primary ?? "(none)"}, epoch ${s.arbiter.epoch ?? "(none)"}`}`
        : "";
    const head = `live status before the step: primary configured ${s.configuredPrimary}, real ${s.realPrimary ?? "none"}${arbiter}`;
    return s.healthy ? `${head}; healthy` : `${head}; NOT HEALTHY: ${s.problems.join("; ")}`;
}
