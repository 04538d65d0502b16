import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { Plan } from "./plan";
import { ServiceRole, podHost, podName, serviceHost, serviceName } from "./naming";

/**
 * Validity of the set's CA in days: the longest `tls.validityDays` allows, so no member certificate
 * issued at the CA's start outlives it. Fixed: a `tls.validityDays` change re-issues the members'
 * certificates under the same CA (running members still verify each other), never a new CA.
 */
export const CA_VALIDITY_DAYS = 3650;
/** The Organization of every subject the set's certificates carry. */
export const TLS_ORGANIZATION = "mysql-multicluster";
/** Key usages of the CA and of a member's certificate (server to its clients, client to its sources). */
export const CA_USES = ["cert_signing", "crl_signing", "digital_signature"];
export const MEMBER_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"];

/** The short in-cluster forms of `<name>.<ns>.svc.cluster.local` a resolver's search path also accepts. */
function shortForms(first: string, namespace: string): string[] {
    return [first, `${first}.${namespace}`, `${first}.${namespace}.svc`];
}

/**
 * Every name a member placed in `cluster` is reached by, for its certificate's subjectAltName (the
 * clients verify the name they dialled): each of the cluster's pods by its per-pod name (short forms,
 * the in-cluster FQDN, and the MCS profile's cross-cluster name), and the write and read Services, in
 * the cluster and from the others (any member may hold the write name: a switchover or failover moves
 * it). Computed from names only, so a phase that keeps the cluster's ordinals keeps the list. Pure.
 */
export function tlsDnsNames(plan: Plan, cluster: string): string[] {
    const ctx = plan.naming;
    const headless = serviceName(plan.set, "headless");
    const names: string[] = [];
    for (const p of plan.pods.filter((x) => x.cluster === cluster)) {
        names.push(...shortForms(`${podName(plan.set, p.ordinal)}.${headless}`, plan.namespace));
        names.push(podHost(ctx, p.ordinal, cluster, cluster), podHost(ctx, p.ordinal, cluster, ""));
    }
    for (const role of ["write", "read"] as const satisfies readonly ServiceRole[]) {
        names.push(...shortForms(serviceName(plan.set, role), plan.namespace));
        names.push(serviceHost(ctx, role, cluster, cluster), serviceHost(ctx, role, cluster, ""));
    }
    return [...new Set(names)];
}

/** The member clusters' certificates: those where `plan` places members, each with its names. Pure. */
export function tlsMemberClusters(plans: ReadonlyArray<{ readonly plan: Plan; readonly cluster: string }>) {
    return plans
        .filter(({ plan, cluster }) => plan.placement.includes(cluster))
        .map(({ plan, cluster }) => ({ name: cluster, dnsNames: tlsDnsNames(plan, cluster) }));
}

export interface TlsCertificatesArgs {
    /** The set's name and namespace (the CA's common name). */
    readonly set: string;
    readonly namespace: string;
    /** Validity of the members' certificates in days (`tls.validityDays`). */
    readonly validityDays: number;
    /** One certificate per member cluster, listing these names (`tlsMemberClusters`). */
    readonly clusters: ReadonlyArray<{ readonly name: string; readonly dnsNames: readonly string[] }>;
}

/** What a member cluster's Secret holds: the set CA, its certificate and its key (secret). */
export interface TlsMaterial {
    readonly caCertPem: pulumi.Output<string>;
    readonly certPem: pulumi.Output<string>;
    readonly privateKeyPem: pulumi.Output<string>;
}

/**
 * The set's certificates, with the ecosystem's TLS provider (`@pulumi/tls`): one CA per set (an ECDSA
 * P-256 key and a self-signed certificate) and, per member cluster, a key, a request naming every
 * address of that cluster's members, and a certificate the CA signed. Keys are secret outputs in state
 * and reach the clusters only as Secrets (MysqlSlice). Children are named after the cluster, never the
 * phase: a step that keeps a cluster's names changes nothing here.
 */
export class TlsCertificates extends pulumi.ComponentResource {
    public readonly caCertPem: pulumi.Output<string>;
    /** Per member cluster name. */
    public readonly clusters: Readonly<Record<string, TlsMaterial>>;

    constructor(name: string, args: TlsCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mysql-multicluster:tls:TlsCertificates", name, {}, opts);
        const key = (n: string) => new tls.PrivateKey(n, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const caKey = key(`${name}-ca`);
        const ca = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: caKey.privateKeyPem,
                subject: { commonName: `${args.namespace}/${args.set} CA`.slice(0, 64), organization: TLS_ORGANIZATION },
                isCaCertificate: true,
                validityPeriodHours: CA_VALIDITY_DAYS * 24,
                allowedUses: CA_USES,
            },
            { parent: this },
        );
        this.caCertPem = ca.certPem;
        const clusters: Record<string, TlsMaterial> = {};
        for (const c of args.clusters) {
            const member = `${name}-${c.name}-member`;
            const memberKey = key(member);
            const request = new tls.CertRequest(
                member,
                {
                    privateKeyPem: memberKey.privateKeyPem,
                    subject: { commonName: `${args.set}.${args.namespace} ${c.name}`.slice(0, 64), organization: TLS_ORGANIZATION },
                    dnsNames: [...c.dnsNames],
                },
                { parent: this },
            );
            const cert = new tls.LocallySignedCert(
                member,
                {
                    certRequestPem: request.certRequestPem,
                    caPrivateKeyPem: caKey.privateKeyPem,
                    caCertPem: ca.certPem,
                    validityPeriodHours: args.validityDays * 24,
                    allowedUses: MEMBER_USES,
                },
                { parent: this },
            );
            clusters[c.name] = { caCertPem: ca.certPem, certPem: cert.certPem, privateKeyPem: pulumi.secret(memberKey.privateKeyPem) };
        }
        this.clusters = clusters;
        this.registerOutputs({ caCertPem: this.caCertPem });
    }
}
