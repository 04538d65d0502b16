import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { ConfigError, StackConfig, parseStackConfig } from "./config";
import { Deployment, DeploymentOutputs, DeployScope, STACK_ROOT_SCOPE, deploy, judgeStep } from "./deployment";
import { providerName } from "./naming";
import { DeployedState, parseDeployedState } from "./step";
import { LiveStatus, liveStatusLine, liveStatusNotRead, readLiveStatus } from "./liveStatus";

/** Arguments of a MysqlMultiCluster: one primary–replica set across several Kubernetes clusters. */
export interface MysqlMultiClusterArgs {
    /**
     * The set's config: either a `StackConfig` from `parseStackConfig`, or the raw object (the keys of
     * `Pulumi.<stack>.yaml` without the `mysql-multicluster:` prefix, e.g. `{ clusters, placement,
     * mysql: { name } }`). Validated here either way: a bad value throws ConfigError, one line naming
     * the key and value, before anything is registered.
     */
    readonly config: StackConfig | Record<string, unknown>;
    /**
     * A Kubernetes provider per cluster name of `config.clusters` (e.g. a cluster created in the same
     * program). Every cluster needs one; `clusters.<name>.context` / `.kubeconfig` are then unused. The
     * set's ConfigMaps and Secrets change on a step: give the providers `enableConfigMapMutable` and
     * `enableSecretMutable` (and, for a cluster declared lost, `skipUpdateUnreachable`), as the built ones have.
     * @default one provider per cluster, from its `context` and `kubeconfig`
     */
    readonly providers?: Readonly<Record<string, k8s.Provider>>;
    /**
     * The deployed state the step is judged against (the set's `migrationState` output after the last
     * successful `up`); `null` declares a first deployment. Only `MysqlMultiCluster.create` may leave it
     * out: it then reads the state from this stack's own output `stateOutput`.
     * @default read from this stack's own outputs (`create` only)
     */
    readonly previous?: DeployedState | null;
    /**
     * Where this stack's outputs hold the set's `migrationState`, as a dotted path: the program exports
     * `set.outputs` at the top level (`"migrationState"`); a program with two sets exports each under a
     * key, e.g. `{ orders: orders.outputs }` and `stateOutput: "orders.migrationState"`.
     * @default "migrationState"
     */
    readonly stateOutput?: string;
    /**
     * The set was first deployed by this project's `index.ts` before it became a component: its
     * top-level children keep their names (`credentials`, `<cluster>`, `switchover`, `failover`,
     * providers `k8s-<cluster>` at the stack root) and carry aliases to the stack root, so an existing
     * stack's `up` plans no replace or delete. At most one set per program; any other set's children
     * are named `<name>-<child>`.
     * @default false
     */
    readonly stackRootNames?: boolean;
}

/**
 * The constructor's arguments: the deployed state is known (`create` reads it when it is not), and the
 * live status `create` read before the step (the constructor itself cannot wait for it: without it,
 * `outputs.liveStatus` says it was not read).
 */
export type MysqlMultiClusterConstructorArgs = MysqlMultiClusterArgs & { readonly previous: DeployedState | null; readonly liveStatus?: LiveStatus };

/** The set's outputs: the deployment's, and the live status the `up` read before its step. */
export type MysqlMultiClusterOutputs = DeploymentOutputs & {
    /**
     * What the clusters showed when this `up` started, judged against the deployed state (README,
     * "Live status as a stack output"); read at `pulumi up` only, per `liveStatus.read` (default true).
     */
    readonly liveStatus: LiveStatus;
};

/** Sets already declared in this program run (keyed by the resource monitor: one per run, a new one per mock run). */
const declared = new WeakMap<object, Map<string, string>>();
/** This stack's own outputs, read once per program run whatever the number of sets. */
const ownOutputs = new WeakMap<object, pulumi.StackReference>();

function runKey(): object | undefined {
    return pulumi.runtime.getMonitor() as object | undefined;
}

