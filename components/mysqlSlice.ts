import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ServiceRole, objectNames, serviceName } from "./naming";
import { ClusterPlan, Plan } from "./plan";
import { APP_SECRET_KEY, CONFIG_KEYS, PATHS, SECRET_KEYS, commonLabels, databaseSelector, servicePorts, topologyEnv } from "./contract";
import { podTemplateHash, statefulSetSpec } from "./podSpec";
import { networkPolicySpec } from "./networkPolicy";
import { baseServerConfig, tlsServerConfig } from "./serverConfig";
import { TlsMaterial } from "./tlsCertificates";
import { disruptionBudgets } from "./budgets";
import { labelerName, podLabelRules, readSelector, writeSelector } from "./podLabels";

export interface MysqlSliceArgs {
    readonly plan: Plan;
    readonly cluster: ClusterPlan;
    readonly scripts: Record<string, string>;
    readonly credentials: {
        readonly rootPassword: pulumi.Input<string>;
        readonly replicationPassword: pulumi.Input<string>;
        readonly seedPassword: pulumi.Input<string>;
        readonly adminPassword: pulumi.Input<string>;
        /** With `mysql.application` only. */
        readonly appPassword?: pulumi.Input<string>;
    };
    readonly provider: k8s.Provider;
    /** The namespace resource when the program declares it. */
    readonly namespace?: k8s.core.v1.Namespace;
    /** Resources that must exist before the StatefulSet changes (step ordering across clusters). */
    readonly statefulSetDependsOn?: pulumi.Input<pulumi.Resource>[];
    /** `updateStrategy.rollingUpdate.partition` of this step (ordinals below it keep the old template). */
    readonly partition?: number;
    /** The switchover Job, when this step has one: the write Service and the topology move after it. */
    readonly afterSwitchover?: pulumi.Input<pulumi.Resource>[];
    /** This cluster's certificate, key and the set CA (tls.enabled, a cluster running members); unset: no TLS objects. */
    readonly tls?: TlsMaterial;
}

/**
 * The part of the set one cluster runs: its StatefulSet (exactly the ordinals the plan gives it, via
 * `spec.ordinals.start`), the headless, write and read Services, configuration, credentials and the disruption budgets (components/budgets.ts).
 */
export class MysqlSlice extends pulumi.ComponentResource {
    public readonly services: Record<ServiceRole, k8s.core.v1.Service>;
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    public readonly scripts: k8s.core.v1.ConfigMap;
    /** The set CA alone (`<set>-tls-ca`, tls.enabled): what the switchover and failover Jobs mount. */
    public readonly tlsCa: k8s.core.v1.Secret | undefined;

