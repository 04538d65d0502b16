import * as z from "zod";
import { arbiterStatefulSetName, localVolumeName, switchoverJobName } from "./naming";

/** The Pulumi project name; stack config keys are `mysql-multicluster:<key>`. */
export const PROJECT = "mysql-multicluster";

/** A user error: one line naming the key and the value at fault. Never printed with a stack trace. */
export class ConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

// Kubernetes quantity: a decimal number with an optional binary or decimal suffix (1.5Gi, 500M, 10Gi).
const QUANTITY = /^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/;
const SUFFIX: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
};

/** Bytes of a Kubernetes quantity such as `10Gi`; undefined when malformed. */
export function quantityBytes(q: string): number | undefined {
    const m = QUANTITY.exec(q);
    return m ? Number(m[1]) * SUFFIX[m[3] ?? ""] : undefined;
}

// `pulumi config set` stores every value as a string (`primary: "1"`); numbers and booleans accept that form.
const fromCli = (v: unknown) => (typeof v !== "string" ? v : /^-?[0-9]+$/.test(v.trim()) ? Number(v) : v === "true" ? true : v === "false" ? false : v);
const int = (refine: (n: z.ZodNumber) => z.ZodNumber = (n) => n) => z.preprocess(fromCli, refine(z.number().int()));
const bool = () => z.preprocess(fromCli, z.boolean());

const quantity = z.string().refine((q) => quantityBytes(q) !== undefined, {
    message: "is not a Kubernetes quantity (e.g. 10Gi, 500Mi)",
});
// RFC 1123 label: what namespaces, StatefulSet names and cluster ids must be.
const dnsLabel = z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: "is not a DNS label (lower-case letters, digits, '-')" })
    .max(63, { message: "is longer than 63 characters (a DNS label)" });
// Node names are RFC 1123 subdomains; the program matches them as the value of the
// `kubernetes.io/hostname` label (node affinity), which holds at most 63 characters.
const nodeName = z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: "is not a valid node name" })
    .max(63, { message: "is longer than 63 characters: node affinity matches it as the kubernetes.io/hostname label value" });
// The set name also names Services, which must be RFC 1035 labels: a letter first.
const setName = dnsLabel.regex(/^[a-z]/, { message: "must start with a letter (it names Services, RFC 1035 labels)" });
// A volume size: whole bytes and at least 1Gi (`500m` is half a byte: the `m` suffix is milli).
const MIN_VOLUME = 2 ** 30;
const volumeSize = quantity.superRefine((q, ctx) => {
    const b = quantityBytes(q);
    if (b === undefined) return;
    const hint = /m$/.test(q) ? ` ("m" is milli; did you mean ${q.slice(0, -1)}Mi?)` : "";
    if (!Number.isInteger(b)) ctx.addIssue({ code: "custom", message: `is ${b} bytes, not a whole number of bytes${hint}` });
    else if (b < MIN_VOLUME) ctx.addIssue({ code: "custom", message: `is ${b} bytes; a volume must hold at least 1Gi${hint}` });
});
// An IPv4 or IPv6 CIDR as NetworkPolicy ipBlocks take it.
const cidr = z
    .string()
    .regex(/^(([0-9]{1,3}\.){3}[0-9]{1,3}\/[0-9]{1,2}|[0-9a-fA-F:]+:[0-9a-fA-F:]*\/[0-9]{1,3})$/, { message: "is not a CIDR (e.g. 10.244.0.0/16)" });
// matchLabels of a label selector: keys and values as Kubernetes takes them.
// (a transform: a leaf for schemaKeys, whose entries are the user's labels, not config keys)
const matchLabels = z
    .record(
        z.string().regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, { message: "is not a label key" }),
        z
            .string()
            .regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, { message: "is not a label value" })
            .max(63),
    )
    .transform((m) => m);

// Directories a local volume must never be (or, for the prefixes, lie under): the server's init container
// runs as root on the host directory, so a volume there could hide, or be mistaken for, the host's files.
const SYSTEM_DIRS = [
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/mnt",
    "/media",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/lib",
    "/var/tmp",
];
const SYSTEM_PREFIXES = [
    "/bin/",
    "/boot/",
    "/dev/",
    "/etc/",
    "/lib/",
    "/lib32/",
    "/lib64/",
    "/libx32/",
    "/proc/",
    "/root/",
    "/run/",
    "/sbin/",
    "/sys/",
    "/tmp/",
    "/usr/",
    "/var/run/",
    "/var/log/",
    "/var/tmp/",
    "/var/cache/",
    "/var/lib/kubelet/",
    "/var/lib/containerd/",
    "/var/lib/docker/",
    "/var/lib/etcd/",
    "/var/lib/dpkg/",
    "/var/lib/apt/",
];

