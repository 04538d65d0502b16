import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ClusterPlan, Plan } from "./plan";
import { ClusterStorage } from "./storage";
import { MysqlSlice } from "./mysqlSlice";
import { McsWiring } from "./mcsWiring";
import { commonLabels } from "./contract";
import { Retirement } from "./retire";
import { connectionSecretData } from "./appAccess";
import { objectNames } from "./naming";
import { ArbiterSlice } from "./arbiterSlice";
import { arbiterOf } from "./arbiter";

export interface ClusterMemberArgs {
    readonly plan: Plan;
    readonly cluster: ClusterPlan;
    readonly scripts: Record<string, string>;
    readonly credentials: MysqlSliceArgs["credentials"];
    readonly provider: k8s.Provider;
    /** Resources in other clusters this cluster's StatefulSet change must wait for (a move's source). */
    readonly statefulSetDependsOn?: pulumi.Input<pulumi.Resource>[];
    /** See MysqlSlice. */
    readonly partition?: number;
    /** The switchover Job of this step, if any (see MysqlSlice). */
    readonly afterSwitchover?: pulumi.Input<pulumi.Resource>[];
    /** Another voter's arbiter StatefulSet this cluster's changes after (see ArbiterSlice). */
    readonly arbiterAfter?: pulumi.Input<pulumi.Resource>[];
    /** See MysqlSlice. */
    readonly tls?: MysqlSliceArgs["tls"];
}
type MysqlSliceArgs = ConstructorParameters<typeof MysqlSlice>[1];

/** Everything the set declares in one cluster: storage, its slice of the StatefulSet, MCS wiring. */
export class ClusterMember extends pulumi.ComponentResource {
    public readonly namespace: k8s.core.v1.Namespace | undefined;
    public readonly storage: ClusterStorage;
    public readonly slice: MysqlSlice;
    public readonly mcs: McsWiring;
    public readonly retirement: Retirement | undefined;
    /** The arbiter's voter (automatic failover, in a voter cluster). */
    public readonly arbiter: ArbiterSlice | undefined;
    /** The application's connection Secret (mysql.application, in a cluster that runs pods or consumes the set). */
    public readonly connection: k8s.core.v1.Secret | undefined;

    constructor(name: string, args: ClusterMemberArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:cluster:ClusterMember", name, {}, opts);
        const { plan, cluster, provider } = args;
        // The namespace holds the claims: Pulumi never deletes it.
        this.namespace = plan.createNamespace
            ? new k8s.core.v1.Namespace(
                  `${name}-namespace`,
                  { metadata: { name: plan.namespace, labels: commonLabels(plan.set, "namespace") } },
                  { parent: this, provider, retainOnDelete: true },
              )
            : undefined;
        const namespace = this.namespace;
        this.storage = new ClusterStorage(`${name}-storage`, { set: plan.set, cluster, provider }, { parent: this });
        // The wiring exists before a pod that needs it starts: the StatefulSet waits for it.
        this.mcs = new McsWiring(`${name}-mcs`, { plan, cluster, provider, namespace }, { parent: this });
        this.slice = new MysqlSlice(
            `${name}-mysql`,
            {
                plan,
                cluster,
                scripts: args.scripts,
                credentials: args.credentials,
                provider,
                namespace,
                statefulSetDependsOn: [this.storage, this.mcs, ...(args.statefulSetDependsOn ?? [])],
                afterSwitchover: args.afterSwitchover,
                partition: args.partition,
                tls: args.tls,
            },
            { parent: this },
        );
        const auto = arbiterOf(plan, cluster);
        this.arbiter = auto
            ? new ArbiterSlice(
                  `${name}-arbiter`,
                  { plan, cluster, auto, scripts: args.scripts, provider, namespace, after: args.arbiterAfter },
                  { parent: this },
              )
            : undefined;
        const connection = args.credentials.appPassword !== undefined ? connectionSecretData(plan, cluster) : undefined;
        this.connection = connection
            ? new k8s.core.v1.Secret(
                  `${name}-app`,
                  {
                      metadata: { name: objectNames(plan.set).connection, namespace: plan.namespace, labels: commonLabels(plan.set, "connection") },
                      type: "Opaque",
                      stringData: { ...connection, password: pulumi.secret(args.credentials.appPassword!) },
                  },
                  { parent: this, provider, dependsOn: namespace ? [namespace] : [] },
              )
            : undefined;
        // A retired cluster runs nothing; its claims go once the StatefulSet there is at zero. It can hold
        // a claim of any ordinal of the set (claims live per cluster), so the Job names each of them.
        this.retirement = cluster.retired
            ? new Retirement(
                  `${name}-retire`,
                  {
                      set: plan.set,
                      namespace: plan.namespace,
                      kubectlImage: plan.migration.kubectlImage,
                      ordinals: plan.pods.map((p) => p.ordinal),
                      provider,
                      dependsOn: [this.slice.statefulSet],
                  },
                  { parent: this },
              )
            : undefined;
        this.registerOutputs({});
    }
}
