import { AUTO_FAILOVER_DEFAULTS, ClusterConfig, McsProfile, MysqlConfig, StackConfig, TLS_DEFAULTS, voterClusters } from "./config";
import { CHANGE_BEHAVIOUR, changeBehaviourOf } from "./changes";
import { NamingContext, ServiceRole, arbiterHost, objectNames, podHost, podName, serviceHost, serviceName } from "./naming";

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
    readonly primaryOrdinal: number;
    /** The write Service as this cluster resolves it; replicas replicate from it. */
    readonly writeHost: string;
    /** Every ordinal's per-pod name as this cluster resolves it. */
    readonly peers: ReadonlyArray<{ readonly ordinal: number; readonly host: string }>;
    /** Donor names in order of preference: local replicas, remote replicas, the primary last (lost members left out). */
    readonly donors: readonly string[];
    /** The set's generation (>= 1): every switchover and failover increments it (`MMC_EPOCH`). */
    readonly epoch: number;
    /** Ordinals the config declares lost (running in `failover.lost` clusters): never donors, never waited for (`MMC_LOST`). */
    readonly lost: readonly number[];
    /**
     * Initial bootstrap allowed: only on the set's first deployment (no previous state) may the primary
     * ordinal initialise an empty data directory when no member answers (`MMC_BOOTSTRAP`).
     */
    readonly bootstrap: boolean;
    /** Bound of one seed of an empty member (`mysql.seedTimeoutMinutes`, in seconds). */
    readonly seedTimeoutSeconds: number;
    /**
     * Automatic failover only: every arbiter voter's client `host:port` as this cluster resolves it, its
     * own voter first (`MMC_ARBITER_ENDPOINTS`; in the file, so a voter change restarts no member).
     */
    readonly arbiterEndpoints?: readonly string[];
}

/** Automatic failover (`failover.mode: automatic`): the arbiter and the lease. */
export interface AutoFailoverPlan {
    /** Clusters running an etcd voter, in `clusters` order: those running members, and the witnesses. */
    readonly voters: readonly string[];
    /** Voter clusters that run no member (`failover.witnesses` minus member clusters). */
    readonly witnesses: readonly string[];
    readonly leaseSeconds: number;
    /** The holder fences itself once its last good keepalive is this old: lease minus the margin (3 s). */
    readonly fenceSeconds: number;
    /** Semi-sync timeout in ms: above the fence deadline, so a partitioned primary fences before it commits asynchronously. */
    readonly semiSyncTimeoutMs: number;
    readonly image: string;
    /** The etcd key prefix of the set (`MMC_ARBITER_KEY`). */
    readonly key: string;
    /** etcd's `--initial-cluster`: `<cluster>=http://<cross-cluster name>:2380`, every voter, the same string everywhere. */
    readonly initialCluster: string;
    /** Voters this step adds to an arbiter that already runs: they join it (`--initial-cluster-state existing`) once added to it. */
    readonly joining: readonly string[];
    /** Voters of the running arbiter this step drops (their etcd members must be removed from it). */
    readonly leaving: readonly string[];
    /** The voters of the arbiter deployed before; undefined: none ran (this step starts it). */
    readonly previousVoters?: readonly string[];
}

/** etcd's client and peer ports. */
export const ARBITER_PORTS = { client: 2379, peer: 2380 } as const;

/** The automatic-failover decision of a config (undefined in manual mode). Pure. */
export function autoFailoverPlan(cfg: StackConfig, ctx: NamingContext, previousVoters?: readonly string[]): AutoFailoverPlan | undefined {
    const fo = cfg.failover;
    if (fo.mode !== "automatic") return undefined;
    const voters = voterClusters(Object.keys(cfg.clusters), cfg.placement, fo.witnesses ?? []);
    const was = previousVoters ?? [];
    const leaseSeconds = fo.leaseSeconds ?? AUTO_FAILOVER_DEFAULTS.leaseSeconds;
    return {
        voters,
        witnesses: voters.filter((c) => !cfg.placement.includes(c)),
        leaseSeconds,
        fenceSeconds: leaseSeconds - AUTO_FAILOVER_DEFAULTS.fenceMarginSeconds,
        semiSyncTimeoutMs: (leaseSeconds + 5) * 1000,
        image: fo.arbiterImage ?? AUTO_FAILOVER_DEFAULTS.arbiterImage,
        key: `/mysql-multicluster/${cfg.mysql.namespace}/${cfg.mysql.name}`,
        initialCluster: voters.map((v) => `${v}=http://${arbiterHost(ctx, v, "")}:${ARBITER_PORTS.peer}`).join(","),
        joining: previousVoters ? voters.filter((v) => !was.includes(v)) : [],
        leaving: was.filter((v) => !voters.includes(v)),
        ...(previousVoters ? { previousVoters: [...previousVoters] } : {}),
    };
}

