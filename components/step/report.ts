import { StackConfig } from "../config";
import { podName } from "../naming";
import { Plan, formatTable } from "../plan";
import { ordinalsIn } from "./rules";
import { DeployedState } from "./state";
import { Step, SwitchoverStep, switchoverJobName } from "./types";

const range = (o: readonly number[]) => (o.length === 0 ? "none" : o.length === 1 ? `${o[0]}` : `${o[0]}-${o[o.length - 1]}`);

/** Per cluster, the Kubernetes objects a step changes, in words (the "changes" block of the table). */
export function describeResources(
    prev: DeployedState | undefined,
    next: StackConfig,
    nextPlan: Plan,
    switchover: SwitchoverStep | undefined,
    waitsFor: Readonly<Record<string, readonly string[]>>,
    rolling: readonly string[] = [],
): Record<string, string[]> {
    const clusters = Object.keys(next.clusters);
    const before = (c: string) => (prev ? ordinalsIn(prev.placement, c) : []);
    const after = (c: string) => ordinalsIn(next.placement, c);
    const resources: Record<string, string[]> = {};
    const say = (c: string, s: string) => (resources[c] ??= []).push(s);
    for (const c of clusters) {
        const b = before(c);
        const a = after(c);
        if (prev && !prev.clusters.includes(c)) say(c, "new cluster: storage, services, credentials and an empty StatefulSet are created");
        if (b.join() !== a.join()) say(c, `StatefulSet ${next.mysql.name}: ordinals ${range(b)} → ${range(a)} (replicas ${b.length} → ${a.length}, ordinals.start ${b[0] ?? 0} → ${a[0] ?? 0})`);
        const cp = nextPlan.clusters.find((x) => x.name === c)!;
        const had = { exports: prev?.exports?.includes(c) ?? false, imports: prev?.imports?.includes(c) ?? false };
        if (cp.exports !== had.exports) say(c, `ServiceExport ×3 (headless, write, read) ${cp.exports ? "created" : "deleted at the end of the step"}`);
        if ((cp.imports.length > 0) !== had.imports) say(c, `ServiceImport ×3 (Headless, ClusterSetIP ×2) ${cp.imports.length ? "created" : "deleted at the end of the step"}`);
        if (cp.retired && !prev?.retire.includes(c)) say(c, `retired: Job ${next.mysql.name}-retire deletes the retained claims; volumes are deleted when ${c} leaves clusters`);
        if (prev?.retire.includes(c) && !next.retire.includes(c)) say(c, "no longer retired: volumes are kept again");
    }
    if (switchover) {
        say(switchover.toCluster, `Job ${switchoverJobName(next.mysql.name, switchover)}: demote ${podName(next.mysql.name, switchover.fromOrdinal)}, wait for GTID catch-up, promote ${podName(next.mysql.name, switchover.toOrdinal)}, repoint replicas`);
        for (const c of clusters) say(c, `Service ${next.mysql.name}-write: selector → ${podName(next.mysql.name, switchover.toOrdinal)} (after the Job)`);
    }
    for (const c of rolling) {
        const members = after(c).slice().reverse().map((o) => podName(next.mysql.name, o) + (o === next.primary ? " (primary)" : ""));
        say(c, `StatefulSet ${next.mysql.name}: pod template changes; rolling restart one pod at a time: ${members.join(", then ")}; each Ready (replication caught up within ${next.mysql.maxLagSeconds} s) before the next`);
    }
    for (const [c, srcs] of Object.entries(waitsFor)) say(c, rolling.includes(c) ? `waits for ${srcs.join(", ")} to finish its rolling restart` : `waits for ${srcs.join(", ")} to scale down first`);
    return resources;
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
    const head = `step: ${step.kind}${step.kind === "initial" ? " (a first deployment: every object is created)" : ""}; apply order: ${step.applyOrder.join(" → ")}`;
    const res = Object.entries(step.resources).flatMap(([c, lines]) => lines.map((l) => `  ${c}: ${l}`));
    return [head, formatTable(["ordinal", "cluster", "role", "action"], rows), ...(res.length ? ["changes:", ...res] : [])].join("\n");
}
