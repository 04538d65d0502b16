import { StackConfig } from "../config";
import { TransitionError } from "./errors";
import { DeployedState, storageClassOf } from "./state";
import { Move } from "./types";

/** One rule a step must pass: a name (for tests and reports) and a check that returns the refusal, if any. */
export interface Guard {
    readonly name: string;
    readonly check: (prev: DeployedState, next: StackConfig) => TransitionError | undefined;
}

export const list = (p: readonly string[]) => `[${p.join(", ")}]`;

export function ordinalsIn(placement: readonly string[], cluster: string): number[] {
    return placement.flatMap((c, i) => (c === cluster ? [i] : []));
}

function contiguousOk(placement: readonly string[]): boolean {
    return [...new Set(placement)].every((c) => {
        const o = ordinalsIn(placement, c);
        return o.every((x, j) => j === 0 || x === o[j - 1] + 1);
    });
}

/** Ordinals that run in both placements but in another cluster. */
export function movesOf(prev: DeployedState, next: StackConfig): Move[] {
    const common = Math.min(prev.placement.length, next.placement.length);
    const moves: Move[] = [];
    for (let o = 0; o < common; o++) if (prev.placement[o] !== next.placement[o]) moves.push({ ordinal: o, from: prev.placement[o], to: next.placement[o] });
    return moves;
}

/** The replica ordinal a switchover should pick before moving `moving`: one that stays, preferably in `to`. */
function switchoverCandidate(prev: DeployedState, next: StackConfig, moving: number, to: string): number | undefined {
    const stays = prev.placement
        .map((c, o) => ({ c, o }))
        .filter(({ o }) => o !== moving && o < next.placement.length && prev.placement[o] === next.placement[o]);
    return (stays.find(({ c }) => c === to) ?? stays[0])?.o;
}

/** The rules, in the order they are judged; the first refusal is the one reported. */
export const GUARDS: readonly Guard[] = [
    {
        // Identity of the set: changing any of these would replace every object, not move anything.
        name: "identity-unchanged",
        check(prev, next) {
            const immutable: [string, string, string][] = [
                ["mysql.name", prev.set, next.mysql.name],
                ["mysql.namespace", prev.namespace, next.mysql.namespace],
                ["mysql.engine", prev.engine, next.mysql.engine],
            ];
            for (const [key, was, is] of immutable) {
                if (was !== is) {
                    return new TransitionError(`mysql-multicluster:${key}: "${is}" changes the deployed "${was}"; that replaces the whole set instead of moving it. Keep "${was}"`);
                }
            }
            return undefined;
        },
    },
    {
        name: "storage-class-unchanged-under-pods",
        check(prev, next) {
            for (const c of prev.clusters) {
                if (next.clusters[c] && prev.placement.includes(c) && prev.storageClasses[c] !== undefined && storageClassOf(next, c) !== prev.storageClasses[c]) {
                    return new TransitionError(
                        `mysql-multicluster:clusters.${c}.storage: storage class "${storageClassOf(next, c)}" changes the deployed "${prev.storageClasses[c]}" while ${c} runs ordinals; ` +
                            `that would replace its StatefulSet. Move its ordinals away first`,
                    );
                }
            }
            return undefined;
        },
    },
    {
        name: "cluster-removed-only-after-retire",
        check(prev, next) {
            for (const c of prev.clusters) {
                if (!next.clusters[c] && !prev.retire.includes(c)) {
                    return new TransitionError(
                        `mysql-multicluster:clusters: cluster "${c}" was removed but never retired; its claims and volumes may hold data. ` +
                            `Next safe step: keep it in clusters and set retire: [${[...next.retire, c].join(", ")}], run up, then remove it`,
                    );
                }
            }
            return undefined;
        },
    },
    {
        name: "switchover-is-a-step-of-its-own",
        check(prev, next) {
            if (prev.primary === next.primary) return undefined;
            const moves = movesOf(prev, next);
            const scaled = prev.placement.length !== next.placement.length;
            if (next.primary >= prev.placement.length) {
                return new TransitionError(`mysql-multicluster:primary: ${next.primary} does not run yet (deployed ordinals 0..${prev.placement.length - 1}); scale up first, then switch`);
            }
            if (moves.length || scaled) {
                return new TransitionError(
                    `mysql-multicluster:primary: changes ${prev.primary} → ${next.primary} in the same step as ${moves.length ? `moving ordinal(s) ${moves.map((m) => m.ordinal).join(",")}` : "scaling"}; ` +
                        `a change of primary is a step of its own. Next safe step: set primary: ${next.primary} with placement ${list(prev.placement)}, run up, then change placement`,
                );
            }
            return undefined;
        },
    },
    {
        name: "primary-never-moves",
        check(prev, next) {
            const primaryMove = movesOf(prev, next).find((m) => m.ordinal === prev.primary);
            if (!primaryMove) return undefined;
            const cand = switchoverCandidate(prev, next, primaryMove.ordinal, primaryMove.to);
            return new TransitionError(
                `mysql-multicluster:placement[${primaryMove.ordinal}]: ordinal ${primaryMove.ordinal} is the primary; it never changes cluster. ` +
                    (cand !== undefined
                        ? `Switch first: set primary: ${cand}, run up, then move ordinal ${primaryMove.ordinal}`
                        : `Switch first to a replica that stays where it is (add one if there is none), then move ordinal ${primaryMove.ordinal}`),
            );
        },
    },
    {
        name: "at-most-maxMovesPerStep",
        check(prev, next) {
            const moves = movesOf(prev, next);
            if (moves.length <= next.migration.maxMovesPerStep) return undefined;
            // Suggest the first single move that is valid on its own (a StatefulSet holds a contiguous range).
            const first = moves
                .map((m) => prev.placement.map((c, o) => (o === m.ordinal ? m.to : c)))
                .find((p) => contiguousOk(p) && p.every((c) => ordinalsIn(p, c).length <= (next.clusters[c]?.nodes.length ?? 0)));
            return new TransitionError(
                `mysql-multicluster:placement: ${moves.length} ordinals change cluster in one step (${moves.map((m) => `${m.ordinal}: ${m.from}→${m.to}`).join(", ")}); ` +
                    `at most ${next.migration.maxMovesPerStep} per step (migration.maxMovesPerStep). ` +
                    (first ? `Next safe step: placement ${list(first)}` : `Move one ordinal at a time`),
            );
        },
    },
    {
        name: "scaling-is-a-step-of-its-own",
        check(prev, next) {
            const moves = movesOf(prev, next);
            if (prev.placement.length === next.placement.length || !moves.length) return undefined;
            return new TransitionError(
                `mysql-multicluster:placement: scales ${prev.placement.length} → ${next.placement.length} ordinals and moves ordinal(s) ${moves.map((m) => m.ordinal).join(",")} in one step; ` +
                    `scaling is a step of its own. Next safe step: placement ${list(next.placement.length > prev.placement.length ? [...prev.placement, ...next.placement.slice(prev.placement.length)] : prev.placement.slice(0, next.placement.length))}`,
            );
        },
    },
];

/** Judges every guard; throws the first refusal. */
export function judge(prev: DeployedState, next: StackConfig, guards: readonly Guard[] = GUARDS): void {
    for (const g of guards) {
        const refusal = g.check(prev, next);
        if (refusal) throw refusal;
    }
}
