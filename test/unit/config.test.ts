import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fc from "fast-check";
import { ConfigError, parseStackConfig, quantityBytes, stripProjectPrefix } from "../../components/config";
import { baseRaw, validRawConfig } from "../helpers/configs";

test("defaults are applied in one place", () => {
    const cfg = parseStackConfig(baseRaw());
    assert.equal(cfg.mysql.name, "mysql");
    assert.equal(cfg.mysql.namespace, "mysql");
    assert.equal(cfg.mysql.storageSize, "10Gi");
    assert.equal(cfg.mcs.profile, "mcs-api");
    assert.equal(cfg.migration.maxMovesPerStep, 1);
    assert.deepEqual(cfg.retire, []);
    assert.deepEqual(cfg.mysql.resources, { cpu: "500m", memory: "1Gi", memoryLimit: "2Gi" });
});

test("quantities", () => {
    assert.equal(quantityBytes("10Gi"), 10 * 2 ** 30);
    assert.equal(quantityBytes("500M"), 5e8);
    assert.equal(quantityBytes("1.5Ki"), 1536);
    for (const bad of ["10GB", "ten", "", "-1Gi", "1 Gi"]) assert.equal(quantityBytes(bad), undefined, bad);
});

// Each row: a mutation of a valid config, and the one line the user must see.
const refusals: [string, (r: Record<string, any>) => void, RegExp][] = [
    [
        "unknown cluster in placement",
        (r) => (r.placement = ["a", "z"]),
        /^mysql-multicluster:placement\[1\]: "z": cluster "z" is not in clusters \(known: a, b\)$/,
    ],
    [
        "ordinals not contiguous",
        (r) => {
            r.clusters.a.nodes.push("a-3");
            r.placement = ["a", "b", "a"];
        },
        /^mysql-multicluster:placement\[2\]: .*cluster "a" would run ordinals 0,2, which are not contiguous/,
    ],
    ["more pods than nodes", (r) => (r.placement = ["a", "a", "a"]), /^mysql-multicluster:placement: .*cluster "a" would run 3 pods but lists 2 node\(s\)/],
    ["primary out of range", (r) => (r.primary = 2), /^mysql-multicluster:primary: 2: 2 is out of range: placement has ordinals 0\.\.1$/],
    ["negative primary", (r) => (r.primary = -1), /^mysql-multicluster:primary: -1: /],
    ["empty placement", (r) => (r.placement = []), /^mysql-multicluster:placement: \[\]: must place at least one ordinal$/],
    ["missing clusters", (r) => delete r.clusters, /^mysql-multicluster:clusters: is required/],
    ["missing placement", (r) => delete r.placement, /^mysql-multicluster:placement: is required/],
    ["malformed quantity", (r) => (r.mysql.storageSize = "10GB"), /^mysql-multicluster:mysql\.storageSize: "10GB": is not a Kubernetes quantity/],
    ["malformed capacity", (r) => (r.clusters.a.storage.capacity = "lots"), /^mysql-multicluster:clusters\.a\.storage/],
    [
        "capacity below storageSize",
        (r) => (r.mysql.storageSize = "20Gi"),
        /^mysql-multicluster:clusters\.a\.storage\.capacity: "15Gi": 15Gi is smaller than mysql\.storageSize 20Gi/,
    ],
    ["unknown engine", (r) => (r.mysql.engine = "postgres"), /^mysql-multicluster:mysql\.engine: "postgres": /],
    ["unknown profile", (r) => (r.mcs = { profile: "istio" }), /^mysql-multicluster:mcs\.profile: "istio": /],
    ["unknown key (typo)", (r) => (r.placment = ["a"]), /^mysql-multicluster:placment: unknown key/],
    ["unknown nested key", (r) => (r.mysql.engnie = "mysql"), /^mysql-multicluster:mysql\.engnie: unknown key/],
    ["node listed twice", (r) => (r.clusters.a.nodes = ["a-1", "a-1"]), /^mysql-multicluster:clusters\.a\.nodes\[1\]: "a-1": node "a-1" is listed twice$/],
    ["duplicate cluster id", (r) => (r.clusters.b.clusterId = "a"), /^mysql-multicluster:clusters\.b\.clusterId: "a": "a" is already the id of cluster "a"$/],
    ["bad cluster name", (r) => (r.clusters.Bad_Name = r.clusters.b), /^mysql-multicluster:clusters\.Bad_Name: /],
    ["relative local path", (r) => (r.clusters.a.storage.localPath = "data"), /^mysql-multicluster:clusters\.a\.storage/],
    ["retired cluster still placed", (r) => (r.retire = ["a"]), /^mysql-multicluster:retire\[0\]: "a": cluster "a" still runs ordinals/],
    ["unknown consumer", (r) => (r.mcs = { consumers: ["q"] }), /^mysql-multicluster:mcs\.consumers\[0\]: "q": cluster "q" is not in clusters/],
    ["primary not an integer", (r) => (r.primary = "zero"), /^mysql-multicluster:primary: "zero": /],
    ["no nodes", (r) => (r.clusters.b.nodes = []), /^mysql-multicluster:clusters\.b\.nodes: \[\]: must list at least one node$/],
    // Values the API server would refuse halfway through an `up` (issue 13): refused here, naming the key.
    ["set name starting with a digit", (r) => (r.mysql.name = "1db"), /^mysql-multicluster:mysql\.name: "1db": must start with a letter/],
    [
        "node name over 63 characters",
        (r) => (r.clusters.a.nodes = ["n".repeat(64), "a-2"]),
        /^mysql-multicluster:clusters\.a\.nodes\[0\]: "n{64}": is longer than 63 characters: node affinity matches it as the kubernetes\.io\/hostname label value$/,
    ],
    [
        "toleration Exists with a value",
        (r) => (r.clusters.a.tolerations = [{ key: "kosmos.io/node", operator: "Exists", value: "true" }]),
        /^mysql-multicluster:clusters\.a\.tolerations\[0\]: \{.*\}: has operator Exists and a value/,
    ],
    [
        "toleration without operator (Exists) with a value",
        (r) => (r.clusters.a.tolerations = [{ key: "kosmos.io/node", value: "true" }]),
        /^mysql-multicluster:clusters\.a\.tolerations\[0\]: .*has operator Exists and a value/,
    ],
    [
        "memoryLimit below memory",
        (r) => (r.mysql.resources = { memory: "2Gi", memoryLimit: "512Mi" }),
        /^mysql-multicluster:mysql\.resources\.memoryLimit: "512Mi": is below memory 2Gi/,
    ],
    [
        "storageSize in millibytes",
        (r) => (r.mysql.storageSize = "500m"),
        /^mysql-multicluster:mysql\.storageSize: "500m": is 0\.5 bytes, .*did you mean 500Mi\?/,
    ],
    [
        "storageSize below 1Gi",
        (r) => (r.mysql.storageSize = "100Mi"),
        /^mysql-multicluster:mysql\.storageSize: "100Mi": is 104857600 bytes; a volume must hold at least 1Gi$/,
    ],
    [
        "local capacity in millibytes",
        (r) => (r.clusters.a.storage.capacity = "15000m"),
        /^mysql-multicluster:clusters\.a\.storage\.capacity: "15000m": is 15 bytes/,
    ],
    [
        "malformed image digest",
        (r) => (r.mysql.image = "mariadb@sha256:abc"),
        /^mysql-multicluster:mysql\.image: "mariadb@sha256:abc": has a digest that is not @sha256:<64 hex digits>$/,
    ],
    [
        "podCidrs entry not a CIDR",
        (r) => (r.clusters.a.podCidrs = ["10.0.0.0"]),
        /^mysql-multicluster:clusters\.a\.podCidrs\[0\]: "10\.0\.0\.0": is not a CIDR/,
    ],
    [
        "client ipBlock not a CIDR",
        (r) => (r.mysql.clients = { ipBlocks: ["everyone"] }),
        /^mysql-multicluster:mysql\.clients\.ipBlocks\[0\]: "everyone": is not a CIDR/,
    ],
    [
        "client selector label value",
        (r) => (r.mysql.clients = { podSelector: { app: "a b" } }),
        /^mysql-multicluster:mysql\.clients\.podSelector\.app: "a b": is not a label value/,
    ],
    ["unknown clients key", (r) => (r.mysql.clients = { pods: {} }), /^mysql-multicluster:mysql\.clients\.pods: unknown key/],
];

