// TEST INFRASTRUCTURE, not part of the product: plays the platform's multi-cluster Service
// controller for the `kosmos` profile in the local clusters of `up.sh --nodes real`.
// Kosmos keeps the Service's name in the importing cluster and adds the exporting cluster's
// endpoints to it. Here: for every ServiceImport <ns>/<svc> in cluster B and every other cluster A
// with a ServiceExport <ns>/<svc>, B gets an EndpointSlice `<svc>-from-<A>` (label
// kubernetes.io/service-name=<svc>) holding A's local endpoints (addresses, hostname, readiness).
// CoreDNS then answers `mysql-0.mysql.<ns>.svc.cluster.local` in B, and kube-proxy in B sends the
// ClusterIP of `mysql-write` to the primary's pod IP in A (pod IPs are routed across all nodes).
// Polls every second; writes only what changed.
//   node --import tsx tools/clusters/mcs-shim.ts <clusters dir> <cluster>...
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";

const MANAGER = "mcs-shim.mysql-multicluster.test";
const LOCAL_MANAGER = "endpointslice-controller.k8s.io";
const PORT_BASE = Number(process.env.MMC_PORT_BASE ?? "20000");
const HOST = process.env.MMC_API_HOST ?? "10.250.0.1";

interface Api {
    name: string;
    agent: https.Agent;
    port: number;
}

function api(dir: string, cluster: string): Api {
    const pki = path.join(dir, cluster, "pki");
    const agent = new https.Agent({
        ca: fs.readFileSync(path.join(pki, "ca.crt")),
        cert: fs.readFileSync(path.join(pki, "admin.crt")),
        key: fs.readFileSync(path.join(pki, "admin.key")),
        keepAlive: true,
    });
    return { name: cluster, agent, port: PORT_BASE + Number(cluster.replace(/^cluster/, "")) * 1000 + 443 };
}

function call(a: Api, method: string, p: string, body?: unknown, contentType = "application/json"): Promise<any> {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
            {
                host: HOST,
                port: a.port,
                path: p,
                method,
                agent: a.agent,
                timeout: 10_000,
                headers: data ? { "content-type": contentType, "content-length": Buffer.byteLength(data) } : {},
            },
            (res) => {
                let out = "";
                res.on("data", (d) => (out += d));
                res.on("end", () => {
                    if ((res.statusCode ?? 500) >= 300 && res.statusCode !== 404)
                        reject(new Error(`${a.name} ${method} ${p}: ${res.statusCode} ${out.slice(0, 300)}`));
                    else resolve(res.statusCode === 404 ? undefined : out ? JSON.parse(out) : undefined);
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`${a.name} ${method} ${p}: timeout`)));
        req.on("error", reject);
        if (data) req.write(data);
        req.end();
    });
}

const list = async (a: Api, p: string) => ((await call(a, "GET", p))?.items ?? []) as any[];
const nsName = (o: any) => `${o.metadata.namespace}/${o.metadata.name}`;

/** The slices every cluster should hold, from what every cluster exports and imports. */
function desired(state: Map<string, { exports: Set<string>; imports: Set<string>; local: any[] }>) {
    const want = new Map<string, Map<string, any>>(); // cluster -> "ns/slice" -> slice
    for (const [b, sb] of state) {
        const m = new Map<string, any>();
        for (const svc of sb.imports) {
            const [ns, name] = svc.split("/");
            for (const [a, sa] of state) {
                if (a === b || !sa.exports.has(svc)) continue;
                const slices = sa.local.filter(
                    (s) => s.metadata.namespace === ns && s.metadata.labels?.["kubernetes.io/service-name"] === name && s.addressType === "IPv4",
                );
                const endpoints = slices
                    .flatMap((s) =>
                        (s.endpoints ?? []).map((e: any) => ({
                            addresses: e.addresses,
                            conditions: e.conditions ?? {},
                            ...(e.hostname ? { hostname: e.hostname } : {}),
                        })),
                    )
                    .sort((x: any, y: any) => x.addresses[0].localeCompare(y.addresses[0]));
                const ports = slices.find((s) => s.ports?.length)?.ports ?? [];
                const sliceName = `${name}-from-${a}`.slice(0, 63);
                m.set(`${ns}/${sliceName}`, {
                    apiVersion: "discovery.k8s.io/v1",
                    kind: "EndpointSlice",
                    metadata: {
                        name: sliceName,
                        namespace: ns,
                        labels: { "kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": MANAGER, "mmc.test/source-cluster": a },
                    },
                    addressType: "IPv4",
                    endpoints,
                    ports,
                });
            }
        }
        want.set(b, m);
    }
    return want;
}

