import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { StackConfig } from "./config";
import { ClusterPlan, Plan, buildPlan, formatTable } from "./plan";
import { loadScripts } from "./scripts";
import { Credentials } from "./credentials";
import { ClusterMember } from "./clusterMember";
import { providerName } from "./naming";
import { DeployedState, LostView, Step, TransitionError, deployedStateOf, historyOf, lostViewsAfter, planStep, stepTable } from "./step";
import { Switchover } from "./switchover";
import { Failover } from "./failover";
import { policyWarnings } from "./networkPolicy";
import { arbiterRollOrder } from "./arbiter";
import { TlsCertificates, tlsMemberClusters } from "./tlsCertificates";

/** What a DBA reads at a glance after `pulumi up`. */
export interface DeploymentOutputs {
    readonly primary: { ordinal: number; pod: string; cluster: string; host: string };
    readonly placement: { ordinal: number; pod: string; cluster: string; role: string; crossClusterName: string }[];
    /** Per cluster; `provider` is the Pulumi name of its Kubernetes provider (tools map resources to clusters by it). */
    readonly clusters: Record<
        string,
        {
            ordinals: number[];
            writeEndpoint: string;
            readEndpoint: string;
            retired: boolean;
            clusterId: string;
            context: string | null;
            provider: string;
        }
    >;
    readonly writeEndpoint: string;
    /** The set's generation after this step (every switchover and failover increments it). */
    readonly epoch: number;
    /** Clusters declared lost (failover.lost): left as deployed. */
    readonly lost: string[];
    /** The step this `up` carried out: kind, apply order and the table shown in the preview. */
    readonly step: { kind: string; applyOrder: string[]; table: string };
    /** Read back by the next `up` to judge its step; resolves only once every StatefulSet and Job succeeded. */
    readonly migrationState: pulumi.Output<DeployedState>;
}

export interface Deployment {
    readonly plan: Plan;
    readonly step: Step;
    readonly members: Record<string, ClusterMember>;
    /** The Kubernetes provider of each cluster (built from its context, or passed in). */
    readonly providers: Record<string, k8s.Provider>;
    readonly switchover?: Switchover;
    readonly failover?: Failover;
    readonly outputs: DeploymentOutputs;
}

/**
 * A provider per cluster, from its kubeconfig context and path. ConfigMaps and Secrets update in place:
 * by default the provider replaces them on a data change, and a phase changes the topology ConfigMap.
 */
export function clusterProvider(
    cluster: ClusterPlan,
    outage?: { lost: boolean; runsOrdinals: boolean },
    name: string = providerName(cluster.name),
    opts?: pulumi.CustomResourceOptions,
): k8s.Provider {
    return new k8s.Provider(
        name,
        {
            context: cluster.context,
            kubeconfig: cluster.kubeconfig,
            enableServerSideApply: true,
            enableConfigMapMutable: true,
            enableSecretMutable: true,
            // A cluster declared lost: while its API server is unreachable the provider plans no change there
            // and keeps each resource's state as it was (pulumi-kubernetes PR 2528), so `up` succeeds. Once it
            // runs no ordinals, deleteUnreachable lets a later step drop it from clusters: its objects leave the
            // state without a call to the unreachable API server; nothing there (volumes included) is deleted.
            ...(outage?.lost ? { skipUpdateUnreachable: true } : {}),
            ...(outage?.lost && !outage.runsOrdinals ? { deleteUnreachable: true } : {}),
        },
        opts,
    );
}

/**
 * The plan a lost cluster's objects are declared from: the config with what was last applied there
 * (primary, placement, epoch, lost clusters), so they are declared exactly as they are in state.
 */
export function lostClusterPlan(cfg: StackConfig, view: LostView, previous: DeployedState | undefined): Plan {
    return buildPlan(
        { ...cfg, primary: view.primary, placement: [...view.placement], failover: { ...cfg.failover, lost: view.lost.length ? [...view.lost] : undefined } },
        { ...historyOf(previous), epoch: view.epoch },
    );
}

/** A promise settled later: lets a resource depend on one that is created after it in program order. */
function deferred<T>() {
    let resolve!: (v: T) => void;
    const promise = new Promise<T>((r) => (resolve = r));
    return { promise, resolve };
}

/**
 * Where a set's top-level children live. The program's own set (and every test of `deploy`) uses
 * STACK_ROOT_SCOPE: today's names at the stack root. MysqlMultiCluster gives each set its own scope.
 */