/** Why `p` cannot back a local volume (undefined: it can). Exported for the unit tier. */
export function localPathProblem(p: string): string | undefined {
    if (!p.startsWith("/")) return "must be an absolute path";
    if (p === "/") return "is a system directory (the node's root); use a dedicated directory such as /data/mysql";
    if (p.length > 1 && p.endsWith("/")) return "must not end with '/'";
    const segments = p.split("/").slice(1);
    if (segments.some((s) => s === "")) return "must not contain '//'";
    if (segments.some((s) => s === "." || s === "..")) return "must not contain '.' or '..' segments";
    if (segments.some((s) => !/^[A-Za-z0-9_][A-Za-z0-9._@+-]*$/.test(s)))
        return "must be a plain path (letters, digits, '.', '_', '-', '@', '+'; no spaces or shell characters)";
    if (SYSTEM_DIRS.includes(p)) return "is a system directory; use a dedicated directory such as /data/mysql or /mnt/disks/mysql";
    const under = SYSTEM_PREFIXES.find((d) => (p + "/").startsWith(d));
    if (under) return `lies under the system directory ${under.slice(0, -1)}; use a dedicated directory such as /data/mysql or /mnt/disks/mysql`;
    if (/^\/home\/[^/]+$/.test(p)) return "is a home directory; use a dedicated directory such as /data/mysql";
    return undefined;
}

const localStorage = z.strictObject({
    /**
     * Directory on every listed node that backs the local PersistentVolume; each set uses its own
     * subdirectory `<namespace>_<set>` of it (kept as deployed: see `dataSubPath` in the deployed state).
     */
    localPath: z.string().superRefine((p, ctx) => {
        const why = localPathProblem(p);
        if (why) ctx.addIssue({ code: "custom", message: why });
    }),
    /** Capacity of each local PersistentVolume (default 15Gi); must hold `mysql.storageSize`. */
    capacity: volumeSize.default("15Gi"),
    /** Name of the StorageClass the program declares (default `<set>-local`). */
    storageClassName: dnsLabel.optional(),
});
const dynamicStorage = z.strictObject({
    /** An existing dynamic StorageClass; no PersistentVolumes are declared. */
    storageClass: z.string().min(1),
});

const toleration = z
    .strictObject({
        key: z.string().min(1),
        operator: z.enum(["Exists", "Equal"]).default("Exists"),
        value: z.string().optional(),
        effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
    })
    // The API server refuses a value with Exists (it matches any value of the key).
    .refine((t) => !(t.operator === "Exists" && t.value !== undefined), {
        message: "has operator Exists and a value; Exists matches every value of the key: drop value or use operator Equal",
    });

const cluster = z.strictObject({
    /** kubeconfig context; default: the kubeconfig's current context. */
    context: z.string().min(1).optional(),
    /** kubeconfig file path; default: $KUBECONFIG or ~/.kube/config. */
    kubeconfig: z.string().min(1).optional(),
    /** MCS cluster id (KEP-1645); default: the cluster's key. */
    clusterId: dnsLabel.optional(),
    /** Nodes the set may run on; pods are spread one per node. */
    nodes: z.array(nodeName).min(1, { message: "must list at least one node" }),
    storage: z.union([localStorage, dynamicStorage], {
        error: "must be { localPath, capacity } or { storageClass }",
    }),
    /** Tolerations for pods in this cluster (e.g. Kosmos's `kosmos.io/node` taint). */
    tolerations: z.array(toleration).default([]),
    /**
     * The addresses this cluster's pods reach the other clusters from (its pod CIDRs, or the MCS
     * gateway's/global addresses): the NetworkPolicies elsewhere admit them to the member ports.
     */
    podCidrs: z.array(cidr).optional(),
});

const resources = z
    .strictObject({
        cpu: quantity.default("500m"),
        memory: quantity.default("1Gi"),
        memoryLimit: quantity.default("2Gi"),
    })
    .superRefine((r, ctx) => {
        if (quantityBytes(r.memoryLimit)! < quantityBytes(r.memory)!) {
            ctx.addIssue({ code: "custom", path: ["memoryLimit"], message: `is below memory ${r.memory}; the API server refuses a limit under the request` });
        }
    });

/** Who may reach the client port (3306) besides the set's own pods and Jobs (NetworkPolicy peers). */
const clients = z.strictObject({
    /** Pods allowed (matchLabels); default every pod (`{}`). */
    podSelector: matchLabels.default({}),
    /** Namespaces those pods may be in (matchLabels); default only the set's own namespace. */
    namespaceSelector: matchLabels.optional(),
    /** Addresses allowed from outside the cluster (consumer clusters' pod CIDRs, load balancers). */
    ipBlocks: z.array(cidr).default([]),
});