async function main() {
    const [dir, ...clusters] = process.argv.slice(2);
    if (!dir || !clusters.length) {
        console.error("usage: mcs-shim.ts <clusters dir> <cluster>...");
        process.exit(2);
    }
    const apis = clusters.map((c) => api(dir, c));
    const written = new Map<string, string>(); // cluster/ns/name -> JSON last applied
    let lastError = "";
    for (;;) {
        try {
            const state = new Map<string, { exports: Set<string>; imports: Set<string>; local: any[]; mine: any[] }>();
            for (const a of apis) {
                const [exps, imps, local, mine] = await Promise.all([
                    list(a, "/apis/multicluster.x-k8s.io/v1alpha1/serviceexports"),
                    list(a, "/apis/multicluster.x-k8s.io/v1alpha1/serviceimports"),
                    list(
                        a,
                        `/apis/discovery.k8s.io/v1/endpointslices?labelSelector=${encodeURIComponent(`endpointslice.kubernetes.io/managed-by=${LOCAL_MANAGER}`)}`,
                    ),
                    list(
                        a,
                        `/apis/discovery.k8s.io/v1/endpointslices?labelSelector=${encodeURIComponent(`endpointslice.kubernetes.io/managed-by=${MANAGER}`)}`,
                    ),
                ]);
                state.set(a.name, {
                    exports: new Set(exps.filter((o) => !o.metadata.deletionTimestamp).map(nsName)),
                    imports: new Set(imps.filter((o) => !o.metadata.deletionTimestamp).map(nsName)),
                    local,
                    mine,
                });
            }
            const want = desired(state);
            for (const a of apis) {
                const m = want.get(a.name)!;
                for (const [k, slice] of m) {
                    const json = JSON.stringify(slice);
                    const wk = `${a.name}/${k}`;
                    const exists = state.get(a.name)!.mine.some((s) => nsName(s) === k);
                    if (exists && written.get(wk) === json) continue;
                    const p = `/apis/discovery.k8s.io/v1/namespaces/${slice.metadata.namespace}/endpointslices/${slice.metadata.name}?fieldManager=mcs-shim&force=true`;
                    await call(a, "PATCH", p, slice, "application/apply-patch+yaml");
                    written.set(wk, json);
                    console.log(
                        `${new Date().toISOString()} ${a.name}: ${k} = [${slice.endpoints.map((e: any) => `${e.hostname ?? ""}@${e.addresses[0]}${e.conditions.ready === false ? "(not ready)" : ""}`).join(" ")}]`,
                    );
                }
                for (const s of state.get(a.name)!.mine) {
                    if (m.has(nsName(s))) continue;
                    await call(a, "DELETE", `/apis/discovery.k8s.io/v1/namespaces/${s.metadata.namespace}/endpointslices/${s.metadata.name}`);
                    written.delete(`${a.name}/${nsName(s)}`);
                    console.log(`${new Date().toISOString()} ${a.name}: ${nsName(s)} deleted (no longer exported/imported)`);
                }
            }
            lastError = "";
        } catch (e) {
            const msg = (e as Error).message;
            if (msg !== lastError) console.error(`${new Date().toISOString()} ${msg}`);
            lastError = msg;
        }
        await new Promise((r) => setTimeout(r, 1000));
    }
}

process.on("SIGTERM", () => process.exit(0));
void main();
