import type * as k8s from "@pulumi/kubernetes";
import { ClusterPlan, Plan } from "./plan";
import { podName } from "./naming";
import { databaseSelector } from "./contract";
import { PATHS, ROLE_LABELS } from "./contract";
import { containerSecurityContext } from "./podSpec";

/** Loopback port of the "labels" container's `kubectl proxy` (replicate.sh patches its pod's labels through it). */
export const LABEL_PROXY_PORT = 8001;
/** Where the "labels" container, and only it, sees its service-account token, CA and namespace. */
export const TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Name of the ServiceAccount, Role and RoleBinding that let a cluster's members label their own pods. */
export function labelerName(set: string): string {
    return `${set}-pod-labels`;
}

/** The pods a cluster's StatefulSet runs: `spec.ordinals.start` .. + `replicas` - 1. */
export function slicePodNames(plan: Plan, cluster: ClusterPlan): string[] {
    return Array.from({ length: cluster.podCount }, (_, i) => podName(plan.set, cluster.ordinalsStart + i));
}

/**
 * The Role of a cluster's members: get and patch exactly the pods that cluster runs (never list, watch,
 * create or delete). Undefined for a cluster without pods: an empty `resourceNames` would mean every pod. Pure.
 */
export function podLabelRules(plan: Plan, cluster: ClusterPlan): k8s.types.input.rbac.v1.PolicyRule[] | undefined {
    const resourceNames = slicePodNames(plan, cluster);
    if (resourceNames.length === 0) return undefined;
    return [{ apiGroups: [""], resources: ["pods"], resourceNames, verbs: ["get", "patch"] }];
}

/** The read Service's selector: database pods that label themselves healthy replicas (replicate.sh `member_role`). */
export function readSelector(databaseSelector: Record<string, string>): Record<string, string> {
    return { ...databaseSelector, [ROLE_LABELS.role]: "replica", [ROLE_LABELS.healthy]: "true" };
}

/**
 * The write Service's selector: the configured primary's pod (manual mode: the switchover and failover
 * Jobs move it), or with automatic failover the database pod that labels itself primary.
 */
export function writeSelector(plan: Plan): Record<string, string> {
    return plan.autoFailover
        ? { ...databaseSelector(plan.set), [ROLE_LABELS.role]: "primary" }
        : { ...databaseSelector(plan.set), "statefulset.kubernetes.io/pod-name": podName(plan.set, plan.primary) };
}

/**
 * The "labels" container: `kubectl proxy` on loopback, allowed only GET and PATCH of this namespace's pods
 * (the Role narrows that to the cluster's own pods). The pod's one service-account token is projected
 * into this container alone; the database containers reach the API only through it, as their Role allows.
 */
export function labelsContainer(plan: Plan, kubectlImage: string): k8s.types.input.core.v1.Container {
    const ns = plan.namespace.replace(/[.]/g, "\\.");
    return {
        name: "labels",
        image: kubectlImage,
        command: [
            "kubectl",
            "proxy",
            "--address=127.0.0.1",
            `--port=${LABEL_PROXY_PORT}`,
            `--accept-paths=^/api/v1/namespaces/${ns}/pods/[^/]+$`,
            "--reject-methods=^(POST|PUT|DELETE|OPTIONS|CONNECT)$",
            `--cache-dir=${PATHS.tmp}/kube-cache`,
        ],
        securityContext: containerSecurityContext(),
        volumeMounts: [
            { name: "labels-token", mountPath: TOKEN_PATH, readOnly: true },
            { name: "labels-tmp", mountPath: PATHS.tmp },
        ],
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    };
}

/** The volumes the "labels" container mounts: a projected, expiring token with the cluster CA and the namespace. */
export function labelsVolumes(): k8s.types.input.core.v1.Volume[] {
    return [
        {
            name: "labels-token",
            projected: {
                defaultMode: 0o444,
                sources: [
                    { serviceAccountToken: { path: "token", expirationSeconds: 3600 } },
                    { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
                    { downwardAPI: { items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }] } },
                ],
            },
        },
        { name: "labels-tmp", emptyDir: {} },
    ];
}

/** The replicate container's `MMC_LABEL_API`: the proxy's path of this namespace's pods. */
export function labelApi(plan: Plan): string {
    return `127.0.0.1:${LABEL_PROXY_PORT}/api/v1/namespaces/${plan.namespace}/pods`;
}
