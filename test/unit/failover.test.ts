// Failover by config (issue 10, program side): the `failover` key, the rules of a failover step, the
// epoch, the report, the failover Job and what a lost cluster is declared as.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigError, StackConfig, parseStackConfig } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { topologyEnv } from "../../components/contract";
import { failoverEnv } from "../../components/failover";
import { switchoverEnv } from "../../components/switchover";
import { DeployedState, TransitionError, deployedStateOf, epochAfter, historyOf, parseDeployedState, planStep, stepTable } from "../../components/step";
import { objectsOf, runUnderMocks } from "../helpers/mockProgram";

const clusters = {
    c1: { context: "ctx-1", nodes: ["c1-1", "c1-2"], storage: { localPath: "/data/mysql" } },
    c2: { context: "ctx-2", nodes: ["c2-1", "c2-2"], storage: { localPath: "/data/mysql" } },
    c3: { context: "ctx-3", nodes: ["c3-1", "c3-2"], storage: { storageClass: "fast" } },
};
const conf = (placement: string[], primary = 0, extra: Record<string, unknown> = {}): StackConfig =>
    parseStackConfig({ clusters, placement, primary, mysql: { engine: "mariadb" }, ...extra });
/** The state `up` leaves after deploying `c` on top of `prev` (the epoch as deploy computes it). */
const after = (c: StackConfig, prev?: DeployedState) => deployedStateOf(buildPlan(c, historyOf(prev, c.primary)), prev);
const planOf = (c: StackConfig, prev?: DeployedState) => buildPlan(c, historyOf(prev, c.primary));
const refusal = (f: () => unknown) => {
    try {
        f();
    } catch (e) {
        if (e instanceof ConfigError || e instanceof TransitionError) return e.message;
        throw e;
    }
    assert.fail("not refused");
};

// The deployed state before the outage: mysql-0 (primary) in c1, mysql-1 in c2, mysql-2 in c3; one switchover done.
const s1 = after(conf(["c1", "c2", "c3"]));
const before = after(conf(["c1", "c2", "c3"], 1), s1);
const beforeOutage = after(conf(["c1", "c2", "c3"], 0), before);
const lostC1 = (primary: number, extra: Record<string, unknown> = {}) => conf(["c1", "c2", "c3"], primary, { failover: { lost: ["c1"] }, ...extra });

test("config: failover.lost is validated with one line naming the key and value", () => {
    const cases: [Record<string, unknown>, number, RegExp][] = [
        [{ failover: { lost: ["c9"] } }, 1, /^mysql-multicluster:failover\.lost\[0\]: "c9": cluster "c9" is not in clusters \(known: c1, c2, c3\)$/],
        [
            { failover: { lost: ["c1"] } },
            0,
            /^mysql-multicluster:failover\.lost\[0\]: "c1": cluster "c1" runs the primary \(primary: 0\); the new primary must run in a reachable cluster: set primary: 1/,
        ],
        [{ failover: { lost: [] } }, 1, /^mysql-multicluster:failover\.lost: \[\]: must name at least one lost cluster/],
        [{ failover: { lost: ["c2", "c2"] } }, 0, /^mysql-multicluster:failover\.lost\[1\]: "c2": cluster "c2" is listed twice$/],
        [{ failover: { to: 1 } }, 1, /^mysql-multicluster:failover\.to: unknown key/],
        [{ failover: { lost: ["c1"] }, retire: ["c1"] }, 1, /retire\[0\]|failover\.lost\[0\]/],
    ];
    for (const [extra, primary, want] of cases) {
        const msg = refusal(() => conf(["c1", "c2", "c3"], primary, extra));
        assert.match(msg, want);
        assert.ok(!msg.includes("\n"), `one line: ${msg}`);
    }
    assert.deepEqual(lostC1(1).failover, { lost: ["c1"] });
    assert.deepEqual(conf(["c1", "c2"]).failover, {});
    assert.deepEqual(conf(["c1", "c2"], 0, { failover: {} }).failover, {});
});

