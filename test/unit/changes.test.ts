import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as z from "zod";
import { CHANGE_BEHAVIOUR, changeBehaviourOf, changeSentence } from "../../components/changes";
import { ConfigError, StackConfig, parseStackConfig, rawFromPulumiConfig, schemaKeys, setNameLimit, stripProjectPrefix } from "../../components/config";
import { DeployedState, TransitionError, deployedStateOf, planStep, stepTable } from "../../components/step";
import { buildPlan } from "../../components/plan";
import { ROOT } from "../helpers/configs";

const clusters = {
    c1: { context: "ctx-1", nodes: ["c1-1", "c1-2", "c1-3"], storage: { localPath: "/data/mysql", capacity: "50Gi" } },
    c2: { context: "ctx-2", nodes: ["c2-1", "c2-2"], storage: { localPath: "/data/mysql", capacity: "50Gi" } },
    c3: { context: "ctx-3", nodes: ["c3-1", "c3-2"], storage: { storageClass: "fast" } },
};
const raw = (placement: string[], primary = 0, mysql: Record<string, unknown> = {}, migration: Record<string, unknown> = {}) => ({
    clusters: structuredClone(clusters),
    placement,
    primary,
    mysql: { engine: "mariadb", ...mysql },
    migration,
});
const cfg = (...a: Parameters<typeof raw>): StackConfig => parseStackConfig(raw(...a));
const state = (...a: Parameters<typeof raw>): DeployedState => deployedStateOf(buildPlan(cfg(...a)));

function refusal(f: () => unknown, type: new (...a: any[]) => Error = TransitionError): string {
    try {
        f();
    } catch (e) {
        assert.ok(e instanceof type, `not a ${type.name}: ${e}`);
        assert.ok(!(e as Error).message.includes("\n"), "one line");
        return (e as Error).message;
    }
    assert.fail("accepted");
}

test("every config key of the schema has a declared change behaviour (a new key without one fails here)", () => {
    const keys = schemaKeys();
    assert.ok(keys.includes("mysql.storageSize") && keys.includes("clusters.<name>.storage.localPath"), "the walk reaches nested keys");
    const missing = keys.filter((k) => !CHANGE_BEHAVIOUR[k]);
    assert.deepEqual(missing, []);
    const stale = Object.keys(CHANGE_BEHAVIOUR).filter((k) => !keys.includes(k));
    assert.deepEqual(stale, [], "rows for keys the schema no longer has");
    // The walk itself sees a key added to the schema.
    const grown = z.strictObject({ mysql: z.strictObject({ engine: z.string().default("mysql"), tls: z.boolean().default(false) }).prefault({}) });
    assert.deepEqual(
        schemaKeys(grown).filter((k) => !CHANGE_BEHAVIOUR[k]),
        ["mysql.tls"],
    );
    assert.equal(changeBehaviourOf("clusters.cluster1.nodes")?.behaviour, "rolling");
});

test("Pulumi.yaml's description of every top-level key states the same change behaviour as the table", () => {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    const tops = [...new Set(schemaKeys().map((k) => k.split(".")[0]))];
    assert.deepEqual(Object.keys(project.config).sort(), [...tops].sort());
    for (const t of tops) {
        const d = String(project.config[t].description).replace(/\s+/g, " ");
        assert.ok(d.includes(changeSentence(t)), `Pulumi.yaml config.${t}.description lacks: ${changeSentence(t)}`);
    }
});

test("config from the CLI: numbers and booleans stored as strings are accepted", () => {
    const r = { ...raw(["c1", "c1"]), primary: "1", mysql: { engine: "mariadb", semiSync: "false", maxLagSeconds: "10" }, migration: { maxMovesPerStep: "2" } };
    const c = parseStackConfig(r);
    assert.equal(c.primary, 1);
    assert.equal(c.mysql.semiSync, false);
    assert.equal(c.mysql.maxLagSeconds, 10);
    assert.equal(c.migration.maxMovesPerStep, 2);
    // What `pulumi up` reads for `pulumi config set --path mysql.semiSync false`: the same value.
    assert.deepEqual(
        parseStackConfig(
            rawFromPulumiConfig({
                "mysql-multicluster:clusters": JSON.stringify(clusters),
                "mysql-multicluster:placement": '["c1","c1"]',
                "mysql-multicluster:primary": "1",
            }),
        ).primary,
        1,
    );
    assert.match(
        refusal(() => parseStackConfig({ ...raw(["c1"]), primary: "one" }), ConfigError),
        /^mysql-multicluster:primary: "one": /,
    );
});

