// TEST INFRASTRUCTURE, not part of the product: plays the platform's multi-cluster Service
// controller for the `kosmos` profile in the local clusters of `up.sh --nodes real`.
// Kosmos keeps the Service's name in the importing cluster and adds the exporting cluster's
// endpoints to it. Here: for every ServiceImport <ns>/<svc> in cluster B and every other cluster A
// with a ServiceExport <ns>/<svc>, B gets an EndpointSlice `<svc>-from-<A>` (label
// kubernetes.io/service-name=<svc>) holding A's local endpoints (addresses, hostname, readiness).
// CoreDNS then answers `mysql-0.mysql.<ns>.svc.cluster.local` in B, and kube-proxy in B sends the
// ClusterIP of `mysql-write` to the primary's pod IP in A (pod IPs are routed across all nodes).
// Polls every second; writes only what changed.
//
// With --profile mcs-api it plays a KEP-1645 implementation instead (what e.g. GKE MCS or Submariner
// provide, reduced to what the program needs): for every ServiceExport <ns>/<svc> (in any cluster),
// every cluster whose namespace <ns> exists gets
//   - a ServiceImport <ns>/<svc> (Headless when the exported Service is headless, else ClusterSetIP),
//   - EndpointSlices `<svc>-import-<A>` per exporting cluster A (labels multicluster.kubernetes.io/
//     service-name and source-cluster) with A's endpoints,
//   - for ClusterSetIP: a selector-less Service `mmc-mcs-<svc>` whose ClusterIP is the import's VIP
//     (spec.ips) and which those slices feed (kube-proxy routes the VIP to the remote pods);
//   - DNS: the records CoreDNS's `multicluster` plugin would serve, as a hosts file in the ConfigMap
//     kube-system/coredns-clusterset that CoreDNS serves for clusterset.local (tools/clusters/
//     real-nodes.yaml): `<svc>.<ns>.svc.clusterset.local` (the VIP, or every ready endpoint when
//     headless) and `<hostname>.<clusterId>.<svc>.<ns>.svc.clusterset.local` (clusterId = the
//     cluster's name, as the stacks declare it).
//   node --import tsx tools/clusters/mcs-shim.ts [--profile kosmos|mcs-api] <clusters dir> <cluster>...
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

const SHIM_LABEL = "mmc.test/mcs-shim";
const HOSTS_CM = "coredns-clusterset";
const derivedName = (svc: string) => `mmc-mcs-${svc}`.slice(0, 63);

export interface McsApiState {
    exports: Set<string>;
    services: any[];
    namespaces: Set<string>;
    local: any[];
    imports: any[]; // the shim's own ServiceImports
    derived: any[]; // the shim's own Services
    hosts: string | undefined; // the live hosts file
}

/** mcs-api: what every cluster should hold (imports, derived Services, slices, hosts), apart from the VIPs. */
export function desiredMcsApi(state: Map<string, McsApiState>) {
    const exported = new Map<string, { cluster: string; service: any }[]>(); // ns/svc -> exporters
    for (const [a, sa] of state)
        for (const key of sa.exports) {
            const service = sa.services.find((x) => nsName(x) === key);
            if (service) exported.set(key, [...(exported.get(key) ?? []), { cluster: a, service }]);
        }
    const out = new Map<string, { imports: Map<string, any>; derived: Map<string, any>; slices: Map<string, any> }>();
    for (const [b, sb] of state) {
        const imports = new Map<string, any>();
        const derived = new Map<string, any>();
        const slices = new Map<string, any>();
        for (const [key, exporters] of [...exported].sort()) {
            const [ns, name] = key.split("/");
            if (!sb.namespaces.has(ns)) continue;
            const headless = exporters.some((e) => e.service.spec?.clusterIP === "None");
            const ports = (exporters[0].service.spec?.ports ?? []).map((p: any) => ({ name: p.name, port: p.port, protocol: p.protocol ?? "TCP" }));
            const labels = { [SHIM_LABEL]: "true" };
            imports.set(`${ns}/${name}`, {
                apiVersion: "multicluster.x-k8s.io/v1alpha1",
                kind: "ServiceImport",
                metadata: { name, namespace: ns, labels },
                spec: { type: headless ? "Headless" : "ClusterSetIP", ports },
            });
            if (!headless)
                derived.set(`${ns}/${derivedName(name)}`, {
                    apiVersion: "v1",
                    kind: "Service",
                    metadata: { name: derivedName(name), namespace: ns, labels },
                    spec: { ports: ports.map((p: any) => ({ ...p, targetPort: p.port })) },
                });
            for (const { cluster: a } of exporters) {
                const local = state
                    .get(a)!
                    .local.filter((s) => s.metadata.namespace === ns && s.metadata.labels?.["kubernetes.io/service-name"] === name && s.addressType === "IPv4");
                const endpoints = local
                    .flatMap((s) =>
                        (s.endpoints ?? []).map((e: any) => ({
                            addresses: e.addresses,
                            conditions: e.conditions ?? {},
                            ...(e.hostname ? { hostname: e.hostname } : {}),
                        })),
                    )
                    .sort((x: any, y: any) => x.addresses[0].localeCompare(y.addresses[0]));
                const sliceName = `${name}-import-${a}`.slice(0, 63);
                slices.set(`${ns}/${sliceName}`, {
                    apiVersion: "discovery.k8s.io/v1",
                    kind: "EndpointSlice",
                    metadata: {
                        name: sliceName,
                        namespace: ns,
                        labels: {
                            "multicluster.kubernetes.io/service-name": name,
                            "multicluster.kubernetes.io/source-cluster": a,
                            "endpointslice.kubernetes.io/managed-by": MANAGER,
                            ...(headless ? {} : { "kubernetes.io/service-name": derivedName(name) }),
                        },
                    },
                    addressType: "IPv4",
                    endpoints,
                    ports: local.find((x) => x.ports?.length)?.ports ?? [],
                });
            }
        }
        out.set(b, { imports, derived, slices });
    }
    return out;
}

