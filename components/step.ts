import { placementIssues } from "./config";
import { Plan, formatTable } from "./plan";
import { objectNames, podName, serviceName, switchoverJobName } from "./naming";

/** What the program remembers of a deployment (a stack output): enough to judge the next step. */
export interface DeployedState {
    readonly placement: readonly string[];
    readonly primary: number;
    readonly clusters: readonly string[];
    readonly retire: readonly string[];
    readonly set: string;
    readonly namespace: string;
    readonly engine: string;
    /** Storage class each cluster's claims use (an immutable part of its StatefulSet). */
    readonly storageClasses: Readonly<Record<string, string>>;
    /** Clusters that declared ServiceExports / ServiceImports. */
    readonly exports?: readonly string[];
    readonly imports?: readonly string[];
}

/** A refused step: a user error, one line naming the rule and the next safe step. */
export class TransitionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "TransitionError";
    }
}

export type Action = "create" | "keep" | "move" | "scale-up" | "scale-down" | "switchover";

export interface OrdinalChange {
    readonly ordinal: number;
    readonly from?: string;
    readonly to?: string;
    readonly role: "primary" | "replica" | "removed";
    readonly action: Action;
    /** For a move or a new ordinal: the donor it seeds from first (as the destination resolves it). */
    readonly donor?: string;
}

export interface SwitchoverStep {
    readonly fromOrdinal: number;
    readonly toOrdinal: number;
    readonly fromCluster: string;
    /** The cluster the switchover Job runs in: the new primary's. */
    readonly toCluster: string;
}

/** One `pulumi up`: what changes, and in which order the clusters must be changed. */
export interface Step {
    readonly kind: "initial" | "unchanged" | "move" | "switchover" | "scale" | "retire" | "config";
    readonly changes: readonly OrdinalChange[];
    readonly moves: readonly { ordinal: number; from: string; to: string }[];
    readonly switchover?: SwitchoverStep;
    /** Clusters whose StatefulSet shrinks, then the ones that grow, then the rest: an ordinal leaves first. */
    readonly applyOrder: readonly string[];
    /** For each cluster whose StatefulSet must wait, the clusters it waits for. */
    readonly waitsFor: Readonly<Record<string, readonly string[]>>;
    /** Per cluster, what changes, in words. */
    readonly resources: Readonly<Record<string, readonly string[]>>;
}

/** The state a deployment of `plan` leaves behind (exported as a stack output, read by the next up). */
export function deployedStateOf(plan: Plan): DeployedState {
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
    };
}

const list = (p: readonly string[]) => `[${p.join(", ")}]`;
const range = (o: readonly number[]) => (o.length === 0 ? "none" : o.length === 1 ? `${o[0]}` : `${o[0]}-${o[o.length - 1]}`);

function ordinalsIn(placement: readonly string[], cluster: string): number[] {
    return placement.flatMap((c, i) => (c === cluster ? [i] : []));
}

/** The replica ordinal a switchover should pick before moving `moving`: one that stays, preferably in `to`. */
function switchoverCandidate(prev: DeployedState, next: Plan, moving: number, to: string): number | undefined {
    const stays = prev.placement
        .map((c, o) => ({ c, o }))
        .filter(({ o }) => o !== moving && o < next.placement.length && prev.placement[o] === next.placement[o]);
    return (stays.find(({ c }) => c === to) ?? stays[0])?.o;
}

/**
 * Judges the step from the deployed state to the next plan, and plans its order. Throws
 * TransitionError (one line: the rule, and the next safe step) for an unsafe step. Pure.
 */