// An account or database name of the application (mysql.application): unquoted-identifier characters
// only (lower case: table and database names are case-sensitive on some servers and not on others).
const sqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, { message: "is not an identifier (lower-case letters, digits, '_'; not a digit first)" });
/** Accounts the server or the data plane owns (components/contract.ts USERS): never the application's. */
export const RESERVED_USERS = ["root", "repl", "seed", "mmc_admin", "mysql", "mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema", "public"];
/** Databases the server or the data plane owns (`mmc`: the set's epoch record). */
export const RESERVED_DATABASES = ["mysql", "sys", "information_schema", "performance_schema", "mmc"];
/** Longest user name per engine (MySQL 32, MariaDB 80); a database name is at most 64 on both. */
export const USER_NAME_LIMIT = { mysql: 32, mariadb: 80 } as const;
export const DATABASE_NAME_LIMIT = 64;

const application = z.strictObject({
    /** The database the set creates for the application (never dropped). */
    database: sqlIdentifier,
    /** The application's account: all privileges on `database`, nothing else. */
    user: sqlIdentifier,
});

const mysql = z.strictObject({
    /** StatefulSet name; pods are `<name>-<ordinal>` in every cluster. Its limit: see `longestDerivedName`. */
    name: setName.default("mysql"),
    namespace: dnsLabel.default("mysql"),
    engine: z.enum(["mysql", "mariadb"]).default("mysql"),
    /** Engine version: default 9.7 for mysql (8.4 also supported), 10.11 for mariadb. */
    version: z
        .string()
        .regex(/^[0-9]+(\.[0-9]+){0,2}$/, { message: "is not a version like 10.11" })
        .optional(),
    /** Full image reference; overrides engine + version. Pin it by digest (`@sha256:...`): a tag is warned about. */
    image: z
        .string()
        .min(1)
        .refine((i) => !i.includes("@") || /@sha256:[0-9a-f]{64}$/.test(i), { message: "has a digest that is not @sha256:<64 hex digits>" })
        .optional(),
    storageSize: volumeSize.default("10Gi"),
    resources: resources.prefault({}),
    /** server-id = serverIdBase + ordinal. */
    serverIdBase: int((n) => n.min(1).max(4_000_000_000)).default(1000),
    /** MariaDB gtid_domain_id of the set. */
    gtidDomainId: int((n) => n.min(0).max(4_294_967_295)).default(0),
    /** Semi-synchronous replication: a commit is acknowledged once a replica has it. */
    semiSync: bool().default(true),
    /** Readiness fails when a replica lags more than this. */
    maxLagSeconds: int((n) => n.min(1)).default(30),
    /** Declare the namespace (never deleted by Pulumi: it holds the claims). */
    createNamespace: bool().default(true),
    /** Who may reach port 3306 (the NetworkPolicy); default every pod of the set's namespace. */
    clients: clients.prefault({}),
    /**
     * Bound of one seed of an empty member (stream or CLONE, then prepare): the init container gives up
     * after it, and `up` waits for a StatefulSet this long plus 10 minutes. Set it from the dataset:
     * data size / seed throughput (e.g. 200 GiB at 100 MiB/s = 35 min), doubled.
     */
    seedTimeoutMinutes: int((n) => n.min(5).max(10080)).default(60),
    /**
     * An application database and user (`{ database, user }`); its password is generated, and a
     * connection Secret `<set>-app` lands in every cluster that runs pods or consumes the set. Unset: none.
     */
    application: application.optional(),
});

const mcs = z.strictObject({
    profile: z.enum(["mcs-api", "ack-one", "kosmos"]).default("mcs-api"),
    /** Clusters that run no pods but whose clients use the set; they get ServiceImports. */
    consumers: z.array(z.string()).default([]),
});

const migration = z.strictObject({
    /** At most this many ordinals change cluster in one `pulumi up`. */
    maxMovesPerStep: int((n) => n.min(1)).default(1),
    /** Seconds the switchover Job may take before it fails and restores the old primary. */
    switchoverTimeoutSeconds: int((n) => n.min(5)).default(120),
    /** Accept a restart of the primary (a write pause, shown in the plan) in a rolling step. */
    allowPrimaryRestart: bool().default(false),
    /** Image of the Job that deletes a retired cluster's claims. */
    kubectlImage: z.string().min(1).default("registry.k8s.io/kubectl:v1.34.2"),
});

