import * as k8s from "@pulumi/kubernetes";
import { StackConfig } from "./config";
import { Plan, buildPlan } from "./plan";
import { loadScripts } from "./scripts";
import { Credentials } from "./credentials";
import { ClusterMember } from "./clusterMember";
import { serviceHost } from "./naming";
import { namingContext } from "./plan";

/** What a DBA reads at a glance after `pulumi up`. */
export interface DeploymentOutputs {
    readonly primary: { ordinal: number; pod: string; cluster: string; host: string };
    readonly placement: { ordinal: number; pod: string; cluster: string; role: string; crossClusterName: string }[];
    readonly clusters: Record<string, { ordinals: number[]; writeEndpoint: string; readEndpoint: string; retired: boolean }>;
    readonly writeEndpoint: string;
}

export interface Deployment {
    readonly plan: Plan;
    readonly members: Record<string, ClusterMember>;
    readonly outputs: DeploymentOutputs;
}

/** A provider per cluster, from its kubeconfig context and path. */
export function clusterProvider(name: string, cluster: StackConfig["clusters"][string]): k8s.Provider {
    return new k8s.Provider(`k8s-${name}`, {
        context: cluster.context,
        kubeconfig: cluster.kubeconfig,
        // Objects keep the names the program gives them: a pod finds the same names in every cluster.
        enableServerSideApply: true,
    });
}

/** Declares the whole set across its clusters: one ClusterMember per cluster, one shared Credentials. */
export function deploy(cfg: StackConfig): Deployment {
    const plan = buildPlan(cfg);
    const scripts = loadScripts();
    const credentials = new Credentials("credentials");
    const members: Record<string, ClusterMember> = {};
    for (const cluster of plan.clusters) {
        members[cluster.name] = new ClusterMember(cluster.name, {
            plan,
            cluster,
            config: cfg,
            scripts,
            credentials,
            provider: clusterProvider(cluster.name, cluster.config),
        });
    }
    return { plan, members, outputs: deploymentOutputs(cfg, plan) };
}

export function deploymentOutputs(cfg: StackConfig, plan: Plan): DeploymentOutputs {
    const ctx = namingContext(cfg);
    const primary = plan.pods[plan.primary];
    return {
        primary: { ordinal: primary.ordinal, pod: primary.name, cluster: primary.cluster, host: primary.crossClusterHost },
        placement: plan.pods.map((p) => ({ ordinal: p.ordinal, pod: p.name, cluster: p.cluster, role: p.role, crossClusterName: p.crossClusterHost })),
        clusters: Object.fromEntries(
            plan.clusters.map((c) => [
                c.name,
                { ordinals: [...c.ordinals], writeEndpoint: c.topology.writeHost, readEndpoint: c.topology.readHost, retired: c.retired },
            ]),
        ),
        writeEndpoint: serviceHost(ctx, "write", plan.primaryCluster, ""),
    };
}