test("config from the CLI: a dotted key set without --path says use --path", () => {
    const m = refusal(() => stripProjectPrefix({ "mysql-multicluster:mysql.engine": "mariadb" }), ConfigError);
    assert.match(
        m,
        /^mysql-multicluster:mysql\.engine: a nested key set without --path; run: pulumi config rm .* pulumi config set --path 'mysql\.engine' <value> \(use --path\)$/,
    );
});

test("config: a typo is an unknown key with a suggestion, not the real key missing", () => {
    const r = raw(["c1"]) as any;
    r.clusters.c1.nodse = r.clusters.c1.nodes;
    delete r.clusters.c1.nodes;
    assert.equal(
        refusal(() => parseStackConfig(r), ConfigError),
        "mysql-multicluster:clusters.c1.nodse: unknown key; did you mean nodes?",
    );
    assert.match(
        refusal(() => parseStackConfig({ ...raw(["c1"]), primray: 0 }), ConfigError),
        /^mysql-multicluster:primray: unknown key; did you mean primary\?$/,
    );
});

test("config: a long set name is refused once, with every limit it breaks and the real one computed", () => {
    assert.equal(setNameLimit(2), 63 - "-switchover-1-to-1".length);
    assert.equal(setNameLimit(40), 63 - "-switchover-39-to-39".length);
    const ok = "s".repeat(setNameLimit(2));
    assert.equal(parseStackConfig(raw(["c1", "c1"], 0, { name: ok })).mysql.name, ok);
    const m = refusal(() => parseStackConfig(raw(["c1", "c1"], 0, { name: ok + "s" })), ConfigError);
    assert.match(m, /^mysql-multicluster:mysql\.name: "s+": is 46 characters; at most 45 for 2 ordinals \(the Job name s+-switchover-1-to-1 must fit 63\)$/);
    const both = refusal(() => parseStackConfig(raw(["c1", "c1"], 0, { name: "s".repeat(70) })), ConfigError);
    assert.match(both, /longer than 63 characters \(a DNS label\); is 70 characters; at most 45 for 2 ordinals/);
});

test("same cluster twice is refused (same kubeconfig and context, or same cluster id)", () => {
    const r = raw(["c1"]) as any;
    r.clusters.c2.context = "ctx-1";
    assert.equal(
        refusal(() => parseStackConfig(r), ConfigError),
        'mysql-multicluster:clusters.c2.context: "ctx-1": c2 and c1 both use context "ctx-1" of the default kubeconfig; they are the same cluster. Give each cluster its own context',
    );
    const kc = raw(["c1"]) as any;
    kc.clusters.c1.kubeconfig = kc.clusters.c3.kubeconfig = "/etc/k/one";
    kc.clusters.c3.context = "ctx-1";
    assert.match(
        refusal(() => parseStackConfig(kc), ConfigError),
        /^mysql-multicluster:clusters\.c3\.context: "ctx-1": c3 and c1 both use context "ctx-1" of kubeconfig \/etc\/k\/one; they are the same cluster/,
    );
    r.clusters.c2.kubeconfig = "/other/kubeconfig";
    assert.equal(parseStackConfig(r).clusters.c2.context, "ctx-1", "the same context name in another kubeconfig is another cluster");
    const id = raw(["c1"]) as any;
    id.clusters.c3.clusterId = "c1";
    assert.match(
        refusal(() => parseStackConfig(id), ConfigError),
        /^mysql-multicluster:clusters\.c3\.clusterId: "c1": "c1" is already the id of cluster "c1"/,
    );
});

