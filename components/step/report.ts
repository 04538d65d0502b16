import { arbiterNames, arbiterStatefulSetName, claimName, localVolumeName, objectNames, podName, serviceName, switchoverJobName } from "../naming";
import { Plan, formatTable } from "../plan";
import { clusterOf, ordinalsIn } from "./rules";
import { DeployedState, deployedVoters } from "./state";
import { OrdinalChange, Step, SwitchoverStep } from "./types";

export { claimName } from "../naming";
const claimSize = (prev: DeployedState | undefined, next: Plan) =>
    prev?.settings?.["mysql.storageSize"] ? JSON.parse(prev.settings["mysql.storageSize"]) : next.storageSize;

const range = (o: readonly number[]) => (o.length === 0 ? "none" : o.length === 1 ? `${o[0]}` : `${o[0]}-${o[o.length - 1]}`);

/** Per cluster, the Kubernetes objects a step changes, in words (the "changes" block of the table). */
export function describeResources(
    prev: DeployedState | undefined,
    next: Plan,
    switchover: SwitchoverStep | undefined,
    waitsFor: Readonly<Record<string, readonly string[]>>,
    rolling: readonly string[] = [],
    partitions: Readonly<Record<string, number>> = {},
    restartAfterSwitchover?: string,
): Record<string, string[]> {
    const clusters = next.clusters.map((c) => c.name);
    const before = (c: string) => (prev ? ordinalsIn(prev.placement, c) : []);
    const after = (c: string) => ordinalsIn(next.placement, c);
    const resources: Record<string, string[]> = {};
    const say = (c: string, s: string) => (resources[c] ??= []).push(s);
    for (const c of clusters) {
        const b = before(c);
        const a = after(c);
        if (prev && !prev.clusters.includes(c)) say(c, "new cluster: storage, services, credentials and an empty StatefulSet are created");
        if (b.join() !== a.join())
            say(
                c,
                `StatefulSet ${objectNames(next.set).statefulSet}: ordinals ${range(b)} → ${range(a)} (replicas ${b.length} → ${a.length}, ordinals.start ${b[0] ?? 0} → ${a[0] ?? 0})`,
            );
        const cp = clusterOf(next, c)!;
        const had = { exports: prev?.exports?.includes(c) ?? false, imports: prev?.imports?.includes(c) ?? false };
        if (cp.exports !== had.exports) say(c, `ServiceExport ×3 (headless, write, read) ${cp.exports ? "created" : "deleted at the end of the step"}`);
        if (cp.imports.length > 0 !== had.imports)
            say(c, `ServiceImport ×3 (Headless, ClusterSetIP ×2) ${cp.imports.length ? "created" : "deleted at the end of the step"}`);
        if (cp.retired && !prev?.retire.includes(c)) {
            const held = prev ? (prev.claims?.[c] ?? []) : [];
            say(
                c,
                `retired: Job ${objectNames(next.set).retire} deletes the retained claims ` +
                    (held.length
                        ? held.map((o) => `${claimName(next.set, o)} (${claimSize(prev, next)})`).join(", ")
                        : `of the set left there, each ${claimName(next.set, 0).replace(/0$/, "<ordinal>")} (${claimSize(prev, next)}) (the deployed state names none: it has no claim history)`) +
                    `; the volumes are deleted when ${c} leaves clusters`,
            );
        }
        if (prev?.retire.includes(c) && !next.retire.includes(c)) say(c, "no longer retired: volumes are kept again");
    }
    // A retired cluster removed from clusters: every object there is deleted, volumes included.
    for (const c of prev?.clusters ?? []) {
        if (clusterOf(next, c)) continue;
        const nodes: string[] = JSON.parse(prev!.settings?.[`clusters.${c}.nodes`] ?? "[]");
        const capacity = prev!.settings?.[`clusters.${c}.storage.capacity`];
        say(
            c,
            `removed from clusters: every object the set declared there is deleted` +
                (capacity && nodes.length
                    ? `, with the local volumes ${nodes.map((n) => `${localVolumeName(prev!.set, n)} (${JSON.parse(capacity)})`).join(", ")} (the disks keep their files: reclaim policy Retain)`
                    : "") +
                ((prev!.claims?.[c] ?? []).length
                    ? `, and the claims ${prev!.claims![c].map((o) => `${claimName(prev!.set, o)} (${claimSize(prev, next)})`).join(", ")}`
                    : ""),
        );
    }
    if (switchover) {
        say(
            switchover.toCluster,
            `Job ${switchoverJobName(next.set, switchover)}: demote ${podName(next.set, switchover.fromOrdinal)}, wait for GTID catch-up, promote ${podName(next.set, switchover.toOrdinal)}, repoint replicas`,
        );
        for (const c of clusters) say(c, `Service ${serviceName(next.set, "write")}: selector → ${podName(next.set, switchover.toOrdinal)} (after the Job)`);
    }
    for (const c of rolling) {
        const members = after(c)
            .slice()
            .reverse()
            .filter((o) => partitions[c] === undefined || o >= partitions[c])
            .map((o) => podName(next.set, o) + (o === next.primary ? " (primary)" : ""));
        say(
            c,
            `StatefulSet ${objectNames(next.set).statefulSet}: pod template changes; rolling restart one pod at a time: ${members.join(", then ")}; each Ready (replication caught up within ${next.maxLagSeconds} s) before the next`,
        );
    }
    for (const [c, p] of Object.entries(partitions))
        say(
            c,
            `StatefulSet ${objectNames(next.set).statefulSet}: updateStrategy.rollingUpdate.partition ${p}: ${range(after(c).filter((o) => o < p))} keep${after(c).filter((o) => o < p).length === 1 ? "s" : ""} the old pod template`,
        );
    if (restartAfterSwitchover)
        say(
            restartAfterSwitchover,
            `StatefulSet ${objectNames(next.set).statefulSet}: partition removed after the switchover Job: the old primary restarts on the new pod template`,
        );
    for (const [c, srcs] of Object.entries(waitsFor))
        say(c, rolling.includes(c) ? `waits for ${srcs.join(", ")} to finish its rolling restart` : `waits for ${srcs.join(", ")} to scale down first`);
    return resources;
}

