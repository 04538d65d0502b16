import { ClusterConfig, McsProfile, StackConfig } from "./config";
import { NamingContext, ServiceRole, podHost, podName, serviceHost, serviceName } from "./naming";

/** Default images per engine: the releases the data-plane tier runs for real (MySQL 9.7 LTS, MariaDB 10.11 LTS). */
export const DEFAULT_VERSION = { mysql: "9.7", mariadb: "10.11" } as const;

export type Role = "primary" | "replica";

/** One ordinal of the set: where it runs and the names it answers to. */
export interface PodPlan {
    readonly ordinal: number;
    readonly name: string;
    readonly cluster: string;
    readonly role: Role;
    /** The name other clusters reach this pod by (the MCS profile's per-pod name). */
    readonly crossClusterHost: string;
}

/** What the scripts of one cluster's pods are told about the set (ConfigMap `<set>-topology`). */
export interface Topology {
    readonly replicas: number;
    readonly primaryOrdinal: number;
    /** The write Service as this cluster resolves it; replicas replicate from it. */
    readonly writeHost: string;
    /** The read Service as this cluster resolves it. */
    readonly readHost: string;
    /** Every ordinal's per-pod name as this cluster resolves it. */
    readonly peers: ReadonlyArray<{ readonly ordinal: number; readonly host: string }>;
    /** Donor names in order of preference: local replicas, remote replicas, the primary last. */
    readonly donors: readonly string[];
}

/** A ServiceImport a cluster declares (profiles whose imports are manual). */
export interface ImportPlan {
    readonly role: ServiceRole;
    readonly name: string;
    readonly type: "Headless" | "ClusterSetIP";
}

/** Everything decided for one cluster. */
export interface ClusterPlan {
    readonly name: string;
    readonly clusterId: string;
    readonly config: ClusterConfig;
    /** Ordinals this cluster's StatefulSet runs: one contiguous range, possibly empty. */
    readonly ordinals: readonly number[];
    /** `spec.ordinals.start` and `spec.replicas` of the slice. */
    readonly start: number;
    readonly replicas: number;
    readonly runsPrimary: boolean;
    /** Retired: the user declared the migration done; retained claims and volumes may go. */
    readonly retired: boolean;
    /** ServiceExports for the three Services (this cluster runs pods of a multi-cluster set). */
    readonly exports: boolean;
    /** ServiceImports this cluster declares (manual-import profiles only). */
    readonly imports: readonly ImportPlan[];
    readonly topology: Topology;
}

/** The decided shape of the whole set for one phase. */
export interface Plan {
    readonly set: string;
    readonly namespace: string;
    readonly engine: StackConfig["mysql"]["engine"];
    readonly image: string;
    readonly profile: McsProfile;
    /** True when MCS objects are needed: pods in several clusters, or consumer clusters. */
    readonly multiCluster: boolean;
    readonly primary: number;
    readonly primaryCluster: string;
    readonly placement: readonly string[];
    readonly pods: readonly PodPlan[];
    readonly clusters: readonly ClusterPlan[];
}

export function imageOf(mysql: StackConfig["mysql"]): string {
    return mysql.image ?? `${mysql.engine}:${mysql.version ?? DEFAULT_VERSION[mysql.engine]}`;
}

export function namingContext(cfg: StackConfig): NamingContext {
    return {
        set: cfg.mysql.name,
        namespace: cfg.mysql.namespace,
        profile: cfg.mcs.profile,
        clusterIdOf: (c) => cfg.clusters[c]?.clusterId ?? c,
    };
}

/** Donors for a pod in `from`: ready replicas nearby first, remote replicas next, the primary last. */
export function donorOrder(cfg: StackConfig, ctx: NamingContext, from: string): string[] {
    const ordinals = cfg.placement.map((c, o) => ({ o, c }));
    const replicas = ordinals.filter(({ o }) => o !== cfg.primary);
    const local = replicas.filter(({ c }) => c === from);
    const remote = replicas.filter(({ c }) => c !== from);
    return [...local, ...remote, { o: cfg.primary, c: cfg.placement[cfg.primary] }].map(({ o, c }) =>
        podHost(ctx, o, c, from),
    );
}

