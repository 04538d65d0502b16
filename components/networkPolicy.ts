import type * as k8s from "@pulumi/kubernetes";
import { ClusterPlan, Plan } from "./plan";
import { PORTS, databaseSelector, jobPodLabels } from "./contract";

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type Rule = k8s.types.input.networking.v1.NetworkPolicyIngressRule;

/** Addresses admitted to the member ports when a cluster of the set does not say where its pods come from. */
export const ANY_ADDRESS = ["0.0.0.0/0", "::/0"] as const;

/** The ports members use between themselves: SQL (replication, admin, MySQL's CLONE) and MariaDB's seed stream. */
export function memberPorts(engine: Plan["engine"]): number[] {
    return engine === "mariadb" ? [PORTS.mysql, PORTS.donor] : [PORTS.mysql];
}

/** The other clusters whose pods reach this cluster's members: those running ordinals (and so the switchover and failover Jobs). */
function peerClusters(plan: Plan, cluster: ClusterPlan): ClusterPlan[] {
    return plan.clusters.filter((c) => c.name !== cluster.name && !c.retired && c.ordinals.length > 0);
}

/**
 * Where other clusters' members and Jobs come from, as ipBlocks: each peer cluster's `podCidrs`. A peer
 * that gives none makes this `ANY_ADDRESS` (the set must keep replicating; `policyWarnings` says so).
 */
export function crossClusterSources(plan: Plan, cluster: ClusterPlan): string[] {
    return crossClusterSourcesOf(peerClusters(plan, cluster));
}

/** The addresses pods of `peers` come from: their `podCidrs`, or `ANY_ADDRESS` when one of them gives none. */
export function crossClusterSourcesOf(peers: readonly ClusterPlan[]): string[] {
    if (peers.some((c) => c.podCidrs === undefined)) return [...ANY_ADDRESS];
    return [...new Set(peers.flatMap((c) => c.podCidrs ?? []))];
}

/** The client peers of port 3306: the configured pods/namespaces, the configured ipBlocks and consumer clusters' pods. */
export function clientPeers(plan: Plan): Peer[] {
    const { podSelector, namespaceSelector, ipBlocks } = plan.clients;
    const consumers = plan.clusters.filter((c) => c.consumer && !c.retired);
    const blocks = [...new Set([...ipBlocks, ...consumers.flatMap((c) => c.podCidrs ?? [])])];
    return [
        { podSelector: { matchLabels: { ...podSelector } }, ...(namespaceSelector ? { namespaceSelector: { matchLabels: { ...namespaceSelector } } } : {}) },
        ...blocks.map((cidr) => ({ ipBlock: { cidr } })),
    ];
}

/**
 * Ingress of the database pods in `cluster`: the set's members and its switchover and failover Jobs reach every
 * member port, so do other clusters' members (by address: a NetworkPolicy cannot select a pod of
 * another cluster); clients reach 3306 only. Egress is not restricted. Pure.
 */
export function networkPolicySpec(plan: Plan, cluster: ClusterPlan): k8s.types.input.networking.v1.NetworkPolicySpec {
    const tcp = (ports: number[]) => ports.map((port) => ({ protocol: "TCP", port }));
    const members = tcp(memberPorts(plan.engine));
    const ingress: Rule[] = [
        {
            from: [
                { podSelector: { matchLabels: databaseSelector(plan.set) } },
                { podSelector: { matchLabels: jobPodLabels(plan.set, "switchover") } },
                { podSelector: { matchLabels: jobPodLabels(plan.set, "failover") } },
            ],
            ports: members,
        },
    ];
    if (plan.multiCluster) {
        const sources = crossClusterSources(plan, cluster);
        if (sources.length) ingress.push({ from: sources.map((cidr) => ({ ipBlock: { cidr } })), ports: members });
    }
    ingress.push({ from: clientPeers(plan), ports: tcp([PORTS.mysql]) });
    return { podSelector: { matchLabels: databaseSelector(plan.set) }, policyTypes: ["Ingress"], ingress };
}

/** What a user should know about the pods' exposure and images: shown with the plan and as Pulumi warnings. */
export function policyWarnings(plan: Plan): string[] {
    const out: string[] = [];
    if (plan.multiCluster) {
        const missing = plan.clusters.filter((c) => !c.retired && c.ordinals.length > 0 && c.podCidrs === undefined).map((c) => c.name);
        if (missing.length) {
            out.push(
                `mysql-multicluster:clusters.${missing[0]}.podCidrs is not set (${missing.join(", ")}): the member ports (` +
                    `${memberPorts(plan.engine).join(", ")}) accept any address so that cross-cluster replication works; ` +
                    `set podCidrs of every cluster that runs members to admit only those`,
            );
        }
        for (const c of plan.clusters.filter((c) => c.consumer && !c.retired && c.podCidrs === undefined)) {
            out.push(
                `mysql-multicluster:clusters.${c.name}.podCidrs is not set: clients in consumer cluster ${c.name} are not admitted to 3306 (or add them to mysql.clients.ipBlocks)`,
            );
        }
    }
    const auto = plan.autoFailover;
    const open = auto ? plan.clusters.filter((c) => auto.voters.includes(c.name) && c.podCidrs === undefined).map((c) => c.name) : [];
    if (open.length)
        out.push(
            `mysql-multicluster:clusters.${open[0]}.podCidrs is not set (${open.join(", ")}): the arbiter's ports (2379, 2380) accept any address so that the voters reach each other; ` +
                `set podCidrs of every voter cluster to admit only those`,
        );
    for (const [key, image] of [
        ["mysql.image", plan.image],
        ["migration.kubectlImage", plan.migration.kubectlImage],
        ...(plan.autoFailover ? [["failover.arbiterImage", plan.autoFailover.image] as const] : []),
    ] as const) {
        if (!imagePinned(image))
            out.push(`mysql-multicluster:${key}: "${image}" is a tag, not a digest: nodes may pull different builds; pin it as name@sha256:<digest>`);
    }
    return out;
}

/** True when an image reference names its content (`name@sha256:<64 hex>`). */
export function imagePinned(image: string): boolean {
    return /@sha256:[0-9a-f]{64}$/.test(image);
}