test("local volume names: the longest set and node names fit 253 characters, so no two nodes share a volume after truncation", async () => {
    const { localVolumeName } = await import("../../components/naming");
    const { setNameLimit } = await import("../../components/config");
    const set = "s".repeat(setNameLimit(2));
    const [a, b] = ["n".repeat(62) + "a", "n".repeat(62) + "b"];
    assert.ok(localVolumeName(set, a).length <= 253 && localVolumeName(set, a) !== localVolumeName(set, b));
    const raw = baseRaw();
    raw.mysql.name = set;
    raw.clusters.a.nodes = [a, b];
    assert.deepEqual(parseStackConfig(raw).clusters.a.nodes, [a, b]);
});

for (const [name, mutate, expected] of refusals) {
    test(`refuses: ${name}`, () => {
        const raw = baseRaw();
        mutate(raw);
        assert.throws(
            () => parseStackConfig(raw),
            (e: unknown) => {
                assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
                assert.match(e.message, expected);
                assert.ok(!e.message.includes("\n"), "one line");
                return true;
            },
        );
    });
}

test("stack file keys: other namespaces are ignored, missing namespace and secrets refused", () => {
    assert.deepEqual(stripProjectPrefix({ "kubernetes:context": "x", "mysql-multicluster:primary": 1 }), { primary: 1 });
    assert.throws(() => stripProjectPrefix({ primary: 1 }), /config key "primary" has no namespace/);
    assert.throws(() => stripProjectPrefix({ "mysql-multicluster:x": { secure: "abc" } }), /is a secret value/);
});

