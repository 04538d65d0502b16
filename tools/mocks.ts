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
    /**
     * Pulumi name of the explicit provider, if any (the name part of its URN). Which cluster that is comes
     * from the program's outputs (`clusters.<name>.provider`), never from the name's spelling.
     */
    readonly provider?: string;
}

/** What a RandomPassword yields when the program is evaluated offline: never a real secret. */
export const OFFLINE_SECRET = "<generated-at-deploy-time>";

/**
 * What the TLS provider's resources yield offline: fixed PEM text, never a real key (no crypto in the
 * unit tier). The key's PEM is one a test can search every rendered object for.
 */
export const OFFLINE_PEM = {
    privateKey: "-----BEGIN EC PRIVATE KEY-----\noffline-mock-key\n-----END EC PRIVATE KEY-----\n",
    publicKey: "-----BEGIN PUBLIC KEY-----\noffline-mock\n-----END PUBLIC KEY-----\n",
    certRequest: "-----BEGIN CERTIFICATE REQUEST-----\noffline-mock\n-----END CERTIFICATE REQUEST-----\n",
    certificate: (name: string) => `-----BEGIN CERTIFICATE-----\noffline-mock ${name}\n-----END CERTIFICATE-----\n`,
} as const;

/** The outputs a TLS provider resource has on top of its inputs (undefined: not one of them). */
function tlsOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, string> | undefined {
    switch (args.type) {
        case "tls:index/privateKey:PrivateKey":
            return { privateKeyPem: OFFLINE_PEM.privateKey, publicKeyPem: OFFLINE_PEM.publicKey };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: OFFLINE_PEM.certRequest };
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { certPem: OFFLINE_PEM.certificate(args.name) };
        default:
            return undefined;
    }
}

/**
 * Mocks that record every registered resource and answer like a provider would, with no cluster.
 * `call` throws: the program must not depend on provider functions to decide what it declares.
 */
export function recordingMocks(extraState: (args: pulumi.runtime.MockResourceArgs) => Record<string, any> | undefined = () => undefined) {
    const resources: RecordedResource[] = [];
    const mocks: pulumi.runtime.Mocks = {
        newResource(args) {
            // A provider reference is `<provider URN>::<id>`; a URN ends in `::<type>::<name>`.
            const provider = args.provider ? args.provider.split("::").slice(-2)[0] : undefined;
            resources.push({ type: args.type, name: args.name, inputs: unwrapSecrets(args.inputs), provider });
            const state = { ...args.inputs, ...(tlsOutputs(args) ?? {}), ...(extraState(args) ?? {}) };
            if (args.type === "random:index/randomPassword:RandomPassword") state.result = OFFLINE_SECRET;
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            throw new Error(`unexpected provider call ${args.token} while evaluating the program offline`);
        },
    };
    return { mocks, resources };
}

/** The program's `clusters` output as provider name → cluster. */
export function clustersByProvider(clusters: Record<string, { provider: string }>): Map<string, string> {
    return new Map(Object.entries(clusters).map(([cluster, c]) => [c.provider, cluster]));
}

/**
 * Kubernetes resources only, with the cluster each belongs to (`byProvider`: clustersByProvider of the
 * program's outputs). A Kubernetes resource on no known provider is a bug: it would go to whatever
 * cluster the ambient kubeconfig names.
 */
export function kubernetesObjects(resources: readonly RecordedResource[], byProvider: ReadonlyMap<string, string>) {
    return resources
        .filter((r) => r.type.startsWith("kubernetes:"))
        .map((r) => {
            const cluster = r.provider === undefined ? undefined : byProvider.get(r.provider);
            if (cluster === undefined) throw new Error(`${r.type} ${r.name}: provider ${r.provider ?? "(default)"} is no cluster's provider`);
            return { cluster, urnName: r.name, object: r.inputs };
        });
}
