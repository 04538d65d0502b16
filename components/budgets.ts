import type * as k8s from "@pulumi/kubernetes";
import { objectNames, podName } from "./naming";
import { databaseSelector } from "./contract";

/** One PodDisruptionBudget of a cluster's slice: its Kubernetes name and spec. */
export interface Budget {
    readonly role: "primary" | "replicas";
    readonly name: string;
    readonly spec: k8s.types.input.policy.v1.PodDisruptionBudgetSpec;
}

const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";

/**
 * The disruption budgets every cluster declares (the same two in every cluster, names stable across
 * phases; only the selectors follow `primary`):
 * - `<set>-primary` selects the primary's pod with `minAvailable: 1`: a drain never evicts it (its
 *   local volume pins it to the cordoned node, so an eviction would stop writes for the whole
 *   maintenance); a DBA switches over first (docs/runbook.md). In clusters without the primary it
 *   selects nothing.
 * - `<set>` (the name the single budget had, so an upgrade updates it in place) selects every other
 *   database pod with `minAvailable` = the cluster's replicas - 1: replicas drain one at a time.
 * Integer `minAvailable`, not `maxUnavailable`: with `maxUnavailable` the disruption controller
 * counts the StatefulSet's whole scale (primary included) as expected, so one replica beside the
 * primary could never be evicted. The selectors are disjoint: the eviction API refuses a pod that
 * two budgets select.
 */
export function disruptionBudgets(set: string, primary: number, clusterOrdinals: readonly number[]): Budget[] {
    const names = objectNames(set);
    const primaryPod = podName(set, primary);
    const replicas = clusterOrdinals.filter((o) => o !== primary).length;
    return [
        {
            role: "replicas",
            name: names.pdb,
            spec: {
                minAvailable: Math.max(replicas - 1, 0),
                selector: {
                    matchLabels: databaseSelector(set),
                    matchExpressions: [{ key: POD_NAME_LABEL, operator: "NotIn", values: [primaryPod] }],
                },
            },
        },
        {
            role: "primary",
            name: names.pdbPrimary,
            spec: {
                minAvailable: 1,
                selector: {
                    matchLabels: databaseSelector(set),
                    matchExpressions: [{ key: POD_NAME_LABEL, operator: "In", values: [primaryPod] }],
                },
            },
        },
    ];
}
