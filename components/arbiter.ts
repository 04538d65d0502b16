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
/**
 * Keys of the ConfigMap `<set>-arbiter`, mounted in the voter's pod at ARBITER_PATHS.config: the desired
 * voters (`initial-cluster`, which arbiter-member.sh follows: a new voter adds itself, a voter that left
 * is removed by the others) and the state a voter without data starts in.
 */
export const ARBITER_CONFIG_KEYS = { initialCluster: "initial-cluster", state: "initial-cluster-state" } as const;
/** The scripts the arbiter's pod runs (in its ConfigMap: a witness cluster has no `<set>-scripts`). */
export const ARBITER_SCRIPTS = ["arbiter-member.sh", "lib-arbiter.sh", "lib-arbiter-member.sh"] as const;
/** Where the arbiter pod mounts its ConfigMap, and the etcd configuration file arbiter-member.sh writes (an emptyDir). */
export const ARBITER_PATHS = { config: "/etc/mmc-arbiter", run: "/run/mmc-arbiter", etcdConfig: "/run/mmc-arbiter/etcd.yml" } as const;

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
 * The ConfigMap `<set>-arbiter` of a cluster's voter: the desired voters (the initial cluster, the same
 * string in every cluster; the token is one of etcd's flags); the state is `existing` for a voter that joins a running arbiter
 * (arbiter-member.sh adds its member, and never lets it start a cluster of its own), else `new`; and the
 * scripts of the pod (`scripts`: components/scripts/, name → content).
 */
export function arbiterConfigData(plan: Plan, auto: AutoFailoverPlan, cluster: ClusterPlan, scripts: Record<string, string>): Record<string, string> {
    const missing = ARBITER_SCRIPTS.filter((f) => scripts[f] === undefined);
    if (missing.length) throw new Error(`arbiter scripts missing: ${missing.join(", ")}`);
    return {
        [ARBITER_CONFIG_KEYS.initialCluster]: auto.initialCluster,
        [ARBITER_CONFIG_KEYS.state]: auto.joining.includes(cluster.name) ? "existing" : "new",
        ...Object.fromEntries(ARBITER_SCRIPTS.map((f) => [f, scripts[f]])),
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
 * in every cluster). Its membership follows the config (components/scripts/arbiter-member.sh, in the
 * set's database image: etcd's image has no shell): the init container `arbiter-join` writes etcd's
 * configuration file from etcd's flags and the ConfigMap (a voter with data keeps its identity; a voter
 * new to a running arbiter adds itself and starts `existing`); the sidecar `arbiter-members` removes the
 * member of a cluster that left the voter set (one at a time, never below 3, with the rest's quorum).
 * A voter change edits only the ConfigMap (mounted: the sidecar sees it), never the pod template.
 * Plain HTTP inside the NetworkPolicy (the data plane speaks etcd's JSON gateway over bash /dev/tcp). Pure.
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
    const subPath = cluster.storage.kind === "local" ? arbiterSubPath(plan) : undefined;
    const dataMount = { name: "data", mountPath: ARBITER_DATA.mount, ...(subPath ? { subPath } : {}) };
    const flags = [
        `--name=${cluster.name}`,
        `--data-dir=${ARBITER_DATA.dir}`,
        `--listen-client-urls=http://0.0.0.0:${ARBITER_PORTS.client}`,
        `--advertise-client-urls=http://${host}:${ARBITER_PORTS.client}`,
        `--listen-peer-urls=http://0.0.0.0:${ARBITER_PORTS.peer}`,
        `--initial-advertise-peer-urls=http://${host}:${ARBITER_PORTS.peer}`,
        `--initial-cluster-token=mysql-multicluster-${plan.namespace}-${plan.set}`,
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
    ];
    const memberEnv = [
        { name: "MMC_ARB_NAME", value: cluster.name },
        { name: "MMC_ARB_CONFIG_DIR", value: ARBITER_PATHS.config },
        { name: "MMC_ARB_CLIENT_PORT", value: String(ARBITER_PORTS.client) },
    ];
    const script = (mode: string, ...args: string[]) => ["bash", `${ARBITER_PATHS.config}/arbiter-member.sh`, mode, ...args];
    const small = { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } };
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
                initContainers: [
                    {
                        name: "arbiter-join",
                        image: plan.image,
                        command: script("join", ...flags),
                        env: [
                            ...memberEnv,
                            { name: "MMC_ARB_DATA_DIR", value: ARBITER_DATA.dir },
                            { name: "MMC_ARB_ETCD_CONFIG", value: ARBITER_PATHS.etcdConfig },
                        ],
                        securityContext: containerSecurityContext(),
                        volumeMounts: [
                            dataMount,
                            { name: "config", mountPath: ARBITER_PATHS.config },
                            { name: "run", mountPath: ARBITER_PATHS.run },
                            { name: "tmp", mountPath: PATHS.tmp },
                        ],
                        resources: small,
                    },
                ],
                containers: [
                    {
                        name: "etcd",
                        image: auto.image,
                        // etcd reads only this file (flags and ETCD_* variables are ignored with it)
                        command: ["/usr/local/bin/etcd", `--config-file=${ARBITER_PATHS.etcdConfig}`],
                        ports: [
                            { name: "client", containerPort: ARBITER_PORTS.client },
                            { name: "peer", containerPort: ARBITER_PORTS.peer },
                        ],
                        securityContext: containerSecurityContext(),
                        volumeMounts: [dataMount, { name: "run", mountPath: ARBITER_PATHS.run, readOnly: true }, { name: "tmp", mountPath: PATHS.tmp }],
                        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "512Mi" } },
                        // /livez: the process serves (no quorum needed); /readyz: it is part of a quorum.
                        startupProbe: probe("/livez", 5, 60),
                        livenessProbe: probe("/livez", 10, 6),
                        readinessProbe: probe("/readyz", 5, 3),
                    },
                    {
                        name: "arbiter-members",
                        image: plan.image,
                        command: script("watch"),
                        env: [...memberEnv, { name: "MMC_ARB_LOCAL", value: `127.0.0.1:${ARBITER_PORTS.client}` }],
                        securityContext: containerSecurityContext(),
                        volumeMounts: [
                            { name: "config", mountPath: ARBITER_PATHS.config },
                            { name: "tmp", mountPath: PATHS.tmp },
                        ],
                        resources: small,
                    },
                ],
                volumes: [
                    { name: "tmp", emptyDir: {} },
                    { name: "run", emptyDir: {} },
                    { name: "config", configMap: { name: names.config } },
                ],
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