/** Pod name in a donor's host name (`mysql-0.mysql.ns.svc.cluster.local` → `mysql-0`). */
const memberOf = (host: string) => host.split(".")[0];

/** What happens to one member, in a DBA's words (no Kubernetes objects: those are in the changes block). */
function whatHappens(c: OrdinalChange, step: Step): string {
    const seed = c.donor ? `seeds from ${memberOf(c.donor)}` : "";
    const reuse = c.reusesClaim
        ? `reuses its retained data there if the primary still has the binary logs from its GTID position (else wiped and ${seed})`
        : seed;
    switch (c.action) {
        case "create":
            return c.role === "primary" ? "initialised empty as the primary, first; every replica waits for it" : `created; ${seed} once the primary is Ready`;
        case "move":
            return `moves: stops in ${c.from}, then starts in ${c.to}; ${reuse}`;
        case "scale-up":
            return `added; ${reuse}`;
        case "scale-down":
            return "removed; its data is kept until its cluster is retired";
        case "switchover":
            return step.switchover?.toOrdinal === c.ordinal
                ? "promoted after catching up with the old primary"
                : `demoted; then replicates from ${podNameOf(step, step.switchover!.toOrdinal)}` +
                      (c.restartsAfterSwitchover ? "; then restarts on the new version" : "");
        case "failover":
            return step.failover?.toOrdinal === c.ordinal
                ? `promoted at epoch ${step.failover.epoch} if no reachable member is ahead of it (else the Job refuses, naming the member to choose)`
                : `lost with ${c.to}; left as it is; when ${c.to} returns it is fenced (read-only), its extra transactions set aside, and it is re-seeded as a replica`;
        case "restart":
            return c.role === "primary" ? "restarts last, after every replica (writes pause)" : "restarts (one at a time, Ready and caught up before the next)";
        case "keep":
            if (c.lost) return `in ${c.to}, declared lost: left as deployed; never required to answer`;
            if (step.failover) return `repointed to ${podNameOf(step, step.failover.toOrdinal)}`;
            return c.restartDeferred
                ? `keeps the old version until a switchover: next, set primary: ${updatedReplica(step) ?? "(an updated replica)"} and run up`
                : "unchanged";
    }
}
/** A replica on the new template, the next primary to suggest (prefer one in the primary's cluster). */
const updatedReplica = (step: Step) => {
    const primary = step.changes.find((c) => c.role === "primary");
    const updated = step.changes.filter((c) => c.role === "replica" && !c.restartDeferred);
    return (updated.find((c) => c.to === primary?.to) ?? updated[0])?.ordinal;
};
const podNameOf = (step: Step, ordinal: number) => step.changes.find((c) => c.ordinal === ordinal)?.member ?? `ordinal ${ordinal}`;

/** The step as a DBA reads it in the pull request: titled tables, the write pause, Kubernetes changes apart. */
/**
 * What automatic failover means for this step (undefined when it is off before and after): a summary
 * (voters, quorum, lease, fence deadline, the write endpoint) and per cluster what the arbiter's objects
 * do, and how a joining or leaving voter's etcd membership follows (arbiter-member.sh in the voter pods:
 * nothing to run by hand).
 */
