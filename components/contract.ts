/**
 * The contract between the program and the data-plane scripts (docs/dataplane-contract.md): where things
 * are mounted, ports, users, secret keys, labels, the container environment, Service ports and how a
 * container runs a script. The scripts read only what is written here (test/unit/contract.test.ts).
 */
import { ClusterPlan, Plan, Topology } from "./plan";
import { ServiceRole, objectNames } from "./naming";

/** Where things are mounted in every container. */
export const PATHS = {
    data: "/var/lib/mysql",
    scripts: "/opt/mmc",
    baseConf: "/etc/mmc/base",
    topology: "/etc/mmc/topology",
    conf: "/etc/mmc/conf.d",
    run: "/var/run/mysqld",
    /** The only other writable path (an emptyDir): the root filesystem is read-only. */
    tmp: "/tmp",
    /** The set's certificate Secret, read-only (tls.enabled): `MMC_TLS_DIR`. */
    tls: "/etc/mysql-multicluster/tls",
} as const;
/** uid/gid of `mysql` in the official images and ours (tools/images/rootfs.sh): every database container runs as it. */
export const MYSQL_UID = 999;
export const PORTS = { mysql: 3306, donor: 3307 } as const;
export const SECRET_KEYS = { root: "root-password", replication: "replication-password", seed: "seed-password", admin: "admin-password" } as const;
export const USERS = { replication: "repl", seed: "seed", admin: "mmc_admin" } as const;
/** Key of the application's password in the credentials Secret (only with `mysql.application`). */
export const APP_SECRET_KEY = "app-password";
/**
 * Keys of the connection Secret `<set>-app` each cluster that runs pods or consumes the set gets: what a
 * client there needs (the hosts as that cluster resolves them).
 */
export const CONNECTION_KEYS = { host: "host", readHost: "read-host", port: "port", user: "user", password: "password", database: "database" } as const;
/** Keys of the ConfigMaps `<set>-config` and `<set>-topology`. */
export const CONFIG_KEYS = { baseConf: "my.cnf", topology: "topology.env" } as const;