export function planStep(prev: DeployedState | undefined, next: Plan): Step {
    const clusterOf = (c: string) => next.clusters.find((x) => x.name === c);
    const donorFor = (ordinal: number, to: string) =>
        next.clusters.find((c) => c.name === to)!.topology.donors.find((d) => !d.startsWith(`${podName(next.set, ordinal)}.`));

    if (!prev) {
        const changes = next.pods.map((p) => ({ ordinal: p.ordinal, to: p.cluster, role: p.role, action: "create" as const, donor: p.role === "replica" ? donorFor(p.ordinal, p.cluster) : undefined }));
        return finish(prev, next, "initial", changes, [], undefined);
    }

    // Identity of the set: changing any of these would replace every object, not move anything.
    const immutable: [string, string, string][] = [
        ["mysql.name", prev.set, next.set],
        ["mysql.namespace", prev.namespace, next.namespace],
        ["mysql.engine", prev.engine, next.engine],
    ];
    for (const [key, was, is] of immutable) {
        if (was !== is) {
            throw new TransitionError(`mysql-multicluster:${key}: "${is}" changes the deployed "${was}"; that replaces the whole set instead of moving it. Keep "${was}"`);
        }
    }
    for (const c of prev.clusters) {
        const nextClass = clusterOf(c)?.storage.storageClassName;
        if (nextClass !== undefined && prev.placement.includes(c) && prev.storageClasses[c] !== undefined && nextClass !== prev.storageClasses[c]) {
            throw new TransitionError(
                `mysql-multicluster:clusters.${c}.storage: storage class "${nextClass}" changes the deployed "${prev.storageClasses[c]}" while ${c} runs ordinals; ` +
                    `that would replace its StatefulSet. Move its ordinals away first`,
            );
        }
        if (!clusterOf(c) && !prev.retire.includes(c)) {
            throw new TransitionError(
                `mysql-multicluster:clusters: cluster "${c}" was removed but never retired; its claims and volumes may hold data. ` +
                    `Next safe step: keep it in clusters and set retire: [${[...next.retire, c].join(", ")}], run up, then remove it`,
            );
        }
    }

    const common = Math.min(prev.placement.length, next.placement.length);
    const moves = [];
    for (let o = 0; o < common; o++) if (prev.placement[o] !== next.placement[o]) moves.push({ ordinal: o, from: prev.placement[o], to: next.placement[o] });
    const scaled = prev.placement.length !== next.placement.length;
    const primaryChanged = prev.primary !== next.primary;

    if (primaryChanged) {
        if (next.primary >= prev.placement.length) {
            throw new TransitionError(`mysql-multicluster:primary: ${next.primary} does not run yet (deployed ordinals 0..${prev.placement.length - 1}); scale up first, then switch`);
        }
        if (moves.length || scaled) {
            throw new TransitionError(
                `mysql-multicluster:primary: changes ${prev.primary} → ${next.primary} in the same step as ${moves.length ? `moving ordinal(s) ${moves.map((m) => m.ordinal).join(",")}` : "scaling"}; ` +
                    `a change of primary is a step of its own. Next safe step: set primary: ${next.primary} with placement ${list(prev.placement)}, run up, then change placement`,
            );
        }
    }
    const primaryMove = moves.find((m) => m.ordinal === prev.primary);
    if (primaryMove) {
        const cand = switchoverCandidate(prev, next, primaryMove.ordinal, primaryMove.to);
        throw new TransitionError(
            `mysql-multicluster:placement[${primaryMove.ordinal}]: ordinal ${primaryMove.ordinal} is the primary; it never changes cluster. ` +
                (cand !== undefined
                    ? `Switch first: set primary: ${cand}, run up, then move ordinal ${primaryMove.ordinal}`
                    : `Switch first to a replica that stays where it is (add one if there is none), then move ordinal ${primaryMove.ordinal}`),
        );
    }
    if (moves.length > next.migration.maxMovesPerStep) {
        // Suggest the first single move that is valid on its own (the placement rules of config.ts).
        const first = moves
            .map((m) => prev.placement.map((c, o) => (o === m.ordinal ? m.to : c)))
            .find((p) => placementIssues(p, (c) => clusterOf(c)?.nodes.length ?? 0).length === 0);
        throw new TransitionError(
            `mysql-multicluster:placement: ${moves.length} ordinals change cluster in one step (${moves.map((m) => `${m.ordinal}: ${m.from}→${m.to}`).join(", ")}); ` +
                `at most ${next.migration.maxMovesPerStep} per step (migration.maxMovesPerStep). ` +
                (first ? `Next safe step: placement ${list(first)}` : `Move one ordinal at a time`),
        );
    }
    if (scaled && moves.length) {
        throw new TransitionError(
            `mysql-multicluster:placement: scales ${prev.placement.length} → ${next.placement.length} ordinals and moves ordinal(s) ${moves.map((m) => m.ordinal).join(",")} in one step; ` +
                `scaling is a step of its own. Next safe step: placement ${list(next.placement.length > prev.placement.length ? [...prev.placement, ...next.placement.slice(prev.placement.length)] : prev.placement.slice(0, next.placement.length))}`,
        );
    }

    const changes: OrdinalChange[] = [];
    const n = Math.max(prev.placement.length, next.placement.length);
    for (let o = 0; o < n; o++) {
        const from = prev.placement[o];
        const to = next.placement[o];
        const role = to === undefined ? "removed" : o === next.primary ? "primary" : "replica";
        let action: Action;
        if (from === undefined) action = "scale-up";
        else if (to === undefined) action = "scale-down";
        else if (from !== to) action = "move";
        else if (primaryChanged && (o === next.primary || o === prev.primary)) action = "switchover";
        else action = "keep";
        const donor = action === "move" || action === "scale-up" ? donorFor(o, to!) : undefined;
        changes.push({ ordinal: o, from, to, role, action, donor });
    }
    const switchover = primaryChanged
        ? { fromOrdinal: prev.primary, toOrdinal: next.primary, fromCluster: prev.placement[prev.primary], toCluster: next.placement[next.primary] }
        : undefined;
    const newlyRetired = next.retire.filter((c) => !prev.retire.includes(c));
    const kind = moves.length ? "move" : primaryChanged ? "switchover" : scaled ? "scale" : newlyRetired.length ? "retire" : sameConfigShape(prev, next) ? "unchanged" : "config";
    return finish(prev, next, kind, changes, moves, switchover);
}

function sameConfigShape(prev: DeployedState, next: Plan): boolean {
    return (
        prev.clusters.join() === next.clusters.map((c) => c.name).join() &&
        prev.retire.join() === next.retire.join()
    );
}