export function describeAutoFailover(prev: DeployedState | undefined, next: Plan): { summary: string[]; resources: Record<string, string[]> } | undefined {
    const was = deployedVoters(prev);
    const auto = next.autoFailover;
    if (!auto && !was) return undefined;
    const resources: Record<string, string[]> = {};
    const say = (c: string, line: string) => (resources[c] ??= []).push(line);
    if (!auto) {
        for (const c of was!)
            say(
                c,
                `arbiter: automatic failover off: StatefulSet ${arbiterStatefulSetName(next.set, c)}, its Service, ConfigMap and NetworkPolicy are deleted; its claim and volumes are kept`,
            );
        return {
            summary: ["automatic failover: turned off by this step (failover.mode manual): a failover is a config edit again (failover.lost and primary)"],
            resources,
        };
    }
    const quorum = Math.floor(auto.voters.length / 2) + 1;
    const summary = [
        `automatic failover: arbiter voters ${auto.voters.join(", ")} (etcd, one per cluster; a quorum is ${quorum} of ${auto.voters.length}${auto.witnesses.length ? `; witnesses without data: ${auto.witnesses.join(", ")}` : ""}); ` +
            `lease ${auto.leaseSeconds} s: the primary fences itself (read-only, client sessions cut) ${auto.fenceSeconds} s after its last renewal, before the lease can expire; ` +
            `semi-sync timeout ${auto.semiSyncTimeoutMs / 1000} s; the write Service selects the member labelled primary, so the write endpoint follows a promotion in every cluster. ` +
            `An automatic failover is recorded by setting primary to the promoted ordinal (docs/runbook.md "Outage")`,
    ];
    const stays = auto.voters.filter((c) => (was ?? []).includes(c) && !next.lost.includes(c));
    for (const c of auto.voters) {
        if (!was)
            say(
                c,
                `arbiter: etcd voter ${c} created (StatefulSet ${arbiterStatefulSetName(next.set, c)}, Service ${arbiterNames(next.set).service} exported, NetworkPolicy)`,
            );
        else if (auto.joining.includes(c))
            say(
                c,
                `arbiter: voter ${c} joins the running etcd cluster: its pod adds its member through a running voter (${stays.join(", ")}) and starts as an existing member ` +
                    `(initial-cluster-state existing; it waits while no running voter answers and never starts an arbiter of its own)`,
            );
    }
    for (const c of auto.leaving)
        say(
            c,
            `arbiter: voter ${c} leaves: the voters that stay (${stays.join(", ")}) remove its etcd member once they have a quorum without it (never below 3 voters); ` +
                `its StatefulSet is deleted, its claim data-${arbiterStatefulSetName(next.set, c)}-0 is kept (delete it by hand before ${c} is ever a voter again)`,
        );
    return { summary, resources };
}

export function stepTable(step: Step): string {
    const role = (c: OrdinalChange) =>
        c.action === "switchover" && step.switchover
            ? c.ordinal === step.switchover.fromOrdinal
                ? "primary -> replica"
                : "replica -> primary"
            : c.action === "failover" && step.failover
              ? c.ordinal === step.failover.fromOrdinal
                  ? "primary (lost)"
                  : "replica -> primary"
              : c.lost
                ? `${c.role} (lost)`
                : c.role;
    const rows = step.changes.map((c) => [
        String(c.ordinal),
        c.member ?? String(c.ordinal),
        c.from && c.to && c.from !== c.to ? `${c.from} -> ${c.to}` : (c.to ?? `${c.from} -> (removed)`),
        role(c),
        whatHappens(c, step),
    ]);
    const title =
        `step: ${step.kind}${step.kind === "initial" ? " (a first deployment: every object is created)" : ""}` +
        (step.switchover ? ` (planned switchover: ${podNameOf(step, step.switchover.fromOrdinal)} -> ${podNameOf(step, step.switchover.toOrdinal)})` : "") +
        (step.failover
            ? ` (failover: ${podNameOf(step, step.failover.fromOrdinal)} lost with ${step.failover.lostClusters.join(", ")} -> ${podNameOf(step, step.failover.toOrdinal)}, epoch ${step.failover.epoch})`
            : "") +
        (step.kind === "rejoin" ? ` (${step.rejoined.join(", ")} back from lost)` : "");
    const res = Object.entries(step.resources).flatMap(([c, lines]) => lines.map((l) => `  ${c}: ${l}`));
    return [
        title,
        `write pause: ${step.writePause}`,
        ...(step.loss ? [`lost: ${step.loss}`] : []),
        ...(step.lost.length && !step.failover ? [`declared lost: ${step.lost.join(", ")} (left as deployed)`] : []),
        ...(step.settings?.length ? [`settings: ${step.settings.join("; ")}`] : []),
        ...(step.autoFailover ?? []),
        "",
        "Members",
        formatTable(["ordinal", "member", "cluster", "role", "what happens"], rows),
        "",
        `changes (Kubernetes, apply order: ${step.applyOrder.join(" -> ")}):`,
        ...(res.length ? res : ["  none"]),
    ].join("\n");
}