/** Labels every object carries; `selectorLabels` is the immutable StatefulSet selector. */
export function selectorLabels(set: string): Record<string, string> {
    return { "app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": set };
}
export function commonLabels(set: string, component: string): Record<string, string> {
    return { ...selectorLabels(set), "app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "mysql-multicluster" };
}
/**
 * The labels a member sets on its own pod (replicate.sh `member_role`, through the "labels" container):
 * role `primary`, `replica` or `none`; healthy `true` or `false`. Never in the StatefulSet's template.
 */
export const ROLE_LABELS = { role: "mysql-multicluster/role", healthy: "mysql-multicluster/healthy" } as const;
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

/** The ports each Service role exposes (the headless one also carries the donor stream). */
export function servicePorts(role: ServiceRole, engine: Plan["engine"]) {
    const ports: { name: string; port: number; targetPort: string; protocol: string }[] = [
        { name: "mysql", port: PORTS.mysql, targetPort: "mysql", protocol: "TCP" },
    ];
    if (role === "headless" && engine === "mariadb") ports.push({ name: "donor", port: PORTS.donor, targetPort: "donor", protocol: "TCP" });
    return ports;
}

function secretEnv(name: string, secret: string, key: string) {
    return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

export type SecretName = keyof typeof SECRET_KEYS;
const SECRET_ENV: Record<SecretName, string> = {
    root: "MMC_ROOT_PASSWORD",
    replication: "MMC_REPL_PASSWORD",
    seed: "MMC_SEED_PASSWORD",
    admin: "MMC_ADMIN_PASSWORD",
};
/**
 * The passwords each container gets: what its scripts validate (lib-env.sh `mmc_inputs_of`) together
 * with the scripts they start (run.sh starts init.sh, donor.sh starts probe.sh; the mysql container
 * also runs the probes). Nothing more: the switchover and failover Jobs never see root's password
 * (test/unit/podsec.test.ts derives this table from the scripts and compares).
 */
export const CONTAINER_SECRETS = {
    // every password: init.sh reconciles each account of its member with the Secret (a destroy then up)
    init: ["root", "replication", "seed", "admin"],
    mysql: ["root", "replication", "seed", "admin"],
    replicate: ["root", "replication", "seed", "admin"],
    donor: ["root", "seed"],
    // autofailover.sh: reads its own server (root), and promotes through failover.sh (replication, admin)
    "failover-agent": ["root", "replication", "admin"],
    switchover: ["replication", "admin"],
    failover: ["replication", "admin"],
} as const satisfies Record<string, readonly SecretName[]>;
export type ContainerName = keyof typeof CONTAINER_SECRETS;
/**
 * Containers that get the application's password (with `mysql.application`): init.sh creates nothing but
 * reconciles it (a destroy then up), replicate.sh creates the account on the primary, and the mysql
 * container runs init.sh again for a re-seed. Never the donor or the Jobs.
 */
export const APP_SECRET_CONTAINERS: readonly ContainerName[] = ["init", "mysql", "replicate"];

/**
 * Containers that mount the set's certificate Secret and get `MMC_TLS_DIR` (tls.enabled): each one that
 * runs the server or makes remote SQL or seed calls. The Jobs mount the CA alone (lib-env.sh
 * `mmc_tls_files_of`); the "labels" container talks to the Kubernetes API only.
 */
export const TLS_CONTAINERS = {
    init: "member",
    mysql: "member",
    replicate: "member",
    donor: "member",
    "failover-agent": "member",
    switchover: "ca",
    failover: "ca",
} as const satisfies Record<ContainerName, "member" | "ca">;

/**
 * The environment of a container: the same plain env for all (stable across phases: the topology
 * comes from the file) and only the passwords `container` uses (all four when none is named).
 */
export function containerEnv(plan: Plan, cluster: ClusterPlan, container?: ContainerName) {
    const names = objectNames(plan.set);
    const plain: Record<string, string> = {
        MMC_ENGINE: plan.engine,
        MMC_CLUSTER: cluster.name,
        MMC_PORT: String(PORTS.mysql),
        MMC_DONOR_PORT: String(PORTS.donor),
        MMC_SERVER_ID_BASE: String(plan.serverIdBase),
        MMC_GTID_DOMAIN_ID: String(plan.gtidDomainId),
        MMC_DATADIR: PATHS.data,
        MMC_CONF_DIR: PATHS.conf,
        MMC_BASE_CONF: `${PATHS.baseConf}/${CONFIG_KEYS.baseConf}`,
        MMC_TOPOLOGY_FILE: `${PATHS.topology}/${CONFIG_KEYS.topology}`,
        MMC_RUN_DIR: PATHS.run,
        MMC_SEMI_SYNC: plan.semiSync ? "on" : "off",
        MMC_MAX_LAG_SECONDS: String(plan.maxLagSeconds),
        MMC_REPL_USER: USERS.replication,
        MMC_SEED_USER: USERS.seed,
        MMC_ADMIN_USER: USERS.admin,
        // Only with an application: a set without one keeps its pod template unchanged.
        ...(plan.application ? { MMC_APP_USER: plan.application.user, MMC_APP_DATABASE: plan.application.database } : {}),
    };
    return [
        { name: "MMC_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ...Object.entries(plain).map(([name, value]) => ({ name, value })),
        ...(Object.keys(SECRET_ENV) as SecretName[])
            .filter((s) => container === undefined || (CONTAINER_SECRETS[container] as readonly SecretName[]).includes(s))
            .map((s) => secretEnv(SECRET_ENV[s], names.secret, SECRET_KEYS[s])),
        ...(plan.application && (container === undefined || APP_SECRET_CONTAINERS.includes(container))
            ? [secretEnv("MMC_APP_PASSWORD", names.secret, APP_SECRET_KEY)]
            : []),
        // Only with TLS: a set without it keeps its pod template unchanged.
        ...(plan.tls && container !== undefined ? [{ name: "MMC_TLS_DIR", value: PATHS.tls }] : []),
    ];
}

/**
 * The arbiter's inputs in the pod environment (automatic failover only; none in manual mode): the set's
 * etcd key prefix and the lease. The voters' endpoints are in the topology file (a voter change restarts
 * no member).
 */
export function arbiterEnv(plan: Plan): { name: string; value: string }[] {
    const auto = plan.autoFailover;
    if (!auto) return [];
    return [
        { name: "MMC_ARBITER_KEY", value: auto.key },
        { name: "MMC_LEASE_SECONDS", value: String(auto.leaseSeconds) },
    ];
}

/** The topology ConfigMap's `topology.env`: shell-sourceable `KEY='value'` lines. */
export function topologyEnv(t: Topology): string {
    const q = (v: string | number) => `'${String(v).replace(/'/g, `'\\''`)}'`;
    const vars: ReadonlyArray<readonly [string, string | number]> = [
        ["MMC_PRIMARY_ORDINAL", t.primaryOrdinal],
        ["MMC_WRITE_HOST", t.writeHost],
        ["MMC_PEERS", t.peers.map((p) => `${p.ordinal}=${p.host}`).join(" ")],
        ["MMC_DONORS", t.donors.join(" ")],
        ["MMC_EPOCH", t.epoch],
        ["MMC_LOST", t.lost.join(" ")],
        ["MMC_BOOTSTRAP", t.bootstrap ? "1" : "0"],
        ["MMC_SEED_TIMEOUT_SECONDS", t.seedTimeoutSeconds],
        // automatic failover only: a manual set's file stays as it was
        ...(t.arbiterEndpoints ? [["MMC_ARBITER_ENDPOINTS", t.arbiterEndpoints.join(" ")] as const] : []),
    ];
    return vars.map(([k, v]) => `${k}=${q(v)}`).join("\n") + "\n";
}

/**
 * Inputs the scripts read with a default of their own and the program leaves unset: tuning knobs and
 * test hooks (the data-plane tests set MMC_BIND_ADDRESS and MMC_REPLICATE_ONCE). Every other `MMC_*`
 * name a script reads is provided above or by a Job (test/unit/contract.test.ts keeps both sides equal).
 */
export const SCRIPT_DEFAULTED_INPUTS = [
    // unset: no application account (mysql.application)
    "MMC_APP_DATABASE",
    "MMC_APP_PASSWORD",
    "MMC_APP_USER",
    // the arbiter client's time limit per call and the fence margin (lib-arbiter.sh, autofailover.sh)
    "MMC_ARB_TIMEOUT",
    // the arbiter-members sidecar's interval (arbiter-member.sh watch: 10 s; the data-plane tier sets 2)
    "MMC_ARB_WATCH_SECONDS",
    "MMC_BIND_ADDRESS",
    "MMC_COMPONENT",
    "MMC_DONOR_HANDSHAKE_SECONDS",
    "MMC_DONOR_LOG_COPY_INTERVAL_MS",
    "MMC_DONOR_PARALLEL",
    "MMC_FENCE_MARGIN_SECONDS",
    "MMC_REPLICATE_INTERVAL_SECONDS",
    "MMC_REPLICATE_ONCE",
    "MMC_RESUME_AFTER_SECONDS",
    "MMC_SEED_PARALLEL",
    "MMC_SQL_TIMEOUT",
    // unset: no TLS; set (PATHS.tls) with tls.enabled, in the TLS_CONTAINERS only
    "MMC_TLS_DIR",
    "MMC_WAITING_PRIMARY_SEED_AFTER_SECONDS",
] as const;