const failover = z.strictObject({
    /**
     * Clusters declared lost (their API server or their whole zone is gone): the step touches only the
     * other clusters, and their members are never required to answer. With `primary` set to a member of
     * a reachable cluster, the step is a failover.
     */
    lost: z.array(z.string()).min(1, { message: "must name at least one lost cluster (remove failover.lost when none is lost)" }).optional(),
    /**
     * `manual` (default): a failover is a config edit (`lost` and `primary`). `automatic`: an etcd arbiter
     * (one voter per voter cluster) holds the primary's lease; a primary that loses it fences itself and the
     * most advanced reachable member is promoted. Needs voters in at least three clusters.
     */
    mode: z.enum(["manual", "automatic"]).optional(),
    /** Clusters that run a witness (an etcd voter, no data) besides the clusters running members; automatic mode only. */
    witnesses: z.array(z.string()).optional(),
    /** TTL of the primary's lease (default 10, 5..60); the primary fences itself 3 s before it expires. Automatic mode only. */
    leaseSeconds: int((n) => n.min(5).max(60)).optional(),
    /** Image of the arbiter (etcd v3; default `registry.k8s.io/etcd:3.6.5-0`). Pin it by digest: a tag is warned about. Automatic mode only. */
    arbiterImage: z
        .string()
        .min(1)
        .refine((i) => !i.includes("@") || /@sha256:[0-9a-f]{64}$/.test(i), { message: "has a digest that is not @sha256:<64 hex digits>" })
        .optional(),
});

const tls = z.strictObject({
    /**
     * Verified TLS between members, for replication, seeds, probes across members and the Jobs (default
     * false): the program creates the set's CA and a certificate per member cluster. Never changed on a running set.
     */
    enabled: bool().optional(),
    /** Validity of the members' certificates in days (default 825, 1..3650); renewal is a `pulumi up` then a restart. */
    validityDays: int((n) => n.min(1).max(3650)).optional(),
});

/** Defaults of `tls.*`, applied in the plan: a config without `tls` leaves no trace of them (settings, objects). */
export const TLS_DEFAULTS = { enabled: false, validityDays: 825 } as const;

/** Defaults of automatic failover (`failover.*`), applied in the plan: manual mode leaves no trace of them. */
export const AUTO_FAILOVER_DEFAULTS = { leaseSeconds: 10, arbiterImage: "registry.k8s.io/etcd:3.6.5-0", fenceMarginSeconds: 3 } as const;
/** Automatic failover needs voters (etcd members) in this many clusters (failure domains) at least. */
export const MIN_VOTER_CLUSTERS = 3;

/**
 * The arbiter's voter clusters: every cluster that runs a member, and the witnesses, in the order of
 * `clusters` (`order`). One etcd voter each.
 */
export function voterClusters(order: readonly string[], placement: readonly string[], witnesses: readonly string[] = []): string[] {
    return order.filter((c) => placement.includes(c) || witnesses.includes(c));
}

const liveStatus = z.strictObject({
    /** Read the set's live status at `pulumi up`, before the step is declared, into the `liveStatus` output. */
    read: bool().default(true),
    /** Bound of that read in seconds: past it the output says so and the `up` goes on. */
    timeoutSeconds: int((n) => n.min(1).max(600)).default(30),
});

/**
 * The rules on where ordinals may run, for config validation and for the step's suggestions alike: one
 * StatefulSet per cluster holds one contiguous range of ordinals, and a cluster runs at most one pod per
 * listed node (`nodeCount` undefined: the cluster is unknown, reported elsewhere).
 */
export function placementIssues(
    placement: readonly string[],
    nodeCount: (cluster: string) => number | undefined,
): { path: (string | number)[]; message: string }[] {
    const issues: { path: (string | number)[]; message: string }[] = [];
    for (const c of new Set(placement)) {
        const ords = placement.flatMap((p, i) => (p === c ? [i] : []));
        const gap = ords.findIndex((o, j) => j > 0 && o !== ords[j - 1] + 1);
        if (gap > 0) {
            issues.push({
                path: ["placement", ords[gap]],
                message:
                    `cluster "${c}" would run ordinals ${ords.join(",")}, which are not contiguous; ` +
                    `one StatefulSet per cluster holds one contiguous range`,
            });
        }
        const nodes = nodeCount(c);
        if (nodes !== undefined && ords.length > nodes) {
            issues.push({
                path: ["placement"],
                message: `cluster "${c}" would run ${ords.length} pods but lists ${nodes} node(s) in clusters.${c}.nodes; ` + `pods are spread one per node`,
            });
        }
    }
    return issues;
}

/** Kubernetes' limit for a name that is also a label value or a DNS label. */
export const NAME_LIMIT = 63;

/**
 * The longest name the program derives from the set name for a set of `members` ordinals: the
 * switchover Job `<set>-switchover-<a>-to-<b>` (a Job's name is also its pods' `job-name` label, at most
 * 63). Others are shorter: `<set>-<ordinal>`, `<set>-retire`, `amcs-<set>-write` (ack-one).
 */
export function longestDerivedName(set: string, members: number): string {
    const last = Math.max(members - 1, 1);
    return switchoverJobName(set, { fromOrdinal: last, toOrdinal: last });
}

