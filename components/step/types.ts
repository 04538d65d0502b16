export type Action = "create" | "keep" | "move" | "scale-up" | "scale-down" | "switchover" | "failover" | "restart";

export interface OrdinalChange {
    readonly ordinal: number;
    /** Pod name of the ordinal (the member a DBA knows). */
    readonly member?: string;
    readonly from?: string;
    readonly to?: string;
    readonly role: "primary" | "replica" | "removed";
    readonly action: Action;
    /** For a move or a new ordinal: the donor it seeds from first (as the destination resolves it). */
    readonly donor?: string;
    /** Keeps the old pod template in this step (the primary of a rolling change, until a switchover). */
    readonly restartDeferred?: boolean;
    /** The old primary, on the old pod template: restarts as a replica right after this step's switchover. */
    readonly restartsAfterSwitchover?: boolean;
    /** Runs in a cluster declared lost: left as deployed, never required to answer. */
    readonly lost?: boolean;
    /** The destination still holds this ordinal's retained claim: reused if its GTID position is still served. */
    readonly reusesClaim?: boolean;
}

export interface SwitchoverStep {
    readonly fromOrdinal: number;
    readonly toOrdinal: number;
    readonly fromCluster: string;
    /** The cluster the switchover Job runs in: the new primary's. */
    readonly toCluster: string;
}

/** A failover: the old primary's cluster is declared lost; a reachable member is promoted without it. */
export interface FailoverStep {
    readonly fromOrdinal: number;
    readonly toOrdinal: number;
    /** The old primary's cluster (lost). */
    readonly fromCluster: string;
    /** The cluster the failover Job runs in: the new primary's. */
    readonly toCluster: string;
    /** Clusters declared lost, and the ordinals running there. */
    readonly lostClusters: readonly string[];
    readonly lostOrdinals: readonly number[];
    /** The epoch after the failover. */
    readonly epoch: number;
}

export interface Move {
    readonly ordinal: number;
    readonly from: string;
    readonly to: string;
}

/** One `pulumi up`: what changes, and in which order the clusters must be changed. */
export interface Step {
    readonly kind: "initial" | "unchanged" | "move" | "switchover" | "failover" | "rejoin" | "scale" | "retire" | "config" | "rolling";
    readonly changes: readonly OrdinalChange[];
    readonly moves: readonly Move[];
    readonly switchover?: SwitchoverStep;
    readonly failover?: FailoverStep;
    /** The set's generation after this step (every switchover and failover increments it). */
    readonly epoch: number;
    /** Clusters left as deployed (declared lost): nothing is planned there. */
    readonly lost: readonly string[];
    /** Clusters that leave `failover.lost` in this step (back): reconciled with the current topology. */
    readonly rejoined: readonly string[];
    /** Clusters whose StatefulSet shrinks, then the ones that grow, then the rest: an ordinal leaves first. */
    readonly applyOrder: readonly string[];
    /** For each cluster whose StatefulSet must wait, the clusters it waits for. */
    readonly waitsFor: Readonly<Record<string, readonly string[]>>;
    /** Per cluster, `updateStrategy.rollingUpdate.partition`: ordinals below it keep the old pod template. */
    readonly partitions: Readonly<Record<string, number>>;
    /** Ordinals left on the old pod template after this step (the deployed state's `pending`). */
    readonly oldTemplate: readonly number[];
    /** The cluster whose StatefulSet changes only after this step's switchover Job (the old primary restarts there). */
    readonly restartAfterSwitchover?: string;
    /** Config keys this step changes besides placement and primary: `key: was -> is (behaviour)`. */
    readonly settings?: readonly string[];
    /** A failover's loss, in words: which writes the old primary took with it. */
    readonly loss?: string;
    /** Automatic failover (failover.mode: automatic, or turned off by this step): what it does, in words. */
    readonly autoFailover?: readonly string[];
    /** The write pause a DBA should expect from this step, in words. */
    readonly writePause: string;
    /** Per cluster, the Kubernetes objects that change, in words. */
    readonly resources: Readonly<Record<string, readonly string[]>>;
}

export { failoverJobName, switchoverJobName } from "../naming";
