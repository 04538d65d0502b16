import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { commonLabels, jobPodLabels, selectorLabels } from "./contract";
import { objectNames } from "./naming";

export interface RetireArgs {
    readonly set: string;
    readonly namespace: string;
    /** Image with kubectl (default registry.k8s.io/kubectl at the tested Kubernetes release). */
    readonly kubectlImage: string;
    readonly provider: k8s.Provider;
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Retirement of a cluster the user declared done: a Job, allowed by a Role to delete only this set's
 * claims in this namespace, deletes the claims the StatefulSet left behind and waits until they are
 * gone. Declared only for a cluster listed in `retire`, which runs no ordinal (validated).
 */
export class Retirement extends pulumi.ComponentResource {
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: RetireArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:migration:Retirement", name, {}, opts);
        const labels = commonLabels(args.set, "retire");
        const meta = { name: objectNames(args.set).retire, namespace: args.namespace, labels };
        const child = { parent: this, provider: args.provider, dependsOn: args.dependsOn ?? [] };
        const sa = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: meta }, child);
        const role = new k8s.rbac.v1.Role(
            `${name}-role`,
            { metadata: meta, rules: [{ apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["list", "get", "delete", "watch"] }] },
            child,
        );
        const binding = new k8s.rbac.v1.RoleBinding(
            `${name}-binding`,
            {
                metadata: meta,
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: meta.name },
                subjects: [{ kind: "ServiceAccount", name: meta.name, namespace: args.namespace }],
            },
            child,
        );
        const selector = Object.entries(selectorLabels(args.set))
            .map(([k, v]) => `${k}=${v}`)
            .join(",");
        this.job = new k8s.batch.v1.Job(
            `${name}-job`,
            {
                metadata: meta,
                spec: {
                    backoffLimit: 3,
                    template: {
                        metadata: { labels: jobPodLabels(args.set, "retire") },
                        spec: {
                            serviceAccountName: meta.name,
                            restartPolicy: "Never",
                            containers: [
                                {
                                    name: "retire",
                                    image: args.kubectlImage,
                                    command: [
                                        "kubectl",
                                        "delete",
                                        "persistentvolumeclaims",
                                        "--namespace",
                                        args.namespace,
                                        "--selector",
                                        selector,
                                        "--wait=true",
                                        "--ignore-not-found",
                                    ],
                                    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
                                },
                            ],
                        },
                    },
                },
            },
            { ...child, dependsOn: [...child.dependsOn, sa, role, binding] },
        );
        this.registerOutputs({ job: this.job.metadata.name });
    }
}
