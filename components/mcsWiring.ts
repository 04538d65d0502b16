import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ServiceRole, serviceName } from "./naming";
import { ClusterPlan, Plan } from "./plan";
import { commonLabels, servicePorts } from "./contract";

export const MCS_API_VERSION = "multicluster.x-k8s.io/v1alpha1";

export interface McsWiringArgs {
    readonly plan: Plan;
    readonly cluster: ClusterPlan;
    readonly provider: k8s.Provider;
    /** The namespace resource when the program declares it. */
    readonly namespace?: k8s.core.v1.Namespace;
}

/**
 * Multi-cluster Service wiring of one cluster (KEP-1645): a ServiceExport per Service where the cluster
 * runs pods, and for manual-import profiles (ack-one, kosmos) a ServiceImport per Service (Headless for
 * the governing Service, ClusterSetIP otherwise, ports as the Service's).
 */
export class McsWiring extends pulumi.ComponentResource {
    public readonly resources: pulumi.Resource[] = [];

    constructor(name: string, args: McsWiringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:mcs:McsWiring", name, {}, opts);
        const { plan, cluster } = args;
        const child = { parent: this, provider: args.provider, dependsOn: args.namespace ? [args.namespace] : [] };
        const meta = (role: ServiceRole, component: string) => ({
            name: serviceName(plan.set, role),
            namespace: plan.namespace,
            labels: commonLabels(plan.set, component),
        });
        if (cluster.exports) {
            for (const role of ["headless", "write", "read"] as const) {
                this.resources.push(
                    new k8s.apiextensions.CustomResource(
                        `${name}-export-${role}`,
                        { apiVersion: MCS_API_VERSION, kind: "ServiceExport", metadata: meta(role, "service-export") },
                        child,
                    ),
                );
            }
        }
        for (const imp of cluster.imports) {
            this.resources.push(
                new k8s.apiextensions.CustomResource(
                    `${name}-import-${imp.role}`,
                    {
                        apiVersion: MCS_API_VERSION,
                        kind: "ServiceImport",
                        metadata: meta(imp.role, "service-import"),
                        spec: {
                            type: imp.type,
                            ports: servicePorts(imp.role, plan.engine).map(({ name: n, port, protocol }) => ({ name: n, port, protocol })),
                        },
                    },
                    child,
                ),
            );
        }
        this.registerOutputs({});
    }
}
