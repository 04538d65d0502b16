import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fc from "fast-check";
import { parseStackConfig } from "../../components/config";
import { NamingContext, podHost, serviceHost } from "../../components/naming";
import { buildPlan, donorOrder, namingContext } from "../../components/plan";
import { topologyEnv } from "../../components/contract";
import { baseRaw, validRawConfig } from "../helpers/configs";

const ctx = (profile: NamingContext["profile"]): NamingContext => ({
    set: "mysql",
    namespace: "db",
    profile,
    clusterIdOf: (c) => `id-${c}`,
});

test("per-pod names: local, then as each MCS profile resolves a pod in another cluster", () => {
    const rows: [NamingContext["profile"], string, string][] = [
        ["mcs-api", "mysql-1.mysql.db.svc.cluster.local", "mysql-1.id-c2.mysql.db.svc.clusterset.local"],
        ["ack-one", "mysql-1.mysql.db.svc.cluster.local", "mysql-1.amcs-mysql.db.svc.cluster.local"],
        ["kosmos", "mysql-1.mysql.db.svc.cluster.local", "mysql-1.mysql.db.svc.cluster.local"],
    ];
    for (const [profile, local, remote] of rows) {
        assert.equal(podHost(ctx(profile), 1, "c2", "c2"), local, profile);
        assert.equal(podHost(ctx(profile), 1, "c2", "c1"), remote, profile);
    }
});

test("service names per profile", () => {
    assert.equal(serviceHost(ctx("mcs-api"), "write", "c1", "c1"), "mysql-write.db.svc.cluster.local");
    assert.equal(serviceHost(ctx("mcs-api"), "write", "c1", "c2"), "mysql-write.db.svc.clusterset.local");
    assert.equal(serviceHost(ctx("ack-one"), "read", "c1", "c2"), "amcs-mysql-read.db.svc.cluster.local");
    assert.equal(serviceHost(ctx("kosmos"), "headless", "c1", "c2"), "mysql.db.svc.cluster.local");
});

test("donors: local replicas, remote replicas, the primary last", () => {
    const raw = baseRaw();
    raw.clusters.a.nodes = ["a-1", "a-2", "a-3"];
    raw.placement = ["a", "a", "b", "b"];
    raw.primary = 1;
    const cfg = parseStackConfig(raw);
    const order = donorOrder(cfg, namingContext(cfg), "b");
    assert.deepEqual(order, [
        "mysql-2.mysql.mysql.svc.cluster.local",
        "mysql-3.mysql.mysql.svc.cluster.local",
        "mysql-0.a.mysql.mysql.svc.clusterset.local",
        "mysql-1.a.mysql.mysql.svc.clusterset.local",
    ]);
});

test("one cluster: no MCS objects; two clusters: exports where pods run, imports only for manual profiles", () => {
    const single = buildPlan(parseStackConfig(baseRaw()));
    assert.equal(single.multiCluster, false);
    assert.ok(single.clusters.every((c) => !c.exports && c.imports.length === 0));

    const raw = baseRaw();
    raw.placement = ["a", "b"];
    const mcsApi = buildPlan(parseStackConfig(raw));
    assert.deepEqual(
        mcsApi.clusters.map((c) => [c.name, c.exports, c.imports.length]),
        [
            ["a", true, 0],
            ["b", true, 0],
        ],
    );
    raw.mcs = { profile: "ack-one" };
    const ack = buildPlan(parseStackConfig(raw));
    assert.deepEqual(
        ack.clusters.map((c) => [c.name, c.exports, c.imports.map((i) => `${i.name}:${i.type}`).join(",")]),
        [
            ["a", true, "mysql:Headless,mysql-write:ClusterSetIP,mysql-read:ClusterSetIP"],
            ["b", true, "mysql:Headless,mysql-write:ClusterSetIP,mysql-read:ClusterSetIP"],
        ],
    );
});

test("a consumer cluster gets imports but no exports and no pods", () => {
    const raw = baseRaw();
    raw.clusters.c = { context: "ctx-c", nodes: ["c-1"], storage: { storageClass: "x" } };
    raw.mcs = { profile: "kosmos", consumers: ["c"] };
    const plan = buildPlan(parseStackConfig(raw));
    const c = plan.clusters.find((x) => x.name === "c")!;
    assert.equal(plan.multiCluster, true);
    assert.equal(c.exports, false);
    assert.equal(c.imports.length, 3);
    assert.equal(c.podCount, 0);
    assert.equal(plan.clusters.find((x) => x.name === "b")!.imports.length, 0, "b neither runs pods nor consumes");
});

test("topology.env is shell-sourceable and quotes values", () => {
    const plan = buildPlan(parseStackConfig(baseRaw()));
    const env = topologyEnv(plan.clusters[0].topology);
    assert.doesNotMatch(env, /MMC_REPLICAS|MMC_READ_HOST/, "set, never read by the scripts");
    assert.match(env, /^MMC_PRIMARY_ORDINAL='0'$/m);
    assert.match(env, /^MMC_PEERS='0=mysql-0\.mysql\.mysql\.svc\.cluster\.local 1=mysql-1\.mysql\.mysql\.svc\.cluster\.local'$/m);
});

test("property: every valid config gives each cluster exactly its contiguous ordinals, once", () => {
    fc.assert(
        fc.property(validRawConfig, (raw) => {
            const cfg = parseStackConfig(raw);
            const plan = buildPlan(cfg);
            const all = plan.clusters.flatMap((c) => c.ordinals);
            assert.deepEqual(
                [...all].sort((a, b) => a - b),
                cfg.placement.map((_, i) => i),
            );
            for (const c of plan.clusters) {
                assert.equal(c.podCount, c.ordinals.length);
                if (c.podCount)
                    assert.deepEqual(
                        c.ordinals,
                        Array.from({ length: c.podCount }, (_, i) => c.ordinalsStart + i),
                    );
                assert.ok(c.podCount <= c.nodes.length);
                assert.equal(c.topology.donors.length, cfg.placement.length);
                assert.equal(c.topology.donors.at(-1), podHost(namingContext(cfg), cfg.primary, cfg.placement[cfg.primary], c.name));
            }
            assert.equal(plan.pods.filter((p) => p.role === "primary").length, 1);
        }),
        { numRuns: 300 },
    );
});
