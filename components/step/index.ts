/**
 * The step judgement of one `pulumi up`: the deployed-state schema (state.ts), the refusal (errors.ts),
 * the rules as named guards (rules.ts), the report (report.ts). Everything is re-exported here.
 */
import { podName } from "../naming";
import { Plan } from "../plan";
import { changeBehaviourOf } from "../changes";
import { describeAutoFailover, describeResources } from "./report";
import { changedSettings, isFailover, judge, movesOf, ordinalsIn, rollingClusters } from "./rules";
import { DeployedState, lostIn } from "./state";
import { Action, FailoverStep, Move, OrdinalChange, Step, SwitchoverStep } from "./types";
import { failoverJobName, objectNames, serviceName } from "../naming";

export { TransitionError } from "./errors";
export {
    DeployedState,
    LostView,
    deployedStateOf,
    deployedStateSchema,
    deployedVoters,
    epochAfter,
    epochOf,
    historyOf,
    lostIn,
    lostViewsAfter,
    parseDeployedState,
    settingsOf,
    storageClassOf,
} from "./state";
export { GUARDS, Guard, changedSettings, imageVersion, isFailover, judge, rollingClusters } from "./rules";
export { describeAutoFailover, describeResources, stepTable } from "./report";
export { Action, FailoverStep, Move, OrdinalChange, Step, SwitchoverStep, failoverJobName, switchoverJobName } from "./types";

/**
 * Judges the step from the deployed state to the next plan (built once by deploy), and plans its order.
 * Throws TransitionError (one line: the rule, and the next safe step) for an unsafe step. Pure.
 */
export function planStep(prev: DeployedState | undefined, next: Plan): Step {
    const plan = next;
    // A donor must exist and be Ready before the recipient starts: a member that runs before the step
    // and stays where it is (the destination's preference order: local replicas, remote, the primary);
    // on a first deployment only the primary, which initialises while every replica waits for it.
    const stable = (o: number) => prev !== undefined && o < prev.placement.length && prev.placement[o] === next.placement[o] && o !== prev.primary;
    const donorFor = (ordinal: number, to: string) => {
        const donors = plan.clusters.find((c) => c.name === to)!.topology.donors;
        const primaryHost = donors[donors.length - 1];
        return donors.find((d) => plan.pods.some((p) => p.ordinal !== ordinal && stable(p.ordinal) && d.startsWith(`${p.name}.`))) ?? primaryHost;
    };

    if (!prev) {
        const changes = plan.pods.map((p) => ({
            ordinal: p.ordinal,
            member: p.name,
            to: p.cluster,
            role: p.role,
            action: "create" as const,
            donor: p.role === "replica" ? donorFor(p.ordinal, p.cluster) : undefined,
        }));
        return finish(prev, next, "initial", changes, [], undefined);
    }

    judge(prev, next);

    const moves = movesOf(prev, next);
    const scaled = prev.placement.length !== next.placement.length;
    const primaryChanged = prev.primary !== next.primary;
    const failingOver = isFailover(prev, next);

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
        else if (primaryChanged && (o === next.primary || o === prev.primary)) action = failingOver ? "failover" : "switchover";
        else action = "keep";
        const lost = to !== undefined && next.lost.includes(to);
        const donor = action === "move" || action === "scale-up" ? donorFor(o, to!) : undefined;
        // Moving back where its claim was retained: the claim is reused, not re-seeded, when it still fits the history.
        const reusesClaim = donor !== undefined && to !== undefined && (prev.claims?.[to] ?? []).includes(o);
        changes.push({
            ordinal: o,
            member: podName(next.set, o),
            from,
            to,
            role,
            action,
            donor,
            ...(reusesClaim ? { reusesClaim } : {}),
            ...(lost ? { lost } : {}),
        });
    }
    const failover: FailoverStep | undefined = failingOver
        ? {
              fromOrdinal: prev.primary,
              toOrdinal: next.primary,
              fromCluster: prev.placement[prev.primary],
              toCluster: next.placement[next.primary],
              lostClusters: [...next.lost],
              lostOrdinals: [...next.lostOrdinals],
              epoch: next.epoch,
          }
        : undefined;
    const switchover =
        primaryChanged && !failingOver
            ? { fromOrdinal: prev.primary, toOrdinal: next.primary, fromCluster: prev.placement[prev.primary], toCluster: next.placement[next.primary] }
            : undefined;
    const newlyRetired = next.retire.filter((c) => !prev.retire.includes(c));
    const settings = changedSettings(prev, next)
        .filter(({ key }) => !["placement", "primary", "retire"].includes(key))
        .map(({ key, was, is }) => `${key}: ${was} -> ${is} (${changeBehaviourOf(key)?.behaviour ?? "in place"})`);
    const rolling = rollingClusters(prev, next);
    const rejoined = lostIn(prev).filter((c) => !next.lost.includes(c) && next.clusters.some((x) => x.name === c));
    const kind = failingOver
        ? "failover"
        : moves.length
          ? "move"
          : primaryChanged
            ? "switchover"
            : scaled
              ? "scale"
              : rolling.length
                ? "rolling"
                : newlyRetired.length
                  ? "retire"
                  : rejoined.length
                    ? "rejoin"
                    : sameConfigShape(prev, next)
                      ? "unchanged"
                      : "config";
    const pending = (prev.pending ?? []).filter((o) => o < next.placement.length);
    if (kind === "rolling") {
        // Restart order: every other cluster first, one after another, the primary's cluster last. The
        // primary restarts only when the user accepted its write pause; else it keeps the old template
        // (partition) until a planned switchover makes it a replica.
        const pc = prev.placement[prev.primary];
        const order = [...rolling.filter((c) => c !== pc), ...rolling.filter((c) => c === pc)];
        const defer = rolling.includes(pc) && !next.migration.allowPrimaryRestart;
        const restarted = changes.map((c) =>
            !c.to || !order.includes(c.to) ? c : c.ordinal === prev.primary && defer ? { ...c, restartDeferred: true } : { ...c, action: "restart" as const },
        );
        return { ...finish(prev, next, kind, restarted, moves, switchover, order, defer ? [prev.primary] : pending, failover, rejoined), settings };
    }
    if (pending.length && !(switchover && pending.includes(switchover.fromOrdinal))) {
        // Still waiting for the switchover: the old primary keeps the old template.
        const kept = changes.map((c) => (pending.includes(c.ordinal) ? { ...c, restartDeferred: true } : c));
        return { ...finish(prev, next, kind, kept, moves, switchover, [], pending, failover, rejoined), settings };
    }
    const after = changes.map((c) => (switchover && pending.includes(c.ordinal) ? { ...c, restartsAfterSwitchover: true } : c));
    return { ...finish(prev, next, kind, after, moves, switchover, [], [], failover, rejoined), settings };
}

