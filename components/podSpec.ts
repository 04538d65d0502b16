import { createHash } from "crypto";
import type * as k8s from "@pulumi/kubernetes";
import { ClusterPlan, Plan } from "./plan";
import { objectNames } from "./naming";
import { PATHS, PORTS, commonLabels, containerEnv, scriptCommand, selectorLabels } from "./contract";

const MOUNTS = [
    { name: "data", mountPath: PATHS.data },
    { name: "scripts", mountPath: PATHS.scripts },
    { name: "config", mountPath: PATHS.baseConf },
    { name: "topology", mountPath: PATHS.topology },
    { name: "conf", mountPath: PATHS.conf },
    { name: "run", mountPath: PATHS.run },
];

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
    const mounts = dataMounts(plan, cluster);
    const env = containerEnv(plan, cluster);
    const res = plan.resources;
    const sidecarResources = { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } };
    const containers: k8s.types.input.core.v1.Container[] = [
        {
            name: "mysql",
            image: plan.image,
            command: scriptCommand("run.sh"),
            ports: [{ name: "mysql", containerPort: PORTS.mysql }],
            env,
            volumeMounts: mounts,
            resources: { requests: { cpu: res.cpu, memory: res.memory }, limits: { memory: res.memoryLimit } },
            startupProbe: execProbe("live", 10, 90),
            livenessProbe: execProbe("live", 10, 6),
            readinessProbe: execProbe("ready", 5, 3),
        },
        { name: "replicate", image: plan.image, command: scriptCommand("replicate.sh"), env, volumeMounts: mounts, resources: sidecarResources },
    ];
    if (plan.engine === "mariadb") {
        containers.push({
            name: "donor",
            image: plan.image,
            command: scriptCommand("donor.sh"),
            ports: [{ name: "donor", containerPort: PORTS.donor }],
            env,
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
                securityContext: { fsGroup: 999 },
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
                        env,
                        volumeMounts: mounts,
                        resources: { requests: { cpu: res.cpu, memory: res.memory }, limits: { memory: res.memoryLimit } },
                    },
                ],
                containers,
                volumes: [
                    { name: "scripts", configMap: { name: names.scripts, defaultMode: 0o755 } },
                    { name: "config", configMap: { name: names.config } },
                    { name: "topology", configMap: { name: names.topology } },
                    { name: "conf", emptyDir: {} },
                    { name: "run", emptyDir: {} },
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
