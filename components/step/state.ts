import * as z from "zod";
import { StackConfig } from "../config";
import { buildPlan, imageOf } from "../plan";
import { changeBehaviourOf } from "../changes";
import { TransitionError } from "./errors";

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
});
export type DeployedState = z.output<typeof deployedStateSchema>;

export function storageClassOf(cfg: StackConfig, cluster: string): string {
    const s = cfg.clusters[cluster].storage;
    return "localPath" in s ? (s.storageClassName ?? `${cfg.mysql.name}-local`) : s.storageClass;
}

/** The value of every config key, flattened to dotted keys (JSON values); the next step compares them. */
export function settingsOf(cfg: StackConfig): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (v: unknown, key: string) => {
        if (v && typeof v === "object" && !Array.isArray(v)) {
            for (const [k, x] of Object.entries(v)) walk(x, key ? `${key}.${k}` : k);
            return;
        }
        if (v !== undefined && changeBehaviourOf(key)) out[key] = JSON.stringify(v);
    };
    walk(cfg, "");
    out["mysql.image"] = JSON.stringify(imageOf(cfg.mysql));
    return out;
}

/**
 * Claims each cluster holds after deploying `cfg` on top of `prev`: the ordinals it runs now, plus the
 * ones it held before (a moved or scaled-down ordinal's claim is retained), minus retired clusters'.
 */
export function claimsAfter(prev: DeployedState | undefined, cfg: StackConfig): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const c of Object.keys(cfg.clusters)) {
        const held = cfg.retire.includes(c) ? [] : (prev?.claims?.[c] ?? (prev ? prev.placement.flatMap((p, o) => (p === c ? [o] : [])) : []));
        const now = cfg.placement.flatMap((p, o) => (p === c ? [o] : []));
        const all = [...new Set([...held, ...now])].sort((a, b) => a - b);
        if (all.length) out[c] = all;
    }
    return out;
}

/** The state a deployment of `cfg` leaves behind (exported as a stack output, read by the next up). */
export function deployedStateOf(cfg: StackConfig, prev?: DeployedState, step?: { readonly oldTemplate: readonly number[] }): DeployedState {
    const plan = buildPlan(cfg);
    return {
        placement: [...cfg.placement],
        primary: cfg.primary,
        clusters: Object.keys(cfg.clusters),
        retire: [...cfg.retire],
        set: cfg.mysql.name,
        namespace: cfg.mysql.namespace,
        engine: cfg.mysql.engine,
        storageClasses: Object.fromEntries(Object.keys(cfg.clusters).map((c) => [c, storageClassOf(cfg, c)])),
        exports: plan.clusters.filter((c) => c.exports).map((c) => c.name),
        imports: plan.clusters.filter((c) => c.imports.length > 0).map((c) => c.name),
        settings: settingsOf(cfg),
        claims: claimsAfter(prev, cfg),
        pending: [...(step?.oldTemplate ?? [])],
    };
}

/** Validates the `migrationState` output read back from the last deployment (undefined on the first). */
export function parseDeployedState(value: unknown): DeployedState | undefined {
    if (value === undefined || value === null) return undefined;
    const res = deployedStateSchema.safeParse(value);
    if (!res.success) throw new TransitionError(`stack output migrationState is not readable (${JSON.stringify(value).slice(0, 120)}); it is written by this program only`);
    return res.data;
}