/** This stack's own StackReference: one per run, at the stack root, with the name (and URN) index.ts always gave it. */
function ownStack(): pulumi.StackReference {
    const key = runKey();
    const cached = key && ownOutputs.get(key);
    if (cached) return cached;
    const ref = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
    if (key) ownOutputs.set(key, ref);
    return ref;
}

/** The set's last deployed state from this stack's own outputs (`path`: dotted); none on the first `up`. */
export async function stackDeployedState(path = "migrationState"): Promise<DeployedState | null> {
    const [top, ...rest] = path.split(".");
    const details = await ownStack().getOutputDetails(top);
    let value: unknown = details.value ?? details.secretValue;
    for (const k of rest) value = value && typeof value === "object" ? (value as Record<string, unknown>)[k] : undefined;
    return parseDeployedState(value) ?? null;
}

/**
 * One MySQL/MariaDB primary–replica set across several Kubernetes clusters, moved one safe step per
 * `pulumi up`. The step is judged against the deployed state before anything is registered (an unsafe
 * step throws TransitionError, a bad config ConfigError: one line each). Children are name-scoped
 * (`<name>-<child>`), so several sets (each its own `mysql.name`) live in one program.
 *
 * ```ts
 * const orders = await MysqlMultiCluster.create("orders", { config: { ...ordersConfig }, stateOutput: "orders.migrationState" });
 * export const outputs = { orders: orders.outputs };
 * ```
 */
export class MysqlMultiCluster extends pulumi.ComponentResource {
    public readonly deployment: Deployment;
    /** What a DBA reads after `pulumi up` (the program's stack outputs); export them so the next `up` reads `migrationState`. */
    public readonly outputs: MysqlMultiClusterOutputs;
    /** The Kubernetes provider of each cluster (built or passed in). */
    public readonly providers: Record<string, k8s.Provider>;

    /**
     * Reads the deployed state from this stack's outputs when `args.previous` is left out, then declares
     * the set. The config is validated first (a bad config is reported before any output is read).
     */
    static async create(name: string, args: MysqlMultiClusterArgs, opts?: pulumi.ComponentResourceOptions): Promise<MysqlMultiCluster> {
        const config = parseConfig(args.config, args.providers);
        const previous = args.previous !== undefined ? args.previous : await stackDeployedState(args.stateOutput);
        // The live status is read before the step is declared (bounded; it never fails the `up`).
        const mocked = pulumi.runtime.getMonitor() instanceof MockMonitor;
        const liveStatus = await readLiveStatus(config, previous ?? undefined, {
            dryRun: pulumi.runtime.isDryRun(),
            mocked,
            providersPassed: args.providers !== undefined,
        });
        if (!mocked) void pulumi.log.info(`${name}: ${liveStatusLine(liveStatus)}`);
        return new MysqlMultiCluster(name, { ...args, config, previous, liveStatus }, opts);
    }

    constructor(name: string, args: MysqlMultiClusterConstructorArgs, opts?: pulumi.ComponentResourceOptions) {
        // Everything a user can get wrong is refused before the component itself is registered.
        const config = parseConfig(args.config, args.providers);
        if (args.previous === undefined)
            throw new Error(`MysqlMultiCluster ${name}: pass previous (null on a first deployment) or use MysqlMultiCluster.create`);
        const previous = args.previous ?? undefined;
        checkProviders(config, args.providers);
        claimSet(name, config, !!args.stackRootNames);
        const judged = judgeStep(config, previous);
        super("mysql-multicluster:index:MysqlMultiCluster", name, {}, opts);

        // The program's own set keeps today's URNs: same names, and an alias to the stack root for each
        // top-level child (its descendants inherit it). Its providers stay at the stack root, unaliased:
        // resources refer to a provider by URN, and an unchanged URN is no change at all.
        const scope: DeployScope = args.stackRootNames
            ? { ...STACK_ROOT_SCOPE, providers: args.providers }
            : {
                  childName: (base) => `${name}-${base}`,
                  providerName: (cluster) => `${name}-${providerName(cluster)}`,
                  providerOpts: { parent: this },
                  providers: args.providers,
              };
        const childOpts: pulumi.ComponentResourceOptions = {
            parent: this,
            ...(args.stackRootNames ? { aliases: [{ parent: pulumi.rootStackResource }] } : {}),
        };
        this.deployment = deploy(config, previous, childOpts, scope, judged);
        this.outputs = {
            ...this.deployment.outputs,
            liveStatus: args.liveStatus ?? liveStatusNotRead("not read: only MysqlMultiCluster.create reads it (before the step is declared)", previous),
        };
        this.providers = this.deployment.providers;
        this.registerOutputs({ migrationState: this.outputs.migrationState, writeEndpoint: this.outputs.writeEndpoint });
    }
}

