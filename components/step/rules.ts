import { placementIssues, schemaKeys } from "../config";
import { TransitionError } from "./errors";
import { changeBehaviourOf } from "../changes";
import { ClusterPlan, Plan } from "../plan";
import { claimName, podName } from "../naming";
import { DeployedState, deployedVoters, lostIn } from "./state";
import { Move } from "./types";

/** One rule a step must pass: a name (for tests and reports) and a check that returns the refusal, if any. */
export interface Guard {
    readonly name: string;
    readonly check: (prev: DeployedState, next: Plan) => TransitionError | undefined;
}

export const list = (p: readonly string[]) => `[${p.join(", ")}]`;

export function ordinalsIn(placement: readonly string[], cluster: string): number[] {
    return placement.flatMap((c, i) => (c === cluster ? [i] : []));
}

/** The cluster of that name in the plan (undefined: not in clusters). */
export function clusterOf(plan: Plan, cluster: string): ClusterPlan | undefined {
    return plan.clusters.find((c) => c.name === cluster);
}

/** A placement valid on its own: the placement rules of config.ts (contiguous ranges, one pod per node). */
function validPlacement(p: readonly string[], next: Plan): boolean {
    return placementIssues(p, (c) => clusterOf(next, c)?.nodes.length ?? 0).length === 0;
}

/** Ordinals that run in both placements but in another cluster. */
export function movesOf(prev: DeployedState, next: Plan): Move[] {
    const common = Math.min(prev.placement.length, next.placement.length);
    const moves: Move[] = [];
    for (let o = 0; o < common; o++) if (prev.placement[o] !== next.placement[o]) moves.push({ ordinal: o, from: prev.placement[o], to: next.placement[o] });
    return moves;
}

/** The replica ordinal a switchover should pick before moving `moving`: one that stays, preferably in `to`. */
function switchoverCandidate(prev: DeployedState, next: Plan, moving: number, to: string): number | undefined {
    const stays = prev.placement
        .map((c, o) => ({ c, o }))
        .filter(({ o }) => o !== moving && o < next.placement.length && prev.placement[o] === next.placement[o]);
    return (stays.find(({ c }) => c === to) ?? stays[0])?.o;
}

/** Keys whose deployed value differs in `next`, with both values (JSON); only keys the state recorded. */
export function changedSettings(prev: DeployedState, next: Plan): { key: string; was: string; is: string }[] {
    if (!prev.settings) return [];
    const now = next.settings;
    // In the schema's order: the key a user edits (version) before the one derived from it (image).
    const order = schemaKeys();
    const ranks = new Map<string, number>();
    const rank = (k: string) => {
        if (!ranks.has(k)) ranks.set(k, order.indexOf(k.replace(/^clusters\.[^.]+/, "clusters.<name>")));
        return ranks.get(k)!;
    };
    const keys = [...new Set([...Object.keys(prev.settings), ...Object.keys(now)])].sort((a, b) => rank(a) - rank(b));
    return keys
        .filter(
            (k) =>
                prev.settings![k] !== now[k] && !(k.startsWith("clusters.") && (!prev.clusters.includes(k.split(".")[1]) || !clusterOf(next, k.split(".")[1]))),
        )
        .map((k) => ({ key: k, was: prev.settings![k] ?? "(unset)", is: now[k] ?? "(unset)" }));
}

/** Clusters whose pod template a step changes (a rolling restart of their members). */
export function rollingClusters(prev: DeployedState, next: Plan): string[] {
    const rolling = changedSettings(prev, next).filter((c) => changeBehaviourOf(c.key)?.behaviour === "rolling");
    const all = rolling.some((c) => !c.key.startsWith("clusters."));
    return [...new Set(prev.placement)].filter((c) => clusterOf(next, c) && (all || rolling.some((r) => r.key.startsWith(`clusters.${c}.`))));
}