/** Verified TLS between the members (`tls.enabled`): the set's CA and one certificate per member cluster. */
export interface TlsPlan {
    /** Validity of the members' certificates in days (`tls.validityDays`). */
    readonly validityDays: number;
}

/** The TLS decision of a config (undefined: off, the default). Pure. */
export function tlsPlan(cfg: StackConfig): TlsPlan | undefined {
    if (!(cfg.tls?.enabled ?? TLS_DEFAULTS.enabled)) return undefined;
    return { validityDays: cfg.tls.validityDays ?? TLS_DEFAULTS.validityDays };
}

/** What the plan takes from the deployment history (the previous state), not from the config. */
export interface DeployHistory {
    /** No previous state: the set's first deployment (initial bootstrap allowed). */
    readonly firstDeployment: boolean;
    /** The set's generation after this step (`epochAfter`; 1 when not given). */
    readonly epoch?: number;
    /**
     * The set-specific subdirectory of a local volume as deployed before (undefined: none deployed yet,
     * use the default; "": a set deployed before the subdirectory existed keeps its data at the root).
     */
    readonly dataSubPath?: string;
    /** The voter clusters of the arbiter deployed before (automatic failover); undefined: none ran. */
    readonly arbiterVoters?: readonly string[];
}
export const FIRST_DEPLOYMENT: DeployHistory = { firstDeployment: true };

/** The subdirectory of a local volume a new set uses: namespace and set name ('_' occurs in neither). */
export function defaultDataSubPath(namespace: string, set: string): string {
    return `${namespace}_${set}`;
}

/** A ServiceImport a cluster declares (profiles whose imports are manual). */
export interface ImportPlan {
    readonly role: ServiceRole;
    readonly name: string;
    readonly type: "Headless" | "ClusterSetIP";
}

/** Where a cluster's claims live: static local volumes on a class the program declares, or an existing dynamic class. */
export type StoragePlan =
    | { readonly kind: "local"; readonly storageClassName: string; readonly localPath: string; readonly capacity: string }
    | { readonly kind: "dynamic"; readonly storageClassName: string };