const NO_CONTEXT = "\u0000provider-passed-in:";

/**
 * Validates the config. With providers passed in, a cluster's `context` and `kubeconfig` are unused, so
 * clusters that set neither are still distinct clusters (the config alone would call them the same one).
 */
function parseConfig(config: MysqlMultiClusterArgs["config"], providers: MysqlMultiClusterArgs["providers"]): StackConfig {
    const raw = config as Record<string, unknown> | undefined;
    const clusters = raw?.clusters;
    if (!providers || !clusters || typeof clusters !== "object" || Array.isArray(clusters)) return parseStackConfig(config);
    const marked = Object.fromEntries(
        Object.entries(clusters as Record<string, unknown>).map(([n, c]) => {
            const o = c as Record<string, unknown> | null;
            return [n, o && typeof o === "object" && o.context === undefined && o.kubeconfig === undefined ? { ...o, context: `${NO_CONTEXT}${n}` } : c];
        }),
    );
    const parsed = parseStackConfig({ ...raw, clusters: marked });
    return {
        ...parsed,
        clusters: Object.fromEntries(
            Object.entries(parsed.clusters).map(([n, c]) => {
                if (!c.context?.startsWith(NO_CONTEXT)) return [n, c];
                // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the placeholder is dropped
                const { context, ...rest } = c;
                return [n, rest];
            }),
        ),
    };
}

/** Passed-in providers: exactly one per cluster of the config. */
function checkProviders(config: StackConfig, providers: MysqlMultiClusterArgs["providers"]) {
    if (!providers) return;
    const clusters = Object.keys(config.clusters);
    for (const c of clusters) {
        if (!providers[c])
            throw new ConfigError(`providers.${c}: no provider passed for cluster "${c}" (passed: ${Object.keys(providers).join(", ") || "none"})`);
    }
    for (const p of Object.keys(providers)) {
        if (!clusters.includes(p)) throw new ConfigError(`providers.${p}: "${p}" is not in clusters (known: ${clusters.join(", ")})`);
    }
    for (const c of config.failover.lost ?? []) {
        void pulumi.log.warn(
            `providers.${c}: cluster declared lost; its passed-in provider should set skipUpdateUnreachable (and deleteUnreachable once it runs nothing)`,
        );
    }
}

/**
 * Two sets of one program must not share a `mysql.name` (their StorageClass and PersistentVolumes are
 * cluster-wide objects named after it) nor both keep the stack-root names.
 */
function claimSet(name: string, config: StackConfig, stackRootNames: boolean) {
    const key = runKey();
    if (!key) return;
    const sets = declared.get(key) ?? new Map<string, string>();
    declared.set(key, sets);
    const other = sets.get(`set:${config.mysql.name}`);
    if (other !== undefined)
        throw new ConfigError(
            `mysql-multicluster:mysql.name: "${config.mysql.name}": already the set of MysqlMultiCluster "${other}" in this program (cluster-wide StorageClass and volume names derive from it); give each set its own name`,
        );
    const root = sets.get("stackRootNames");
    if (stackRootNames && root !== undefined)
        throw new ConfigError(`stackRootNames: MysqlMultiCluster "${root}" already keeps the stack-root names; at most one set may`);
    sets.set(`set:${config.mysql.name}`, name);
    if (stackRootNames) sets.set("stackRootNames", name);
}