test("same cluster twice: two clusters with neither context nor kubeconfig are the current context of the default kubeconfig, once", () => {
    const r = raw(["c1"]) as any;
    delete r.clusters.c1.context;
    delete r.clusters.c2.context;
    assert.equal(
        refusal(() => parseStackConfig(r), ConfigError),
        "mysql-multicluster:clusters.c2.context: c2 and c1 both use the current context of the default kubeconfig; they are the same cluster. Give each cluster its own context",
    );
    // One cluster on the defaults beside clusters with their own contexts is fine; so is the current
    // context of two different kubeconfigs.
    delete r.clusters.c2;
    assert.equal(parseStackConfig(r).clusters.c1.context, undefined);
    const two = raw(["c1"]) as any;
    delete two.clusters.c1.context;
    delete two.clusters.c2.context;
    two.clusters.c2.kubeconfig = "/etc/k/two";
    assert.equal(parseStackConfig(two).clusters.c2.kubeconfig, "/etc/k/two");
});

test("storage size: never a replace; refused with what to do for local volumes and expandable classes", () => {
    const m = refusal(() => planStep(state(["c1", "c1", "c3"]), buildPlan(cfg(["c1", "c1", "c3"], 0, { storageSize: "12Gi" }))));
    assert.match(
        m,
        /^mysql-multicluster:mysql\.storageSize: "12Gi" changes the deployed "10Gi"; the claim template is immutable, so this would delete and re-create every StatefulSet/,
    );
    assert.match(m, /in c3 \(if the storage class allows expansion\) patch one claim at a time/);
    assert.match(m, /in c1 \(local volumes\) grow the filesystem at the volume path on each node/);
});

test("rolling: without an acknowledgement the primary keeps the old version (partition) until a planned switchover, then restarts as a replica", () => {
    const v = cfg(["c1", "c1", "c2"], 0, { version: "11.4" });
    const roll = planStep(state(["c1", "c1", "c2"]), buildPlan(v));
    assert.equal(roll.kind, "rolling");
    assert.deepEqual(roll.partitions, { c1: 1 });
    assert.deepEqual(roll.oldTemplate, [0]);
    assert.equal(roll.writePause, "none");
    const t = stepTable(roll);
    assert.match(t, /^0\s+mysql-0\s+c1\s+primary\s+keeps the old version until a switchover: next, set primary: 1 and run up$/m);
    assert.match(t, /^2\s+mysql-2\s+c2\s+replica\s+restarts/m);
    const rolled = deployedStateOf(buildPlan(v), state(["c1", "c1", "c2"]), roll);
    assert.deepEqual(rolled.pending, [0]);
    // The same config again keeps the partition; the switchover lifts it after the Job.
    assert.deepEqual(planStep(rolled, buildPlan(v)).partitions, { c1: 1 });
    const sw = planStep(rolled, buildPlan(cfg(["c1", "c1", "c2"], 1, { version: "11.4" })));
    assert.deepEqual(sw.partitions, {});
    assert.equal(sw.restartAfterSwitchover, "c1");
    assert.match(stepTable(sw), /^0\s+mysql-0\s+c1\s+primary -> replica\s+demoted; then replicates from mysql-1; then restarts on the new version$/m);
    assert.deepEqual(deployedStateOf(buildPlan(cfg(["c1", "c1", "c2"], 1, { version: "11.4" })), rolled, sw).pending, []);
    // A set without a replica has nothing to switch to.
    assert.match(
        refusal(() => planStep(state(["c1"]), buildPlan(cfg(["c1"], 0, { version: "11.4" })))),
        /restarts the primary mysql-0, the only member: writes stop while it restarts.*Add a replica first \(scale up\), or set migration\.allowPrimaryRestart: true/,
    );
});

test("rolling: a version upgrade restarts replicas first, cluster after cluster, the primary last (acknowledged), and says so", () => {
    const prev = state(["c1", "c1", "c2"]);
    const step = planStep(prev, buildPlan(cfg(["c1", "c1", "c2"], 0, { version: "11.4" }, { allowPrimaryRestart: true })));
    assert.match(step.writePause, /^writes pause while the primary mysql-0 restarts/);
    assert.deepEqual(step.partitions, {});
    assert.equal(step.kind, "rolling");
    assert.deepEqual(step.applyOrder.slice(0, 2), ["c2", "c1"]);
    assert.deepEqual(step.waitsFor, { c1: ["c2"] });
    const t = stepTable(step);
    assert.match(t, /^step: rolling/);
    assert.match(t, /c1: StatefulSet mysql: pod template changes; rolling restart one pod at a time: mysql-1, then mysql-0 \(primary\)/);
    // Only the cluster whose template changes restarts.
    const nodes = raw(["c1", "c1", "c2"]) as any;
    nodes.clusters.c2.nodes.push("c2-3");
    assert.deepEqual(
        planStep(prev, buildPlan(parseStackConfig(nodes))).changes.map((c) => c.action),
        ["keep", "keep", "restart"],
    );
});

