// The test MCS controller's mcs-api records (tools/clusters/mcs-shim.ts, test infrastructure of the
// real-node tier): what each cluster gets from what the clusters export, and that its clusterset.local
// names are the ones the program uses under `mcs: { profile: mcs-api }` (components/naming.ts).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { desiredMcsApi, hostsFile, McsApiState } from "../../tools/clusters/mcs-shim";
import { NamingContext, podHost, serviceHost } from "../../components/naming";

const svc = (name: string, clusterIP: string) => ({
    metadata: { namespace: "mysql", name },
    spec: { clusterIP, ports: [{ name: "mysql", port: 3306, protocol: "TCP" }] },
});
const slice = (service: string, endpoints: { ip: string; hostname?: string; ready?: boolean }[]) => ({
    metadata: { namespace: "mysql", name: `${service}-abc`, labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true }, ...(e.hostname ? { hostname: e.hostname } : {}) })),
    ports: [{ name: "mysql", port: 3306, protocol: "TCP" }],
});
const cluster = (over: Partial<McsApiState>): McsApiState => ({
    exports: new Set(),
    services: [],
    namespaces: new Set(["default", "kube-system"]),
    local: [],
    imports: [],
    derived: [],
    hosts: undefined,
    ...over,
});

// Phase 2 of stacks/: the primary mysql-0 in cluster1, the replica mysql-1 in cluster2; cluster3 has no namespace.
const state = new Map<string, McsApiState>([
    [
        "cluster1",
        cluster({
            exports: new Set(["mysql/mysql", "mysql/mysql-write"]),
            services: [svc("mysql", "None"), svc("mysql-write", "10.96.1.1")],
            namespaces: new Set(["mysql"]),
            local: [slice("mysql", [{ ip: "10.244.1.5", hostname: "mysql-0" }]), slice("mysql-write", [{ ip: "10.244.1.5" }])],
        }),
    ],
    [
        "cluster2",
        cluster({
            exports: new Set(["mysql/mysql", "mysql/mysql-write"]),
            services: [svc("mysql", "None"), svc("mysql-write", "10.96.2.2")],
            namespaces: new Set(["mysql"]),
            local: [slice("mysql", [{ ip: "10.244.3.4", hostname: "mysql-1", ready: false }]), slice("mysql-write", [])],
        }),
    ],
    ["cluster3", cluster({})],
]);
const ctx: NamingContext = { set: "mysql", namespace: "mysql", profile: "mcs-api", clusterIdOf: (c) => c };

test("mcs-api: every cluster with the namespace imports every exported Service; the ClusterSetIP gets a VIP Service fed by every exporter", () => {
    const want = desiredMcsApi(state);
    const c2 = want.get("cluster2")!;
    assert.deepEqual(
        [...c2.imports.values()].map((i) => [i.metadata.name, i.spec.type]),
        [
            ["mysql", "Headless"],
            ["mysql-write", "ClusterSetIP"],
        ],
    );
    assert.deepEqual([...c2.derived.keys()], ["mysql/mmc-mcs-mysql-write"]);
    const writeSlices = [...c2.slices.values()].filter((s) => s.metadata.labels["multicluster.kubernetes.io/service-name"] === "mysql-write");
    assert.deepEqual(
        writeSlices.map((s) => [s.metadata.labels["multicluster.kubernetes.io/source-cluster"], s.metadata.labels["kubernetes.io/service-name"]]),
        [
            ["cluster1", "mmc-mcs-mysql-write"],
            ["cluster2", "mmc-mcs-mysql-write"],
        ],
    );
    assert.deepEqual(writeSlices[0].endpoints[0].addresses, ["10.244.1.5"]);
    // Headless imports feed no kube-proxy Service.
    const headless = [...c2.slices.values()].filter((s) => s.metadata.labels["multicluster.kubernetes.io/service-name"] === "mysql");
    assert.ok(headless.every((s) => !("kubernetes.io/service-name" in s.metadata.labels)));
    const c3 = want.get("cluster3")!;
    assert.equal(c3.imports.size + c3.derived.size + c3.slices.size, 0, "no namespace, no import");
});

test("mcs-api: the clusterset.local records are the names the program gives its pods and Services", () => {
    const c2 = desiredMcsApi(state).get("cluster2")!;
    const hosts = hostsFile(c2.imports, new Map([["mysql/mmc-mcs-mysql-write", "10.96.9.9"]]), c2.slices);
    const records = hosts
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split(" "));
    const ipsOf = (name: string) => records.filter(([, n]) => n === name).map(([ip]) => ip);
    // What cluster2's members dial under mcs-api (components/naming.ts).
    assert.deepEqual(ipsOf(podHost(ctx, 0, "cluster1", "cluster2")), ["10.244.1.5"]);
    assert.deepEqual(ipsOf(podHost(ctx, 1, "cluster2", "cluster1")), ["10.244.3.4"], "a pod's own name is published even before it is ready");
    assert.deepEqual(ipsOf(serviceHost(ctx, "write", "cluster1", "cluster2")), ["10.96.9.9"], "the write Service's clusterset name is the VIP");
    assert.deepEqual(ipsOf("mysql.mysql.svc.clusterset.local"), ["10.244.1.5"], "headless: ready endpoints only");
});