/** The longest set name that fits every derived name for `members` ordinals. */
export function setNameLimit(members: number): number {
    return NAME_LIMIT - longestDerivedName("", members).length;
}

/** The longest StatefulSet name: its pods' `controller-revision-hash` label is `<name>-<hash>`, at most 63. */
export const STATEFULSET_NAME_LIMIT = 52;

type FailoverConfig = z.output<typeof failover>;

/**
 * The rules of `failover.mode` and the keys that go with it, as issues (path, message). Manual mode takes
 * none of the automatic keys (they would do nothing: refused rather than ignored). Automatic mode needs
 * voters in three clusters at least; a witness must be a known, reachable cluster that stays.
 */
export function automaticFailoverIssues(
    cfg: {
        readonly clusters: Record<string, unknown>;
        readonly placement: readonly string[];
        readonly retire: readonly string[];
        readonly failover: FailoverConfig;
        readonly mysql: { readonly name: string; readonly semiSync: boolean };
    },
    order: readonly string[],
): { path: (string | number)[]; message: string }[] {
    const out: { path: (string | number)[]; message: string }[] = [];
    const fo = cfg.failover;
    const lost = fo.lost ?? [];
    if (fo.mode !== "automatic") {
        for (const key of ["witnesses", "leaseSeconds", "arbiterImage"] as const) {
            if (fo[key] !== undefined)
                out.push({
                    path: ["failover", key],
                    message: `has no effect with failover.mode ${fo.mode ?? "manual (the default)"}: set failover.mode: automatic, or remove failover.${key}`,
                });
        }
        return out;
    }
    if (!cfg.mysql.semiSync)
        out.push({
            path: ["failover", "mode"],
            message:
                "needs mysql.semiSync: true: with asynchronous replication a lost primary may have acknowledged commits no replica has, so the agents would refuse every promotion; set mysql.semiSync: true or keep failover.mode manual",
        });
    const witnesses = fo.witnesses ?? [];
    witnesses.forEach((c, i) => {
        const at = ["failover", "witnesses", i];
        if (!cfg.clusters[c]) out.push({ path: at, message: `cluster "${c}" is not in clusters (known: ${order.join(", ")})` });
        else if (witnesses.indexOf(c) !== i) out.push({ path: at, message: `cluster "${c}" is listed twice` });
        else if (lost.includes(c)) out.push({ path: at, message: `cluster "${c}" is in failover.lost: a witness must be reachable; name another cluster` });
        else if (cfg.retire.includes(c))
            out.push({ path: at, message: `cluster "${c}" is in retire: a retired cluster runs nothing, a witness included; name another cluster` });
    });
    const voters = voterClusters(order, cfg.placement, witnesses);
    if (voters.length < MIN_VOTER_CLUSTERS) {
        const members = order.filter((c) => cfg.placement.includes(c));
        const extra = witnesses.filter((c) => !members.includes(c));
        const spare = order.filter((c) => !voters.includes(c) && !lost.includes(c) && !cfg.retire.includes(c));
        const need = MIN_VOTER_CLUSTERS - voters.length;
        out.push({
            path: ["failover", "mode"],
            message:
                `needs arbiter voters in at least ${MIN_VOTER_CLUSTERS} clusters (failure domains); it has ${voters.length}: ` +
                `${members.join(", ")} (running members)${extra.length ? ` and ${extra.join(", ")} (failover.witnesses)` : witnesses.length ? "" : ", no witnesses"}; ` +
                (spare.length >= need
                    ? `add ${need === 1 ? "one" : need} of ${spare.join(", ")} to failover.witnesses`
                    : `add ${need - spare.length} cluster(s) to clusters and name ${need === 1 ? "it" : "them"} in failover.witnesses`),
        });
    }
    for (const c of voters) {
        const name = arbiterStatefulSetName(cfg.mysql.name, c);
        if (name.length > STATEFULSET_NAME_LIMIT)
            out.push({
                path: ["failover", "mode"],
                message: `the arbiter StatefulSet of cluster "${c}" would be ${name} (${name.length} characters; at most ${STATEFULSET_NAME_LIMIT}): shorten mysql.name or the cluster's name`,
            });
    }
    return out;
}

