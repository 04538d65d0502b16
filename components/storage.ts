import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ClusterPlan } from "./plan";
import { commonLabels } from "./contract";
import { localVolumeName } from "./naming";

export interface ClusterStorageArgs {
    readonly set: string;
    readonly cluster: ClusterPlan;
    readonly provider: k8s.Provider;
}

/**
 * Storage of one cluster. For `localPath`: a no-provisioner StorageClass (WaitForFirstConsumer) and one
 * static local PersistentVolume per node, pinned by nodeAffinity, reclaim policy Retain, and kept by
 * Pulumi on delete unless the cluster is retired. For `storageClass`: nothing (claims use that class).
 */
export class ClusterStorage extends pulumi.ComponentResource {
    public readonly storageClassName: string;
    public readonly volumeNames: string[];

    constructor(name: string, args: ClusterStorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:storage:ClusterStorage", name, {}, opts);
        const storage = args.cluster.storage;
        const labels = commonLabels(args.set, "storage");
        // Only a retired cluster's volumes may leave with the stack; elsewhere they may hold data.
        const keep = { parent: this, provider: args.provider, retainOnDelete: !args.cluster.retired };
        this.volumeNames = [];
        this.storageClassName = storage.storageClassName;
        if (storage.kind === "dynamic") {
            this.registerOutputs({ storageClassName: this.storageClassName });
            return;
        }
        const sc = new k8s.storage.v1.StorageClass(
            `${name}-class`,
            {
                metadata: { name: this.storageClassName, labels },
                provisioner: "kubernetes.io/no-provisioner",
                volumeBindingMode: "WaitForFirstConsumer",
                reclaimPolicy: "Retain",
            },
            { parent: this, provider: args.provider },
        );
        for (const node of args.cluster.nodes) {
            const pvName = localVolumeName(args.set, node);
            new k8s.core.v1.PersistentVolume(
                `${name}-pv-${node}`,
                {
                    metadata: { name: pvName, labels: { ...labels, "mysql-multicluster/node": node } },
                    spec: localVolumeSpec(node, storage.capacity, this.storageClassName, storage.localPath),
                },
                { ...keep, dependsOn: [sc] },
            );
            this.volumeNames.push(pvName);
        }
        this.registerOutputs({ storageClassName: this.storageClassName, volumeNames: this.volumeNames });
    }
}

/** A static local PersistentVolume on one node: pinned to it, never reclaimed (it may hold data). */
export function localVolumeSpec(node: string, capacity: string, storageClassName: string, localPath: string): k8s.types.input.core.v1.PersistentVolumeSpec {
    return {
        capacity: { storage: capacity },
        accessModes: ["ReadWriteOnce"],
        volumeMode: "Filesystem",
        persistentVolumeReclaimPolicy: "Retain",
        storageClassName,
        local: { path: localPath },
        nodeAffinity: {
            required: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node] }] }],
            },
        },
    };
}