export interface DeployScope {
    /** Pulumi name of a top-level child from its base name: "credentials", a cluster's name, "switchover", "failover". */
    readonly childName: (base: string) => string;
    /** Pulumi name of the provider the set builds for a cluster. */
    readonly providerName: (cluster: string) => string;
    /** Options of the providers the set builds (e.g. parent). */
    readonly providerOpts?: pulumi.CustomResourceOptions;
    /** Providers the caller passed in, per cluster name (then none is built). */
    readonly providers?: Readonly<Record<string, k8s.Provider>>;
}

export const STACK_ROOT_SCOPE: DeployScope = { childName: (base) => base, providerName };

/** The step judged before anything is registered: the plan, the step and the lost clusters' views. */
export interface JudgedStep {
    readonly plan: Plan;
    readonly step: Step;
    readonly views: Record<string, LostView>;
}

/** Judges the step against the deployed state; throws TransitionError (a user error). Pure: registers nothing. */
export function judgeStep(cfg: StackConfig, previous?: DeployedState): JudgedStep {
    // The one computation of the plan: the step, the deployed state and every component take it.
    const plan = buildPlan(cfg, historyOf(previous, cfg.primary));
    for (const c of plan.lost) {
        if (!previous?.clusters.includes(c))
            throw new TransitionError(
                `mysql-multicluster:failover.lost: "${c}" was never deployed; only a deployed cluster can be lost. Remove it from failover.lost`,
            );
    }
    return { plan, step: planStep(previous, plan), views: lostViewsAfter(previous, plan) };
}

/**
 * Declares the whole set across its clusters for one step: judges the step against the deployed state
 * (throws TransitionError before anything is registered), then one ClusterMember per cluster in the
 * step's apply order, with dependsOn edges across providers so a moved ordinal is gone from its source
 * before its destination grows, and a switchover Job before the write Services move. `opts` go to the
 * top-level components only (e.g. transformations in tests, or the parent and aliases MysqlMultiCluster
 * gives); children never get the caller's opts. `scope` names the top-level children and providers.
 */
export function deploy(
    cfg: StackConfig,
    previous?: DeployedState,
    opts?: pulumi.ComponentResourceOptions,
    scope: DeployScope = STACK_ROOT_SCOPE,
    judged: JudgedStep = judgeStep(cfg, previous),
): Deployment {
    const { plan, step, views } = judged;
    const scripts = loadScripts();
    for (const w of policyWarnings(plan)) void pulumi.log.warn(w);
    const credentials = new Credentials(scope.childName("credentials"), { application: plan.application !== undefined }, opts);
    const providers: Record<string, k8s.Provider> =
        scope.providers ??
        Object.fromEntries(
            plan.clusters.map((c) => [
                c.name,
                clusterProvider(
                    c,
                    { lost: plan.lost.includes(c.name), runsOrdinals: plan.placement.includes(c.name) },
                    scope.providerName(c.name),
                    scope.providerOpts,
                ),
            ]),
        );

    // A lost cluster is declared from what was last applied there: no change is planned in it.
    const memberPlans = Object.fromEntries(step.applyOrder.map((name) => [name, views[name] ? lostClusterPlan(cfg, views[name], previous) : plan]));
    const certificates = plan.tls
        ? new TlsCertificates(
              scope.childName("tls"),
              {
                  set: plan.set,
                  namespace: plan.namespace,
                  validityDays: plan.tls.validityDays,
                  clusters: tlsMemberClusters(step.applyOrder.map((name) => ({ plan: memberPlans[name], cluster: name }))),
              },
              opts,
          )
        : undefined;
    const wiring = Object.fromEntries(plan.clusters.map((c) => [c.name, deferred<pulumi.Resource>()]));
    const rollAfter = arbiterRollOrder(plan);
    const arbiters = Object.fromEntries(Object.values(rollAfter).map((c) => [c, deferred<pulumi.Resource>()]));
    const job = deferred<pulumi.Resource>();
    const members: Record<string, ClusterMember> = {};
    for (const name of step.applyOrder) {
        const view = views[name];
        const memberPlan = memberPlans[name];
        const cluster = memberPlan.clusters.find((c) => c.name === name)!;
        members[name] = new ClusterMember(
            scope.childName(name),
            {
                plan: memberPlan,
                cluster,
                scripts,
                credentials,
                provider: providers[name],
                // Every cluster's exports and imports exist before any pod starts; a destination waits for its sources.
                statefulSetDependsOn: [
                    ...plan.clusters.filter((c) => c.name !== name).map((c) => wiring[c.name].promise),
                    ...(step.waitsFor[name] ?? []).map((src) => members[src].slice.statefulSet),
                    // The old primary restarts on the new template only once it is a replica.
                    ...(step.restartAfterSwitchover === name ? [job.promise] : []),
                ],
                partition: step.partitions[name],
                // The write Service and topology of reachable clusters move after the switchover or failover Job.
                afterSwitchover: (step.switchover || step.failover) && !view ? [job.promise] : [],
                arbiterAfter: rollAfter[name] ? [arbiters[rollAfter[name]].promise] : [],
                tls: certificates?.clusters[name],
            },
            opts,
        );
        wiring[name].resolve(members[name].mcs);
        const arbiter = members[name].arbiter;
        if (arbiters[name]) arbiters[name].resolve(arbiter?.statefulSet ?? members[name].mcs);
    }

    const switchover = step.switchover
        ? new Switchover(
              scope.childName("switchover"),
              {
                  plan,
                  step: step.switchover,
                  provider: providers[step.switchover.toCluster],
                  dependsOn: jobDependsOn(members[step.switchover.toCluster]),
              },
              opts,
          )
        : undefined;
    const failover = step.failover
        ? new Failover(
              scope.childName("failover"),
              {
                  plan,
                  step: step.failover,
                  provider: providers[step.failover.toCluster],
                  dependsOn: jobDependsOn(members[step.failover.toCluster]),
              },
              opts,
          )
        : undefined;
    if (switchover) job.resolve(switchover.job);
    if (failover) job.resolve(failover.job);

    // The state the next step is judged against is written only once every StatefulSet and Job succeeded.
    const done = [
        ...Object.values(members).flatMap((m) => [m.slice.statefulSet.id, ...(m.retirement ? [m.retirement.job.id] : [])]),
        ...(switchover ? [switchover.job.id] : []),
        ...(failover ? [failover.job.id] : []),
    ];
    const migrationState = pulumi.all(done).apply(() => deployedStateOf(plan, previous, step));
    const providerNames = Object.fromEntries(Object.entries(providers).map(([c, p]) => [c, pulumiName(p)]));
    return { plan, step, members, switchover, failover, providers, outputs: { ...deploymentOutputs(plan, step, providerNames), migrationState } };
}