function sameConfigShape(prev: DeployedState, next: Plan): boolean {
    return (
        prev.clusters.join() === next.clusters.map((c) => c.name).join() &&
        prev.retire.join() === next.retire.join() &&
        changedSettings(prev, next).length === 0
    );
}

/** Orders the judged step across clusters and describes what changes in each. */
function finish(
    prev: DeployedState | undefined,
    next: Plan,
    kind: Step["kind"],
    changes: OrdinalChange[],
    moves: Move[],
    switchover: SwitchoverStep | undefined,
    rolling: readonly string[] = [],
    oldTemplate: readonly number[] = [],
    failover?: FailoverStep,
    rejoined: readonly string[] = [],
): Step {
    const clusters = next.clusters.map((c) => c.name);
    const before = (c: string) => (prev ? ordinalsIn(prev.placement, c) : []);
    const after = (c: string) => ordinalsIn(next.placement, c);
    const shrinking = clusters.filter((c) => after(c).some((o) => !before(c).includes(o)) === false && before(c).some((o) => !after(c).includes(o)));
    const growing = clusters.filter((c) => after(c).some((o) => !before(c).includes(o)));
    const first = rolling.length ? [...rolling] : [...shrinking, ...growing];
    const applyOrder = [...first, ...clusters.filter((c) => !first.includes(c))];
    // A destination waits for every source: the ordinal is gone there before it exists here (KEP-3335).
    const waitsFor: Record<string, string[]> = {};
    for (const m of moves) {
        const sources = (waitsFor[m.to] ??= []);
        if (!sources.includes(m.from)) sources.push(m.from);
    }
    // A rolling restart: each cluster's rollout completes (every member Ready) before the next one starts.
    rolling.forEach((c, i) => {
        if (i > 0) waitsFor[c] = [rolling[i - 1]];
    });
    // Ordinals on the old template sit below their cluster's partition (the primary is the lowest there).
    const partitions: Record<string, number> = {};
    for (const o of oldTemplate) partitions[next.placement[o]] = Math.max(partitions[next.placement[o]] ?? 0, o + 1);
    const restartAfterSwitchover = changes.find((c) => c.restartsAfterSwitchover)?.to;
    const resources = describeResources(prev, next, switchover, waitsFor, rolling, partitions, restartAfterSwitchover);
    describeOutage(resources, prev, next, failover, rejoined);
    const auto = describeAutoFailover(prev, next);
    for (const [c, lines] of Object.entries(auto?.resources ?? {})) (resources[c] ??= []).push(...lines);
    const primaryRestarts = changes.some((c) => c.role === "primary" && c.action === "restart");
    const writePause = failover
        ? `writes have been down since ${podName(next.set, failover.fromOrdinal)} was lost; they resume when ${podName(next.set, failover.toOrdinal)} is promoted by the failover Job (at most ${next.migration.switchoverTimeoutSeconds} s, migration.switchoverTimeoutSeconds) and the write Service moves`
        : writePauseOf(kind, next, switchover, primaryRestarts ? next.pods[next.primary].name : undefined);
    return {
        kind,
        changes,
        moves,
        switchover,
        ...(failover ? { failover, loss: lossOf(next, failover) } : {}),
        epoch: next.epoch,
        lost: [...next.lost],
        rejoined: [...rejoined],
        applyOrder,
        waitsFor,
        partitions,
        oldTemplate: [...oldTemplate],
        ...(restartAfterSwitchover ? { restartAfterSwitchover } : {}),
        ...(auto ? { autoFailover: auto.summary } : {}),
        writePause,
        resources,
    };
}