    constructor(name: string, args: MysqlSliceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:mysql:MysqlSlice", name, {}, opts);
        const { plan, cluster } = args;
        const names = objectNames(plan.set);
        const ns = plan.namespace;
        const child: pulumi.CustomResourceOptions & { dependsOn: pulumi.Input<pulumi.Resource>[] } = {
            parent: this,
            provider: args.provider,
            dependsOn: args.namespace ? [args.namespace] : [],
        };
        const meta = (n: string, component: string) => ({ name: n, namespace: ns, labels: commonLabels(plan.set, component) });

        const baseConfig = baseServerConfig(plan.engine, plan.autoFailover?.semiSyncTimeoutMs) + tlsServerConfig(plan.engine, plan.tls ? PATHS.tls : undefined);
        const configMap = new k8s.core.v1.ConfigMap(
            `${name}-config`,
            { metadata: meta(names.config, "config"), data: { [CONFIG_KEYS.baseConf]: baseConfig } },
            child,
        );
        const afterSwitchover = { ...child, dependsOn: [...child.dependsOn, ...(args.afterSwitchover ?? [])] };
        const scripts = (this.scripts = new k8s.core.v1.ConfigMap(`${name}-scripts`, { metadata: meta(names.scripts, "scripts"), data: args.scripts }, child));
        const topology = new k8s.core.v1.ConfigMap(
            `${name}-topology`,
            { metadata: meta(names.topology, "topology"), data: { [CONFIG_KEYS.topology]: topologyEnv(cluster.topology) } },
            afterSwitchover,
        );
        const secret = new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: meta(names.secret, "credentials"),
                type: "Opaque",
                stringData: {
                    [SECRET_KEYS.root]: args.credentials.rootPassword,
                    [SECRET_KEYS.replication]: args.credentials.replicationPassword,
                    [SECRET_KEYS.seed]: args.credentials.seedPassword,
                    [SECRET_KEYS.admin]: args.credentials.adminPassword,
                    ...(args.credentials.appPassword !== undefined ? { [APP_SECRET_KEY]: args.credentials.appPassword } : {}),
                },
            },
            child,
        );

        // The certificate Secrets: the key only here (Secret data is secret in state), never in env or a ConfigMap.
        const tlsSecret = args.tls
            ? new k8s.core.v1.Secret(
                  `${name}-tls`,
                  {
                      metadata: meta(names.tls, "tls"),
                      type: "kubernetes.io/tls",
                      stringData: { "tls.crt": args.tls.certPem, "tls.key": pulumi.secret(args.tls.privateKeyPem), "ca.crt": args.tls.caCertPem },
                  },
                  child,
              )
            : undefined;
        this.tlsCa = args.tls
            ? new k8s.core.v1.Secret(
                  `${name}-tls-ca`,
                  { metadata: meta(names.tlsCa, "tls-ca"), type: "Opaque", stringData: { "ca.crt": args.tls.caCertPem } },
                  child,
              )
            : undefined;

        const svc = (role: ServiceRole, spec: Record<string, unknown>, opts = child) =>
            new k8s.core.v1.Service(
                `${name}-svc-${role}`,
                { metadata: meta(serviceName(plan.set, role), `service-${role}`), spec: { ports: servicePorts(role, plan.engine), ...spec } },
                opts,
            );
        this.services = {
            // Governing Service: per-pod DNS names, published before readiness so peers can seed and catch up.
            headless: svc("headless", { clusterIP: "None", publishNotReadyAddresses: true, selector: databaseSelector(plan.set) }),
            // Only the primary's pod, by its stable pod-name label; the switchover moves this selector. With
            // automatic failover, the member that labels itself primary (writable, no channel: replicate.sh
            // member_role), so the endpoint follows the arbiter's promotion in every cluster.
            write: svc("write", { selector: writeSelector(plan) }, afterSwitchover),
            // Only replicas that label themselves healthy (replicating within mysql.maxLagSeconds): never the
            // primary, a seeding, lagging or stopped replica (replicate.sh member_role).
            read: svc("read", { selector: readSelector(databaseSelector(plan.set)) }),
        };

        // The budgets follow the primary once the switchover Job has run; the primary's is created or
        // updated after the replicas' (an upgrade from the single budget never selects a pod twice).
        let previousBudget: k8s.policy.v1.PodDisruptionBudget | undefined;
        for (const b of disruptionBudgets(
            plan.set,
            plan.primary,
            Array.from({ length: cluster.podCount }, (_, i) => cluster.ordinalsStart + i),
        )) {
            previousBudget = new k8s.policy.v1.PodDisruptionBudget(
                b.role === "replicas" ? `${name}-pdb` : `${name}-pdb-${b.role}`,
                { metadata: meta(b.name, "pdb"), spec: b.spec },
                { ...afterSwitchover, dependsOn: [...afterSwitchover.dependsOn, ...(previousBudget ? [previousBudget] : [])] },
            );
        }

        // Before the pods: no moment where the member and seed ports are open to every pod.
        const policy = new k8s.networking.v1.NetworkPolicy(
            `${name}-netpol`,
            { metadata: meta(names.networkPolicy, "network-policy"), spec: networkPolicySpec(plan, cluster) },
            child,
        );

        // Members label their own pods: get and patch exactly this cluster's pods, nothing else.
        const labeler: pulumi.Resource[] = [
            new k8s.core.v1.ServiceAccount(
                `${name}-labels-sa`,
                { metadata: meta(labelerName(plan.set), "pod-labels"), automountServiceAccountToken: false },
                child,
            ),
        ];
        const rules = podLabelRules(plan, cluster);
        if (rules) {
            const role = new k8s.rbac.v1.Role(`${name}-labels-role`, { metadata: meta(labelerName(plan.set), "pod-labels"), rules }, child);
            labeler.push(
                role,
                new k8s.rbac.v1.RoleBinding(
                    `${name}-labels-binding`,
                    {
                        metadata: meta(labelerName(plan.set), "pod-labels"),
                        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: labelerName(plan.set) },
                        subjects: [{ kind: "ServiceAccount", name: labelerName(plan.set), namespace: ns }],
                    },
                    { ...child, dependsOn: [...child.dependsOn, role] },
                ),
            );
        }

        this.statefulSet = new k8s.apps.v1.StatefulSet(
            `${name}-statefulset`,
            {
                metadata: meta(names.statefulSet, "database"),
                spec: statefulSetSpec(plan, cluster, podTemplateHash(baseConfig, args.scripts), args.partition),
            },
            {
                ...child,
                dependsOn: [
                    ...child.dependsOn,
                    configMap,
                    scripts,
                    topology,
                    secret,
                    ...(tlsSecret ? [tlsSecret] : []),
                    policy,
                    this.services.headless,
                    ...labeler,
                    ...(args.statefulSetDependsOn ?? []),
                ],
                // `up` waits for every pod Ready, a first seed included: the seed's bound plus a margin.
                customTimeouts: statefulSetTimeouts(plan),
            },
        );
        this.registerOutputs({ statefulSet: this.statefulSet.metadata.name });
    }
}

/** How long `up` waits for a StatefulSet: `mysql.seedTimeoutMinutes` (one seed) plus 10 minutes (start, catch-up). */
export function statefulSetTimeouts(plan: Plan): pulumi.CustomTimeouts {
    const t = `${plan.seedTimeoutMinutes + 10}m`;
    return { create: t, update: t };
}