test("rolling: unsafe forms refused — downgrade, with a move, primary not restarted last", () => {
    const prev = state(["c1", "c1", "c2"], 0, { version: "11.4" });
    assert.match(
        refusal(() => planStep(prev, buildPlan(cfg(["c1", "c1", "c2"], 0, { version: "10.11" }, { allowPrimaryRestart: true })))),
        /^mysql-multicluster:mysql\.version: "mariadb:10\.11" is older than the deployed "mariadb:11\.4"; a downgrade is refused/,
    );
    assert.match(
        refusal(() => planStep(prev, buildPlan(cfg(["c1", "c2", "c2"], 0, { version: "11.8" }, { allowPrimaryRestart: true })))),
        /a rolling restart \(mysql\.version, mysql\.image\) in the same step as moving ordinals; each is a step of its own/,
    );
    const p1 = state(["c1", "c1", "c2"], 1);
    assert.match(
        refusal(() => planStep(p1, buildPlan(cfg(["c1", "c1", "c2"], 1, { resources: { cpu: "1" } }, { allowPrimaryRestart: true })))),
        /the primary mysql-1 would restart before mysql-0\. Switch first: set primary: 0/,
    );
});

test("refused keys: server identity and a cluster's endpoint never change under a running set", () => {
    assert.match(
        refusal(() => planStep(state(["c1"]), buildPlan(cfg(["c1"], 0, { serverIdBase: 2000 })))),
        /^mysql-multicluster:mysql\.serverIdBase: 2000 changes the deployed 1000; every member's server identity\. Keep 1000$/,
    );
    const moved = raw(["c1"]) as any;
    moved.clusters.c1.context = "elsewhere";
    assert.match(
        refusal(() => planStep(state(["c1"]), buildPlan(parseStackConfig(moved)))),
        /^mysql-multicluster:clusters\.c1\.context: "elsewhere" changes the deployed "ctx-1"/,
    );
    // A cluster that holds nothing may be re-pointed.
    const empty = raw(["c1"]) as any;
    empty.clusters.c2.context = "elsewhere";
    assert.equal(planStep(state(["c1"]), buildPlan(parseStackConfig(empty))).kind, "config");
});

test("swap: two replicas exchanging clusters is refused in one line naming the two safe steps", () => {
    const two = { maxMovesPerStep: 2 };
    const m = refusal(() => planStep(state(["c1", "c2", "c3", "c3"], 2, {}, two), buildPlan(cfg(["c2", "c1", "c3", "c3"], 2, {}, two))));
    assert.equal(
        m,
        "mysql-multicluster:placement: ordinals 0 (c1→c2) and 1 (c2→c1) swap clusters; no order takes each ordinal out of its source before it exists in its destination. Next safe steps: placement [c2, c2, c3, c3], run up, then placement [c2, c1, c3, c3]",
    );
});

test("plan readable by a DBA: titled tables, switchover rows primary -> replica, the write pause, Kubernetes words only in the changes block", () => {
    const t = stepTable(planStep(state(["c1", "c2"]), buildPlan(cfg(["c1", "c2"], 1))));
    const [members, changes] = t.split(/^changes \(Kubernetes, apply order: .*\):$/m);
    assert.match(t, /^step: switchover \(planned switchover: mysql-0 -> mysql-1\)$/m);
    assert.match(t, /^write pause: writes pause from the demotion of mysql-0 until mysql-1 is promoted: typically under a second .* at most 120 s/m);
    assert.match(members, /^Members$/m);
    assert.match(members, /^0\s+mysql-0\s+c1\s+primary -> replica\s+demoted; then replicates from mysql-1$/m);
    assert.match(members, /^1\s+mysql-1\s+c2\s+replica -> primary\s+promoted after catching up/m);
    for (const jargon of ["StatefulSet", "Service", "Job", "svc.cluster", "claim", "Pod", "ordinals.start"])
        assert.ok(!members.includes(jargon), `"${jargon}" in the DBA's part:\n${members}`);
    assert.match(changes, /Job mysql-switchover-0-to-1/);
});