/** Everything decided for one cluster. */
export interface ClusterPlan {
    readonly name: string;
    readonly clusterId: string;
    /** kubeconfig context and file of the cluster's provider (unset: the kubeconfig's defaults). */
    readonly context?: string;
    readonly kubeconfig?: string;
    /** Nodes the pods may use, one pod per node; a local volume on each when storage is local. */
    readonly nodes: readonly string[];
    readonly tolerations: ClusterConfig["tolerations"];
    /** Addresses this cluster's pods reach other clusters from (NetworkPolicy ipBlocks elsewhere); unset: unknown. */
    readonly podCidrs?: readonly string[];
    readonly storage: StoragePlan;
    /** Ordinals this cluster's StatefulSet runs: one contiguous range, possibly empty. */
    readonly ordinals: readonly number[];
    /** `spec.ordinals.start` of the slice. */
    readonly ordinalsStart: number;
    /** `spec.replicas` of the slice: the pods this cluster runs, the primary included. */
    readonly podCount: number;
    readonly runsPrimary: boolean;
    /** Retired: the user declared the migration done; retained claims and volumes may go. */
    readonly retired: boolean;
    /** Listed in `mcs.consumers`: runs no pods, its clients use the set. */
    readonly consumer: boolean;
    /** ServiceExports for the three Services (this cluster runs pods of a multi-cluster set). */
    readonly exports: boolean;
    /** ServiceImports this cluster declares (manual-import profiles only). */
    readonly imports: readonly ImportPlan[];
    readonly topology: Topology;
    /** The read Service as this cluster resolves it (its own when it runs pods). */
    readonly readHost: string;
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
    /** In the order of the config's `clusters` map. */
    readonly clusters: readonly ClusterPlan[];
    /** The set's write Service as any other cluster resolves it. */
    readonly writeEndpoint: string;
    /** Clusters declared done, in config order. */
    readonly retire: readonly string[];
    /** Declare the namespace (never deleted: it holds the claims). */
    readonly createNamespace: boolean;
    /** Claim size of every ordinal's volume. */
    readonly storageSize: string;
    readonly resources: MysqlConfig["resources"];
    /** Who may reach port 3306 besides the set's pods and Jobs (the NetworkPolicy). */
    readonly clients: MysqlConfig["clients"];
    /** server-id = serverIdBase + ordinal. */
    readonly serverIdBase: number;
    readonly gtidDomainId: number;
    readonly semiSync: boolean;
    readonly maxLagSeconds: number;
    readonly migration: StackConfig["migration"];
    /** What every name depends on; `podHost`/`serviceHost` take it. */
    readonly naming: NamingContext;
    /**
     * The value (JSON) of every config key with a change behaviour, flattened to dotted keys, e.g.
     * `"mysql.storageSize": "\"10Gi\""`; the deployed state records it and the next step compares it.
     */
    readonly settings: Readonly<Record<string, string>>;
    /** The set's generation after this step (1 unless given: the step judgement computes it from the deployed state). */
    readonly epoch: number;
    /** Clusters declared lost (`failover.lost`): the step leaves their objects as deployed. */
    readonly lost: readonly string[];
    /** Ordinals running in lost clusters. */
    readonly lostOrdinals: readonly number[];
    /**
     * Subdirectory of every local volume this set's data lives in (`subPath` of the data mount; "": the
     * volume's root, for a set first deployed before it existed). Recorded in the deployed state and kept.
     */
    readonly dataSubPath: string;
    /** Bound of one seed (`mysql.seedTimeoutMinutes`): the init container's deadline and, with margin, `up`'s wait. */
    readonly seedTimeoutMinutes: number;
    /** The application's database and user (`mysql.application`); undefined: none. */
    readonly application?: { readonly database: string; readonly user: string };
    /** Automatic failover (`failover.mode: automatic`); undefined: manual (failover by config only). */
    readonly autoFailover?: AutoFailoverPlan;
    /** Verified TLS (`tls.enabled`); undefined: off (no certificate, no mount, nothing rendered differs). */
    readonly tls?: TlsPlan;
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

/** The value of every config key, flattened to dotted keys (JSON values); the next step compares them. */
export function settingsOf(cfg: StackConfig): Record<string, string> {
    const out: Record<string, string> = {};
    // A key whose row has no rows under it is one setting even when its value is a map (label selectors).
    const leafRow = (key: string) => {
        const row = key
            .split(".")
            .map((p, i, all) => (all[0] === "clusters" && i === 1 ? "<name>" : p))
            .join(".");
        return changeBehaviourOf(key) !== undefined && !Object.keys(CHANGE_BEHAVIOUR).some((k) => k.startsWith(`${row}.`));
    };
    const walk = (v: unknown, key: string) => {
        if (v && typeof v === "object" && !Array.isArray(v) && !leafRow(key)) {
            for (const [k, x] of Object.entries(v)) walk(x, key ? `${key}.${k}` : k);
            return;
        }
        if (v !== undefined && changeBehaviourOf(key)) out[key] = JSON.stringify(v);
    };
    walk(cfg, "");
    out["mysql.image"] = JSON.stringify(imageOf(cfg.mysql));
    return out;
}

/** Donors for a pod in `from`: ready replicas nearby first, remote replicas next, the primary last. */
export function donorOrder(cfg: StackConfig, ctx: NamingContext, from: string): string[] {
    const lost = cfg.failover?.lost ?? [];
    const ordinals = cfg.placement.map((c, o) => ({ o, c })).filter(({ c }) => !lost.includes(c));
    const replicas = ordinals.filter(({ o }) => o !== cfg.primary);
    const local = replicas.filter(({ c }) => c === from);
    const remote = replicas.filter(({ c }) => c !== from);
    return [...local, ...remote, { o: cfg.primary, c: cfg.placement[cfg.primary] }].map(({ o, c }) => podHost(ctx, o, c, from));
}

/** The storage decision of one cluster, made once: the class its claims use and the volumes it needs. */
export function storagePlan(set: string, storage: ClusterConfig["storage"]): StoragePlan {
    return "localPath" in storage
        ? {
              kind: "local",
              storageClassName: storage.storageClassName ?? objectNames(set).storageClass,
              localPath: storage.localPath,
              capacity: storage.capacity,
          }
        : { kind: "dynamic", storageClassName: storage.storageClass };
}

/**
 * Decides everything the components declare, from validated config and the deployment history (the
 * previous state: first deployment or not, the data subdirectory, the epoch `epochAfter` derives). Pure.
 */
export function buildPlan(cfg: StackConfig, history: DeployHistory = FIRST_DEPLOYMENT): Plan {
    const epoch = history.epoch ?? 1;
    const lost = cfg.failover?.lost ?? [];
    const lostOrdinals = cfg.placement.flatMap((c, o) => (lost.includes(c) ? [o] : []));
    const ctx = namingContext(cfg);
    const set = cfg.mysql.name;
    const primaryCluster = cfg.placement[cfg.primary];
    const withPods = new Set(cfg.placement);
    const multiCluster = withPods.size > 1 || cfg.mcs.consumers.length > 0;
    const manualImports = cfg.mcs.profile !== "mcs-api";
    const auto = autoFailoverPlan(cfg, ctx, history.arbiterVoters);
    const tls = tlsPlan(cfg);

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
            context: config.context,
            kubeconfig: config.kubeconfig,
            nodes: config.nodes,
            tolerations: config.tolerations,
            podCidrs: config.podCidrs,
            storage: storagePlan(set, config.storage),
            ordinals,
            ordinalsStart: ordinals[0] ?? 0,
            podCount: ordinals.length,
            runsPrimary: name === primaryCluster,
            retired,
            consumer,
            exports: multiCluster && ordinals.length > 0,
            imports,
            readHost: serviceHost(ctx, "read", readServing, name),
            topology: {
                primaryOrdinal: cfg.primary,
                // Automatic failover moves the primary between clusters without a config change: every
                // cluster of a multi-cluster set then uses the cross-cluster name, which follows it.
                writeHost: serviceHost(ctx, "write", primaryCluster, auto && multiCluster ? "" : name),
                peers: pods.map((p) => ({ ordinal: p.ordinal, host: podHost(ctx, p.ordinal, p.cluster, name) })),
                donors: donorOrder(cfg, ctx, name),
                epoch,
                lost: lostOrdinals,
                bootstrap: history.firstDeployment,
                seedTimeoutSeconds: cfg.mysql.seedTimeoutMinutes * 60,
                // this cluster's own voter first (the nearest; the client tries the others after it)
                ...(auto
                    ? {
                          arbiterEndpoints: [...auto.voters.filter((v) => v === name), ...auto.voters.filter((v) => v !== name)].map(
                              (v) => `${arbiterHost(ctx, v, name)}:${ARBITER_PORTS.client}`,
                          ),
                      }
                    : {}),
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
        writeEndpoint: serviceHost(ctx, "write", primaryCluster, ""),
        retire: cfg.retire,
        createNamespace: cfg.mysql.createNamespace,
        ...(cfg.mysql.application ? { application: { ...cfg.mysql.application } } : {}),
        storageSize: cfg.mysql.storageSize,
        resources: cfg.mysql.resources,
        clients: cfg.mysql.clients,
        serverIdBase: cfg.mysql.serverIdBase,
        gtidDomainId: cfg.mysql.gtidDomainId,
        semiSync: cfg.mysql.semiSync,
        maxLagSeconds: cfg.mysql.maxLagSeconds,
        migration: cfg.migration,
        naming: ctx,
        settings: settingsOf(cfg),
        epoch,
        lost,
        lostOrdinals,
        dataSubPath: history.dataSubPath ?? defaultDataSubPath(cfg.mysql.namespace, set),
        seedTimeoutMinutes: cfg.mysql.seedTimeoutMinutes,
        ...(auto ? { autoFailover: auto } : {}),
        ...(tls ? { tls } : {}),
    };
}

/** Plain fixed-width table. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: readonly string[]) =>
        r
            .map((c, i) => c.padEnd(widths[i]))
            .join("  ")
            .trimEnd();
    return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
