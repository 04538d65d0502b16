import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { PATHS, commonLabels, jobPodLabels } from "./contract";
import { claimName, objectNames } from "./naming";
import { containerSecurityContext, podSecurityContext } from "./podSpec";

/** uid of the retire Job's kubectl (`nobody`): the image needs no user of its own. */
export const KUBECTL_UID = 65534;

export interface RetireArgs {
    readonly set: string;
    readonly namespace: string;
    /** Image with kubectl (default registry.k8s.io/kubectl at the tested Kubernetes release). */
    readonly kubectlImage: string;
    /** Ordinals whose claims (`data-<set>-<ordinal>`) the Job deletes; the Role allows exactly those. */
    readonly ordinals: readonly number[];
    readonly provider: k8s.Provider;
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The Role of the retire Job: get, delete and watch (kubectl's `--wait` watches by name) exactly the
 * named claims. An empty `resourceNames` would mean every claim, so no ordinal is refused here. Pure.
 */
export function retireRules(set: string, ordinals: readonly number[]): k8s.types.input.rbac.v1.PolicyRule[] {
    if (ordinals.length === 0) throw new Error(`retire: no claim to delete for set ${set}`);
    const resourceNames = ordinals.map((o) => claimName(set, o));
    return [{ apiGroups: [""], resources: ["persistentvolumeclaims"], resourceNames, verbs: ["get", "list", "watch", "delete"] }];
}

/**
 * Retirement of a cluster the user declared done: a Job, allowed by a Role to delete exactly the named
 * claims of this set in this namespace, deletes the claims the StatefulSet left behind and waits until
 * they are gone. Declared only for a cluster listed in `retire`, which runs no ordinal (validated).
 */
export class Retirement extends pulumi.ComponentResource {
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: RetireArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:migration:Retirement", name, {}, opts);
        const labels = commonLabels(args.set, "retire");
        const meta = { name: objectNames(args.set).retire, namespace: args.namespace, labels };
        const child = { parent: this, provider: args.provider, dependsOn: args.dependsOn ?? [] };
        const sa = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: meta }, child);
        const role = new k8s.rbac.v1.Role(`${name}-role`, { metadata: meta, rules: retireRules(args.set, args.ordinals) }, child);
        const binding = new k8s.rbac.v1.RoleBinding(
            `${name}-binding`,
            {
                metadata: meta,
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: meta.name },
                subjects: [{ kind: "ServiceAccount", name: meta.name, namespace: args.namespace }],
            },
            child,
        );
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
                            // The one pod of the program that talks to the API server.
                            automountServiceAccountToken: true,
                            restartPolicy: "Never",
                            securityContext: podSecurityContext(KUBECTL_UID),
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
                                        ...args.ordinals.map((o) => claimName(args.set, o)),
                                        "--wait=true",
                                        "--ignore-not-found",
                                        // discovery cache on the volume: the root filesystem is read-only
                                        `--cache-dir=${PATHS.tmp}/kube-cache`,
                                    ],
                                    securityContext: containerSecurityContext(),
                                    volumeMounts: [{ name: "tmp", mountPath: PATHS.tmp }],
                                    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
                                },
                            ],
                            volumes: [{ name: "tmp", emptyDir: {} }],
                        },
                    },
                },
            },
            { ...child, dependsOn: [...child.dependsOn, sa, role, binding] },
        );
        this.registerOutputs({ job: this.job.metadata.name });
    }
}