/** The whole stack config, keys without the `mysql-multicluster:` prefix. */
export const stackConfigSchema = z
    .strictObject({
        clusters: z
            .record(dnsLabel, cluster, {
                error: (iss) => (iss.input === undefined ? "is required: " : "must be ") + "a map of cluster name to { nodes, storage }",
            })
            .refine((c) => Object.keys(c).length > 0, { message: "must name at least one cluster" }),
        placement: z
            .array(z.string(), {
                error: (iss) => (iss.input === undefined ? "is required: " : "must be ") + "a list of cluster names, one per ordinal",
            })
            .min(1, {
                message: "must place at least one ordinal",
            }),
        primary: int((n) => n.min(0)).default(0),
        mysql: mysql.prefault({}),
        mcs: mcs.prefault({}),
        migration: migration.prefault({}),
        /** Clusters whose retained claims and volumes may now be deleted (the migration is done). */
        retire: z.array(z.string()).default([]),
        /** An outage: clusters declared lost; `primary` may then move to a reachable member (a failover). `{}`: none. */
        failover: failover.prefault({}),
        /** The live status read at `pulumi up` (never in a preview) and exported as `liveStatus`. */
        liveStatus: liveStatus.prefault({}),
        /** Verified TLS between the members (issue 13): `{ enabled, validityDays }`; `{}`: off. */
        tls: tls.prefault({}),
    })
    .superRefine((cfg, ctx) => {
        const names = Object.keys(cfg.clusters);
        const known = names.join(", ");
        const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });

        cfg.placement.forEach((c, i) => {
            if (!cfg.clusters[c]) issue(["placement", i], `cluster "${c}" is not in clusters (known: ${known})`);
        });
        for (const p of placementIssues(cfg.placement, (c) => cfg.clusters[c]?.nodes.length)) issue(p.path, p.message);
        if (cfg.primary >= cfg.placement.length) {
            issue(["primary"], `${cfg.primary} is out of range: placement has ordinals 0..${cfg.placement.length - 1}`);
        }
        const derived = longestDerivedName(cfg.mysql.name, cfg.placement.length);
        if (derived.length > NAME_LIMIT) {
            issue(
                ["mysql", "name"],
                `is ${cfg.mysql.name.length} characters; at most ${setNameLimit(cfg.placement.length)} for ${cfg.placement.length} ordinals ` +
                    `(the Job name ${derived} must fit ${NAME_LIMIT})`,
            );
        }
        // Two names for one real cluster: two parts of the program would manage one StatefulSet and its
        // volumes. A cluster is its kubeconfig (default: $KUBECONFIG or ~/.kube/config) and its context
        // (default: that kubeconfig's current context), so two clusters that leave both unset are one.
        const endpoints = new Map<string, string>();
        for (const [name, c] of Object.entries(cfg.clusters)) {
            const at = `${c.kubeconfig ?? ""}\0${c.context ?? ""}`;
            const other = endpoints.get(at);
            if (other !== undefined) {
                const ctx = c.context === undefined ? "the current context" : `context ${JSON.stringify(c.context)}`;
                const file = c.kubeconfig === undefined ? "the default kubeconfig" : `kubeconfig ${c.kubeconfig}`;
                issue(
                    ["clusters", name, "context"],
                    `${name} and ${other} both use ${ctx} of ${file}; they are the same cluster. Give each cluster its own context`,
                );
            } else endpoints.set(at, name);
        }
        const ids = new Map<string, string>();
        for (const [name, c] of Object.entries(cfg.clusters)) {
            const dup = new Set<string>();
            c.nodes.forEach((n, i) => {
                if (dup.has(n)) issue(["clusters", name, "nodes", i], `node "${n}" is listed twice`);
                dup.add(n);
            });
            const id = c.clusterId ?? name;
            if (ids.has(id)) issue(["clusters", name, "clusterId"], `"${id}" is already the id of cluster "${ids.get(id)}"`);
            ids.set(id, name);
            if ("localPath" in c.storage) {
                // Volume names are cut at 253 characters: two nodes must never share one.
                const volumes = new Map<string, string>();
                c.nodes.forEach((n, i) => {
                    const v = localVolumeName(cfg.mysql.name, n);
                    const other = volumes.get(v);
                    if (other !== undefined && other !== n)
                        issue(["clusters", name, "nodes", i], `node "${n}" and node "${other}" would share the volume name ${v}`);
                    volumes.set(v, n);
                });
                const cap = quantityBytes(c.storage.capacity)!;
                const want = quantityBytes(cfg.mysql.storageSize)!;
                if (cap < want) {
                    issue(
                        ["clusters", name, "storage", "capacity"],
                        `${c.storage.capacity} is smaller than mysql.storageSize ${cfg.mysql.storageSize}; no claim would bind`,
                    );
                }
            }
        }
        const app = cfg.mysql.application;
        if (app) {
            const limit = USER_NAME_LIMIT[cfg.mysql.engine];
            if (RESERVED_USERS.includes(app.user))
                issue(["mysql", "application", "user"], `is reserved (the server's or the data plane's own account; reserved: ${RESERVED_USERS.join(", ")})`);
            else if (app.user.length > limit)
                issue(["mysql", "application", "user"], `is ${app.user.length} characters; ${cfg.mysql.engine} allows at most ${limit} in a user name`);
            if (RESERVED_DATABASES.includes(app.database))
                issue(["mysql", "application", "database"], `is reserved (reserved: ${RESERVED_DATABASES.join(", ")})`);
            else if (app.database.length > DATABASE_NAME_LIMIT)
                issue(["mysql", "application", "database"], `is ${app.database.length} characters; at most ${DATABASE_NAME_LIMIT} in a database name`);
        }
        cfg.mcs.consumers.forEach((c, i) => {
            if (!cfg.clusters[c]) issue(["mcs", "consumers", i], `cluster "${c}" is not in clusters (known: ${known})`);
        });
        cfg.retire.forEach((c, i) => {
            if (!cfg.clusters[c]) issue(["retire", i], `cluster "${c}" is not in clusters (known: ${known})`);
            else if (cfg.placement.includes(c)) {
                issue(["retire", i], `cluster "${c}" still runs ordinals in placement; move them away before retiring it`);
            } else if (cfg.mcs.consumers.includes(c)) {
                issue(["retire", i], `cluster "${c}" is still listed in mcs.consumers`);
            }
        });
        const lost = cfg.failover?.lost ?? [];
        lost.forEach((c, i) => {
            if (!cfg.clusters[c]) issue(["failover", "lost", i], `cluster "${c}" is not in clusters (known: ${known})`);
            else if (lost.indexOf(c) !== i) issue(["failover", "lost", i], `cluster "${c}" is listed twice`);
            else if (cfg.placement[cfg.primary] === c) {
                const reachable = cfg.placement.findIndex((p) => !lost.includes(p) && cfg.clusters[p]);
                issue(
                    ["failover", "lost", i],
                    `cluster "${c}" runs the primary (primary: ${cfg.primary}); the new primary must run in a reachable cluster` +
                        (reachable >= 0
                            ? `: set primary: ${reachable} (or another member outside ${lost.join(", ")})`
                            : ": no member runs outside the lost clusters"),
                );
            } else if (cfg.retire.includes(c)) {
                issue(
                    ["failover", "lost", i],
                    `cluster "${c}" is also in retire: its retire Job cannot run while it is lost. Remove it from retire; once it runs no ordinals, remove it from clusters (its objects leave the state, its volumes are not touched)`,
                );
            }
        });
        automaticFailoverIssues(cfg, names).forEach((p) => issue(p.path, p.message));
        if (cfg.tls.validityDays !== undefined && cfg.tls.enabled !== true)
            issue(["tls", "validityDays"], "has no effect without tls.enabled: true: set tls.enabled: true, or remove tls.validityDays");
    });