function finish(
    prev: DeployedState | undefined,
    next: Plan,
    kind: Step["kind"],
    changes: OrdinalChange[],
    moves: { ordinal: number; from: string; to: string }[],
    switchover: SwitchoverStep | undefined,
): Step {
    const clusters = next.clusters.map((c) => c.name);
    const before = (c: string) => (prev ? ordinalsIn(prev.placement, c) : []);
    const after = (c: string) => ordinalsIn(next.placement, c);
    const shrinking = clusters.filter((c) => after(c).some((o) => !before(c).includes(o)) === false && before(c).some((o) => !after(c).includes(o)));
    const growing = clusters.filter((c) => after(c).some((o) => !before(c).includes(o)));
    const applyOrder = [...shrinking, ...growing, ...clusters.filter((c) => !shrinking.includes(c) && !growing.includes(c))];
    // A destination waits for every source: the ordinal is gone there before it exists here (KEP-3335).
    const waitsFor: Record<string, string[]> = {};
    for (const m of moves) (waitsFor[m.to] ??= []).includes(m.from) || waitsFor[m.to].push(m.from);

    const resources: Record<string, string[]> = {};
    const say = (c: string, s: string) => (resources[c] ??= []).push(s);
    for (const c of clusters) {
        const b = before(c);
        const a = after(c);
        if (prev && !prev.clusters.includes(c)) say(c, "new cluster: storage, services, credentials and an empty StatefulSet are created");
        if (b.join() !== a.join()) say(c, `StatefulSet ${objectNames(next.set).statefulSet}: ordinals ${range(b)} → ${range(a)} (replicas ${b.length} → ${a.length}, ordinals.start ${b[0] ?? 0} → ${a[0] ?? 0})`);
        const cp = next.clusters.find((x) => x.name === c)!;
        const had = { exports: prev?.exports?.includes(c) ?? false, imports: prev?.imports?.includes(c) ?? false };
        if (cp.exports !== had.exports) say(c, `ServiceExport ×3 (headless, write, read) ${cp.exports ? "created" : "deleted at the end of the step"}`);
        if ((cp.imports.length > 0) !== had.imports) say(c, `ServiceImport ×3 (Headless, ClusterSetIP ×2) ${cp.imports.length ? "created" : "deleted at the end of the step"}`);
        if (cp.retired && !prev?.retire.includes(c)) say(c, `retired: Job ${objectNames(next.set).retire} deletes the retained claims; volumes are deleted when ${c} leaves clusters`);
        if (prev?.retire.includes(c) && !next.retire.includes(c)) say(c, "no longer retired: volumes are kept again");
    }
    if (switchover) {
        say(switchover.toCluster, `Job ${switchoverJobName(next.set, switchover)}: demote ${podName(next.set, switchover.fromOrdinal)}, wait for GTID catch-up, promote ${podName(next.set, switchover.toOrdinal)}, repoint replicas`);
        for (const c of clusters) say(c, `Service ${serviceName(next.set, "write")}: selector → ${podName(next.set, switchover.toOrdinal)} (after the Job)`);
    }
    for (const [c, srcs] of Object.entries(waitsFor)) say(c, `waits for ${srcs.join(", ")} to scale down first`);
    return { kind, changes, moves, switchover, applyOrder, waitsFor, resources };
}

/** The step as a table a reviewer reads in the pull request. */
export function stepTable(step: Step): string {
    const rows = step.changes.map((c) => [
        String(c.ordinal),
        c.from && c.to && c.from !== c.to ? `${c.from} → ${c.to}` : c.to ?? `${c.from} → (removed)`,
        c.role,
        c.action === "move" || c.action === "scale-up" || (c.action === "create" && c.donor)
            ? `${c.action}, seed from ${c.donor ?? "(none: first member)"}`
            : c.action,
    ]);
    const head = `step: ${step.kind}; apply order: ${step.applyOrder.join(" → ")}`;
    const res = Object.entries(step.resources).flatMap(([c, lines]) => lines.map((l) => `  ${c}: ${l}`));
    return [head, formatTable(["ordinal", "cluster", "role", "action"], rows), ...(res.length ? ["changes:", ...res] : [])].join("\n");
}

/** Validates the `migrationState` output read back from the last deployment (undefined on the first). */
export function parseDeployedState(value: unknown): DeployedState | undefined {
    if (value === undefined || value === null) return undefined;
    const v = value as Partial<DeployedState>;
    const ok =
        Array.isArray(v.placement) && v.placement.every((p) => typeof p === "string") &&
        Number.isInteger(v.primary) && Array.isArray(v.clusters) && Array.isArray(v.retire) &&
        typeof v.set === "string" && typeof v.namespace === "string" && typeof v.engine === "string" &&
        typeof v.storageClasses === "object" && v.storageClasses !== null;
    if (!ok) throw new TransitionError(`stack output migrationState is not readable (${JSON.stringify(value).slice(0, 120)}); it is written by this program only`);
    return v as DeployedState;
}
