import * as z from "zod";
import { StackConfig } from "../config";
import { buildPlan } from "../plan";
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
});
export type DeployedState = z.output<typeof deployedStateSchema>;

export function storageClassOf(cfg: StackConfig, cluster: string): string {
    const s = cfg.clusters[cluster].storage;
    return "localPath" in s ? (s.storageClassName ?? `${cfg.mysql.name}-local`) : s.storageClass;
}

/** The state a deployment of `cfg` leaves behind (exported as a stack output, read by the next up). */
export function deployedStateOf(cfg: StackConfig): DeployedState {
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
    };
}

/** Validates the `migrationState` output read back from the last deployment (undefined on the first). */
export function parseDeployedState(value: unknown): DeployedState | undefined {
    if (value === undefined || value === null) return undefined;
    const res = deployedStateSchema.safeParse(value);
    if (!res.success) throw new TransitionError(`stack output migrationState is not readable (${JSON.stringify(value).slice(0, 120)}); it is written by this program only`);
    return res.data;
}