/** What a failover loses, in words: what the old primary committed that no replica received. */
export function lossOf(next: Plan, f: FailoverStep): string {
    const old = podName(next.set, f.fromOrdinal);
    return next.semiSync
        ? `writes committed on ${old} and acknowledged by no replica; with semi-synchronous replication on (mysql.semiSync): none that a client saw acknowledged. ` +
              `Those transactions stay on ${old}'s volume: when ${f.fromCluster} returns, ${old} is fenced (read-only), its extra transactions are set aside and it is re-seeded`
        : `writes committed on ${old} that had reached no replica: with asynchronous replication (mysql.semiSync: false) clients may have seen them acknowledged. ` +
              `They stay on ${old}'s volume: when ${f.fromCluster} returns, ${old} is fenced (read-only), its extra transactions are set aside and it is re-seeded`;
}

/** The outage's part of the changes block: what is left as deployed, the failover Job, what rejoins. */
function describeOutage(
    resources: Record<string, string[]>,
    prev: DeployedState | undefined,
    next: Plan,
    f: FailoverStep | undefined,
    rejoined: readonly string[],
) {
    const say = (c: string, s: string) => (resources[c] ??= []).push(s);
    for (const c of next.lost) {
        resources[c] = [
            `declared lost (failover.lost): every object stays as deployed (epoch ${prev?.lost?.[c]?.epoch ?? prev?.epoch ?? 1} there); nothing is sent while its API server is unreachable` +
                (next.placement.includes(c)
                    ? ""
                    : "; it runs no ordinals: its objects may leave the state by removing it from clusters (its volumes are not touched)"),
        ];
    }
    for (const c of lostIn(prev).filter((x) => !next.clusters.some((y) => y.name === x))) {
        resources[c] = [
            `removed from clusters while lost: its objects leave the Pulumi state without a call to its API server (deleteUnreachable; if it answers, they are deleted there); ` +
                `nothing that holds data is deleted: the namespace, the local volumes and the claims ${(prev?.claims?.[c] ?? []).map((o) => `data-${next.set}-${o}`).join(", ") || "left there"} stay; clean them up by hand if the zone returns`,
        ];
    }
    if (f) {
        say(
            f.toCluster,
            `Job ${failoverJobName(next.set, f.epoch)}: checks that ${podName(next.set, f.toOrdinal)} is the most advanced reachable member, promotes it at epoch ${f.epoch}, repoints the reachable replicas; ${f.lostOrdinals.map((o) => podName(next.set, o)).join(", ")} never contacted`,
        );
        for (const c of next.clusters.map((x) => x.name).filter((x) => !next.lost.includes(x)))
            say(
                c,
                `Service ${serviceName(next.set, "write")}: selector → ${podName(next.set, f.toOrdinal)}; ConfigMap ${objectNames(next.set).topology}: epoch ${f.epoch} (after the Job)`,
            );
    }
    for (const c of rejoined)
        say(
            c,
            `back from lost: ConfigMap ${objectNames(next.set).topology} → primary ${podName(next.set, next.primary)}, epoch ${next.epoch}; a member there that was primary stays fenced (read-only), its extra transactions are set aside and it is re-seeded`,
        );
}

/** What a DBA should expect for writes: the only pauses are a switchover and a primary restart. */
function writePauseOf(kind: Step["kind"], next: Plan, switchover: SwitchoverStep | undefined, restartedPrimary: string | undefined): string {
    if (kind === "initial") return "none (first deployment: no writes yet)";
    if (switchover) {
        return (
            `writes pause from the demotion of ${podName(next.set, switchover.fromOrdinal)} until ${podName(next.set, switchover.toOrdinal)} is promoted: ` +
            `typically under a second (the data-plane benchmark measured 204 ms), at most ${next.migration.switchoverTimeoutSeconds} s (migration.switchoverTimeoutSeconds), after which the old primary stays`
        );
    }
    if (restartedPrimary) return `writes pause while the primary ${restartedPrimary} restarts (up to 60 s shutdown, then its start-up); no switchover`;
    if (kind === "move" || kind === "scale") return "none planned; with semi-synchronous replication a commit may wait briefly while a replica moves or starts";
    return "none";
}