/** The clusterset.local records of one cluster, from its imports, VIPs and slices. */
export function hostsFile(imports: Map<string, any>, vips: Map<string, string>, slices: Map<string, any>): string {
    const lines: string[] = [];
    for (const [key, imp] of imports) {
        const [ns, name] = key.split("/");
        const fqdn = `${name}.${ns}.svc.clusterset.local`;
        const mine = [...slices.values()].filter((s) => s.metadata.namespace === ns && s.metadata.labels["multicluster.kubernetes.io/service-name"] === name);
        if (imp.spec.type === "ClusterSetIP") {
            const vip = vips.get(`${ns}/${derivedName(name)}`);
            if (vip) lines.push(`${vip} ${fqdn}`);
        }
        for (const s of mine)
            for (const e of s.endpoints) {
                if (imp.spec.type === "Headless" && e.conditions.ready !== false) lines.push(`${e.addresses[0]} ${fqdn}`);
                if (e.hostname) lines.push(`${e.addresses[0]} ${e.hostname}.${s.metadata.labels["multicluster.kubernetes.io/source-cluster"]}.${fqdn}`);
            }
    }
    return `# written by tools/clusters/mcs-shim.ts (test MCS controller, profile mcs-api)\n${lines.join("\n")}\n`;
}

async function applyObject(a: Api, o: any): Promise<any> {
    const base = o.apiVersion === "v1" ? "/api/v1" : `/apis/${o.apiVersion}`;
    const plural = { Service: "services", ServiceImport: "serviceimports", EndpointSlice: "endpointslices", ConfigMap: "configmaps" }[o.kind as string];
    return call(
        a,
        "PATCH",
        `${base}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}?fieldManager=mcs-shim&force=true`,
        o,
        "application/apply-patch+yaml",
    );
}

