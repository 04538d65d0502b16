import { createHash } from "crypto";
import type * as k8s from "@pulumi/kubernetes";
import { ClusterPlan, Plan } from "./plan";
import { StackConfig } from "./config";

/** Where things are mounted in every container; the data-plane contract (docs/dataplane-contract.md). */
export const PATHS = {
    data: "/var/lib/mysql",
    scripts: "/opt/mmc",
    baseConf: "/etc/mmc/base",
    topology: "/etc/mmc/topology",
    conf: "/etc/mmc/conf.d",
    run: "/var/run/mysqld",
} as const;
export const PORTS = { mysql: 3306, donor: 3307 } as const;
export const SECRET_KEYS = { root: "root-password", replication: "replication-password", seed: "seed-password", admin: "admin-password" } as const;
export const USERS = { replication: "repl", seed: "seed", admin: "mmc_admin" } as const;

/** Object names inside a cluster; identical in every cluster so a pod finds the same things anywhere. */
export function objectNames(set: string) {
    return {
        statefulSet: set,
        secret: `${set}-credentials`,
        config: `${set}-config`,
        scripts: `${set}-scripts`,
        topology: `${set}-topology`,
        pdb: set,
        storageClass: `${set}-local`,
    };
}

/** Labels every object carries; `selectorLabels` is the immutable StatefulSet selector. */
export function selectorLabels(set: string): Record<string, string> {
    return { "app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": set };
}
export function commonLabels(set: string, component: string): Record<string, string> {
    return { ...selectorLabels(set), "app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "mysql-multicluster" };
}
/** What Services and the PDB select: database pods only, never a Job's pods. */
export function databaseSelector(set: string): Record<string, string> {
    return { ...selectorLabels(set), "app.kubernetes.io/component": "database" };
}
/** Labels of a Job's pods: outside the set's selector, so no Service, PDB or StatefulSet ever matches them. */
export function jobPodLabels(set: string, component: string): Record<string, string> {
    return { "app.kubernetes.io/name": "mysql-multicluster-job", "app.kubernetes.io/instance": set, "app.kubernetes.io/component": component };
}

// Every container command loads the topology file first, so a phase change is a file update, not a pod restart.
const LOAD_TOPOLOGY = 'set -a; if [ -n "${MMC_TOPOLOGY_FILE:-}" ] && [ -f "$MMC_TOPOLOGY_FILE" ]; then . "$MMC_TOPOLOGY_FILE"; fi; set +a; ';
export function scriptCommand(script: string, ...args: string[]): string[] {
    return ["bash", "-c", `${LOAD_TOPOLOGY}exec bash ${PATHS.scripts}/${script}${args.map((a) => " " + a).join("")}`];
}

/** Base server config shipped in `<set>-config`; the scripts add identity and replication settings. */
export function baseServerConfig(engine: StackConfig["mysql"]["engine"]): string {
    const common = [
        "skip_name_resolve = ON",
        "bind_address = 0.0.0.0",
        "log_bin = mysql-bin",
        "binlog_format = ROW",
        "sync_binlog = 1",
        "innodb_flush_log_at_trx_commit = 1",
        "max_connections = 500",
    ];
    const perEngine =
        engine === "mariadb"
            ? ["[mariadb]", ...common, "log_slave_updates = ON", "gtid_strict_mode = ON", "binlog_expire_logs_seconds = 604800"]
            : ["[mysqld]", ...common.filter((l) => !l.startsWith("binlog_format")), "gtid_mode = ON", "enforce_gtid_consistency = ON",
               "log_replica_updates = ON", "binlog_expire_logs_seconds = 604800"];
    return perEngine.join("\n") + "\n";
}

function secretEnv(name: string, secret: string, key: string) {
    return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

/** The environment every container gets: stable across phases (topology comes from the file). */
export function containerEnv(plan: Plan, cluster: ClusterPlan, cfg: StackConfig) {
    const names = objectNames(plan.set);
    const plain: Record<string, string> = {
        MMC_ENGINE: plan.engine,
        MMC_SET_NAME: plan.set,
        MMC_NAMESPACE: plan.namespace,
        MMC_CLUSTER: cluster.name,
        MMC_PORT: String(PORTS.mysql),
        MMC_DONOR_PORT: String(PORTS.donor),
        MMC_SERVER_ID_BASE: String(cfg.mysql.serverIdBase),
        MMC_GTID_DOMAIN_ID: String(cfg.mysql.gtidDomainId),
        MMC_DATADIR: PATHS.data,
        MMC_CONF_DIR: PATHS.conf,
        MMC_BASE_CONF: `${PATHS.baseConf}/my.cnf`,
        MMC_TOPOLOGY_FILE: `${PATHS.topology}/topology.env`,
        MMC_RUN_DIR: PATHS.run,
        MMC_SEMI_SYNC: cfg.mysql.semiSync ? "on" : "off",
        MMC_MAX_LAG_SECONDS: String(cfg.mysql.maxLagSeconds),
        MMC_REPL_USER: USERS.replication,
        MMC_SEED_USER: USERS.seed,
        MMC_ADMIN_USER: USERS.admin,
    };
    return [
        { name: "MMC_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ...Object.entries(plain).map(([name, value]) => ({ name, value })),
        secretEnv("MMC_ROOT_PASSWORD", names.secret, SECRET_KEYS.root),
        secretEnv("MMC_REPL_PASSWORD", names.secret, SECRET_KEYS.replication),
        secretEnv("MMC_SEED_PASSWORD", names.secret, SECRET_KEYS.seed),
        secretEnv("MMC_ADMIN_PASSWORD", names.secret, SECRET_KEYS.admin),
    ];
}

const MOUNTS = [
    { name: "data", mountPath: PATHS.data },
    { name: "scripts", mountPath: PATHS.scripts },
    { name: "config", mountPath: PATHS.baseConf },
    { name: "topology", mountPath: PATHS.topology },
    { name: "conf", mountPath: PATHS.conf },
    { name: "run", mountPath: PATHS.run },
];

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
export function statefulSetSpec(plan: Plan, cluster: ClusterPlan, cfg: StackConfig, templateHash: string, partition?: number): k8s.types.input.apps.v1.StatefulSetSpec {
    const names = objectNames(plan.set);
    const storage = cluster.config.storage;
    const storageClassName = "localPath" in storage ? (storage.storageClassName ?? names.storageClass) : storage.storageClass;
    const env = containerEnv(plan, cluster, cfg);
    const res = cfg.mysql.resources;
    const sidecarResources = { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } };
    const containers: k8s.types.input.core.v1.Container[] = [
        {
            name: "mysql",
            image: plan.image,
            command: scriptCommand("run.sh"),
            ports: [{ name: "mysql", containerPort: PORTS.mysql }],
            env,
            volumeMounts: MOUNTS,
            resources: { requests: { cpu: res.cpu, memory: res.memory }, limits: { memory: res.memoryLimit } },
            startupProbe: execProbe("live", 10, 90),
            livenessProbe: execProbe("live", 10, 6),
            readinessProbe: execProbe("ready", 5, 3),
        },
        { name: "replicate", image: plan.image, command: scriptCommand("replicate.sh"), env, volumeMounts: MOUNTS, resources: sidecarResources },
    ];
    if (plan.engine === "mariadb") {
        containers.push({
            name: "donor",
            image: plan.image,
            command: scriptCommand("donor.sh"),
            ports: [{ name: "donor", containerPort: PORTS.donor }],
            env,
            volumeMounts: MOUNTS,
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
        replicas: cluster.replicas,
        ordinals: { start: cluster.start },
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
                            nodeSelectorTerms: [
                                { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [...cluster.config.nodes] }] },
                            ],
                        },
                    },
                    podAntiAffinity: {
                        requiredDuringSchedulingIgnoredDuringExecution: [
                            { labelSelector: { matchLabels: selectorLabels(plan.set) }, topologyKey: "kubernetes.io/hostname" },
                        ],
                    },
                },
                tolerations: cluster.config.tolerations.map((t) => ({ ...t })),
                initContainers: [
                    { name: "init", image: plan.image, command: scriptCommand("init.sh"), env, volumeMounts: MOUNTS, resources: { requests: { cpu: res.cpu, memory: res.memory }, limits: { memory: res.memoryLimit } } },
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
                    storageClassName,
                    resources: { requests: { storage: cfg.mysql.storageSize } },
                },
            },
        ],
    };
}
