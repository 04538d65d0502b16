import { McsProfile } from "./config";

/** The three Services every slice declares, by role. */
export type ServiceRole = "headless" | "write" | "read";

/** What a name depends on: the set, its namespace and the multi-cluster profile. */
export interface NamingContext {
    readonly set: string;
    readonly namespace: string;
    readonly profile: McsProfile;
    /** MCS cluster id of a cluster name. */
    readonly clusterIdOf: (cluster: string) => string;
}

/** Object names inside a cluster; identical in every cluster so a pod finds the same things anywhere. */
export function objectNames(set: string) {
    return {
        statefulSet: set,
        secret: `${set}-credentials`,
        config: `${set}-config`,
        scripts: `${set}-scripts`,
        topology: `${set}-topology`,
        /** Budget of the replicas (one at a time); the name predates the split, so an upgrade updates it in place. */
        pdb: set,
        /** Budget of the primary's pod (no disruption allowed). */
        pdbPrimary: `${set}-primary`,
        /** The NetworkPolicy in front of the database pods. */
        networkPolicy: `${set}-database`,
        /** Default name of the StorageClass declared for local volumes (`storage.storageClassName` overrides it). */
        storageClass: `${set}-local`,
        /** ServiceAccount, Role, RoleBinding and Job of a retired cluster's claim deletion. */
        retire: `${set}-retire`,
        /** The application's connection Secret (mysql.application). */
        connection: `${set}-app`,
        /** The member certificate Secret (tls.enabled): `ca.crt`, `tls.crt`, `tls.key`. */
        tls: `${set}-tls`,
        /** The set CA alone (`ca.crt`), for the Jobs (tls.enabled). */
        tlsCa: `${set}-tls-ca`,
    };
}

/** Kubernetes name of the switchover Job; one per direction so a later switch back is a new Job. */
export function switchoverJobName(set: string, s: { readonly fromOrdinal: number; readonly toOrdinal: number }): string {
    return `${set}-switchover-${s.fromOrdinal}-to-${s.toOrdinal}`;
}

/** Kubernetes name of the failover Job: one per epoch, so every failover is a new Job. */
export function failoverJobName(set: string, epoch: number): string {
    return `${set}-failover-e${epoch}`;
}

/**
 * The arbiter (automatic failover's etcd voters). Each voter cluster runs its own StatefulSet of one pod,
 * named after the cluster: pod names stay unique across clusters (profiles whose imported headless
 * Service keeps one name need that) and stable across phases. They share the headless Service.
 */
export function arbiterNames(set: string) {
    return {
        /** Headless (governing) Service of every voter cluster's arbiter pod, exported like the members'. */
        service: `${set}-arbiter`,
        /** ConfigMap of the etcd bootstrap settings (read only at a voter's first start). */
        config: `${set}-arbiter`,
        networkPolicy: `${set}-arbiter`,
        /** StorageClass of the arbiter's static local volumes (clusters with localPath storage). */
        storageClass: `${set}-arbiter-local`,
    };
}

/** The arbiter StatefulSet of one voter cluster (also the etcd member's pod name prefix). */
export function arbiterStatefulSetName(set: string, cluster: string): string {
    return `${set}-arbiter-${cluster}`;
}

/** Name of the arbiter's local PersistentVolume on a node; stable across phases. */
export function arbiterVolumeName(set: string, node: string): string {
    return `${set}-arbiter-${node}`.slice(0, 253);
}

/**
 * The name under which cluster `from` reaches the arbiter pod of voter cluster `voter` (as `podHost`
 * for members; `from` "" gives the cross-cluster name, the one every voter agrees on).
 */
export function arbiterHost(ctx: NamingContext, voter: string, from: string): string {
    return hostOf(ctx, `${arbiterStatefulSetName(ctx.set, voter)}-0`, arbiterNames(ctx.set).service, voter, from);
}

/** Claim name of an ordinal: the StatefulSet's volumeClaimTemplate `data`. */
export function claimName(set: string, ordinal: number): string {
    return `data-${set}-${ordinal}`;
}

/** Name of the local PersistentVolume on a node; stable across phases. */
export function localVolumeName(set: string, node: string): string {
    return `${set}-data-${node}`.slice(0, 253);
}

/** Pulumi name of a cluster's Kubernetes provider. Tools map it back through the program's outputs, never by parsing it. */
export function providerName(cluster: string): string {
    return `k8s-${cluster}`;
}

/** Kubernetes name of a Service role: the headless (governing) Service carries the set's name. */
export function serviceName(set: string, role: ServiceRole): string {
    return role === "headless" ? set : `${set}-${role}`;
}

/** Pod name of an ordinal; the same in every cluster (KEP-3335 ordinals keep names stable). */
export function podName(set: string, ordinal: number): string {
    return `${set}-${ordinal}`;
}

/**
 * The name under which cluster `from` reaches a Service that cluster `serving` provides.
 * - same cluster: the ordinary `<svc>.<ns>.svc.cluster.local`;
 * - mcs-api (KEP-1645): `<svc>.<ns>.svc.clusterset.local`;
 * - ack-one: the imported Service is materialised as `amcs-<svc>` in the consumer;
 * - kosmos: the imported Service keeps its name in the consumer.
 */
export function serviceHost(ctx: NamingContext, role: ServiceRole, serving: string, from: string): string {
    const svc = serviceName(ctx.set, role);
    if (serving === from) return `${svc}.${ctx.namespace}.svc.cluster.local`;
    switch (ctx.profile) {
        case "mcs-api":
            return `${svc}.${ctx.namespace}.svc.clusterset.local`;
        case "ack-one":
            return `amcs-${svc}.${ctx.namespace}.svc.cluster.local`;
        case "kosmos":
            return `${svc}.${ctx.namespace}.svc.cluster.local`;
    }
}

/**
 * The name under which cluster `from` reaches pod `ordinal` running in cluster `podCluster`.
 * - same cluster: `<pod>.<headless>.<ns>.svc.cluster.local`;
 * - mcs-api: `<pod>.<clusterId>.<headless>.<ns>.svc.clusterset.local` (KEP-1645 DNS spec);
 * - ack-one: `<pod>.amcs-<headless>.<ns>.svc.cluster.local` (works without the CoreDNS `multicluster` plugin);
 * - kosmos: the imported headless Service keeps its name, so `<pod>.<headless>.<ns>.svc.cluster.local`.
 */
export function podHost(ctx: NamingContext, ordinal: number, podCluster: string, from: string): string {
    return hostOf(ctx, podName(ctx.set, ordinal), serviceName(ctx.set, "headless"), podCluster, from);
}

/** A StatefulSet pod's name, governed by `headless`, as cluster `from` resolves it (see podHost). */
function hostOf(ctx: NamingContext, pod: string, headless: string, podCluster: string, from: string): string {
    if (podCluster === from) return `${pod}.${headless}.${ctx.namespace}.svc.cluster.local`;
    switch (ctx.profile) {
        case "mcs-api":
            return `${pod}.${ctx.clusterIdOf(podCluster)}.${headless}.${ctx.namespace}.svc.clusterset.local`;
        case "ack-one":
            return `${pod}.amcs-${headless}.${ctx.namespace}.svc.cluster.local`;
        case "kosmos":
            return `${pod}.${headless}.${ctx.namespace}.svc.cluster.local`;
    }
}
