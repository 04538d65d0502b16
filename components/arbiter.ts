/**
 * The arbiter of automatic failover (`failover.mode: automatic`): one etcd v3 voter per voter cluster
 * (README "Automatic failover"). Pure decisions: what each voter cluster declares; the component
 * (components/arbiterSlice.ts) only turns them into resources.
 */
import type * as k8s from "@pulumi/kubernetes";
import { ARBITER_PORTS, AutoFailoverPlan, ClusterPlan, Plan } from "./plan";
import { arbiterHost, arbiterNames, arbiterStatefulSetName } from "./naming";
import { MYSQL_UID, PATHS, databaseSelector } from "./contract";
import { containerSecurityContext, podSecurityContext } from "./podSpec";
import { crossClusterSourcesOf } from "./networkPolicy";

/** Where etcd keeps its data inside the arbiter pod (a directory etcd creates on the mounted volume). */
export const ARBITER_DATA = { mount: "/var/lib/etcd", dir: "/var/lib/etcd/data" } as const;
/** Size of each voter's claim: etcd holds two keys and their leases. */
export const ARBITER_STORAGE = "1Gi";
/** Keys of the ConfigMap `<set>-arbiter`: read by etcd only at a voter's first start (bootstrap). */
export const ARBITER_CONFIG_KEYS = { initialCluster: "initial-cluster", token: "initial-cluster-token", state: "initial-cluster-state" } as const;

/** Labels of the arbiter's pods: outside the set's member selector (no member StatefulSet, Service or budget selects them). */
export function arbiterSelector(set: string): Record<string, string> {
    return { "app.kubernetes.io/name": "mysql-multicluster-arbiter", "app.kubernetes.io/instance": set };
}
export function arbiterLabels(set: string): Record<string, string> {
    return { ...arbiterSelector(set), "app.kubernetes.io/component": "arbiter", "app.kubernetes.io/managed-by": "mysql-multicluster" };
}

/** The automatic-failover plan of a voter cluster; undefined when the set is manual or the cluster runs no voter. */
export function arbiterOf(plan: Plan, cluster: ClusterPlan): AutoFailoverPlan | undefined {
    return plan.autoFailover?.voters.includes(cluster.name) && !cluster.retired ? plan.autoFailover : undefined;
}

/** The arbiter's local volumes' subdirectory: its own, beside the set's (`<namespace>_<set>`; '_' occurs in neither). */
export function arbiterSubPath(plan: Plan): string {
    return `${plan.namespace}_${plan.set}_arbiter`;
}

/**
 * The bootstrap settings of a cluster's voter (ConfigMap `<set>-arbiter`): the initial cluster and token
 * are the same string in every cluster; the state is `existing` for a voter that joins a running arbiter
 * (its etcd member is added first: the step says how), else `new`. Read only at the voter's first start.
 */
export function arbiterConfigData(plan: Plan, auto: AutoFailoverPlan, cluster: ClusterPlan): Record<string, string> {
    return {
        [ARBITER_CONFIG_KEYS.initialCluster]: auto.initialCluster,
        [ARBITER_CONFIG_KEYS.token]: `mysql-multicluster-${plan.namespace}-${plan.set}`,
        [ARBITER_CONFIG_KEYS.state]: auto.joining.includes(cluster.name) ? "existing" : "new",
    };
}

/** Ports of the arbiter's headless Service (and its ServiceImport). */
export function arbiterServicePorts() {
    return [
        { name: "client", port: ARBITER_PORTS.client, targetPort: "client", protocol: "TCP" },
        { name: "peer", port: ARBITER_PORTS.peer, targetPort: "peer", protocol: "TCP" },
    ];
}

/**
 * The etcd voter of one cluster: a StatefulSet of one pod named after the cluster, the member name
 * the cluster's name, peer and client URLs its cross-cluster name (the one `--initial-cluster` gives it
 * in every cluster: etcd derives member ids from it). The initial cluster comes from the ConfigMap, read
 * only at the first start: a later voter change changes no pod template. Plain HTTP inside the
 * NetworkPolicy (the data plane speaks etcd's JSON gateway over bash /dev/tcp). Pure.
 */