async function roundMcsApi(apis: Api[], written: Map<string, string>) {
    const state = new Map<string, McsApiState>();
    for (const a of apis) {
        const sel = encodeURIComponent(`${SHIM_LABEL}=true`);
        const [exps, services, namespaces, local, imports, derived, cm] = await Promise.all([
            list(a, "/apis/multicluster.x-k8s.io/v1alpha1/serviceexports"),
            list(a, "/api/v1/services"),
            list(a, "/api/v1/namespaces"),
            list(a, `/apis/discovery.k8s.io/v1/endpointslices?labelSelector=${encodeURIComponent(`endpointslice.kubernetes.io/managed-by=${LOCAL_MANAGER}`)}`),
            list(a, `/apis/multicluster.x-k8s.io/v1alpha1/serviceimports?labelSelector=${sel}`),
            list(a, `/api/v1/services?labelSelector=${sel}`),
            call(a, "GET", `/api/v1/namespaces/kube-system/configmaps/${HOSTS_CM}`),
        ]);
        state.set(a.name, {
            exports: new Set(exps.filter((o) => !o.metadata.deletionTimestamp).map(nsName)),
            services,
            namespaces: new Set(namespaces.filter((n) => !n.metadata.deletionTimestamp).map((n) => n.metadata.name)),
            local,
            imports,
            derived,
            hosts: cm?.data?.hosts,
        });
    }
    const mine = new Map<string, any[]>();
    for (const a of apis)
        mine.set(
            a.name,
            await list(a, `/apis/discovery.k8s.io/v1/endpointslices?labelSelector=${encodeURIComponent(`endpointslice.kubernetes.io/managed-by=${MANAGER}`)}`),
        );
    const want = desiredMcsApi(state);
    for (const a of apis) {
        const st = state.get(a.name)!;
        const w = want.get(a.name)!;
        const vips = new Map<string, string>(st.derived.map((s) => [nsName(s), s.spec?.clusterIP]));
        const put = async (kind: string, key: string, o: any, exists: boolean) => {
            const json = JSON.stringify(o);
            const wk = `${a.name}/${kind}/${key}`;
            if (exists && written.get(wk) === json) return;
            const res = await applyObject(a, o);
            if (kind === "Service" && res?.spec?.clusterIP) vips.set(key, res.spec.clusterIP);
            written.set(wk, json);
            console.log(`${new Date().toISOString()} ${a.name}: ${kind} ${key} applied`);
        };
        for (const [k, o] of w.derived)
            await put(
                "Service",
                k,
                o,
                st.derived.some((s) => nsName(s) === k),
            );
        for (const [k, o] of w.imports) {
            const vip = vips.get(`${o.metadata.namespace}/${derivedName(o.metadata.name)}`);
            await put(
                "ServiceImport",
                k,
                vip ? { ...o, spec: { ...o.spec, ips: [vip] } } : o,
                st.imports.some((s) => nsName(s) === k),
            );
        }
        for (const [k, o] of w.slices)
            await put(
                "EndpointSlice",
                k,
                o,
                mine.get(a.name)!.some((s) => nsName(s) === k),
            );
        const hosts = hostsFile(w.imports, vips, w.slices);
        if (st.hosts !== hosts) {
            await applyObject(a, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: HOSTS_CM, namespace: "kube-system" }, data: { hosts } });
            console.log(`${new Date().toISOString()} ${a.name}: clusterset.local records: ${hosts.split("\n").slice(1).filter(Boolean).join("; ")}`);
        }
        // What is no longer exported goes.
        const gone: [string, any[], Map<string, any>, string][] = [
            ["EndpointSlice", mine.get(a.name)!, w.slices, "/apis/discovery.k8s.io/v1"],
            ["ServiceImport", st.imports, w.imports, "/apis/multicluster.x-k8s.io/v1alpha1"],
            ["Service", st.derived, w.derived, "/api/v1"],
        ];
        for (const [kind, live, keep, base] of gone)
            for (const o of live) {
                if (keep.has(nsName(o))) continue;
                const plural = { Service: "services", ServiceImport: "serviceimports", EndpointSlice: "endpointslices" }[kind];
                await call(a, "DELETE", `${base}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}`);
                written.delete(`${a.name}/${kind}/${nsName(o)}`);
                console.log(`${new Date().toISOString()} ${a.name}: ${kind} ${nsName(o)} deleted (no longer exported)`);
            }
    }
}

async function main() {
    const args = process.argv.slice(2);
    let profile = "kosmos";
    if (args[0]?.startsWith("--profile")) {
        profile = args[0].includes("=") ? args[0].split("=")[1] : (args.splice(1, 1)[0] ?? "");
        args.shift();
    }
    const [dir, ...clusters] = args;
    if (!dir || !clusters.length || !["kosmos", "mcs-api"].includes(profile)) {
        console.error("usage: mcs-shim.ts [--profile kosmos|mcs-api] <clusters dir> <cluster>...");
        process.exit(2);
    }
    console.log(`${new Date().toISOString()} test MCS controller, profile ${profile}, clusters ${clusters.join(" ")}`);
    const apis = clusters.map((c) => api(dir, c));
    const written = new Map<string, string>(); // cluster/ns/name -> JSON last applied
    let lastError = "";
    for (;;) {
        if (profile === "mcs-api") {
            try {
                await roundMcsApi(apis, written);
                lastError = "";
            } catch (e) {
                const msg = (e as Error).message;
                if (msg !== lastError) console.error(`${new Date().toISOString()} ${msg}`);
                lastError = msg;
            }
            await new Promise((r) => setTimeout(r, 1000));
            continue;
        }
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

// Run as a program (up.sh); imported by test/unit/mcsShim.test.ts for its pure parts.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
    process.on("SIGTERM", () => process.exit(0));
    void main();
}