test("retire comes a step after the members left: moving the last members off a cluster and retiring it in one step is refused", () => {
    let prev = deployedStateOf(buildPlan(cfg(["c1", "c2"])));
    prev = deployedStateOf(buildPlan(cfg(["c1", "c2"], 1)), prev);
    const both = parseStackConfig({ ...raw(["c2", "c2"], 1), retire: ["c1"] });
    const m = refusal(() => planStep(prev, buildPlan(both)));
    assert.match(
        m,
        /^mysql-multicluster:retire\[0\]: "c1" still ran mysql-0 before this step; its claims are their safety net until they are seeded elsewhere\. Next safe step: remove c1 from retire and run up \(the moves\), then retire it$/,
    );
    // the move first, then the retire: accepted
    prev = deployedStateOf(buildPlan(cfg(["c2", "c2"], 1)), prev);
    assert.equal(planStep(prev, buildPlan(both)).kind, "retire");
});

test("destructive: the retire step names each claim and size; removing the retired cluster names each volume and size", () => {
    const s1 = cfg(["c1", "c1"]);
    const s2 = cfg(["c1", "c2"]);
    const s3 = cfg(["c2", "c2"], 1);
    let prev = deployedStateOf(buildPlan(s1));
    prev = deployedStateOf(buildPlan(s2), prev);
    const sw = cfg(["c1", "c2"], 1);
    prev = deployedStateOf(buildPlan(sw), prev);
    prev = deployedStateOf(buildPlan(s3), prev);
    assert.deepEqual(prev.claims, { c1: [0, 1], c2: [0, 1] });
    const retire = planStep(prev, buildPlan(parseStackConfig({ ...raw(["c2", "c2"], 1), retire: ["c1"] })));
    assert.equal(retire.kind, "retire");
    assert.match(stepTable(retire), /c1: retired: Job mysql-retire deletes the retained claims data-mysql-0 \(10Gi\), data-mysql-1 \(10Gi\)/);
    prev = deployedStateOf(buildPlan(parseStackConfig({ ...raw(["c2", "c2"], 1), retire: ["c1"] })), prev);
    assert.deepEqual(prev.claims, { c2: [0, 1] });
    const r = raw(["c2", "c2"], 1) as any;
    delete r.clusters.c1;
    const removal = stepTable(planStep(prev, buildPlan(parseStackConfig(r))));
    assert.match(
        removal,
        /c1: removed from clusters: every object the set declared there is deleted, with the local volumes mysql-data-c1-1 \(50Gi\), mysql-data-c1-2 \(50Gi\), mysql-data-c1-3 \(50Gi\)/,
    );
    // The acknowledgement: without retire first, the removal is refused.
    const early = raw(["c2", "c2"], 1) as any;
    delete early.clusters.c1;
    assert.match(
        refusal(() => planStep(deployedStateOf(buildPlan(s3)), buildPlan(parseStackConfig(early)))),
        /cluster "c1" was removed but never retired/,
    );
});

