/**
 * What changing each config key does to a running set: the one table the step judgement, Pulumi.yaml
 * and README follow. A key the schema gains without a row here fails the unit tier.
 */
export type ChangeBehaviour =
    /** Objects are updated; no pod restarts. */
    | "in place"
    /** The pod template changes: members restart one at a time, replicas first, the primary last. */
    | "rolling"
    /** Judged as a migration step (move, scale, switchover): one safe step per `up`. */
    | "step"
    /** Never changed on a running set (the change would replace or corrupt it); refused with the next safe step. */
    | "refused"
    /** Deletes data (claims, volumes); only after an acknowledgement in config. */
    | "destructive";

export interface KeyChange {
    readonly behaviour: ChangeBehaviour;
    /** What happens, in one line (README and Pulumi.yaml say the same). */
    readonly note: string;
}

export const CHANGE_BEHAVIOUR: Readonly<Record<string, KeyChange>> = {
    clusters: { behaviour: "destructive", note: "removing a cluster deletes its objects and volumes (only after it was retired); adding one is in place" },
    "clusters.<name>": { behaviour: "destructive", note: "as clusters" },
    "clusters.<name>.context": {
        behaviour: "refused",
        note: "while the cluster holds members or claims: another context is another cluster; add it under a new name and move",
    },
    "clusters.<name>.kubeconfig": { behaviour: "refused", note: "as context" },
    "clusters.<name>.clusterId": { behaviour: "refused", note: "while the cluster runs members: their cross-cluster names change under running replication" },
    "clusters.<name>.nodes": {
        behaviour: "rolling",
        note: "node affinity is in the pod template; local volumes are added for new nodes, kept for removed ones",
    },
    "clusters.<name>.storage": { behaviour: "refused", note: "while the cluster runs members (the claim template is immutable)" },
    "clusters.<name>.storage.localPath": { behaviour: "refused", note: "while the cluster runs members (a local volume's path is immutable)" },
    "clusters.<name>.storage.capacity": { behaviour: "in place", note: "the local volumes' declared capacity; the disk itself is the user's" },
    "clusters.<name>.storage.storageClassName": { behaviour: "refused", note: "while the cluster runs members" },
    "clusters.<name>.storage.storageClass": { behaviour: "refused", note: "while the cluster runs members" },
    "clusters.<name>.tolerations": { behaviour: "rolling", note: "in the pod template" },
    "clusters.<name>.podCidrs": { behaviour: "in place", note: "the other clusters' NetworkPolicies admit these addresses to the member ports" },
    placement: { behaviour: "step", note: "a move or a scale: at most migration.maxMovesPerStep ordinals, the primary never moves" },
    primary: { behaviour: "step", note: "a planned switchover or failover, a step of its own; the disruption budgets follow the new primary after the Job" },
    mysql: { behaviour: "refused", note: "per key below" },
    "mysql.name": { behaviour: "refused", note: "the set's identity" },
    "mysql.namespace": { behaviour: "refused", note: "the set's identity" },
    "mysql.engine": { behaviour: "refused", note: "the set's identity" },
    "mysql.version": { behaviour: "rolling", note: "upgrade only (a downgrade is refused): replicas first, the primary last after a switchover" },
    "mysql.image": { behaviour: "rolling", note: "as version" },
    "mysql.storageSize": {
        behaviour: "refused",
        note: "the claim template is immutable: a change would replace every StatefulSet; grow claims by hand, then set the new size",
    },
    "mysql.resources": { behaviour: "rolling", note: "per key below" },
    "mysql.resources.cpu": { behaviour: "rolling", note: "in the pod template" },
    "mysql.resources.memory": { behaviour: "rolling", note: "in the pod template" },
    "mysql.resources.memoryLimit": { behaviour: "rolling", note: "in the pod template" },
    "mysql.serverIdBase": { behaviour: "refused", note: "every member's server identity" },
    "mysql.gtidDomainId": { behaviour: "refused", note: "the GTID history of the set" },
    "mysql.semiSync": { behaviour: "rolling", note: "a server setting: members restart one at a time" },
    "mysql.maxLagSeconds": { behaviour: "rolling", note: "the readiness bound, in the pod environment" },
    "mysql.createNamespace": { behaviour: "in place", note: "the namespace is never deleted" },
    "mysql.clients": { behaviour: "in place", note: "per key below" },
    "mysql.clients.podSelector": { behaviour: "in place", note: "the NetworkPolicy's client peers" },
    "mysql.clients.namespaceSelector": { behaviour: "in place", note: "the NetworkPolicy's client peers" },
    "mysql.clients.ipBlocks": { behaviour: "in place", note: "the NetworkPolicy's client peers" },
    "mysql.seedTimeoutMinutes": {
        behaviour: "in place",
        note: "the seed's bound (topology file, no restart) and up's wait for each StatefulSet (customTimeouts: this plus 10 minutes)",
    },
    "mysql.application": {
        behaviour: "rolling",
        note: "the account is in the pod environment: members restart one at a time and the primary creates the database and user; removing it keeps both (never dropped)",
    },
    "mysql.application.database": { behaviour: "rolling", note: "as application: the new database is created and granted; the old one is kept with its data" },
    "mysql.application.user": {
        behaviour: "rolling",
        note: "as application: the new account is created; the old one is kept (drop it by hand once no client uses it)",
    },
    mcs: { behaviour: "in place", note: "per key below" },
    "mcs.profile": { behaviour: "refused", note: "while the set spans clusters: every cross-cluster name changes under running replication" },
    "mcs.consumers": { behaviour: "in place", note: "ServiceImports added or removed" },
    migration: { behaviour: "in place", note: "per key below" },
    "migration.maxMovesPerStep": { behaviour: "in place", note: "read by the next step's judgement" },
    "migration.switchoverTimeoutSeconds": { behaviour: "in place", note: "bound of the next switchover Job" },
    "migration.allowPrimaryRestart": { behaviour: "in place", note: "read by the next rolling step: accepts the primary's restart and its write pause" },
    "migration.kubectlImage": { behaviour: "in place", note: "image of the next retire Job" },
    failover: { behaviour: "step", note: "per key below" },
    "failover.lost": {
        behaviour: "step",
        note: "clusters declared lost are left as deployed (nothing is sent there); with a new primary in a reachable cluster the step is a failover, a step of its own; removing a cluster from it reconciles it",
    },
    "failover.mode": {
        behaviour: "rolling",
        note: "members gain (automatic) or lose (manual) the failover-agent container, one at a time; the arbiter is declared in every voter cluster (or removed: its claims and volumes are kept)",
    },
    "failover.witnesses": {
        behaviour: "in place",
        note: "the arbiter's voter set: at most one voter cluster added or removed per step, never below three; members read the new endpoints from the topology file",
    },
    "failover.leaseSeconds": {
        behaviour: "rolling",
        note: "the lease, the fence deadline and the semi-sync timeout (lease + 5 s): in the pod environment and server config",
    },
    "failover.arbiterImage": { behaviour: "in place", note: "the arbiter pods restart on the new image" },
    retire: { behaviour: "destructive", note: "the listed clusters' retained claims are deleted, each named in the plan with its size" },
    tls: { behaviour: "refused", note: "per key below" },
    "tls.enabled": {
        behaviour: "refused",
        note: "on a running set: in a rolling change a member that requires TLS and a plaintext one cannot replicate from each other; deploy a new set with TLS",
    },
    "tls.validityDays": {
        behaviour: "in place",
        note: "the members' certificates are re-issued into the Secrets (same CA); a member presents its new certificate from its next restart",
    },
    liveStatus: { behaviour: "in place", note: "per key below" },
    "liveStatus.read": { behaviour: "in place", note: "read by the next up only: the liveStatus output, nothing in the clusters" },
    "liveStatus.timeoutSeconds": { behaviour: "in place", note: "bound of the next up's status read" },
};

