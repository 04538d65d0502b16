import { createHash } from "crypto";
import type * as k8s from "@pulumi/kubernetes";
import { ClusterPlan, Plan } from "./plan";
import { objectNames } from "./naming";
import { MYSQL_UID, PATHS, PORTS, arbiterEnv, commonLabels, containerEnv, scriptCommand, selectorLabels } from "./contract";
import { labelApi, labelerName, labelsContainer, labelsVolumes } from "./podLabels";

// ConfigMap volumes are read-only mounts; the modes say it too: the server's uid may read, never write.
const MOUNTS = [
    { name: "data", mountPath: PATHS.data },
    { name: "scripts", mountPath: PATHS.scripts, readOnly: true },
    { name: "config", mountPath: PATHS.baseConf, readOnly: true },
    { name: "topology", mountPath: PATHS.topology, readOnly: true },
    { name: "conf", mountPath: PATHS.conf },
    { name: "run", mountPath: PATHS.run },
    { name: "tmp", mountPath: PATHS.tmp },
];
/** Mode of the scripts ConfigMap's files (read and run, owned by root: not writable by the server). */
export const SCRIPTS_MODE = 0o555;
/** Mode of the config and topology ConfigMaps' files. */
export const CONFIG_MODE = 0o444;
/** Mode of the certificate Secrets' files: the server's group (fsGroup) reads them, nobody writes them. */
export const TLS_MODE = 0o440;

/** The read-only mount of the set's certificate Secret (tls.enabled; none without TLS). */
export function tlsMounts(plan: Plan): k8s.types.input.core.v1.VolumeMount[] {
    return plan.tls ? [{ name: "tls", mountPath: PATHS.tls, readOnly: true }] : [];
}
/** The volume of a certificate Secret (`secret`: the member's `<set>-tls` or the Jobs' `<set>-tls-ca`); none without TLS. */
export function tlsVolumes(plan: Plan, secret: string): k8s.types.input.core.v1.Volume[] {
    return plan.tls ? [{ name: "tls", secret: { secretName: secret, defaultMode: TLS_MODE } }] : [];
}

/**
 * Pod Security "restricted" at pod level: non-root as `uid` (the images' mysql user for the database
 * pods and the switchover Job), seccomp RuntimeDefault, volumes group-owned by it, the group changed
 * only when a volume's root does not already match (a large datadir is not walked at every start).
 */
export function podSecurityContext(uid: number = MYSQL_UID): k8s.types.input.core.v1.PodSecurityContext {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        fsGroup: uid,
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
    };
}
/** Pod Security "restricted" at container level: no capability, no privilege escalation, read-only root filesystem. */
export function containerSecurityContext(): k8s.types.input.core.v1.SecurityContext {
    return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } };
}

/**
 * The mounts of every container. On a local volume the set's data lives in its own subdirectory
 * (`plan.dataSubPath`, created by the kubelet): two sets on the same nodes never share a directory.
 */
export function dataMounts(plan: Plan, cluster: ClusterPlan) {
    const subPath = cluster.storage.kind === "local" && plan.dataSubPath ? plan.dataSubPath : undefined;
    return MOUNTS.map((m) => (m.name === "data" && subPath ? { ...m, subPath } : m));
}

function execProbe(mode: string, period: number, failures: number, extra: Record<string, number> = {}) {
    return { exec: { command: scriptCommand("probe.sh", mode) }, periodSeconds: period, timeoutSeconds: 5, failureThreshold: failures, ...extra };
}

/** Hash of what a restart must pick up (server config and scripts), not of the topology. */
export function podTemplateHash(baseConfig: string, scripts: Record<string, string>): string {
    const h = createHash("sha256").update(baseConfig);
    for (const k of Object.keys(scripts).sort()) h.update(k).update("\0").update(scripts[k]);
    return h.digest("hex").slice(0, 16);
}

/**
 * The StatefulSet spec of one cluster's slice. Immutable fields (`serviceName`, `selector`,
 * `podManagementPolicy`, `volumeClaimTemplates`, `revisionHistoryLimit`) depend only on the set,
 * never on the phase, so a migration step updates in place.
 */