test("epoch: 1 on a first deployment, +1 per switchover and per failover, recorded in the state; an older state reads as 1", () => {
    assert.equal(s1.epoch, 1);
    assert.equal(before.epoch, 2);
    assert.equal(beforeOutage.epoch, 3);
    const failed = after(lostC1(1), beforeOutage);
    assert.equal(failed.epoch, 4);
    // A step that does not change the primary keeps it.
    assert.equal(after(conf(["c1", "c2", "c3"], 0, { mysql: { engine: "mariadb", maxLagSeconds: 9 } }), beforeOutage).epoch, 3);
    const old = { ...beforeOutage } as Record<string, unknown>;
    delete old.epoch;
    const parsed = parseDeployedState(old)!;
    assert.equal(epochAfter(parsed, 1), 2);
    assert.equal(epochAfter(parsed, 0), 1);
    // It reaches every member through the topology file, with the lost ordinals.
    const plan = planOf(lostC1(1), beforeOutage);
    const env = topologyEnv(plan.clusters.find((c) => c.name === "c2")!.topology);
    assert.match(env, /^MMC_EPOCH='4'$/m);
    assert.match(env, /^MMC_LOST='0'$/m);
    assert.match(topologyEnv(buildPlan(conf(["c1", "c2"])).clusters[0].topology), /^MMC_EPOCH='1'\nMMC_LOST=''$/m);
    // A lost member is never a donor.
    assert.ok(!plan.clusters.some((c) => c.topology.donors.some((d) => d.startsWith("mysql-0."))));
});

test("a failover is its own step kind: the old primary's cluster lost, a reachable member promoted; the report says what is lost", () => {
    const next = planOf(lostC1(1), beforeOutage);
    const step = planStep(beforeOutage, next);
    assert.equal(step.kind, "failover");
    assert.equal(step.switchover, undefined);
    assert.deepEqual(step.failover, { fromOrdinal: 0, toOrdinal: 1, fromCluster: "c1", toCluster: "c2", lostClusters: ["c1"], lostOrdinals: [0], epoch: 4 });
    assert.equal(step.epoch, 4);
    const table = stepTable(step);
    assert.match(table, /^step: failover \(failover: mysql-0 lost with c1 -> mysql-1, epoch 4\)$/m);
    assert.match(
        table,
        /^lost: writes committed on mysql-0 and acknowledged by no replica; with semi-synchronous replication on \(mysql\.semiSync\): none that a client saw acknowledged/m,
    );
    assert.match(table, /c1: declared lost \(failover\.lost\): every object stays as deployed \(epoch 3 there\)/);
    assert.match(table, /c2: Job mysql-failover-e4: checks that mysql-1 is the most advanced reachable member/);
    assert.match(table, /c3: Service mysql-write: selector → mysql-1; ConfigMap mysql-topology: epoch 4 \(after the Job\)/);
    assert.ok(!/c1: Service/.test(table), "nothing is planned in the lost cluster");
    assert.match(table, /mysql-0 +c1 +primary \(lost\)/);
    assert.match(table, /mysql-2 +c3 +replica +repointed to mysql-1/);
    // Without semi-sync the report says acknowledged writes may be lost.
    const noSemi = { mysql: { engine: "mariadb", semiSync: false } };
    const asyncBefore = after(conf(["c1", "c2", "c3"], 0, noSemi));
    const asyncStep = planStep(asyncBefore, planOf(lostC1(1, noSemi), asyncBefore));
    assert.equal(asyncStep.kind, "failover");
    assert.match(
        stepTable(asyncStep),
        /^lost: writes committed on mysql-0 that had reached no replica: with asynchronous replication \(mysql\.semiSync: false\) clients may have seen them acknowledged/m,
    );
});

test("a failover is refused with any other change, naming the next safe step", () => {
    const cases: [StackConfig, RegExp][] = [
        [
            conf(["c1", "c2", "c2"], 1, { failover: { lost: ["c1"] } }),
            /^mysql-multicluster:failover\.lost: a failover \(primary: 0 → 1, c1 lost\) in the same step as moving ordinal\(s\) 2; a failover is a step of its own\. Next safe step: keep everything as deployed \(placement \[c1, c2, c3\]\) and change only primary: 1 with failover\.lost: \[c1\]/,
        ],
        [lostC1(1, { mysql: { engine: "mariadb", maxLagSeconds: 5 } }), /a failover .* in the same step as a change of mysql\.maxLagSeconds/],
        [conf(["c1", "c2", "c3", "c3"], 1, { failover: { lost: ["c1"] } }), /a failover .* in the same step as scaling/],
    ];
    for (const [c, want] of cases)
        assert.match(
            refusal(() => planStep(beforeOutage, planOf(c, beforeOutage))),
            want,
        );
    // Nothing may start in a lost cluster; no rolling restart while one is lost.
    const failed = after(lostC1(1), beforeOutage);
    const toC3 = after(lostC1(2), beforeOutage);
    assert.match(
        refusal(() => planStep(toC3, planOf(conf(["c1", "c1", "c3"], 2, { failover: { lost: ["c1"] } }), toC3))),
        /^mysql-multicluster:placement\[1\]: "c1" is declared lost \(failover\.lost\); nothing can start there/,
    );
    assert.match(
        refusal(() => planStep(failed, planOf(lostC1(1, { mysql: { engine: "mariadb", version: "11.4" } }), failed))),
        /^mysql-multicluster:mysql\.version: a rolling restart while c1 is declared lost/,
    );
});

