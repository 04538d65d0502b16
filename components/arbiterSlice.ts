import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { AutoFailoverPlan, ClusterPlan, Plan } from "./plan";
import { arbiterVolumeName } from "./naming";
import {
    ARBITER_STORAGE,
    arbiterConfigData,
    arbiterLabels,
    arbiterNetworkPolicySpec,
    arbiterObjectNames,
    arbiterServicePorts,
    arbiterStatefulSetSpec,
} from "./arbiter";
import { MCS_API_VERSION } from "./mcsWiring";
import { localVolumeSpec } from "./storage";

export interface ArbiterSliceArgs {
    readonly plan: Plan;
    readonly cluster: ClusterPlan;
    readonly auto: AutoFailoverPlan;
    /** components/scripts/ (name → content): the arbiter's ConfigMap carries the ones its pod runs. */
    readonly scripts: Record<string, string>;
    readonly provider: k8s.Provider;
    /** The namespace resource when the program declares it. */
    readonly namespace?: k8s.core.v1.Namespace;
    /** Another voter's StatefulSet this one changes after (one voter restarts at a time: the quorum holds). */
    readonly after?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The arbiter's voter in one cluster (automatic failover): its bootstrap ConfigMap, the headless Service
 * every voter shares (exported, and imported where the profile's imports are manual), the NetworkPolicy,
 * for local storage its own StorageClass and one small static volume per node (a member's claim never
 * binds it, nor its claim a member's volume), and the StatefulSet of one etcd pod. Every name depends on
 * the set and the cluster only: stable across phases. Decisions: components/arbiter.ts.
 */
export class ArbiterSlice extends pulumi.ComponentResource {
    public readonly statefulSet: k8s.apps.v1.StatefulSet;

    constructor(name: string, args: ArbiterSliceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:arbiter:ArbiterSlice", name, {}, opts);
        const { plan, cluster, auto } = args;
        const names = arbiterObjectNames(plan, cluster);
        const child = { parent: this, provider: args.provider, dependsOn: args.namespace ? [args.namespace] : [] };
        const meta = (n: string, component: string) => ({
            name: n,
            namespace: plan.namespace,
            labels: { ...arbiterLabels(plan.set), "app.kubernetes.io/component": component },
        });
        const deps: pulumi.Resource[] = [];

        deps.push(
            new k8s.core.v1.ConfigMap(
                `${name}-config`,
                { metadata: meta(names.config, "arbiter-config"), data: arbiterConfigData(plan, auto, cluster, args.scripts) },
                child,
            ),
        );
        // Before the pod: no moment where the etcd ports are open to every pod.
        deps.push(
            new k8s.networking.v1.NetworkPolicy(
                `${name}-netpol`,
                { metadata: meta(names.networkPolicy, "arbiter-network-policy"), spec: arbiterNetworkPolicySpec(plan, cluster, auto) },
                child,
            ),
        );
        // Peers must resolve each other before they are Ready (etcd needs a quorum to become Ready).
        const service = new k8s.core.v1.Service(
            `${name}-svc`,
            {
                metadata: meta(names.service, "arbiter-service"),
                spec: {
                    clusterIP: "None",
                    publishNotReadyAddresses: true,
                    selector: arbiterLabels(plan.set),
                    ports: arbiterServicePorts(),
                },
            },
            child,
        );
        deps.push(service);
        deps.push(
            new k8s.apiextensions.CustomResource(
                `${name}-export`,
                { apiVersion: MCS_API_VERSION, kind: "ServiceExport", metadata: meta(names.service, "arbiter-service-export") },
                { ...child, dependsOn: [...child.dependsOn, service] },
            ),
        );
        if (plan.profile !== "mcs-api") {
            deps.push(
                new k8s.apiextensions.CustomResource(
                    `${name}-import`,
                    {
                        apiVersion: MCS_API_VERSION,
                        kind: "ServiceImport",
                        metadata: meta(names.service, "arbiter-service-import"),
                        spec: { type: "Headless", ports: arbiterServicePorts().map(({ name: n, port, protocol }) => ({ name: n, port, protocol })) },
                    },
                    child,
                ),
            );
        }
        if (cluster.storage.kind === "local") {
            const storage = cluster.storage;
            const sc = new k8s.storage.v1.StorageClass(
                `${name}-class`,
                {
                    metadata: { name: names.storageClass, labels: arbiterLabels(plan.set) },
                    provisioner: "kubernetes.io/no-provisioner",
                    volumeBindingMode: "WaitForFirstConsumer",
                    reclaimPolicy: "Retain",
                },
                { parent: this, provider: args.provider },
            );
            deps.push(sc);
            for (const node of cluster.nodes) {
                // The volume holds the voter's Raft log: never deleted by Pulumi (a retired voter's is cleaned by hand).
                deps.push(
                    new k8s.core.v1.PersistentVolume(
                        `${name}-pv-${node}`,
                        {
                            metadata: { name: arbiterVolumeName(plan.set, node), labels: { ...arbiterLabels(plan.set), "mysql-multicluster/node": node } },
                            spec: localVolumeSpec(node, ARBITER_STORAGE, names.storageClass, storage.localPath),
                        },
                        { parent: this, provider: args.provider, retainOnDelete: true, dependsOn: [sc] },
                    ),
                );
            }
        }
        this.statefulSet = new k8s.apps.v1.StatefulSet(
            `${name}-statefulset`,
            { metadata: meta(names.statefulSet, "arbiter"), spec: arbiterStatefulSetSpec(plan, cluster, auto) },
            // Ready needs a quorum, which needs the other clusters' voters: `up` does not wait for it here.
            { ...child, dependsOn: [...child.dependsOn, ...deps, ...(args.after ?? [])], customTimeouts: { create: "10m", update: "10m" } },
        );
        this.registerOutputs({ statefulSet: this.statefulSet.metadata.name });
    }
}