export function statefulSetSpec(plan: Plan, cluster: ClusterPlan, templateHash: string, partition?: number): k8s.types.input.apps.v1.StatefulSetSpec {
    const names = objectNames(plan.set);
    const secure = containerSecurityContext();
    // Every container of this pod but "labels" runs the server or makes remote SQL or seed calls (TLS_CONTAINERS).
    const mounts = [...dataMounts(plan, cluster), ...tlsMounts(plan)];
    const res = plan.resources;
    const sidecarResources = { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } };
    const containers: k8s.types.input.core.v1.Container[] = [
        {
            name: "mysql",
            image: plan.image,
            command: scriptCommand("run.sh"),
            ports: [{ name: "mysql", containerPort: PORTS.mysql }],
            env: containerEnv(plan, cluster, "mysql"),
            securityContext: secure,
            volumeMounts: mounts,
            resources: { requests: { cpu: res.cpu, memory: res.memory }, limits: { memory: res.memoryLimit } },
            startupProbe: execProbe("live", 10, 90),
            livenessProbe: execProbe("live", 10, 6),
            readinessProbe: execProbe("ready", 5, 3),
        },
        {
            name: "replicate",
            image: plan.image,
            command: scriptCommand("replicate.sh"),
            env: [...containerEnv(plan, cluster, "replicate"), { name: "MMC_LABEL_API", value: labelApi(plan) }, ...arbiterEnv(plan)],
            securityContext: secure,
            volumeMounts: mounts,
            resources: sidecarResources,
        },
    ];
    if (plan.autoFailover) {
        // Automatic failover: holds the primary's lease (fences on its loss) or campaigns for it (design: README "Automatic failover").
        containers.push({
            name: "failover-agent",
            image: plan.image,
            command: scriptCommand("autofailover.sh"),
            env: [
                ...containerEnv(plan, cluster, "failover-agent"),
                ...arbiterEnv(plan),
                { name: "MMC_SWITCHOVER_TIMEOUT_SECONDS", value: String(plan.migration.switchoverTimeoutSeconds) },
            ],
            securityContext: secure,
            volumeMounts: mounts,
            resources: sidecarResources,
        });
    }
    containers.push(labelsContainer(plan, plan.migration.kubectlImage));
    if (plan.engine === "mariadb") {
        containers.push({
            name: "donor",
            image: plan.image,
            command: scriptCommand("donor.sh"),
            ports: [{ name: "donor", containerPort: PORTS.donor }],
            env: containerEnv(plan, cluster, "donor"),
            securityContext: secure,
            volumeMounts: mounts,
            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "1Gi" } },
        });
    }
    return {
        serviceName: plan.set,
        selector: { matchLabels: selectorLabels(plan.set) },
        // Parallel: the primary starts whatever its ordinal; with OrderedReady a replica ordinal below it
        // would wait for a donor that is never created (first deployment with primary: 1). Rolling
        // updates are still one pod at a time, each Ready first (podManagementPolicy only affects scaling).
        podManagementPolicy: "Parallel",
        revisionHistoryLimit: 10,
        replicas: cluster.podCount,
        ordinals: { start: cluster.ordinalsStart },
        // A claim outlives its pod: a moved ordinal's data stays until its cluster is retired (the retire Job).
        persistentVolumeClaimRetentionPolicy: { whenScaled: "Retain", whenDeleted: "Retain" },
        // A partition keeps the primary on the old template during a rolling change, until a switchover.
        updateStrategy: partition ? { type: "RollingUpdate", rollingUpdate: { partition } } : { type: "RollingUpdate" },
        template: {
            metadata: {
                labels: commonLabels(plan.set, "database"),
                annotations: { "mysql-multicluster/template-hash": templateHash },
            },
            spec: {
                terminationGracePeriodSeconds: 60,
                securityContext: podSecurityContext(),
                // Only the "labels" container talks to the Kubernetes API: its token is projected into it alone.
                serviceAccountName: labelerName(plan.set),
                automountServiceAccountToken: false,
                affinity: {
                    nodeAffinity: {
                        requiredDuringSchedulingIgnoredDuringExecution: {
                            nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [...cluster.nodes] }] }],
                        },
                    },
                    podAntiAffinity: {
                        requiredDuringSchedulingIgnoredDuringExecution: [
                            { labelSelector: { matchLabels: selectorLabels(plan.set) }, topologyKey: "kubernetes.io/hostname" },
                        ],
                    },
                },
                tolerations: cluster.tolerations.map((t) => ({ ...t })),
                initContainers: [
                    {
                        name: "init",
                        image: plan.image,
                        command: scriptCommand("init.sh"),
                        env: containerEnv(plan, cluster, "init"),
                        securityContext: secure,
                        volumeMounts: mounts,
                        resources: { requests: { cpu: res.cpu, memory: res.memory }, limits: { memory: res.memoryLimit } },
                    },
                ],
                containers,
                volumes: [
                    { name: "scripts", configMap: { name: names.scripts, defaultMode: SCRIPTS_MODE } },
                    { name: "config", configMap: { name: names.config, defaultMode: CONFIG_MODE } },
                    { name: "topology", configMap: { name: names.topology, defaultMode: CONFIG_MODE } },
                    { name: "conf", emptyDir: {} },
                    { name: "run", emptyDir: {} },
                    { name: "tmp", emptyDir: {} },
                    ...labelsVolumes(),
                    ...tlsVolumes(plan, names.tls),
                ],
            },
        },
        volumeClaimTemplates: [
            {
                metadata: { name: "data", labels: selectorLabels(plan.set) },
                spec: {
                    accessModes: ["ReadWriteOnce"],
                    storageClassName: cluster.storage.storageClassName,
                    resources: { requests: { storage: plan.storageSize } },
                },
            },
        ],
    };
}