test("after a failover: the state keeps what was applied in the lost cluster; moving off it, dropping it, or its return are ordinary steps", () => {
    const failed = after(lostC1(1), beforeOutage);
    assert.deepEqual(failed.lost, { c1: { primary: 0, placement: ["c1", "c2", "c3"], epoch: 3, lost: [] } });
    // Still lost: the view is carried, not overwritten by the new primary.
    const still = after(lostC1(1), failed);
    assert.deepEqual(still.lost, failed.lost);
    assert.equal(planStep(failed, planOf(lostC1(1), failed)).kind, "unchanged");
    // Move ordinal 0 off the lost cluster.
    const moveOff = conf(["c2", "c2", "c3"], 1, { failover: { lost: ["c1"] } });
    const moved = planStep(failed, planOf(moveOff, failed));
    assert.equal(moved.kind, "move");
    assert.deepEqual(moved.moves, [{ ordinal: 0, from: "c1", to: "c2" }]);
    const movedState = after(moveOff, failed);
    // Then drop it from clusters without a retire Job (its provider had deleteUnreachable): allowed.
    const { c1: _gone, ...rest } = clusters;
    void _gone;
    const dropped = parseStackConfig({ clusters: rest, placement: ["c2", "c2", "c3"], primary: 1, mysql: { engine: "mariadb" } });
    const drop = planStep(movedState, planOf(dropped, movedState));
    assert.equal(drop.kind, "config");
    assert.match(
        stepTable(drop),
        /c1: removed from clusters while lost: its objects leave the Pulumi state without a call to its API server .*the claims data-mysql-0 stay/,
    );
    // ...but not while it still runs ordinals.
    assert.match(
        refusal(() =>
            planStep(failed, planOf(parseStackConfig({ clusters: rest, placement: ["c2", "c2", "c3"], primary: 1, mysql: { engine: "mariadb" } }), failed)),
        ),
        /cluster "c1" was removed but never retired/,
    );
    // The cluster comes back: removing it from failover.lost reconciles it.
    const back = planStep(failed, planOf(conf(["c1", "c2", "c3"], 1), failed));
    assert.equal(back.kind, "rejoin");
    assert.deepEqual(back.rejoined, ["c1"]);
    assert.match(stepTable(back), /c1: back from lost: ConfigMap mysql-topology → primary mysql-1, epoch 4/);
    assert.equal(after(conf(["c1", "c2", "c3"], 1), failed).lost, undefined);
});

test("the failover Job's env is exactly the contract, as the new primary's cluster resolves every host", () => {
    const next = planOf(lostC1(1), beforeOutage);
    const step = planStep(beforeOutage, next);
    const env = failoverEnv(next, step.failover!);
    assert.deepEqual(env, {
        MMC_NEW_PRIMARY_HOST: "mysql-1.mysql.mysql.svc.cluster.local",
        MMC_REPLICA_HOSTS: "mysql-2.ctx-3.mysql.mysql.svc.clusterset.local".replace("ctx-3", "c3"),
        MMC_LOST_HOSTS: "mysql-0.c1.mysql.mysql.svc.clusterset.local",
        MMC_SOURCE_FOR:
            "mysql-1.mysql.mysql.svc.cluster.local=mysql-1.mysql.mysql.svc.cluster.local mysql-2.c3.mysql.mysql.svc.clusterset.local=mysql-1.c2.mysql.mysql.svc.clusterset.local",
        MMC_EPOCH: "4",
        MMC_SWITCHOVER_TIMEOUT_SECONDS: "120",
    });
    // A switchover gets the epoch after it too, and never a lost replica.
    const sw = planOf(conf(["c1", "c2", "c3"], 1, { failover: { lost: ["c3"] } }), beforeOutage);
    const swStep = planStep(beforeOutage, sw);
    assert.equal(swStep.kind, "switchover");
    const swEnv = switchoverEnv(sw, swStep.switchover!);
    assert.equal(swEnv.MMC_EPOCH, "4");
    assert.equal(swEnv.MMC_REPLICA_HOSTS, "");
    assert.ok(!swEnv.MMC_SOURCE_FOR.includes("mysql-2."));
});

