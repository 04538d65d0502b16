// Issue 10, data path: local volume paths, the set's own subdirectory, initial bootstrap only on the first
// deployment, the seed's bound and up's wait (the data-plane tier proves the scripts' side on real servers).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigError, parseStackConfig } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { topologyEnv } from "../../components/contract";
import { dataMounts, statefulSetSpec } from "../../components/podSpec";
import { statefulSetTimeouts } from "../../components/mysqlSlice";
import { deployedStateOf, historyOf, parseDeployedState } from "../../components/step";
import { baseRaw } from "../helpers/configs";

const refusedPaths: [string, RegExp][] = [
    ["/", /system directory/],
    ["/var/lib", /system directory/],
    ["/etc", /system directory/],
    ["/usr", /system directory/],
    ["/home", /system directory/],
    ["/home/alice", /home directory/],
    ["/etc/mysql", /under the system directory \/etc/],
    ["/usr/local/mysql", /under the system directory \/usr/],
    ["/var/lib/kubelet/pods", /under the system directory \/var\/lib\/kubelet/],
    ["/proc/1", /under the system directory \/proc/],
    ["/sys/fs", /under the system directory \/sys/],
    ["/dev/sda", /under the system directory \/dev/],
    ["/boot/x", /under the system directory \/boot/],
    ["/root/data", /under the system directory \/root/],
    ["/data/../etc", /'\.' or '\.\.' segments/],
    ["/data/./mysql", /'\.' or '\.\.' segments/],
    ["data/mysql", /must be an absolute path/],
    ["/data/mysql/", /must not end with '\/'/],
    ["/data//mysql", /must not contain '\/\/'/],
    ["/data/mysql ", /must be a plain path/],
    ["/data/mysql;rm -rf", /must be a plain path/],
    ["/data/my sql", /must be a plain path/],
    ["/data/mysql\n", /must be a plain path/],
];
for (const [p, why] of refusedPaths) {
    test(`localPath refused: ${JSON.stringify(p)}`, () => {
        const raw = baseRaw();
        raw.clusters.a.storage.localPath = p;
        assert.throws(
            () => parseStackConfig(raw),
            (e: unknown) => {
                assert.ok(e instanceof ConfigError, String(e));
                assert.ok(e.message.startsWith(`mysql-multicluster:clusters.a.storage.localPath: ${JSON.stringify(p)}: `), e.message);
                assert.match(e.message, why);
                assert.ok(!e.message.includes("\n"), "one line");
                return true;
            },
        );
    });
}

test("localPath accepted: dedicated directories", () => {
    for (const p of ["/data/mysql", "/mnt/disks/ssd0", "/var/lib/mysql-local", "/srv/db/mysql", "/home/alice/mysql", "/data"]) {
        const raw = baseRaw();
        raw.clusters.a.storage.localPath = p;
        assert.equal((parseStackConfig(raw).clusters.a.storage as { localPath: string }).localPath, p);
    }
});

const dataMount = (plan: ReturnType<typeof buildPlan>, cluster = "a") => {
    const c = plan.clusters.find((x) => x.name === cluster)!;
    const spec = statefulSetSpec(plan, c, "h") as any;
    const mounts = [
        ...(spec.template.spec.initContainers as { volumeMounts: { name: string; subPath?: string }[] }[]),
        // every database container; "labels" (kubectl proxy) mounts no data
        ...(spec.template.spec.containers as { name: string; volumeMounts: { name: string; subPath?: string }[] }[]).filter((k) => k.name !== "labels"),
    ].map((k) => k.volumeMounts.find((m) => m.name === "data")!);
    return mounts;
};

test("a new set's data lives in its own subdirectory <namespace>_<set> of the local volume, in every container", () => {
    const raw = baseRaw();
    raw.mysql = { engine: "mariadb", name: "orders", namespace: "shop" };
    const plan = buildPlan(parseStackConfig(raw));
    assert.equal(plan.dataSubPath, "shop_orders");
    const mounts = dataMount(plan);
    assert.ok(mounts.length >= 3);
    for (const m of mounts) assert.equal(m.subPath, "shop_orders");
    // two sets on the same nodes and path: different directories
    const other = baseRaw();
    other.mysql = { engine: "mariadb", name: "billing", namespace: "shop" };
    assert.notEqual(buildPlan(parseStackConfig(other)).dataSubPath, plan.dataSubPath);
    // a dynamic class gives every claim its own volume: no subdirectory
    const dyn = baseRaw();
    dyn.placement = ["b"];
    for (const m of dataMount(buildPlan(parseStackConfig(dyn)), "b")) assert.equal(m.subPath, undefined);
});

test("the subdirectory is recorded in the state and kept; a set deployed before it existed keeps the volume's root", () => {
    const cfg = parseStackConfig(baseRaw());
    const first = buildPlan(cfg, historyOf(undefined));
    const state = deployedStateOf(first);
    assert.equal(state.dataSubPath, "mysql_mysql");
    assert.equal(buildPlan(cfg, historyOf(parseDeployedState(JSON.parse(JSON.stringify(state))))).dataSubPath, "mysql_mysql");
    // a state written by an older version: no dataSubPath
    const { dataSubPath: _drop, ...old } = state;
    void _drop;
    const legacy = buildPlan(cfg, historyOf(parseDeployedState(old)));
    assert.equal(legacy.dataSubPath, "");
    for (const m of dataMount(legacy)) assert.equal(m.subPath, undefined, "the old path, unchanged");
    assert.deepEqual(
        dataMounts(legacy, legacy.clusters[0]).find((m) => m.name === "data"),
        { name: "data", mountPath: "/var/lib/mysql" },
    );
    assert.equal(deployedStateOf(legacy, parseDeployedState(old)).dataSubPath, "", "recorded as the root from then on");
});

test("initial bootstrap is allowed only on the first deployment (MMC_BOOTSTRAP in topology.env)", () => {
    const cfg = parseStackConfig(baseRaw());
    const first = buildPlan(cfg, historyOf(undefined));
    assert.match(topologyEnv(first.clusters[0].topology), /^MMC_BOOTSTRAP='1'$/m);
    const next = buildPlan(cfg, historyOf(deployedStateOf(first)));
    assert.match(topologyEnv(next.clusters[0].topology), /^MMC_BOOTSTRAP='0'$/m);
    // the topology file, not the pod template: allowing or refusing bootstrap restarts nothing
    const c0 = first.clusters[0];
    const c1 = next.clusters[0];
    assert.deepEqual(statefulSetSpec(first, c0, "h"), statefulSetSpec(next, c1, "h"));
});

test("mysql.seedTimeoutMinutes: the seed's bound in topology.env and up's wait for each StatefulSet", () => {
    const raw = baseRaw();
    let plan = buildPlan(parseStackConfig(raw));
    assert.match(topologyEnv(plan.clusters[0].topology), /^MMC_SEED_TIMEOUT_SECONDS='3600'$/m);
    assert.deepEqual(statefulSetTimeouts(plan), { create: "70m", update: "70m" });
    raw.mysql.seedTimeoutMinutes = "240"; // as `pulumi config set` stores it
    plan = buildPlan(parseStackConfig(raw));
    assert.match(topologyEnv(plan.clusters[0].topology), /^MMC_SEED_TIMEOUT_SECONDS='14400'$/m);
    assert.deepEqual(statefulSetTimeouts(plan), { create: "250m", update: "250m" });
    raw.mysql.seedTimeoutMinutes = 1;
    assert.throws(() => parseStackConfig(raw), /^ConfigError: mysql-multicluster:mysql\.seedTimeoutMinutes: 1: /);
});
