import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { objectNames, podHost, switchoverJobName } from "./naming";
import { Plan } from "./plan";
import { SwitchoverStep } from "./step";
import { PATHS, commonLabels, containerEnv, jobPodLabels, scriptCommand } from "./contract";
import { SCRIPTS_MODE, containerSecurityContext, podSecurityContext, tlsMounts, tlsVolumes } from "./podSpec";

export interface SwitchoverArgs {
    readonly plan: Plan;
    readonly step: SwitchoverStep;
    readonly provider: k8s.Provider;
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The names the switchover script is given, all as the Job's cluster (the new primary's) resolves them. Pure. */
export function switchoverEnv(plan: Plan, s: SwitchoverStep): Record<string, string> {
    const ctx = plan.naming;
    const from = s.toCluster;
    // Members of clusters declared lost are never contacted.
    const others = plan.pods.filter((p) => p.ordinal !== s.fromOrdinal && p.ordinal !== s.toOrdinal && !plan.lostOrdinals.includes(p.ordinal));
    const members = [plan.pods[s.fromOrdinal], ...others];
    return {
        MMC_OLD_PRIMARY_HOST: podHost(ctx, s.fromOrdinal, s.fromCluster, from),
        MMC_NEW_PRIMARY_HOST: podHost(ctx, s.toOrdinal, s.toCluster, from),
        MMC_REPLICA_HOSTS: others.map((p) => podHost(ctx, p.ordinal, p.cluster, from)).join(" "),
        MMC_SOURCE_FOR: members.map((p) => `${podHost(ctx, p.ordinal, p.cluster, from)}=${podHost(ctx, s.toOrdinal, s.toCluster, p.cluster)}`).join(" "),
        MMC_SWITCHOVER_TIMEOUT_SECONDS: String(plan.migration.switchoverTimeoutSeconds),
        MMC_EPOCH: String(plan.epoch),
    };
}

/**
 * Metadata of a switchover or failover Job. `pulumi.com/replaceUnready`: on the next `up` the provider
 * reads the live Job and, when it did not succeed (failed, or cut off by the deadline), replaces it, so a
 * re-run `up` re-runs the Job; a Job that succeeded stays (no diff). The fixed name makes the replacement
 * delete the old Job first.
 */
export const RERUN_UNREADY_ANNOTATION = { "pulumi.com/replaceUnready": "true" } as const;

/** An admin Job's environment: the pods' (without the topology file: it must not read the next one) and its own. */
export function adminJobEnv(plan: Plan, toCluster: string, component: "switchover" | "failover", own: Record<string, string>) {
    const cluster = plan.clusters.find((c) => c.name === toCluster)!;
    return [
        ...containerEnv(plan, cluster, component).filter((e) => e.name !== "MMC_TOPOLOGY_FILE"),
        ...Object.entries(own).map(([n, value]) => ({ name: n, value })),
    ];
}

/** The switchover Job's environment. */
export function switchoverJobEnv(plan: Plan, s: SwitchoverStep) {
    return adminJobEnv(plan, s.toCluster, "switchover", switchoverEnv(plan, s));
}

/**
 * The spec of a Job that runs one admin script against the servers (switchover.sh, failover.sh): one
 * attempt, bounded by the switchover timeout, Pod Security restricted, no service-account token, the
 * scripts read-only, only the passwords that script uses (CONTAINER_SECRETS); with TLS, the set CA alone.
 */
export function adminJobSpec(plan: Plan, component: "switchover" | "failover", env: ReturnType<typeof containerEnv>) {
    const names = objectNames(plan.set);
    return {
        backoffLimit: 0,
        activeDeadlineSeconds: plan.migration.switchoverTimeoutSeconds + 60,
        template: {
            metadata: { labels: jobPodLabels(plan.set, component) },
            spec: {
                restartPolicy: "Never",
                securityContext: podSecurityContext(),
                automountServiceAccountToken: false,
                containers: [
                    {
                        name: component,
                        image: plan.image,
                        command: scriptCommand(`${component}.sh`),
                        env,
                        securityContext: containerSecurityContext(),
                        volumeMounts: [
                            { name: "scripts", mountPath: PATHS.scripts, readOnly: true },
                            { name: "tmp", mountPath: PATHS.tmp },
                            ...tlsMounts(plan),
                        ],
                        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                    },
                ],
                volumes: [
                    { name: "scripts", configMap: { name: names.scripts, defaultMode: SCRIPTS_MODE } },
                    { name: "tmp", emptyDir: {} },
                    // the set CA alone: the Jobs verify the servers and hold no certificate
                    ...tlsVolumes(plan, names.tlsCa),
                ],
            },
        },
    };
}

/**
 * The planned switchover, as a Job in the new primary's cluster that Pulumi waits on: demote, wait for
 * GTID catch-up, promote, repoint. It fails the `up` when it fails (no retry), leaving the old primary
 * writable if promotion did not happen; the write Service moves only after it succeeded.
 */
export class Switchover extends pulumi.ComponentResource {
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: SwitchoverArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:migration:Switchover", name, {}, opts);
        const { plan, step } = args;
        const env = switchoverJobEnv(plan, step);
        this.job = new k8s.batch.v1.Job(
            `${name}-job`,
            {
                metadata: {
                    name: switchoverJobName(plan.set, step),
                    namespace: plan.namespace,
                    labels: commonLabels(plan.set, "switchover"),
                    annotations: { ...RERUN_UNREADY_ANNOTATION },
                },
                spec: adminJobSpec(plan, "switchover", env),
            },
            { parent: this, provider: args.provider, dependsOn: args.dependsOn ?? [], deleteBeforeReplace: true },
        );
        this.registerOutputs({ job: this.job.metadata.name });
    }
}
