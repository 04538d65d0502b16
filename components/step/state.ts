import * as z from "zod";
import { DeployHistory, FIRST_DEPLOYMENT, Plan } from "../plan";
import { TransitionError } from "./errors";
import { voterClusters } from "../config";

export { settingsOf } from "../plan";

/** What the program remembers of a deployment (the `migrationState` stack output): enough to judge the next step. */
export const deployedStateSchema = z.object({
    placement: z.array(z.string()),
    primary: z.number().int().min(0),
    clusters: z.array(z.string()),
    retire: z.array(z.string()),
    set: z.string(),
    namespace: z.string(),
    engine: z.string(),
    /** Storage class each cluster's claims use (an immutable part of its StatefulSet). */
    storageClasses: z.record(z.string(), z.string()),
    /** Clusters that declared ServiceExports / ServiceImports. */
    exports: z.array(z.string()).optional(),
    imports: z.array(z.string()).optional(),
    /**
     * Deployed value (JSON) of every config key, e.g.
     * `"mysql.storageSize": "\"10Gi\""`; absent in states written before it existed.
     */
    settings: z.record(z.string(), z.string()).optional(),
    /** Ordinals whose claims each cluster holds (running or retained after a move), until retired. */
    claims: z.record(z.string(), z.array(z.number().int())).optional(),
    /** Ordinals still on the previous pod template (a rolling change whose primary waits for a switchover). */
    pending: z.array(z.number().int()).optional(),
    /** The set's generation: every switchover and failover increments it; absent in older states (reads as 1). */
    epoch: z.number().int().min(1).optional(),
    /**
     * Clusters declared lost (`failover.lost`), each with what was last applied there: the primary,
     * placement, epoch and lost clusters of that deployment. The program declares a lost cluster's objects
     * from this view, exactly as they are in state, until the cluster leaves `failover.lost`.
     */
    lost: z
        .record(
            z.string(),
            z.object({
                primary: z.number().int().min(0),
                placement: z.array(z.string()),
                epoch: z.number().int().min(1),
                lost: z.array(z.string()),
            }),
        )
        .optional(),
    /** Subdirectory of the local volumes the set's data lives in; absent in states written before it existed (then ""). */
    dataSubPath: z.string().optional(),
});
export type DeployedState = z.output<typeof deployedStateSchema>;

/** The storage class a cluster's claims use in `plan` (the plan's storage decision). */
export function storageClassOf(plan: Plan, cluster: string): string {
    return plan.clusters.find((c) => c.name === cluster)!.storage.storageClassName;
}

/**
 * Claims each cluster holds after deploying `plan` on top of `prev`: the ordinals it runs now, plus the
 * ones it held before (a moved or scaled-down ordinal's claim is retained), minus retired clusters'.
 */
export function claimsAfter(prev: DeployedState | undefined, plan: Plan): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const c of plan.clusters.map((x) => x.name)) {
        const held = plan.retire.includes(c) ? [] : (prev?.claims?.[c] ?? (prev ? prev.placement.flatMap((p, o) => (p === c ? [o] : [])) : []));
        const now = plan.placement.flatMap((p, o) => (p === c ? [o] : []));
        const all = [...new Set([...held, ...now])].sort((a, b) => a - b);
        if (all.length) out[c] = all;
    }
    return out;
}

/** What was last applied in a lost cluster: its view as the deployed state recorded it. */
export type LostView = NonNullable<DeployedState["lost"]>[string];

/** The epoch of a deployed state (states written before the epoch existed read as 1). */
export const epochOf = (prev: DeployedState | undefined): number => prev?.epoch ?? 1;

/** Clusters the deployed state recorded as lost. */
export const lostIn = (prev: DeployedState | undefined): string[] => Object.keys(prev?.lost ?? {});

/**
 * What each cluster of `plan.lost` keeps: the view recorded when it was declared lost (carried while it
 * stays lost), or, when it is newly lost, the deployed state's own (what was applied there last).
 */
export function lostViewsAfter(prev: DeployedState | undefined, plan: Plan): Record<string, LostView> {
    const out: Record<string, LostView> = {};
    for (const c of plan.lost) {
        const kept = prev?.lost?.[c];
        if (kept) out[c] = kept;
        else if (prev && prev.clusters.includes(c))
            out[c] = { primary: prev.primary, placement: [...prev.placement], epoch: epochOf(prev), lost: lostIn(prev) };
    }
    return out;
}

/** The state a deployment of `plan` leaves behind (exported as a stack output, read by the next up). */
export function deployedStateOf(plan: Plan, prev?: DeployedState, step?: { readonly oldTemplate: readonly number[] }): DeployedState {
    return {
        placement: [...plan.placement],
        primary: plan.primary,
        clusters: plan.clusters.map((c) => c.name),
        retire: [...plan.retire],
        set: plan.set,
        namespace: plan.namespace,
        engine: plan.engine,
        storageClasses: Object.fromEntries(plan.clusters.map((c) => [c.name, c.storage.storageClassName])),
        exports: plan.clusters.filter((c) => c.exports).map((c) => c.name),
        imports: plan.clusters.filter((c) => c.imports.length > 0).map((c) => c.name),
        settings: { ...plan.settings },
        claims: claimsAfter(prev, plan),
        pending: [...(step?.oldTemplate ?? [])],
        epoch: plan.epoch,
        ...(plan.lost.length ? { lost: lostViewsAfter(prev, plan) } : {}),
        dataSubPath: plan.dataSubPath,
    };
}

/** The arbiter's voter clusters the deployed state ran (automatic failover), or undefined when it was manual. */
export function deployedVoters(prev: DeployedState | undefined): string[] | undefined {
    const s = prev?.settings ?? {};
    if (!prev || s["failover.mode"] !== JSON.stringify("automatic")) return undefined;
    const witnesses = s["failover.witnesses"] ? (JSON.parse(s["failover.witnesses"]) as string[]) : [];
    return voterClusters(prev.clusters, prev.placement, witnesses);
}

/**
 * What the next plan takes from the deployed state: a first deployment (no state) may bootstrap and
 * uses the default subdirectory; a set deployed before the subdirectory existed keeps the volume's root.
 */
export function historyOf(prev: DeployedState | undefined, primary?: number): DeployHistory {
    if (!prev) return FIRST_DEPLOYMENT;
    const voters = deployedVoters(prev);
    return {
        firstDeployment: false,
        dataSubPath: prev.dataSubPath ?? "",
        epoch: primary === undefined ? (prev.epoch ?? 1) : epochAfter(prev, primary),
        ...(voters ? { arbiterVoters: voters } : {}),
    };
}

/** The set's generation after deploying `primary` on top of `prev`: +1 when the primary changes (switchover or failover). */
export function epochAfter(prev: DeployedState | undefined, primary: number): number {
    return prev ? (prev.epoch ?? 1) + (prev.primary !== primary ? 1 : 0) : 1;
}

/** Validates the `migrationState` output read back from the last deployment (undefined on the first). */
export function parseDeployedState(value: unknown): DeployedState | undefined {
    if (value === undefined || value === null) return undefined;
    const res = deployedStateSchema.safeParse(value);
    if (!res.success)
        throw new TransitionError(`stack output migrationState is not readable (${JSON.stringify(value).slice(0, 120)}); it is written by this program only`);
    return res.data;
}
