// Automatic failover, program side (issue 17): config rules, the plan, the voter-change rule.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigError, parseStackConfig } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { TransitionError, deployedStateOf, planStep } from "../../components/step";
import { baseRaw } from "../helpers/configs";

/** baseRaw with a third cluster `c` (two nodes, dynamic storage), members in a and b. */
export function threeRaw(extra: Record<string, any> = {}): Record<string, any> {
    const r = baseRaw();
    r.clusters.c = { context: "ctx-c", nodes: ["c-1", "c-2"], storage: { storageClass: "standard" } };
    r.placement = ["a", "b"];
    return { ...r, ...extra };
}
const auto = (failover: Record<string, any> = {}, extra: Record<string, any> = {}) =>
    threeRaw({ failover: { mode: "automatic", witnesses: ["c"], ...failover }, ...extra });

const refusals: [string, Record<string, any>, RegExp][] = [
    [
        "two voter clusters",
        threeRaw({ failover: { mode: "automatic" } }),
        /^mysql-multicluster:failover\.mode: "automatic": needs arbiter voters in at least 3 clusters \(failure domains\); it has 2: a, b \(running members\), no witnesses; add one of c to failover\.witnesses$/,
    ],
    [
        "one voter cluster, one spare",
        threeRaw({ placement: ["a", "a"], failover: { mode: "automatic", witnesses: ["b"] } }),
        /^mysql-multicluster:failover\.mode: "automatic": needs arbiter voters in at least 3 clusters .*it has 2: a \(running members\) and b \(failover\.witnesses\); add one of c to failover\.witnesses$/,
    ],
    [
        "not enough clusters at all",
        { ...baseRaw(), placement: ["a", "b"], failover: { mode: "automatic" } },
        /^mysql-multicluster:failover\.mode: "automatic": .*it has 2: a, b \(running members\), no witnesses; add 1 cluster\(s\) to clusters and name it in failover\.witnesses$/,
    ],
    ["unknown witness", auto({ witnesses: ["z"] }), /^mysql-multicluster:failover\.witnesses\[0\]: "z": cluster "z" is not in clusters \(known: a, b, c\)$/],
    ["witness twice", auto({ witnesses: ["c", "c"] }), /^mysql-multicluster:failover\.witnesses\[1\]: "c": cluster "c" is listed twice$/],
    [
        "lost witness",
        auto({ witnesses: ["c"], lost: ["c"] }),
        /^mysql-multicluster:failover\.witnesses\[0\]: "c": cluster "c" is in failover\.lost: a witness must be reachable; name another cluster$/,
    ],
    [
        "retiring witness",
        auto({}, { retire: ["c"] }),
        /^mysql-multicluster:failover\.witnesses\[0\]: "c": cluster "c" is in retire: a retired cluster runs nothing, a witness included; name another cluster$/,
    ],
    ["lease below 5", auto({ leaseSeconds: 4 }), /^mysql-multicluster:failover\.leaseSeconds: 4: /],
    ["lease above 60", auto({ leaseSeconds: 61 }), /^mysql-multicluster:failover\.leaseSeconds: 61: /],
    ["unknown mode", auto({ mode: "auto" }), /^mysql-multicluster:failover\.mode: "auto": /],
    [
        "bad arbiter digest",
        auto({ arbiterImage: "etcd@sha256:abc" }),
        /^mysql-multicluster:failover\.arbiterImage: "etcd@sha256:abc": has a digest that is not @sha256:<64 hex digits>$/,
    ],
    [
        "witnesses in manual mode",
        threeRaw({ failover: { witnesses: ["c"] } }),
        /^mysql-multicluster:failover\.witnesses: \["c"\]: has no effect with failover\.mode manual \(the default\): set failover\.mode: automatic, or remove failover\.witnesses$/,
    ],
    [
        "lease in explicit manual mode",
        threeRaw({ failover: { mode: "manual", leaseSeconds: 10 } }),
        /^mysql-multicluster:failover\.leaseSeconds: 10: has no effect with failover\.mode manual: set failover\.mode: automatic, or remove failover\.leaseSeconds$/,
    ],
    ["arbiter image in manual mode", threeRaw({ failover: { arbiterImage: "etcd:3" } }), /^mysql-multicluster:failover\.arbiterImage: "etcd:3": has no effect/],
    [
        "arbiter StatefulSet name too long",
        auto({}, { mysql: { engine: "mariadb", name: "s".repeat(44) } }),
        /^mysql-multicluster:failover\.mode: "automatic": the arbiter StatefulSet of cluster "a" would be s{44}-arbiter-a \(54 characters; at most 52\): shorten mysql\.name or the cluster's name/,
    ],
];
for (const [name, raw, expected] of refusals) {
    test(`config refuses: ${name}`, () => {
        assert.throws(
            () => parseStackConfig(raw),
            (e: unknown) => {
                assert.ok(e instanceof ConfigError, String(e));
                assert.match(e.message, expected);
                assert.ok(!e.message.includes("\n"));
                return true;
            },
        );
    });
}