/** What an admin Job in a member's cluster waits for: the scripts it runs and, with TLS, the CA it verifies with. */
function jobDependsOn(member: ClusterMember): pulumi.Resource[] {
    return [member.slice.scripts, ...(member.slice.tlsCa ? [member.slice.tlsCa] : [])];
}

/** The Pulumi name a resource was registered with (the last part of its URN), known without waiting for the URN. */
export function pulumiName(r: pulumi.Resource): string {
    // `__name` is set by the SDK's Resource constructor (the SDK itself reads it to inherit aliases).
    const name = (r as unknown as { __name?: unknown }).__name;
    if (typeof name !== "string") throw new Error("a provider without a Pulumi name");
    return name;
}

export function deploymentOutputs(plan: Plan, step: Step, providerNames?: Readonly<Record<string, string>>): Omit<DeploymentOutputs, "migrationState"> {
    const primary = plan.pods[plan.primary];
    return {
        primary: { ordinal: primary.ordinal, pod: primary.name, cluster: primary.cluster, host: primary.crossClusterHost },
        placement: plan.pods.map((p) => ({ ordinal: p.ordinal, pod: p.name, cluster: p.cluster, role: p.role, crossClusterName: p.crossClusterHost })),
        clusters: Object.fromEntries(
            plan.clusters.map((c) => [
                c.name,
                {
                    ordinals: [...c.ordinals],
                    writeEndpoint: c.topology.writeHost,
                    readEndpoint: c.readHost,
                    retired: c.retired,
                    clusterId: c.clusterId,
                    context: c.context ?? null,
                    provider: providerNames?.[c.name] ?? providerName(c.name),
                },
            ]),
        ),
        writeEndpoint: plan.writeEndpoint,
        epoch: plan.epoch,
        lost: [...plan.lost],
        // The warnings (unpinned images, open member ports) are part of what the preview shows.
        step: { kind: step.kind, applyOrder: [...step.applyOrder], table: [stepTable(step), ...policyWarnings(plan).map((w) => `warning: ${w}`)].join("\n") },
    };
}

/** The `placement` output as a table a DBA reads at a glance: ordinal, cluster, role, cross-cluster name. */
export function placementTable(placement: DeploymentOutputs["placement"]): string {
    const rows = placement.map((p) => [String(p.ordinal), p.cluster, p.role, p.pod, p.crossClusterName]);
    return formatTable(["ordinal", "cluster", "role", "pod", "cross-cluster name"], rows);
}
