import * as pulumi from "@pulumi/pulumi";

// How the runtime serialises a secret value on the wire: { <sig>: <secret sig>, value }.
const SIG = "4dabf18193072939515e22adb298388d";

/** Plain values: secret wrappers replaced by their value (the renderer redacts Secrets separately). */
export function unwrapSecrets(v: any): any {
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v && typeof v === "object") {
        if (SIG in v && "value" in v) return unwrapSecrets(v.value);
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/** A resource the program registered, as the mock runtime saw it. */
export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, any>;
    /** Logical name of the explicit provider (e.g. `k8s-cluster1`), if any. */
    readonly provider?: string;
}

/** What a RandomPassword yields when the program is evaluated offline: never a real secret. */
export const OFFLINE_SECRET = "<generated-at-deploy-time>";

/**
 * Mocks that record every registered resource and answer like a provider would, with no cluster.
 * `call` throws: the program must not depend on provider functions to decide what it declares.
 */
export function recordingMocks(extraState: (args: pulumi.runtime.MockResourceArgs) => Record<string, any> | undefined = () => undefined) {
    const resources: RecordedResource[] = [];
    const mocks: pulumi.runtime.Mocks = {
        newResource(args) {
            // Provider references look like `urn:pulumi:stack::project::pulumi:providers:kubernetes::k8s-cluster1::id`.
            const provider = args.provider ? args.provider.split("::")[3] : undefined;
            resources.push({ type: args.type, name: args.name, inputs: unwrapSecrets(args.inputs), provider });
            const state = { ...args.inputs, ...(extraState(args) ?? {}) };
            if (args.type === "random:index/randomPassword:RandomPassword") state.result = OFFLINE_SECRET;
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            throw new Error(`unexpected provider call ${args.token} while evaluating the program offline`);
        },
    };
    return { mocks, resources };
}

/** Kubernetes resources only, with the cluster each belongs to (`k8s-<cluster>` providers). */
export function kubernetesObjects(resources: readonly RecordedResource[]) {
    return resources
        .filter((r) => r.type.startsWith("kubernetes:") && r.provider?.startsWith("k8s-"))
        .map((r) => ({ cluster: r.provider!.slice("k8s-".length), urnName: r.name, object: r.inputs }));
}
