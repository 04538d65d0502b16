import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { failoverJobName, podHost } from "./naming";
import { Plan } from "./plan";
import { FailoverStep } from "./step";
import { commonLabels } from "./contract";
import { RERUN_UNREADY_ANNOTATION, adminJobEnv, adminJobSpec } from "./switchover";

export interface FailoverArgs {
    readonly plan: Plan;
    readonly step: FailoverStep;
    readonly provider: k8s.Provider;
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The names the failover script is given (docs/dataplane-contract.md), all as the Job's cluster (the new
 * primary's) resolves them: the member to promote, the reachable others, the lost ones (never contacted).
 * Pure.
 */
export function failoverEnv(plan: Plan, f: FailoverStep): Record<string, string> {
    const ctx = plan.naming;
    const from = f.toCluster;
    const reachable = plan.pods.filter((p) => !f.lostOrdinals.includes(p.ordinal));
    const others = reachable.filter((p) => p.ordinal !== f.toOrdinal);
    const lost = plan.pods.filter((p) => f.lostOrdinals.includes(p.ordinal));
    return {
        MMC_NEW_PRIMARY_HOST: podHost(ctx, f.toOrdinal, f.toCluster, from),
        MMC_REPLICA_HOSTS: others.map((p) => podHost(ctx, p.ordinal, p.cluster, from)).join(" "),
        MMC_LOST_HOSTS: lost.map((p) => podHost(ctx, p.ordinal, p.cluster, from)).join(" "),
        MMC_SOURCE_FOR: reachable.map((p) => `${podHost(ctx, p.ordinal, p.cluster, from)}=${podHost(ctx, f.toOrdinal, f.toCluster, p.cluster)}`).join(" "),
        MMC_EPOCH: String(f.epoch),
        MMC_SWITCHOVER_TIMEOUT_SECONDS: String(plan.migration.switchoverTimeoutSeconds),
    };
}

/** The failover Job's environment. */
export function failoverJobEnv(plan: Plan, f: FailoverStep) {
    return adminJobEnv(plan, f.toCluster, "failover", failoverEnv(plan, f));
}

/**
 * The failover, as a Job in the new primary's cluster that Pulumi waits on: it refuses when a reachable
 * member is ahead of the chosen one, else promotes it at the new epoch and repoints the reachable
 * replicas; the lost members are never contacted. No retry (backoffLimit 0): it fails the `up` and
 * nothing was made writable; a re-run `up` re-runs it (replaceUnready). The write Service and the
 * topology of reachable clusters move only after it succeeded.
 */
export class Failover extends pulumi.ComponentResource {
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: FailoverArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:migration:Failover", name, {}, opts);
        const { plan, step } = args;
        this.job = new k8s.batch.v1.Job(
            `${name}-job`,
            {
                metadata: {
                    name: failoverJobName(plan.set, step.epoch),
                    namespace: plan.namespace,
                    labels: commonLabels(plan.set, "failover"),
                    annotations: { ...RERUN_UNREADY_ANNOTATION },
                },
                spec: adminJobSpec(plan, "failover", failoverJobEnv(plan, step)),
            },
            { parent: this, provider: args.provider, dependsOn: args.dependsOn ?? [], deleteBeforeReplace: true },
        );
        this.registerOutputs({ job: this.job.metadata.name });
    }
}