test("donors: every donor named exists and is Ready before its recipient starts (40 members); a retained claim is shown as reused, with the GTID rule", () => {
    const many = { big: { context: "ctx-big", nodes: Array.from({ length: 40 }, (_, i) => `n-${i}`), storage: { storageClass: "fast" } } };
    const first = planStep(undefined, buildPlan(parseStackConfig({ clusters: many, placement: Array(40).fill("big"), primary: 0 })));
    for (const c of first.changes.filter((c) => c.role === "replica"))
        assert.equal(c.donor?.split(".")[0], "mysql-0", `mysql-${c.ordinal} seeds from a member that does not exist yet`);
    const grown = parseStackConfig({ clusters: many, placement: Array(40).fill("big"), primary: 0 });
    const prev10 = deployedStateOf(buildPlan(parseStackConfig({ clusters: many, placement: Array(10).fill("big"), primary: 0 })));
    for (const c of planStep(prev10, buildPlan(grown)).changes.filter((c) => c.action === "scale-up")) {
        assert.ok(Number(c.donor!.split(".")[0].split("-")[1]) < 10, `mysql-${c.ordinal} seeds from ${c.donor}, which is created in the same step`);
    }
    // mysql-1 moves back to c1, which still holds its claim.
    let prev = deployedStateOf(buildPlan(cfg(["c1", "c1", "c1"])));
    prev = deployedStateOf(buildPlan(cfg(["c1", "c1", "c2"])), prev);
    const back = planStep(prev, buildPlan(cfg(["c1", "c1", "c1"])));
    assert.equal(back.changes[2].reusesClaim, true);
    assert.match(
        stepTable(back),
        /^2\s+mysql-2\s+c2 -> c1\s+replica\s+moves: stops in c2, then starts in c1; reuses its retained data there if the primary still has the binary logs from its GTID position \(else wiped and seeds from mysql-1\)$/m,
    );
});