/** Decides everything the components declare, from validated config alone. Pure. */
export function buildPlan(cfg: StackConfig): Plan {
    const ctx = namingContext(cfg);
    const set = cfg.mysql.name;
    const primaryCluster = cfg.placement[cfg.primary];
    const withPods = new Set(cfg.placement);
    const multiCluster = withPods.size > 1 || cfg.mcs.consumers.length > 0;
    const manualImports = cfg.mcs.profile !== "mcs-api";

    const pods: PodPlan[] = cfg.placement.map((cluster, ordinal) => ({
        ordinal,
        name: podName(set, ordinal),
        cluster,
        role: ordinal === cfg.primary ? "primary" : "replica",
        crossClusterHost: podHost(ctx, ordinal, cluster, ""),
    }));

    const clusters: ClusterPlan[] = Object.entries(cfg.clusters).map(([name, config]) => {
        const ordinals = pods.filter((p) => p.cluster === name).map((p) => p.ordinal);
        const retired = cfg.retire.includes(name);
        const consumer = cfg.mcs.consumers.includes(name);
        const importsNeeded = multiCluster && manualImports && !retired && (ordinals.length > 0 || consumer);
        const imports: ImportPlan[] = importsNeeded
            ? (["headless", "write", "read"] as const).map((role) => ({
                  role,
                  name: serviceName(set, role),
                  type: role === "headless" ? "Headless" : "ClusterSetIP",
              }))
            : [];
        // The read Service a cluster uses is its own when it runs pods, else any serving cluster's.
        const readServing = ordinals.length > 0 ? name : primaryCluster;
        return {
            name,
            clusterId: ctx.clusterIdOf(name),
            config,
            ordinals,
            start: ordinals[0] ?? 0,
            replicas: ordinals.length,
            runsPrimary: name === primaryCluster,
            retired,
            exports: multiCluster && ordinals.length > 0,
            imports,
            topology: {
                replicas: cfg.placement.length,
                primaryOrdinal: cfg.primary,
                writeHost: serviceHost(ctx, "write", primaryCluster, name),
                readHost: serviceHost(ctx, "read", readServing, name),
                peers: pods.map((p) => ({ ordinal: p.ordinal, host: podHost(ctx, p.ordinal, p.cluster, name) })),
                donors: donorOrder(cfg, ctx, name),
            },
        };
    });

    return {
        set,
        namespace: cfg.mysql.namespace,
        engine: cfg.mysql.engine,
        image: imageOf(cfg.mysql),
        profile: cfg.mcs.profile,
        multiCluster,
        primary: cfg.primary,
        primaryCluster,
        placement: cfg.placement,
        pods,
        clusters,
    };
}

/** The topology ConfigMap's `topology.env`: shell-sourceable `KEY='value'` lines. */
export function topologyEnv(t: Topology): string {
    const q = (v: string | number) => `'${String(v).replace(/'/g, `'\\''`)}'`;
    const vars: ReadonlyArray<readonly [string, string | number]> = [
            ["MMC_REPLICAS", t.replicas],
            ["MMC_PRIMARY_ORDINAL", t.primaryOrdinal],
            ["MMC_WRITE_HOST", t.writeHost],
            ["MMC_READ_HOST", t.readHost],
            ["MMC_PEERS", t.peers.map((p) => `${p.ordinal}=${p.host}`).join(" ")],
            ["MMC_DONORS", t.donors.join(" ")],
    ];
    return vars.map(([k, v]) => `${k}=${q(v)}`).join("\n") + "\n";
}

/** A placement table a DBA reads at a glance: ordinal, cluster, role, cross-cluster name. */
export function placementTable(plan: Plan): string {
    const rows = plan.pods.map((p) => [String(p.ordinal), p.cluster, p.role, p.name, p.crossClusterHost]);
    return formatTable(["ordinal", "cluster", "role", "pod", "cross-cluster name"], rows);
}

/** Plain fixed-width table. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