test("property: every generated valid config is accepted", () => {
    fc.assert(
        fc.property(validRawConfig, (raw) => void parseStackConfig(raw)),
        { numRuns: 300 },
    );
});

test("property: breaking one rule is refused with a named key", () => {
    const breakers: ((r: Record<string, any>) => string)[] = [
        (r) => ((r.placement = [...r.placement, "nowhere"]), "placement"),
        (r) => ((r.primary = r.placement.length), "primary"),
        (r) => ((r.mysql.storageSize = "1 Gi"), "mysql.storageSize"),
        (r) => ((r.mcs.profile = "submariner"), "mcs.profile"),
        (r) => {
            const c = r.placement[0];
            r.placement = [...r.placement, ...r.clusters[c].nodes.map(() => c)];
            return "placement";
        },
    ];
    fc.assert(
        fc.property(validRawConfig, fc.integer({ min: 0, max: breakers.length - 1 }), (raw, b) => {
            const key = breakers[b](raw);
            try {
                parseStackConfig(raw);
            } catch (e) {
                assert.ok(e instanceof ConfigError);
                assert.ok(e.message.startsWith(`mysql-multicluster:${key}`), `${e.message} does not name ${key}`);
                return;
            }
            assert.fail("accepted an invalid config");
        }),
        { numRuns: 300 },
    );
});

test("Pulumi's flat config map (objects as JSON text) reads back to the same config as the stack file", async () => {
    const { rawFromPulumiConfig } = await import("../../components/config");
    const raw = baseRaw();
    const flat = Object.fromEntries(Object.entries(raw).map(([k, v]) => [`mysql-multicluster:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
    flat["kubernetes:context"] = "ignored";
    assert.deepEqual(parseStackConfig(rawFromPulumiConfig(flat)), parseStackConfig(raw));
    assert.throws(
        () => parseStackConfig(rawFromPulumiConfig({ ...flat, "mysql-multicluster:retire": "cluster1" })),
        /ConfigError: mysql-multicluster:retire: "cluster1": invalid input: expected array/,
    );
});