test("config accepts: automatic with a witness; members in three clusters and no witness; a witness that also runs members; a by-config failover while automatic", () => {
    const cfg = parseStackConfig(auto());
    assert.equal(cfg.failover.mode, "automatic");
    assert.deepEqual(buildPlan(cfg).autoFailover?.voters, ["a", "b", "c"]);
    const three = parseStackConfig(threeRaw({ placement: ["a", "b", "c"], failover: { mode: "automatic" } }));
    assert.deepEqual(buildPlan(three).autoFailover?.witnesses, []);
    const both = parseStackConfig(threeRaw({ placement: ["a", "b", "c"], failover: { mode: "automatic", witnesses: ["c"] } }));
    assert.deepEqual(buildPlan(both).autoFailover?.voters, ["a", "b", "c"]);
    // failover.lost with automatic mode: the by-config path stays (e.g. when automatic failover refused).
    const byConfig = parseStackConfig(auto({ lost: ["a"] }, { primary: 1 }));
    assert.deepEqual(buildPlan(byConfig).lost, ["a"]);
});

test("plan: defaults, the fence deadline below the lease, the semi-sync timeout above it; manual leaves no trace", () => {
    const p = buildPlan(parseStackConfig(auto()));
    const a = p.autoFailover!;
    assert.equal(a.leaseSeconds, 10);
    assert.equal(a.fenceSeconds, 7);
    assert.equal(a.semiSyncTimeoutMs, 15000);
    assert.equal(a.image, "registry.k8s.io/etcd:3.6.5-0");
    assert.equal(a.key, "/mysql-multicluster/mysql/mysql");
    assert.equal(
        a.initialCluster,
        "a=http://mysql-arbiter-a-0.a.mysql-arbiter.mysql.svc.clusterset.local:2380," +
            "b=http://mysql-arbiter-b-0.b.mysql-arbiter.mysql.svc.clusterset.local:2380," +
            "c=http://mysql-arbiter-c-0.c.mysql-arbiter.mysql.svc.clusterset.local:2380",
    );
    // Each cluster reaches its own voter by the local name, the others by the cross-cluster one.
    assert.deepEqual(p.clusters.find((c) => c.name === "b")!.topology.arbiterEndpoints, [
        "mysql-arbiter-a-0.a.mysql-arbiter.mysql.svc.clusterset.local:2379",
        "mysql-arbiter-b-0.mysql-arbiter.mysql.svc.cluster.local:2379",
        "mysql-arbiter-c-0.c.mysql-arbiter.mysql.svc.clusterset.local:2379",
    ]);
    const lease = buildPlan(parseStackConfig(auto({ leaseSeconds: 20 }))).autoFailover!;
    assert.deepEqual([lease.fenceSeconds, lease.semiSyncTimeoutMs], [17, 25000]);
    for (const manual of [threeRaw(), threeRaw({ failover: { mode: "manual" } })]) {
        const m = buildPlan(parseStackConfig(manual));
        assert.equal(m.autoFailover, undefined);
        assert.ok(m.clusters.every((c) => c.topology.arbiterEndpoints === undefined));
        assert.ok(!Object.keys(m.settings).some((k) => k.startsWith("failover.") && k !== "failover.mode"), JSON.stringify(m.settings));
    }
});

const stateOf = (raw: Record<string, any>) => deployedStateOf(buildPlan(parseStackConfig(raw)));
const stepOf = (prev: Record<string, any>, next: Record<string, any>) =>
    planStep(stateOf(prev), buildPlan(parseStackConfig(next), { firstDeployment: false, epoch: 1 }));
const fourRaw = (failover: Record<string, any>, placement = ["a", "b"]) => {
    const r = threeRaw({ placement, failover: { mode: "automatic", ...failover } });
    r.clusters.d = { context: "ctx-d", nodes: ["d-1"], storage: { storageClass: "standard" } };
    r.clusters.e = { context: "ctx-e", nodes: ["e-1"], storage: { storageClass: "standard" } };
    return r;
};

test("step: one arbiter voter added or removed per step; two at once refused with the next safe step", () => {
    assert.equal(stepOf(fourRaw({ witnesses: ["c"] }), fourRaw({ witnesses: ["c", "d"] })).kind, "config");
    assert.equal(stepOf(fourRaw({ witnesses: ["c", "d"] }), fourRaw({ witnesses: ["c"] })).kind, "config");
    // A witness swapped for another: one added and one removed.
    assert.throws(
        () => stepOf(fourRaw({ witnesses: ["c"] }), fourRaw({ witnesses: ["d"] })),
        (e: unknown) =>
            e instanceof TransitionError &&
            /^mysql-multicluster:failover\.witnesses: adds d and removes c as arbiter voters in one step \(voters \[a, b, c\] → \[a, b, d\]\); etcd changes its membership one voter at a time\. Next safe step: first add d alone/.test(
                e.message,
            ),
    );
    assert.throws(() => stepOf(fourRaw({ witnesses: ["c"] }), fourRaw({ witnesses: ["c", "d", "e"] })), /adds d, e as arbiter voters in one step/);
    // A move that takes the last member out of a voter cluster and into a new one: placement named.
    assert.throws(
        () => stepOf(fourRaw({ witnesses: ["c"] }, ["a", "b"]), fourRaw({ witnesses: ["c"] }, ["a", "d"])),
        /^TransitionError: mysql-multicluster:placement: adds d and removes b as arbiter voters in one step/,
    );
    // The same move into a witness cluster changes one voter only.
    assert.equal(stepOf(fourRaw({ witnesses: ["c", "d"] }, ["a", "b"]), fourRaw({ witnesses: ["c", "d"] }, ["a", "d"])).kind, "move");
    // Turning automatic failover on or off is not a membership change: the whole arbiter comes or goes.
    assert.equal(stepOf(threeRaw(), auto()).kind, "rolling");
    assert.equal(stepOf(auto(), threeRaw()).kind, "rolling");
});