/** The behaviour of a dotted config key (`clusters.cluster1.nodes` → `clusters.<name>.nodes`). */
export function changeBehaviourOf(key: string): KeyChange | undefined {
    const parts = key.split(".");
    if (parts[0] === "clusters" && parts.length > 1) parts[1] = "<name>";
    return CHANGE_BEHAVIOUR[parts.join(".")];
}

/**
 * The sentence Pulumi.yaml's description of top-level key `top` carries, e.g.
 * `Change: refused: name, namespace, engine; rolling: version, image.` (the unit tier checks it is there).
 */
export function changeSentence(top: string): string {
    const own = CHANGE_BEHAVIOUR[top];
    const under = Object.entries(CHANGE_BEHAVIOUR).filter(
        ([k]) => k.startsWith(`${top}.`) && !Object.keys(CHANGE_BEHAVIOUR).some((x) => x.startsWith(`${k}.`)),
    );
    if (!under.length) return `Change: ${own.behaviour} (${own.note}).`;
    const head = own.note === "per key below" ? [] : [`${own.behaviour}: ${own.note}`];
    const by = new Map<string, string[]>();
    for (const [k, v] of under) by.set(v.behaviour, [...(by.get(v.behaviour) ?? []), k.slice(top.length + 1).replace(/^<name>\./, "")]);
    return `Change: ${[...head, ...[...by].map(([b, ks]) => `${b}: ${ks.join(", ")}`)].join("; ")}.`;
}
