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

/** A container command: the script loads its inputs and the topology file itself (lib-env.sh). */
export function scriptCommand(script: string, ...args: string[]): string[] {
    return ["bash", `${PATHS.scripts}/${script}`, ...args];
}

/**
 * The static server config shipped in `<set>-config`: the one owner of every setting that is the
 * same for every pod. The scripts add only per-pod identity and locations (server_id, report_host,
 * gtid_domain_id, datadir, socket, port), read after this file.
 */
export function baseServerConfig(engine: StackConfig["mysql"]["engine"]): string {
    const common = [
        "skip_name_resolve = ON",
        "bind_address = 0.0.0.0",
        "log_bin = mysql-bin",
        "log_bin_index = mysql-bin.index",
        "relay_log = relay-bin",
        "relay_log_index = relay-bin.index",
        "relay_log_recovery = ON",
        "sync_binlog = 1",
        "innodb_flush_log_at_trx_commit = 1",
        "max_connections = 500",
        "binlog_expire_logs_seconds = 604800",
        // every server starts read-only; replicate.sh decides who may write (never two writers)
        "read_only = ON",
    ];
    switch (engine) {
        case "mariadb":
            return [
                "[mariadb]",
                ...common,
                "binlog_format = ROW",
                "log_slave_updates = ON",
                "gtid_strict_mode = ON",
                "slave_net_timeout = 20",
                "rpl_semi_sync_master_enabled = OFF",
                "rpl_semi_sync_master_timeout = 5000",
                "rpl_semi_sync_master_wait_point = AFTER_SYNC",
                "rpl_semi_sync_master_wait_no_slave = OFF",
            ].join("\n") + "\n";
        case "mysql":
            return [
                "[mysqld]",
                ...common,
                "super_read_only = ON",
                "gtid_mode = ON",
                "enforce_gtid_consistency = ON",
                "log_replica_updates = ON",
                "replica_net_timeout = 20",
                "plugin_load_add = mysql_clone.so",
                "plugin_load_add = semisync_source.so",
                "plugin_load_add = semisync_replica.so",
                "loose_rpl_semi_sync_source_enabled = OFF",
                "loose_rpl_semi_sync_source_timeout = 5000",
                "loose_rpl_semi_sync_source_wait_point = AFTER_SYNC",
                "loose_rpl_semi_sync_source_wait_no_replica = OFF",
            ].join("\n") + "\n";
    }
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
export function statefulSetSpec(plan: Plan, cluster: ClusterPlan, cfg: StackConfig, templateHash: string): k8s.types.input.apps.v1.StatefulSetSpec {
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
        podManagementPolicy: "OrderedReady",
        revisionHistoryLimit: 10,
        replicas: cluster.replicas,
        ordinals: { start: cluster.start },
        // A claim outlives its pod: a moved ordinal's data stays until its cluster is retired (the retire Job).
        persistentVolumeClaimRetentionPolicy: { whenScaled: "Retain", whenDeleted: "Retain" },
        updateStrategy: { type: "RollingUpdate" },
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