test("under mocks: the lost cluster is declared as it was applied, its provider skips it while unreachable; the Job gates the reachable clusters", async () => {
    const run0 = await runUnderMocks(conf(["c1", "c2", "c3"], 0), beforeOutage);
    const run = await runUnderMocks(lostC1(1), beforeOutage);
    const c1Before = objectsOf(run0, "c1");
    const c1After = objectsOf(run, "c1");
    assert.deepEqual([...c1After.keys()].sort(), [...c1Before.keys()].sort());
    for (const [k, o] of c1After) assert.deepEqual(o, c1Before.get(k), `c1 ${k} is declared as applied before the outage`);
    assert.match(String(c1After.get("ConfigMap/mysql-topology")!.data["topology.env"]), /MMC_PRIMARY_ORDINAL='0'[\s\S]*MMC_EPOCH='3'/);
    // Reachable clusters get the new topology and the Job.
    const c2 = objectsOf(run, "c2");
    assert.match(String(c2.get("ConfigMap/mysql-topology")!.data["topology.env"]), /MMC_PRIMARY_ORDINAL='1'[\s\S]*MMC_EPOCH='4'\nMMC_LOST='0'/);
    const job = c2.get("Job/mysql-failover-e4")!;
    assert.ok(job, "the failover Job runs in the new primary's cluster");
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.metadata.annotations["pulumi.com/replaceUnready"], "true");
    assert.deepEqual(job.spec.template.spec.containers[0].command, ["bash", "/opt/mmc/failover.sh"]);
    const names = job.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name);
    assert.ok(!names.includes("MMC_TOPOLOGY_FILE"));
    for (const n of [
        "MMC_NEW_PRIMARY_HOST",
        "MMC_REPLICA_HOSTS",
        "MMC_LOST_HOSTS",
        "MMC_SOURCE_FOR",
        "MMC_EPOCH",
        "MMC_SWITCHOVER_TIMEOUT_SECONDS",
        "MMC_REPL_PASSWORD",
        "MMC_ADMIN_PASSWORD",
    ])
        assert.ok(names.includes(n), n);
    assert.ok(!names.includes("MMC_ROOT_PASSWORD"), "the failover Job never gets root's password");
    assert.ok(!c1After.has("Job/mysql-failover-e4") && !objectsOf(run, "c3").has("Job/mysql-failover-e4"));
    // Providers: only the lost one skips updates while unreachable.
    const providers = run.resources.filter((r) => r.type === "pulumi:providers:kubernetes");
    const byName = Object.fromEntries(providers.map((p) => [p.name, p.inputs]));
    assert.equal(String(byName["k8s-c1"].skipUpdateUnreachable), "true");
    assert.equal(byName["k8s-c1"].deleteUnreachable, undefined, "c1 still runs ordinals: its state is never dropped");
    assert.equal(byName["k8s-c2"].skipUpdateUnreachable, undefined);
    // The write Service and topology of reachable clusters wait for the Job; the lost cluster's do not.
    for (const c of ["c2", "c3"]) {
        assert.ok(run.dependsOn.get(`${c}-mysql-svc-write`)!.includes("failover-job"), `${c} write Service after the Job`);
        assert.ok(run.dependsOn.get(`${c}-mysql-topology`)!.includes("failover-job"), `${c} topology after the Job`);
    }
    assert.ok(!run.dependsOn.get("c1-mysql-svc-write")!.includes("failover-job"));
    assert.equal(run.outputs.epoch, 4);
    assert.equal(run.outputs.migrationState.epoch, 4);
    assert.deepEqual(Object.keys(run.outputs.migrationState.lost), ["c1"]);
    // Once it runs no ordinals, its provider may drop its state (deleteUnreachable).
    const failed = run.outputs.migrationState as DeployedState;
    const off = await runUnderMocks(conf(["c2", "c2", "c3"], 1, { failover: { lost: ["c1"] } }), failed);
    const offProvider = off.resources.find((r) => r.type === "pulumi:providers:kubernetes" && r.name === "k8s-c1")!;
    assert.equal(String(offProvider.inputs.deleteUnreachable), "true");
    // The switchover Job is re-run by the next up when it did not succeed.
    const sw = await runUnderMocks(conf(["c1", "c2", "c3"], 1), beforeOutage);
    assert.equal(objectsOf(sw, "c2").get("Job/mysql-switchover-0-to-1")!.metadata.annotations["pulumi.com/replaceUnready"], "true");
    // A cluster never deployed cannot be lost.
    assert.match(
        await runUnderMocks(lostC1(1), undefined).then(
            () => "",
            (e: Error) => e.message,
        ),
        /failover\.lost: "c1" was never deployed/,
    );
});