export type StackConfig = z.output<typeof stackConfigSchema>;
export type ClusterConfig = StackConfig["clusters"][string];
export type MysqlConfig = StackConfig["mysql"];
export type McsProfile = StackConfig["mcs"]["profile"];

function formatPath(path: PropertyKey[]): string {
    return path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), "");
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
    let v: unknown = raw;
    for (const p of path) {
        if (v === null || typeof v !== "object") return undefined;
        v = (v as Record<PropertyKey, unknown>)[p];
    }
    return v;
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps): how far a typo is from a key. */
function distance(a: string, b: string): number {
    const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
            if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.length][b.length];
}

/** The keys the schema allows at `path` (record entries such as cluster names are any name). */
export function keysAt(path: readonly PropertyKey[]): string[] {
    const known = schemaKeys().map((k) => k.split("."));
    const want = path.map((p) => String(p));
    return [
        ...new Set(
            known
                .filter((k) => k.length > want.length && want.every((w, i) => k[i] === w || k[i] === "<name>"))
                .map((k) => k[want.length])
                .filter((k) => k !== "<name>"),
        ),
    ];
}

/** A hint for an unknown key: the known key it is probably a typo of. */
function didYouMean(key: string, known: readonly string[]): string {
    const best = known.map((k) => ({ k, d: distance(key.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d)[0];
    return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? `; did you mean ${best.k}?` : ` (known: ${known.join(", ")})`;
}

/** Formats one validation issue as `mysql-multicluster:<key>: <value> <message>` — one line. */
function formatIssue(raw: unknown, issue: z.core.$ZodIssue, more: readonly z.core.$ZodIssue[] = []): string {
    const key = `${PROJECT}:${formatPath(issue.path)}`;
    if (issue.code === "unrecognized_keys") {
        return issue.keys.map((k) => `${key}${issue.path.length ? "." : ""}${k}: unknown key${didYouMean(k, keysAt(issue.path))}`).join("; ");
    }
    const value = valueAt(raw, issue.path);
    if (value === undefined) return `${key}: ${issue.message.replace(/^Invalid input: expected (\w+), received undefined$/, "is required ($1)")}`;
    const shown = JSON.stringify(value);
    const says = (i: z.core.$ZodIssue) => (i.code === "custom" || /^(is|must|cluster|node|\d)/.test(i.message) ? i.message : i.message.toLowerCase());
    // Every limit the value breaks, in one line: the user fixes it once.
    const msg = [...new Set([issue, ...more].map(says))].join("; ");
    return `${key}: ${shown.length > 80 ? shown.slice(0, 77) + "..." : shown}: ${msg}`;
}

/**
 * Validates raw stack config (keys without the project prefix) and returns it typed with defaults.
 * Throws ConfigError with one line naming the first key and value at fault.
 */
export function parseStackConfig(raw: unknown): StackConfig {
    const res = stackConfigSchema.safeParse(raw ?? {});
    if (res.success) return res.data;
    // Report the most specific issue first: unknown keys (a typo also makes the real key "missing"),
    // then schema errors, then cross-field rules; with every other issue at the same key.
    const rank = (i: z.core.$ZodIssue) => (i.code === "unrecognized_keys" ? 0 : i.code === "custom" ? 2 : 1);
    const issues = [...res.error.issues].sort((a, b) => rank(a) - rank(b));
    const at = formatPath(issues[0].path);
    throw new ConfigError(
        formatIssue(
            raw,
            issues[0],
            issues.slice(1).filter((i) => formatPath(i.path) === at && i.code !== "unrecognized_keys"),
        ),
    );
}

/**
 * Turns a `Pulumi.<stack>.yaml` document's `config:` map (`mysql-multicluster:<key>` keys) into raw
 * config without the prefix. Keys of other namespaces (e.g. `kubernetes:`) are ignored; a key with our
 * prefix and a nested path (`mysql-multicluster:mysql.engine`) is not supported by Pulumi and refused.
 */
export function stripProjectPrefix(config: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) {
        if (!k.includes(":")) throw new ConfigError(`config key "${k}" has no namespace; use ${PROJECT}:${k}`);
        const [ns, key] = [k.slice(0, k.indexOf(":")), k.slice(k.indexOf(":") + 1)];
        if (ns !== PROJECT) continue;
        // `pulumi config set mysql.engine x` without --path stores a key with a dot in it.
        const top = key.split(".")[0];
        if (key.includes(".") && keysAt([]).includes(top)) {
            throw new ConfigError(
                `${k}: a nested key set without --path; run: pulumi config rm '${k}' && pulumi config set --path '${key}' <value> (use --path)`,
            );
        }
        // Pulumi secrets in stack files are { secure: ... } objects; this program takes none.
        if (v && typeof v === "object" && "secure" in (v as object)) {
            throw new ConfigError(`${k}: is a secret value; this program generates its own credentials and takes none`);
        }
        out[key] = v;
    }
    return out;
}

/** Raw config from Pulumi's flat `project:key` → string map (objects arrive as JSON text). */
export function rawFromPulumiConfig(all: Record<string, string>): Record<string, unknown> {
    const decoded: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(all)) {
        try {
            decoded[k] = JSON.parse(v);
        } catch {
            decoded[k] = v;
        }
    }
    return stripProjectPrefix(decoded);
}

/**
 * Every key the schema accepts, as dotted paths (`clusters.<name>.storage.localPath`): objects are
 * walked, a record's entries are `<name>`, a union of objects contributes every option's keys, and
 * anything else (scalars, lists) is a leaf. Used for "did you mean" and the change-behaviour table.
 */
export function schemaKeys(schema: z.core.$ZodType = stackConfigSchema, prefix = ""): string[] {
    // The whole schema's keys never change: walked once (the step judgement asks for them on every step).
    if (schema === stackConfigSchema && prefix === "") return [...(allSchemaKeys ??= walkSchemaKeys(schema, prefix))];
    return walkSchemaKeys(schema, prefix);
}
let allSchemaKeys: readonly string[] | undefined;

function walkSchemaKeys(schema: z.core.$ZodType, prefix: string): string[] {
    // zod's definitions are walked generically here: a union of shapes no static type names.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const def = (schema as any)._zod.def;
    const at = (k: string) => (prefix ? `${prefix}.${k}` : k);
    switch (def.type) {
        case "object":
            return Object.entries(def.shape as Record<string, z.core.$ZodType>).flatMap(([k, v]) => {
                const inner = schemaKeys(v, at(k));
                return inner.length ? [at(k), ...inner] : [at(k)];
            });
        case "record":
            return [at("<name>"), ...schemaKeys(def.valueType, at("<name>"))];
        case "union":
            return [...new Set((def.options as z.core.$ZodType[]).flatMap((o) => schemaKeys(o, prefix)))];
        case "default":
        case "prefault":
        case "optional":
        case "nullable":
            return schemaKeys(def.innerType, prefix);
        case "pipe":
            return schemaKeys(def.out, prefix);
        default:
            return [];
    }
}