/** Numeric version of an image tag (`mariadb:10.11` → [10, 11]); undefined when the tag is not a version. */
export function imageVersion(image: string): number[] | undefined {
    const tag = /:([0-9]+(?:\.[0-9]+)*)(?:[-@].*)?$/.exec(image);
    return tag ? tag[1].split(".").map(Number) : undefined;
}
function older(a: number[], b: number[]): boolean {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
    return false;
}
const unjson = (v: string) => (v.startsWith('"') ? JSON.parse(v) : v);

/** Ordinals of the set whose claims a cluster holds (from the state; its placement when none recorded). */
export function claimsIn(prev: DeployedState, cluster: string): number[] {
    return prev.claims?.[cluster] ?? ordinalsIn(prev.placement, cluster);
}

/** A failover: the deployed primary's cluster is declared lost and `primary` names another member. */
export function isFailover(prev: DeployedState, next: Plan): boolean {
    return prev.primary !== next.primary && next.lost.includes(prev.placement[prev.primary]);
}

/** The rules, in the order they are judged; the first refusal is the one reported. */
export const GUARDS: readonly Guard[] = [
    {
        // Identity of the set: changing any of these would replace every object, not move anything.
        name: "identity-unchanged",
        check(prev, next) {
            const immutable: [string, string, string][] = [
                ["mysql.name", prev.set, next.set],
                ["mysql.namespace", prev.namespace, next.namespace],
                ["mysql.engine", prev.engine, next.engine],
            ];
            for (const [key, was, is] of immutable) {
                if (was !== is) {
                    return new TransitionError(
                        `mysql-multicluster:${key}: "${is}" changes the deployed "${was}"; that replaces the whole set instead of moving it. Keep "${was}"`,
                    );
                }
            }
            return undefined;
        },
    },
    {
        // A member that requires TLS and a plaintext one cannot replicate from each other: no rolling order
        // turns TLS on or off in a running set. A state without the key ran without TLS.
        name: "tls-unchanged",
        check(prev, next) {
            const was = prev.settings?.["tls.enabled"] === "true";
            const is = next.tls !== undefined;
            if (was === is) return undefined;
            return new TransitionError(
                `mysql-multicluster:tls.enabled: ${is} changes the deployed ${was} on a running set; a rolling change would leave members that require TLS and plaintext ones unable to replicate from each other. ` +
                    `Keep tls.enabled: ${was}; for ${is ? "TLS deploy a new set with tls.enabled: true" : "plaintext deploy a new set without TLS"} and move the data to it (a two-step mode accepting both is not there yet)`,
            );
        },
    },
    {
        // volumeClaimTemplates are immutable: a new size replaces every StatefulSet and grows no claim.
        name: "storage-size-never-replaces",
        check(prev, next) {
            const was = prev.settings?.["mysql.storageSize"];
            if (was === undefined || unjson(was) === next.storageSize) return undefined;
            const local = next.clusters.filter((c) => c.storage.kind === "local" && claimsIn(prev, c.name).length).map((c) => c.name);
            const dynamic = next.clusters.filter((c) => c.storage.kind === "dynamic" && claimsIn(prev, c.name).length).map((c) => c.name);
            return new TransitionError(
                `mysql-multicluster:mysql.storageSize: "${next.storageSize}" changes the deployed ${was}; the claim template is immutable, so this would delete and re-create every StatefulSet (the primary included) and grow no claim. ` +
                    `Keep ${was}. To grow the disks` +
                    (dynamic.length
                        ? `: in ${dynamic.join(", ")} (if the storage class allows expansion) patch one claim at a time, waiting for each member to be Ready, e.g. kubectl patch pvc ${claimName(prev.set, 0)} -n ${prev.namespace} -p '{"spec":{"resources":{"requests":{"storage":"${next.storageSize}"}}}}'`
                        : "") +
                    (local.length
                        ? `${dynamic.length ? ";" : ":"} in ${local.join(", ")} (local volumes) grow the filesystem at the volume path on each node, then raise clusters.<name>.storage.capacity`
                        : ""),
            );
        },
    },
    {
        name: "refused-keys-unchanged",
        check(prev, next) {
            const spans = (prev.exports?.length ?? 0) > 0;
            for (const { key, was, is } of changedSettings(prev, next)) {
                if (changeBehaviourOf(key)?.behaviour !== "refused") continue;
                // Handled by their own guards, with their own next safe step.
                if (
                    /^(mysql\.(name|namespace|engine|storageSize)|tls\.enabled)$/.test(key) ||
                    /^clusters\.[^.]+\.storage\.(storageClass|storageClassName)$/.test(key)
                )
                    continue;
                const cluster = key.startsWith("clusters.") ? key.split(".")[1] : undefined;
                if (cluster && !claimsIn(prev, cluster).length) continue;
                if (key === "mcs.profile" && !spans) continue;
                return new TransitionError(
                    `mysql-multicluster:${key}: ${is} changes the deployed ${was}; ${changeBehaviourOf(key)!.note}. Keep ${was}` +
                        (cluster ? ` (or move ${cluster}'s members away and retire it first)` : ""),
                );
            }
            return undefined;
        },
    },
    {
        // Replication runs from an older primary to newer replicas only; a downgrade has no safe order.
        name: "no-downgrade",
        check(prev, next) {
            const was = prev.settings?.["mysql.image"];
            if (!was) return undefined;
            const [a, b] = [imageVersion(unjson(was)), imageVersion(next.image)];
            if (a && b && older(b, a)) {
                return new TransitionError(
                    `mysql-multicluster:mysql.version: "${next.image}" is older than the deployed ${was}; a downgrade is refused (replication runs only from an older primary to newer replicas). Keep ${was}`,
                );
            }
            return undefined;
        },
    },
    {
        // The old primary is gone: only the change of primary (and the declaration of what is lost) may happen.
        name: "failover-is-a-step-of-its-own",
        check(prev, next) {
            if (!isFailover(prev, next)) return undefined;
            const lostNow = next.lost.filter((c) => prev.clusters.includes(c));
            const keep = `Next safe step: keep everything as deployed (placement ${list(prev.placement)}) and change only primary: ${next.primary} with failover.lost: [${lostNow.join(", ")}], run up, then the rest`;
            if (next.primary >= prev.placement.length) {
                return new TransitionError(
                    `mysql-multicluster:primary: ${next.primary} does not run yet (deployed ordinals 0..${prev.placement.length - 1}); a failover promotes a running member`,
                );
            }
            const moves = movesOf(prev, next);
            const other = moves.length
                ? `moving ordinal(s) ${moves.map((m) => m.ordinal).join(",")}`
                : prev.placement.length !== next.placement.length
                  ? "scaling"
                  : prev.retire.join() !== next.retire.join()
                    ? "a change of retire"
                    : changedSettings(prev, next)
                          .filter(({ key }) => !["primary", "placement", "retire"].includes(key) && !key.startsWith("failover"))
                          .map(({ key }) => `a change of ${key}`)[0];
            if (other) {
                return new TransitionError(
                    `mysql-multicluster:failover.lost: a failover (primary: ${prev.primary} → ${next.primary}, ${prev.placement[prev.primary]} lost) in the same step as ${other}; a failover is a step of its own. ${keep}`,
                );
            }
            return undefined;
        },
    },
    {
        // A lost cluster is left exactly as deployed: nothing may start or restart there.
        name: "lost-clusters-left-as-deployed",
        check(prev, next) {
            if (!next.lost.length) return undefined;
            for (let o = 0; o < next.placement.length; o++) {
                const c = next.placement[o];
                if (next.lost.includes(c) && prev.placement[o] !== c) {
                    return new TransitionError(
                        `mysql-multicluster:placement[${o}]: "${c}" is declared lost (failover.lost); nothing can start there. Keep placement[${o}]: ${prev.placement[o] ?? "(unset)"}, or bring ${c} back and remove it from failover.lost first`,
                    );
                }
            }
            const rolling = changedSettings(prev, next).filter((c) => changeBehaviourOf(c.key)?.behaviour === "rolling");
            if (rolling.length) {
                return new TransitionError(
                    `mysql-multicluster:${rolling[0].key}: a rolling restart while ${next.lost.join(", ")} ${next.lost.length > 1 ? "are" : "is"} declared lost (failover.lost): its members cannot restart. ` +
                        `Keep ${rolling[0].was}; first move the ordinals off ${next.lost.join(", ")} or bring it back and remove it from failover.lost`,
                );
            }
            return undefined;
        },
    },
    {
        name: "rolling-is-a-step-of-its-own",
        check(prev, next) {
            const rolling = rollingClusters(prev, next);
            if (!rolling.length) return undefined;
            const keys = changedSettings(prev, next)
                .filter((c) => changeBehaviourOf(c.key)?.behaviour === "rolling")
                .map((c) => c.key);
            const other = movesOf(prev, next).length
                ? "moving ordinals"
                : prev.primary !== next.primary
                  ? "a switchover"
                  : prev.placement.length !== next.placement.length
                    ? "scaling"
                    : undefined;
            if (other) {
                return new TransitionError(
                    `mysql-multicluster:${keys[0]}: a rolling restart (${keys.join(", ")}) in the same step as ${other}; each is a step of its own. ` +
                        `Next safe step: keep placement ${list(prev.placement)} and primary: ${prev.primary}, run up, then change placement or primary`,
                );
            }
            // The StatefulSet controller restarts the highest ordinal first: the primary is last only when it is the lowest there.
            const pc = prev.placement[prev.primary];
            const lowest = ordinalsIn(prev.placement, pc)[0];
            if (rolling.includes(pc) && lowest !== prev.primary) {
                return new TransitionError(
                    `mysql-multicluster:${keys[0]}: restarts ${pc}'s members highest ordinal first, so the primary ${prev.set}-${prev.primary} would restart before ${prev.set}-${lowest}. ` +
                        `Switch first: set primary: ${lowest}, run up, then change ${keys[0]}`,
                );
            }
            // Without a replica there is nothing to switch to: the primary's restart must be accepted.
            if (rolling.includes(pc) && prev.placement.length < 2 && !next.migration.allowPrimaryRestart) {
                return new TransitionError(
                    `mysql-multicluster:${keys[0]}: restarts the primary ${prev.set}-${prev.primary}, the only member: writes stop while it restarts (up to 60 s shutdown, then start-up). ` +
                        `Add a replica first (scale up), or set migration.allowPrimaryRestart: true to accept that pause`,
                );
            }
            return undefined;
        },
    },
    {
        name: "storage-class-unchanged-under-pods",
        check(prev, next) {
            for (const c of prev.clusters) {
                const nextClass = clusterOf(next, c)?.storage.storageClassName;
                if (nextClass !== undefined && prev.placement.includes(c) && prev.storageClasses[c] !== undefined && nextClass !== prev.storageClasses[c]) {
                    return new TransitionError(
                        `mysql-multicluster:clusters.${c}.storage: storage class "${nextClass}" changes the deployed "${prev.storageClasses[c]}" while ${c} runs ordinals; ` +
                            `that would replace its StatefulSet. Move its ordinals away first`,
                    );
                }
            }
            return undefined;
        },
    },
    {
        // The claims a move leaves in its source are the moved members' safety net until they are seeded
        // elsewhere: a cluster is retired (its claims deleted) only in a step after its members left it.
        name: "retire-only-after-members-left",
        check(prev, next) {
            for (const [i, c] of next.retire.entries()) {
                if (prev.retire.includes(c) || !prev.placement.includes(c)) continue;
                const members = ordinalsIn(prev.placement, c).map((o) => podName(next.set, o));
                return new TransitionError(
                    `mysql-multicluster:retire[${i}]: "${c}" still ran ${members.join(", ")} before this step; its claims are their safety net until they are seeded elsewhere. ` +
                        `Next safe step: remove ${c} from retire and run up (the moves), then retire it`,
                );
            }
            return undefined;
        },
    },
    {
        name: "cluster-removed-only-after-retire",
        check(prev, next) {
            for (const c of prev.clusters) {
                // A lost cluster that runs no ordinals may go without its retire Job: its objects leave the
                // state only (its provider had deleteUnreachable), its volumes are not touched.
                if (lostIn(prev).includes(c) && !prev.placement.includes(c)) continue;
                if (!clusterOf(next, c) && !prev.retire.includes(c)) {
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
                return new TransitionError(
                    `mysql-multicluster:primary: ${next.primary} does not run yet (deployed ordinals 0..${prev.placement.length - 1}); scale up first, then switch`,
                );
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
            // Suggest the first single move that is valid on its own (the placement rules of config.ts).
            const first = moves.map((m) => prev.placement.map((c, o) => (o === m.ordinal ? m.to : c))).find((p) => validPlacement(p, next));
            return new TransitionError(
                `mysql-multicluster:placement: ${moves.length} ordinals change cluster in one step (${moves.map((m) => `${m.ordinal}: ${m.from}→${m.to}`).join(", ")}); ` +
                    `at most ${next.migration.maxMovesPerStep} per step (migration.maxMovesPerStep). ` +
                    (first ? `Next safe step: placement ${list(first)}` : `Move one ordinal at a time`),
            );
        },
    },
    {
        // Moves whose clusters form a cycle (a swap): no apply order empties every source before its destination grows.
        name: "no-swap",
        check(prev, next) {
            const moves = movesOf(prev, next);
            const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
                moves.some((m) => m.from === from && (m.to === to || (!seen.has(m.to) && (seen.add(m.to), reaches(m.to, to, seen)))));
            const cyc = moves.filter((m) => reaches(m.to, m.from));
            if (!cyc.length) return undefined;
            const firstStep = cyc.map((m) => prev.placement.map((c, o) => (o === m.ordinal ? m.to : c))).find((p) => validPlacement(p, next));
            return new TransitionError(
                `mysql-multicluster:placement: ordinals ${cyc.map((m) => `${m.ordinal} (${m.from}→${m.to})`).join(" and ")} swap clusters; ` +
                    `no order takes each ordinal out of its source before it exists in its destination. ` +
                    (firstStep
                        ? `Next safe steps: placement ${list(firstStep)}, run up, then placement ${list(next.placement)}`
                        : `Move one of them through a third cluster first, one step per up`),
            );
        },
    },
    {
        // etcd changes its membership one voter at a time (a majority of the old and the new set must agree).
        name: "arbiter-voters-one-at-a-time",
        check(prev, next) {
            const was = deployedVoters(prev);
            const is = next.autoFailover?.voters;
            if (!was || !is) return undefined;
            const added = is.filter((c) => !was.includes(c));
            const removed = was.filter((c) => !is.includes(c));
            if (added.length + removed.length <= 1) return undefined;
            const witnessesChanged = prev.settings?.["failover.witnesses"] !== next.settings["failover.witnesses"];
            const key = witnessesChanged ? "failover.witnesses" : "placement";
            const what = [added.length ? `adds ${added.join(", ")}` : "", removed.length ? `removes ${removed.join(", ")}` : ""].filter(Boolean).join(" and ");
            const first = added.length
                ? `first add ${added[0]} alone (e.g. as a witness: failover.witnesses with ${added[0]}), run up, then the rest`
                : `first remove ${removed[0]} alone, run up, then the rest`;
            return new TransitionError(
                `mysql-multicluster:${key}: ${what} as arbiter voters in one step (voters ${list(was)} → ${list(is)}); etcd changes its membership one voter at a time. Next safe step: ${first}`,
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
export function judge(prev: DeployedState, next: Plan, guards: readonly Guard[] = GUARDS): void {
    for (const g of guards) {
        const refusal = g.check(prev, next);
        if (refusal) throw refusal;
    }
}