export function arbiterStatefulSetSpec(plan: Plan, cluster: ClusterPlan, auto: AutoFailoverPlan): k8s.types.input.apps.v1.StatefulSetSpec {
    const names = arbiterNames(plan.set);
    const host = arbiterHost(plan.naming, cluster.name, "");
    const probe = (path: string, period: number, failures: number) => ({
        httpGet: { path, port: "client" },
        periodSeconds: period,
        timeoutSeconds: 5,
        failureThreshold: failures,
    });
    const fromConfig = (name: string, key: string) => ({ name, valueFrom: { configMapKeyRef: { name: names.config, key } } });
    const subPath = cluster.storage.kind === "local" ? arbiterSubPath(plan) : undefined;
    return {
        serviceName: names.service,
        selector: { matchLabels: arbiterSelector(plan.set) },
        podManagementPolicy: "Parallel",
        replicas: 1,
        persistentVolumeClaimRetentionPolicy: { whenScaled: "Retain", whenDeleted: "Retain" },
        updateStrategy: { type: "RollingUpdate" },
        template: {
            metadata: { labels: arbiterLabels(plan.set) },
            spec: {
                terminationGracePeriodSeconds: 30,
                securityContext: podSecurityContext(MYSQL_UID),
                automountServiceAccountToken: false,
                affinity: {
                    nodeAffinity: {
                        requiredDuringSchedulingIgnoredDuringExecution: {
                            nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [...cluster.nodes] }] }],
                        },
                    },
                },
                tolerations: cluster.tolerations.map((t) => ({ ...t })),
                containers: [
                    {
                        name: "etcd",
                        image: auto.image,
                        command: ["/usr/local/bin/etcd"],
                        args: [
                            `--name=${cluster.name}`,
                            `--data-dir=${ARBITER_DATA.dir}`,
                            `--listen-client-urls=http://0.0.0.0:${ARBITER_PORTS.client}`,
                            `--advertise-client-urls=http://${host}:${ARBITER_PORTS.client}`,
                            `--listen-peer-urls=http://0.0.0.0:${ARBITER_PORTS.peer}`,
                            `--initial-advertise-peer-urls=http://${host}:${ARBITER_PORTS.peer}`,
                            "--auto-compaction-mode=periodic",
                            "--auto-compaction-retention=1h",
                        ],
                        env: [
                            fromConfig("ETCD_INITIAL_CLUSTER", ARBITER_CONFIG_KEYS.initialCluster),
                            fromConfig("ETCD_INITIAL_CLUSTER_TOKEN", ARBITER_CONFIG_KEYS.token),
                            fromConfig("ETCD_INITIAL_CLUSTER_STATE", ARBITER_CONFIG_KEYS.state),
                        ],
                        ports: [
                            { name: "client", containerPort: ARBITER_PORTS.client },
                            { name: "peer", containerPort: ARBITER_PORTS.peer },
                        ],
                        securityContext: containerSecurityContext(),
                        volumeMounts: [
                            { name: "data", mountPath: ARBITER_DATA.mount, ...(subPath ? { subPath } : {}) },
                            { name: "tmp", mountPath: PATHS.tmp },
                        ],
                        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "512Mi" } },
                        // /livez: the process serves (no quorum needed); /readyz: it is part of a quorum.
                        startupProbe: probe("/livez", 5, 60),
                        livenessProbe: probe("/livez", 10, 6),
                        readinessProbe: probe("/readyz", 5, 3),
                    },
                ],
                volumes: [{ name: "tmp", emptyDir: {} }],
            },
        },
        volumeClaimTemplates: [
            {
                metadata: { name: "data", labels: arbiterSelector(plan.set) },
                spec: {
                    accessModes: ["ReadWriteOnce"],
                    storageClassName: cluster.storage.kind === "local" ? names.storageClass : cluster.storage.storageClassName,
                    resources: { requests: { storage: ARBITER_STORAGE } },
                },
            },
        ],
    };
}

/**
 * Ingress of the arbiter pods: the client port from the set's members and the other voters, the peer port
 * from the other voters only; other clusters' pods by address (their `podCidrs`; any address when a voter
 * cluster does not say). Pure.
 */
export function arbiterNetworkPolicySpec(plan: Plan, cluster: ClusterPlan, auto: AutoFailoverPlan): k8s.types.input.networking.v1.NetworkPolicySpec {
    const others = plan.clusters.filter((c) => c.name !== cluster.name && auto.voters.includes(c.name));
    const sources = crossClusterSourcesOf(others).map((cidr) => ({ ipBlock: { cidr } }));
    const tcp = (port: number) => [{ protocol: "TCP", port }];
    const arbiters = { podSelector: { matchLabels: arbiterSelector(plan.set) } };
    return {
        podSelector: { matchLabels: arbiterSelector(plan.set) },
        policyTypes: ["Ingress"],
        ingress: [
            { from: [{ podSelector: { matchLabels: databaseSelector(plan.set) } }, arbiters, ...sources], ports: tcp(ARBITER_PORTS.client) },
            { from: [arbiters, ...sources], ports: tcp(ARBITER_PORTS.peer) },
        ],
    };
}

/** The Kubernetes names of a voter cluster's arbiter objects (stable: they depend on the set and the cluster only). */
export function arbiterObjectNames(plan: Plan, cluster: ClusterPlan) {
    return { ...arbiterNames(plan.set), statefulSet: arbiterStatefulSetName(plan.set, cluster.name) };
}

/**
 * The order in which the voters of a running arbiter change: each after the one before it (a changed
 * image or template restarts one voter at a time, Ready in the quorum before the next). Only voters that
 * ran before and still do, outside lost clusters; a first start has no order (a quorum needs them all).
 */
export function arbiterRollOrder(plan: Plan): Record<string, string> {
    const auto = plan.autoFailover;
    if (!auto?.previousVoters) return {};
    const stable = auto.voters.filter((c) => auto.previousVoters!.includes(c) && !plan.lost.includes(c));
    return Object.fromEntries(stable.slice(1).map((c, i) => [c, stable[i]]));
}