test("every key, edited on a running set, gets the plan its declared behaviour promises", () => {
    // One edit per leaf key: [key, mutate the raw config]. A leaf key without an edit here fails the test.
    const edits: Record<string, (r: any) => void> = {
        "clusters.<name>.context": (r) => (r.clusters.c1.context = "ctx-9"),
        "clusters.<name>.kubeconfig": (r) => (r.clusters.c1.kubeconfig = "/etc/other"),
        "clusters.<name>.clusterId": (r) => (r.clusters.c1.clusterId = "east"),
        "clusters.<name>.nodes": (r) => r.clusters.c1.nodes.push("c1-4"),
        "clusters.<name>.storage.localPath": (r) => (r.clusters.c1.storage.localPath = "/data/other"),
        "clusters.<name>.storage.capacity": (r) => (r.clusters.c1.storage.capacity = "60Gi"),
        "clusters.<name>.storage.storageClassName": (r) => (r.clusters.c1.storage.storageClassName = "other-local"),
        "clusters.<name>.storage.storageClass": (r) => (r.clusters.c3.storage.storageClass = "slow"),
        "clusters.<name>.tolerations": (r) => (r.clusters.c1.tolerations = [{ key: "kosmos.io/node" }]),
        "clusters.<name>.podCidrs": (r) => (r.clusters.c1.podCidrs = ["10.244.0.0/16"]),
        "mysql.clients.podSelector": (r) => (r.mysql.clients = { podSelector: { app: "shop" } }),
        "mysql.clients.namespaceSelector": (r) => (r.mysql.clients = { namespaceSelector: { team: "shop" } }),
        "mysql.clients.ipBlocks": (r) => (r.mysql.clients = { ipBlocks: ["10.9.0.0/16"] }),
        "mysql.name": (r) => (r.mysql.name = "db"),
        "mysql.namespace": (r) => (r.mysql.namespace = "db"),
        "mysql.engine": (r) => (r.mysql.engine = "mysql"),
        "mysql.version": (r) => (r.mysql.version = "11.4"),
        "mysql.image": (r) => (r.mysql.image = "registry.example/mariadb:11.8"),
        "mysql.storageSize": (r) => (r.mysql.storageSize = "12Gi"),
        "mysql.resources.cpu": (r) => (r.mysql.resources = { cpu: "2" }),
        "mysql.resources.memory": (r) => (r.mysql.resources = { memory: "2Gi", memoryLimit: "4Gi" }),
        "mysql.resources.memoryLimit": (r) => (r.mysql.resources = { memoryLimit: "3Gi" }),
        "mysql.serverIdBase": (r) => (r.mysql.serverIdBase = 5000),
        "mysql.gtidDomainId": (r) => (r.mysql.gtidDomainId = 7),
        "mysql.semiSync": (r) => (r.mysql.semiSync = false),
        "mysql.maxLagSeconds": (r) => (r.mysql.maxLagSeconds = 5),
        "mysql.createNamespace": (r) => (r.mysql.createNamespace = false),
        "mysql.seedTimeoutMinutes": (r) => (r.mysql.seedTimeoutMinutes = 240),
        "mysql.application.database": (r) => (r.mysql.application = { database: "orders", user: "app" }),
        "mysql.application.user": (r) => (r.mysql.application = { database: "orders", user: "orders_app" }),
        "mcs.profile": (r) => (r.mcs = { profile: "kosmos" }),
        "mcs.consumers": (r) => (r.mcs = { consumers: ["c2"] }),
        "migration.maxMovesPerStep": (r) => (r.migration.maxMovesPerStep = 2),
        "migration.switchoverTimeoutSeconds": (r) => (r.migration.switchoverTimeoutSeconds = 60),
        "migration.allowPrimaryRestart": (r) => (r.migration.allowPrimaryRestart = true),
        "migration.kubectlImage": (r) => (r.migration.kubectlImage = "bitnami/kubectl:1.34"),
        "liveStatus.read": (r) => (r.liveStatus = { read: false }),
        "liveStatus.timeoutSeconds": (r) => (r.liveStatus = { timeoutSeconds: 90 }),
        "failover.mode": (r) => (r.failover = { mode: "automatic", witnesses: ["c2"] }),
        "failover.witnesses": (r) => (r.failover.witnesses = ["c2", "c4"]),
        "failover.leaseSeconds": (r) => (r.failover.leaseSeconds = 20),
        "failover.arbiterImage": (r) => (r.failover.arbiterImage = "registry.k8s.io/etcd:3.6.6-0"),
        "tls.enabled": (r) => (r.tls = { enabled: true }),
        "tls.validityDays": (r) => (r.tls.validityDays = 400),
    };
    // Keys that only exist on a set with automatic failover: that set is the running one.
    const automatic = (r: any) => {
        r.clusters.c4 = { ...structuredClone(r.clusters.c3), context: "ctx-c4" };
        r.failover = { mode: "automatic", witnesses: ["c2"] };
    };
    const bases: Record<string, (r: any) => void> = {
        "failover.witnesses": automatic,
        "failover.leaseSeconds": automatic,
        "failover.arbiterImage": automatic,
        "tls.validityDays": (r) => (r.tls = { enabled: true }),
    };
    const leaves = Object.keys(CHANGE_BEHAVIOUR).filter((k) => !Object.keys(CHANGE_BEHAVIOUR).some((x) => x.startsWith(`${k}.`)));
    const judged = leaves.filter((k) => !["step", "destructive"].includes(CHANGE_BEHAVIOUR[k].behaviour));
    assert.deepEqual(
        judged.filter((k) => !edits[k]),
        [],
        "a key without an edit in this walk",
    );
    // The running set spans c1 (primary, lowest ordinal) and c3, so every cluster key applies.
    const running = () => ({ ...raw(["c1", "c1", "c3"]), mcs: { profile: "mcs-api" } }) as any;
    for (const key of judged) {
        const base = () => {
            const r = running();
            bases[key]?.(r);
            return r;
        };
        const prev = deployedStateOf(buildPlan(parseStackConfig(base())));
        const r = base();
        edits[key](r);
        const next = parseStackConfig(r);
        const { behaviour } = CHANGE_BEHAVIOUR[key];
        const shown = key.replace("<name>", key.includes("storageClass") && !key.includes("Name") ? "c3" : "c1");
        if (behaviour === "refused") {
            const m = refusal(() => planStep(prev, buildPlan(next)));
            assert.ok(
                m.startsWith(`mysql-multicluster:${shown.replace(/\.storage\.(storageClass|storageClassName)$/, ".storage")}`) ||
                    m.startsWith(`mysql-multicluster:${shown}`),
                `${key}: ${m}`,
            );
            continue;
        }
        const step = planStep(prev, buildPlan(next));
        const table = stepTable(step);
        if (behaviour === "rolling") {
            assert.equal(step.kind, "rolling", key);
            assert.ok(
                step.changes.some((c) => c.action === "restart"),
                `${key}: nothing restarts`,
            );
            assert.match(table, /rolling restart one pod at a time/, key);
        } else {
            assert.ok(["config", "unchanged"].includes(step.kind) && !step.changes.some((c) => c.action !== "keep"), `${key}: ${step.kind}`);
            assert.ok(table.includes(`settings: ${shown}: `) || table.includes(`; ${shown}: `), `${key} not in the settings line:\n${table}`);
        }
    }
});
