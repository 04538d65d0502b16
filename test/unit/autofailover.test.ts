// Automatic failover, program side (issue 17): config rules, the plan, the voter-change rule.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as YAML from "yaml";
import { ConfigError, parseStackConfig, stripProjectPrefix } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { TransitionError, deployedStateOf, historyOf, planStep, stepTable } from "../../components/step";
import { Kubectl, assess } from "../../components/status";
import { liveStatusLine, readLiveStatus } from "../../components/liveStatus";
import { formatStatus } from "../../tools/status";
import { policyWarnings } from "../../components/networkPolicy";
import { createHash } from "crypto";
import * as path from "path";
import { ROOT, baseRaw, rawOf } from "../helpers/configs";
import { MockRun, objectsOf, runUnderMocks } from "../helpers/mockProgram";
import { validateObject } from "../helpers/k8sSchema";

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
    [
        "asynchronous replication",
        auto({}, { mysql: { engine: "mariadb", semiSync: false } }),
        /^mysql-multicluster:failover\.mode: "automatic": needs mysql\.semiSync: true: with asynchronous replication a lost primary may have acknowledged commits no replica has, so the agents would refuse every promotion; set mysql\.semiSync: true or keep failover\.mode manual$/,
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
        "mysql-arbiter-b-0.mysql-arbiter.mysql.svc.cluster.local:2379",
        "mysql-arbiter-a-0.a.mysql-arbiter.mysql.svc.clusterset.local:2379",
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
const stepOf = (prev: Record<string, any>, next: Record<string, any>) => {
    const state = stateOf(prev);
    const cfg = parseStackConfig(next);
    return planStep(state, buildPlan(cfg, historyOf(state, cfg.primary)));
};
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

// ---- Rendering (under Pulumi mocks) ----

/**
 * Every Kubernetes object of a run, with its cluster, in a stable order: what the golden digest covers.
 * The scripts' ConfigMap is left out, and the pod template's `template-hash` (a digest of the scripts'
 * contents: a script change rolls the pods, whatever the failover mode) is written as `<scripts>`: the
 * digest pins the objects the program declares, not the scripts they ship.
 */
function renderedObjects(run: MockRun): string {
    const out: string[] = [];
    for (const cluster of Object.keys(run.outputs.clusters).sort())
        for (const [key, o] of [...objectsOf(run, cluster)].sort(([a], [b]) => a.localeCompare(b)))
            if (key !== "ConfigMap/mysql-scripts") out.push(`${cluster} ${key} ${JSON.stringify(o)}`);
    return out.join("\n").replace(/"mysql-multicluster\/template-hash":"[0-9a-f]+"/g, '"mysql-multicluster/template-hash":"<scripts>"');
}
const digest = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * sha256 of the dev stack's rendered objects (Pulumi.dev.yaml, first deployment) as main rendered them
 * before automatic failover existed: manual mode (the default) must render them byte for byte. A change
 * that means to alter the manual rendering updates this digest (and says so in its commit).
 */
const DEV_STACK_MANUAL_DIGEST = "47966ae2da94b8ee7c0c5b3115e65979bf259116527d46779cb59234246815fb";

test("manual mode renders what it rendered before automatic failover existed: the dev stack byte for byte, and `mode: manual` spelled out changes nothing", async () => {
    const dev = rawOf(path.join(ROOT, "Pulumi.dev.yaml"));
    const implicit = renderedObjects(await runUnderMocks(parseStackConfig(dev)));
    assert.equal(digest(implicit), DEV_STACK_MANUAL_DIGEST);
    const explicit = renderedObjects(await runUnderMocks(parseStackConfig({ ...dev, failover: { mode: "manual" } })));
    assert.equal(explicit, implicit);
    // (the scripts ConfigMap carries lib-arbiter.sh whatever the mode: it is left out of this check)
    const found = implicit.split("\n").filter((l) => !l.includes(" ConfigMap/mysql-scripts ") && /arbiter|failover-agent|MMC_LEASE/i.test(l));
    assert.deepEqual(
        found.map((l) => l.split(" ").slice(0, 2).join(" ")),
        [],
    );
});

/** The dev stack (kosmos, local volumes) with a replica in cluster2 and cluster3 as the witness. */
function devAuto(failover: Record<string, any> = {}, placement = ["cluster1", "cluster2"]): Record<string, any> {
    const dev = rawOf(path.join(ROOT, "Pulumi.dev.yaml"));
    return { ...dev, placement, failover: { mode: "automatic", witnesses: ["cluster3"], ...failover } };
}
const container = (sts: any, name: string) => sts.spec.template.spec.containers.find((c: any) => c.name === name);
const envNames = (c: any) => (c.env ?? []).map((e: any) => e.name);

test("automatic: every voter cluster declares its etcd voter (ConfigMap, headless Service, export and import, NetworkPolicy, own local class and volumes, StatefulSet of one pod); members get the failover agent", async () => {
    const run = await runUnderMocks(parseStackConfig(devAuto()));
    const initial =
        "cluster1=http://mysql-arbiter-cluster1-0.mysql-arbiter.mysql.svc.cluster.local:2380," +
        "cluster2=http://mysql-arbiter-cluster2-0.mysql-arbiter.mysql.svc.cluster.local:2380," +
        "cluster3=http://mysql-arbiter-cluster3-0.mysql-arbiter.mysql.svc.cluster.local:2380";
    for (const cluster of ["cluster1", "cluster2", "cluster3"]) {
        const o = objectsOf(run, cluster);
        const arbiterKeys = [...o.keys()].filter((k) => /arbiter/.test(k)).sort();
        assert.deepEqual(arbiterKeys, [
            "ConfigMap/mysql-arbiter",
            "NetworkPolicy/mysql-arbiter",
            "PersistentVolume/mysql-arbiter-kosmos" + cluster + "-1",
            "PersistentVolume/mysql-arbiter-kosmos" + cluster + "-2",
            "Service/mysql-arbiter",
            "ServiceExport/mysql-arbiter",
            "ServiceImport/mysql-arbiter",
            `StatefulSet/mysql-arbiter-${cluster}`,
            "StorageClass/mysql-arbiter-local",
        ]);
        assert.equal(o.get("ConfigMap/mysql-arbiter")!.data["initial-cluster"], initial);
        const sts = o.get(`StatefulSet/mysql-arbiter-${cluster}`)!;
        assert.equal(sts.spec.replicas, 1);
        assert.equal(sts.spec.serviceName, "mysql-arbiter");
        const etcd = sts.spec.template.spec.containers[0];
        assert.equal(etcd.image, "registry.k8s.io/etcd:3.6.5-0");
        // etcd starts from the file arbiter-member.sh writes (its flags, the initial cluster decided)
        assert.deepEqual(etcd.command, ["/usr/local/bin/etcd", "--config-file=/run/mmc-arbiter/etcd.yml"]);
        assert.equal(etcd.args, undefined);
        assert.deepEqual(envNames(etcd), []);
        const join = sts.spec.template.spec.initContainers[0];
        assert.equal(join.name, "arbiter-join");
        assert.equal(join.image, container(o.get("StatefulSet/mysql")!, "replicate").image);
        assert.deepEqual(join.command.slice(0, 3), ["bash", "/etc/mmc-arbiter/arbiter-member.sh", "join"]);
        assert.ok(join.command.includes(`--name=${cluster}`));
        assert.ok(join.command.includes(`--initial-advertise-peer-urls=http://mysql-arbiter-${cluster}-0.mysql-arbiter.mysql.svc.cluster.local:2380`));
        assert.deepEqual(join.volumeMounts[0], etcd.volumeMounts[0]);
        const watcher = container(sts, "arbiter-members");
        assert.deepEqual(watcher.command, ["bash", "/etc/mmc-arbiter/arbiter-member.sh", "watch"]);
        assert.deepEqual(
            watcher.env.map((e: any) => `${e.name}=${e.value}`),
            ["MMC_ARB_NAME=" + cluster, "MMC_ARB_CONFIG_DIR=/etc/mmc-arbiter", "MMC_ARB_CLIENT_PORT=2379", "MMC_ARB_LOCAL=127.0.0.1:2379"],
        );
        assert.equal(watcher.securityContext.readOnlyRootFilesystem, true);
        const cm = o.get("ConfigMap/mysql-arbiter")!.data;
        assert.equal(cm["initial-cluster-state"], "new");
        for (const f of ["arbiter-member.sh", "lib-arbiter.sh", "lib-arbiter-member.sh"]) assert.match(cm[f], /^#!\/usr\/bin\/env bash/, f);
        assert.deepEqual(
            sts.spec.template.spec.volumes.find((v: any) => v.name === "config"),
            { name: "config", configMap: { name: "mysql-arbiter" } },
        );
        assert.equal(etcd.securityContext.readOnlyRootFilesystem, true);
        assert.equal(sts.spec.template.spec.securityContext.runAsNonRoot, true);
        assert.equal(sts.spec.template.spec.automountServiceAccountToken, false);
        // Its claim binds only its own class: never a member's local volume, nor a member's claim its volume.
        assert.equal(sts.spec.volumeClaimTemplates[0].spec.storageClassName, "mysql-arbiter-local");
        assert.equal(o.get("PersistentVolume/mysql-arbiter-kosmos" + cluster + "-1")!.spec.storageClassName, "mysql-arbiter-local");
        assert.equal(etcd.volumeMounts[0].subPath, "mysql_mysql_arbiter");
        // Outside every member selector (StatefulSet, Services, budgets, anti-affinity).
        assert.notEqual(sts.spec.template.metadata.labels["app.kubernetes.io/name"], "mysql");
        const svc = o.get("Service/mysql-arbiter")!;
        assert.equal(svc.spec.clusterIP, "None");
        assert.equal(svc.spec.publishNotReadyAddresses, true);
        assert.deepEqual(
            svc.spec.ports.map((p: any) => p.port),
            [2379, 2380],
        );
        const members = o.get("StatefulSet/mysql")!;
        const agent = container(members, "failover-agent");
        assert.ok(agent, `${cluster}: failover-agent`);
        assert.deepEqual(agent.command, ["bash", "/opt/mmc/autofailover.sh"]);
        assert.equal(agent.image, container(members, "replicate").image);
        assert.deepEqual(
            agent.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.name),
            ["MMC_ROOT_PASSWORD", "MMC_REPL_PASSWORD", "MMC_ADMIN_PASSWORD"],
        );
        for (const n of [
            "MMC_ARBITER_KEY",
            "MMC_LEASE_SECONDS",
            "MMC_SWITCHOVER_TIMEOUT_SECONDS",
            "MMC_PORT",
            "MMC_RUN_DIR",
            "MMC_DATADIR",
            "MMC_TOPOLOGY_FILE",
        ])
            assert.ok(envNames(agent).includes(n), `${cluster}: agent ${n}`);
        assert.deepEqual(agent.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
        const replicate = container(members, "replicate");
        assert.deepEqual(
            replicate.env.filter((e: any) => /ARBITER|LEASE/.test(e.name)),
            [
                { name: "MMC_ARBITER_KEY", value: "/mysql-multicluster/mysql/mysql" },
                { name: "MMC_LEASE_SECONDS", value: "10" },
            ],
        );
        const topology = o.get("ConfigMap/mysql-topology")!.data["topology.env"];
        assert.match(
            topology,
            new RegExp(
                `^MMC_ARBITER_ENDPOINTS='${[cluster, ...["cluster1", "cluster2", "cluster3"].filter((c) => c !== cluster)]
                    .map((c) => `mysql-arbiter-${c}-0\\.mysql-arbiter\\.mysql\\.svc\\.cluster\\.local:2379`)
                    .join(" ")}'$`,
                "m",
            ),
        );
        assert.match(o.get("ConfigMap/mysql-config")!.data["my.cnf"], /^rpl_semi_sync_master_timeout = 15000$/m);
    }
});

test("automatic, mcs-api and dynamic storage: endpoints as each cluster resolves them, the cluster's class for the claim, no import; the NetworkPolicy admits 2379 from members and voters, 2380 from voters only", async () => {
    const raw = auto({ leaseSeconds: 20 }, { mysql: { engine: "mysql" } });
    raw.clusters.a.podCidrs = ["10.1.0.0/16"];
    raw.clusters.b.podCidrs = ["10.2.0.0/16"];
    raw.clusters.c.podCidrs = ["10.3.0.0/16"];
    const run = await runUnderMocks(parseStackConfig(raw));
    const c = objectsOf(run, "c");
    assert.ok(!c.has("ServiceImport/mysql-arbiter") && c.has("ServiceExport/mysql-arbiter"));
    assert.ok(!c.has("StorageClass/mysql-arbiter-local"));
    assert.equal(c.get("StatefulSet/mysql-arbiter-c")!.spec.volumeClaimTemplates[0].spec.storageClassName, "standard");
    assert.equal(c.get("StatefulSet/mysql-arbiter-c")!.spec.template.spec.containers[0].volumeMounts[0].subPath, undefined);
    assert.match(
        objectsOf(run, "a").get("ConfigMap/mysql-topology")!.data["topology.env"],
        /^MMC_ARBITER_ENDPOINTS='mysql-arbiter-a-0\.mysql-arbiter\.mysql\.svc\.cluster\.local:2379 mysql-arbiter-b-0\.b\.mysql-arbiter\.mysql\.svc\.clusterset\.local:2379 mysql-arbiter-c-0\.c\.mysql-arbiter\.mysql\.svc\.clusterset\.local:2379'$/m,
    );
    assert.match(objectsOf(run, "a").get("ConfigMap/mysql-config")!.data["my.cnf"], /^loose_rpl_semi_sync_source_timeout = 25000$/m);
    const np = c.get("NetworkPolicy/mysql-arbiter")!.spec;
    assert.deepEqual(np.ingress[0].ports, [{ protocol: "TCP", port: 2379 }]);
    assert.deepEqual(np.ingress[0].from, [
        {
            podSelector: {
                matchLabels: { "app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql", "app.kubernetes.io/component": "database" },
            },
        },
        { podSelector: { matchLabels: { "app.kubernetes.io/name": "mysql-multicluster-arbiter", "app.kubernetes.io/instance": "mysql" } } },
        { ipBlock: { cidr: "10.1.0.0/16" } },
        { ipBlock: { cidr: "10.2.0.0/16" } },
    ]);
    assert.deepEqual(np.ingress[1].ports, [{ protocol: "TCP", port: 2380 }]);
    assert.deepEqual(np.ingress[1].from, np.ingress[0].from.slice(1));
});

test("automatic: a voter's arbiter keeps its Pulumi and Kubernetes names across phases (a scale-up, a lease change)", async () => {
    const names = (run: MockRun, cluster: string) =>
        run.resources.filter((r) => /arbiter/.test(r.name) && r.name.startsWith(`${cluster}-`)).map((r) => `${r.name} ${r.inputs.metadata?.name}`);
    const before = await runUnderMocks(parseStackConfig(devAuto()));
    const prev = deployedStateOf(buildPlan(parseStackConfig(devAuto())));
    const scaled = await runUnderMocks(parseStackConfig(devAuto({}, ["cluster1", "cluster2", "cluster2"])), prev);
    assert.equal(scaled.deployment.step.kind, "scale");
    const lease = await runUnderMocks(parseStackConfig(devAuto({ leaseSeconds: 15 })), prev);
    assert.equal(lease.deployment.step.kind, "rolling");
    for (const cluster of ["cluster1", "cluster2", "cluster3"]) {
        assert.ok(names(before, cluster).length >= 8, cluster);
        assert.deepEqual(names(scaled, cluster), names(before, cluster), cluster);
        assert.deepEqual(names(lease, cluster), names(before, cluster), cluster);
    }
    // A move that would leave two voter clusters is refused by the config, naming what to add.
    assert.throws(
        () => parseStackConfig(devAuto({}, ["cluster1", "cluster3"])),
        /it has 2: cluster1, cluster3 \(running members\); add one of cluster2 to failover\.witnesses$/,
    );
});

test("step report: automatic failover's summary (voters, quorum, lease, fence deadline, write endpoint); turned on creates every voter, turned off deletes them and keeps their claims", () => {
    const on = stepOf(threeRaw(), auto());
    assert.match(
        stepTable(on),
        /^automatic failover: arbiter voters a, b, c \(etcd, one per cluster; a quorum is 2 of 3; witnesses without data: c\); lease 10 s: the primary fences itself \(read-only, client sessions cut\) 7 s after its last renewal, before the lease can expire; semi-sync timeout 15 s; the write Service selects the member labelled primary/m,
    );
    assert.ok(
        on.resources.c.some((l) => /^arbiter: etcd voter c created \(StatefulSet mysql-arbiter-c, Service mysql-arbiter exported, NetworkPolicy\)$/.test(l)),
    );
    const off = stepOf(auto(), threeRaw());
    assert.deepEqual(off.autoFailover, [
        "automatic failover: turned off by this step (failover.mode manual): a failover is a config edit again (failover.lost and primary)",
    ]);
    assert.match(
        off.resources.c.join("\n"),
        /StatefulSet mysql-arbiter-c, its Service, ConfigMap and NetworkPolicy are deleted; its claim and volumes are kept/,
    );
    assert.equal(stepOf(threeRaw(), threeRaw()).autoFailover, undefined);
});

test("a voter joining a running arbiter bootstraps as `existing`, adding its own member; a leaving one is removed by the voters that stay: nothing to run by hand", async () => {
    const prevRaw = fourRaw({ witnesses: ["c"] });
    const nextRaw = fourRaw({ witnesses: ["c", "d"] });
    const prev = stateOf(prevRaw);
    const step = stepOf(prevRaw, nextRaw);
    assert.deepEqual(step.resources.d, [
        "arbiter: voter d joins the running etcd cluster: its pod adds its member through a running voter (a, b, c) and starts as an existing member " +
            "(initial-cluster-state existing; it waits while no running voter answers and never starts an arbiter of its own)",
    ]);
    assert.doesNotMatch(JSON.stringify(step.resources), /etcdctl/);
    const run = await runUnderMocks(parseStackConfig(nextRaw), prev);
    const state = (c: string) => objectsOf(run, c).get("ConfigMap/mysql-arbiter")!.data["initial-cluster-state"];
    assert.deepEqual(["a", "b", "c", "d"].map(state), ["new", "new", "new", "existing"]);
    assert.equal(objectsOf(run, "d").get("ConfigMap/mysql-arbiter")!.data["initial-cluster"].split(",").length, 4);
    const leave = stepOf(nextRaw, prevRaw);
    assert.match(
        leave.resources.d.join("\n"),
        /^arbiter: voter d leaves: the voters that stay \(a, b, c\) remove its etcd member once they have a quorum without it \(never below 3 voters\); its StatefulSet is deleted, its claim data-mysql-arbiter-d-0 is kept/m,
    );
    assert.doesNotMatch(JSON.stringify(leave.resources), /etcdctl/);
});

test("automatic: the write Service selects the member labelled primary, and every cluster of a multi-cluster set writes through the cross-cluster name; manual keeps the configured pod and the local name", async () => {
    const run = await runUnderMocks(parseStackConfig(auto()));
    for (const c of ["a", "b"]) {
        const o = objectsOf(run, c);
        assert.deepEqual(o.get("Service/mysql-write")!.spec.selector, {
            "app.kubernetes.io/name": "mysql",
            "app.kubernetes.io/instance": "mysql",
            "app.kubernetes.io/component": "database",
            "mysql-multicluster/role": "primary",
        });
        assert.match(o.get("ConfigMap/mysql-topology")!.data["topology.env"], /^MMC_WRITE_HOST='mysql-write\.mysql\.svc\.clusterset\.local'$/m);
    }
    const manual = buildPlan(parseStackConfig(threeRaw()));
    assert.equal(manual.clusters.find((c) => c.name === "a")!.topology.writeHost, "mysql-write.mysql.svc.cluster.local");
    // All members in one cluster (two witnesses): nothing is exported, the local name stays.
    const oneCluster = buildPlan(parseStackConfig(threeRaw({ placement: ["a", "a"], failover: { mode: "automatic", witnesses: ["b", "c"] } })));
    assert.equal(oneCluster.clusters.find((c) => c.name === "a")!.topology.writeHost, "mysql-write.mysql.svc.cluster.local");
});

test("status: a writable member other than the configured primary is, in automatic mode, an automatic failover to record with `primary`", () => {
    const member = (name: string, ordinal: number, cluster: string, readOnly: boolean) => ({
        ordinal,
        member: name,
        cluster,
        foundIn: [cluster],
        phase: "Running",
        ready: true,
        server: { alive: true, readOnly, gtid: "0-1001-5" },
    });
    const members = [member("mysql-0", 0, "a", true), member("mysql-1", 1, "b", false)];
    const automatic = assess(parseStackConfig(auto()), members);
    assert.ok(
        automatic.problems.includes(
            'the real primary is mysql-1, the config says mysql-0: an automatic failover promoted mysql-1; record it with primary: 1 (docs/runbook.md "Outage")',
        ),
        automatic.problems.join("; "),
    );
    const manual = assess(parseStackConfig(threeRaw()), members);
    assert.ok(manual.problems.some((p) => p.endsWith("the last switchover did not run or did not finish")));
});

test("docs: the runbook's and README's example configs are accepted with the voters they describe, and the README's config table names every failover key", () => {
    const dev = rawOf(path.join(ROOT, "Pulumi.dev.yaml"));
    const runbook = fs.readFileSync(path.join(ROOT, "docs/runbook.md"), "utf8");
    const block = /### Automatic failover: what happened and what to record\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(runbook);
    assert.ok(block, "the runbook's example");
    const fromRunbook = stripProjectPrefix(YAML.parse(block[1]));
    const cfg = parseStackConfig({ ...dev, ...fromRunbook });
    assert.deepEqual(buildPlan(cfg).autoFailover?.voters, ["cluster1", "cluster2", "cluster3"]);
    assert.deepEqual(buildPlan(cfg).autoFailover?.witnesses, ["cluster3"]);
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const ex = /## Automatic failover\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
    assert.ok(ex, "the README's example");
    assert.deepEqual(buildPlan(parseStackConfig({ ...dev, ...stripProjectPrefix(YAML.parse(ex[1])) })).autoFailover?.leaseSeconds, 10);
    for (const k of ["mode", "witnesses", "leaseSeconds", "arbiterImage"]) assert.match(readme, new RegExp(`^\\| \`failover\\.${k}\` \\|`, "m"), k);
});

test("a running arbiter's voters change one after another (an image change restarts one voter at a time); a first start has no order", async () => {
    const prevRaw = auto();
    const prev = stateOf(prevRaw);
    const run = await runUnderMocks(parseStackConfig(auto({ arbiterImage: "registry.k8s.io/etcd:3.6.6-0" })), prev);
    assert.equal(run.deployment.step.kind, "config");
    assert.ok(run.dependsOn.get("b-arbiter-statefulset")!.includes("a-arbiter-statefulset"), run.dependsOn.get("b-arbiter-statefulset")!.join(" "));
    assert.ok(run.dependsOn.get("c-arbiter-statefulset")!.includes("b-arbiter-statefulset"));
    assert.ok(!run.dependsOn.get("a-arbiter-statefulset")!.some((d) => /arbiter-statefulset/.test(d)));
    const first = await runUnderMocks(parseStackConfig(prevRaw));
    for (const c of ["a", "b", "c"]) assert.ok(!first.dependsOn.get(`${c}-arbiter-statefulset`)!.some((d) => /arbiter-statefulset/.test(d)), c);
});

test("warnings: an unpinned arbiter image, and voter clusters without podCidrs (the arbiter's ports then accept any address)", () => {
    const w = policyWarnings(buildPlan(parseStackConfig(auto())));
    assert.ok(
        w.includes(
            'mysql-multicluster:failover.arbiterImage: "registry.k8s.io/etcd:3.6.5-0" is a tag, not a digest: nodes may pull different builds; pin it as name@sha256:<digest>',
        ),
    );
    assert.ok(
        w.some((l) => l.startsWith("mysql-multicluster:clusters.a.podCidrs is not set (a, b, c): the arbiter's ports (2379, 2380) accept any address")),
        w.join("\n"),
    );
    const pinned = auto({ arbiterImage: `registry.k8s.io/etcd@sha256:${"a".repeat(64)}` });
    for (const c of ["a", "b", "c"]) pinned.clusters[c].podCidrs = ["10.0.0.0/16"];
    assert.ok(!policyWarnings(buildPlan(parseStackConfig(pinned))).some((l) => /arbiter/.test(l)));
});

test("liveStatus in automatic mode: the arbiter's record, read through the first voter that answers, beside the members; the line says it and what to record", async () => {
    const cfg = parseStackConfig(devAuto());
    const deployed = deployedStateOf(buildPlan(cfg));
    const labels = { "app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql", "app.kubernetes.io/component": "database" };
    const pod = (name: string) => ({
        metadata: { name, labels },
        spec: { nodeName: "n" },
        status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
    });
    const world: Record<string, { pods: object[]; exec: Record<string, string> }> = {
        "kosmos-cluster1": { pods: [pod("mysql-0")], exec: { "mysql-0/mysql": "alive\t1\nreadonly\t1\ngtid\t0-1000-40\n" } },
        "kosmos-cluster2": {
            pods: [pod("mysql-1")],
            exec: {
                "mysql-1/mysql": "alive\t1\nreadonly\t0\ngtid\t0-1000-40,0-1001-3\n",
                "mysql-arbiter-cluster2-0/etcd":
                    "/mysql-multicluster/mysql/mysql/epoch\n2\n/mysql-multicluster/mysql/mysql/primary\nepoch=2 ordinal=1 server_id=1001 semi_sync=ON\n",
            },
        },
        "kosmos-cluster3": { pods: [], exec: {} },
    };
    const execs: string[] = [];
    const kubectl: Kubectl = async (cluster, args) => {
        const w = world[cluster.context ?? ""];
        if (args[0] === "get") return JSON.stringify({ items: args[1] === "pods" ? w.pods : [] });
        const key = `${args[args.indexOf("-n") + 2]}/${args[args.indexOf("-c") + 1]}`;
        execs.push(`${cluster.context} ${key} ${args.slice(args.indexOf("--") + 1).join(" ")}`);
        if (w.exec[key] === undefined) throw new Error(`error: pod ${key} not found`);
        return w.exec[key];
    };
    const s = await readLiveStatus(cfg, deployed, { dryRun: false, mocked: false, providersPassed: false, kubectl: () => kubectl });
    assert.equal(s.realPrimary, "mysql-1");
    assert.deepEqual(s.arbiter, { primary: "epoch=2 ordinal=1 server_id=1001 semi_sync=ON", epoch: "2", readFrom: "cluster2", error: null });
    // cluster1's voter was asked first and did not answer: read-only calls only (etcdctl get).
    assert.ok(execs.includes("kosmos-cluster1 mysql-arbiter-cluster1-0/etcd etcdctl get --prefix /mysql-multicluster/mysql/mysql"), execs.join("\n"));
    assert.match(
        liveStatusLine(s),
        /^live status before the step: primary configured mysql-0, real mysql-1; arbiter: primary epoch=2 ordinal=1 server_id=1001 semi_sync=ON, epoch 2; NOT HEALTHY: .*an automatic failover promoted mysql-1; record it with primary: 1/,
    );
    // No voter answers: said in one line, the read goes on.
    for (const c of Object.values(world)) delete c.exec[Object.keys(c.exec).find((k) => k.includes("arbiter")) ?? ""];
    const none = await readLiveStatus(cfg, deployed, { dryRun: false, mocked: false, providersPassed: false, kubectl: () => kubectl });
    assert.equal(none.arbiter?.primary, null);
    assert.match(none.arbiter?.error ?? "", /^cluster1: error: pod mysql-arbiter-cluster1-0\/etcd not found; cluster2: .*; cluster3: /);
    // Manual mode: no arbiter key at all (the output keeps its shape).
    const manual = await readLiveStatus(parseStackConfig(rawOf(path.join(ROOT, "stacks/02-replica-in-cluster2.yaml"))), deployed, {
        dryRun: false,
        mocked: false,
        providersPassed: false,
        kubectl: () => kubectl,
    });
    assert.ok(!("arbiter" in manual));
});

test("npm run status: the arbiter's line under the set line (automatic only)", () => {
    const members = [
        {
            ordinal: 0,
            member: "mysql-0",
            cluster: "a",
            foundIn: ["a"],
            phase: "Running",
            ready: true,
            server: { alive: true, readOnly: false, gtid: "0-1000-5" },
        },
    ];
    const s = assess(parseStackConfig(auto()), members);
    const view = formatStatus({ ...s, arbiter: { primary: "epoch=1 ordinal=0 server_id=1000 semi_sync=ON", epoch: "1", readFrom: "b", error: null } });
    assert.match(view.split("\n")[1], /^arbiter: primary epoch=1 ordinal=0 server_id=1000 semi_sync=ON, epoch 1 \(read in b\)$/);
    assert.match(
        formatStatus({ ...s, arbiter: { primary: null, epoch: null, readFrom: null, error: "a: refused" } }).split("\n")[1],
        /^arbiter: not read \(a: refused\)$/,
    );
    assert.equal(formatStatus(s).split("\n")[1], "");
});

test("automatic, ack-one: every voter reaches the others through the imported amcs- Service; the initial cluster is the same string in every cluster", async () => {
    const run = await runUnderMocks(parseStackConfig(auto({}, { mcs: { profile: "ack-one" } })));
    const initials = new Set(["a", "b", "c"].map((c) => objectsOf(run, c).get("ConfigMap/mysql-arbiter")!.data["initial-cluster"]));
    assert.deepEqual(
        [...initials],
        [
            "a=http://mysql-arbiter-a-0.amcs-mysql-arbiter.mysql.svc.cluster.local:2380,b=http://mysql-arbiter-b-0.amcs-mysql-arbiter.mysql.svc.cluster.local:2380,c=http://mysql-arbiter-c-0.amcs-mysql-arbiter.mysql.svc.cluster.local:2380",
        ],
    );
    assert.ok(objectsOf(run, "c").has("ServiceImport/mysql-arbiter"));
    assert.match(
        objectsOf(run, "b").get("ConfigMap/mysql-topology")!.data["topology.env"],
        /^MMC_ARBITER_ENDPOINTS='mysql-arbiter-b-0\.mysql-arbiter\.mysql\.svc\.cluster\.local:2379 mysql-arbiter-a-0\.amcs-mysql-arbiter\.mysql\.svc\.cluster\.local:2379 mysql-arbiter-c-0\.amcs-mysql-arbiter\.mysql\.svc\.cluster\.local:2379'$/m,
    );
});

test("automatic: every object of every voter cluster passes the Kubernetes 1.34 OpenAPI schema (and the MCS CRDs); env values are strings", async () => {
    for (const raw of [devAuto(), auto({}, { mcs: { profile: "ack-one" } })]) {
        const run = await runUnderMocks(parseStackConfig(raw));
        let checked = 0;
        for (const cluster of Object.keys(run.outputs.clusters))
            for (const [key, obj] of objectsOf(run, cluster)) {
                if (!/arbiter/.test(key) && key !== "StatefulSet/mysql" && key !== "ConfigMap/mysql-topology") continue;
                checked++;
                const err = await validateObject(obj);
                assert.equal(err, undefined, `${cluster} ${key}: ${err}`);
                for (const c of obj.spec?.template?.spec?.containers ?? [])
                    for (const e of c.env ?? []) if ("value" in e) assert.equal(typeof e.value, "string", `${key} ${c.name} ${e.name}`);
            }
        assert.ok(checked >= 20, String(checked));
    }
});
