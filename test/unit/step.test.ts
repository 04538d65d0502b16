import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fc from "fast-check";
import { ConfigError, parseStackConfig } from "../../components/config";
import { Plan, buildPlan } from "../../components/plan";
import { DeployedState, GUARDS, Step, TransitionError, deployedStateOf, parseDeployedState, planStep, stepTable } from "../../components/step";
import { STACK_FILES, rawOf } from "../helpers/configs";

const clusters = {
    c1: { context: "ctx-1", nodes: ["c1-1", "c1-2", "c1-3"], storage: { localPath: "/data/mysql" } },
    c2: { context: "ctx-2", nodes: ["c2-1", "c2-2", "c2-3"], storage: { localPath: "/data/mysql" } },
    c3: { context: "ctx-3", nodes: ["c3-1", "c3-2", "c3-3"], storage: { storageClass: "fast" } },
};
const plan = (raw: unknown): Plan => buildPlan(parseStackConfig(raw));
const cfg = (placement: string[], primary = 0, extra: Record<string, unknown> = {}): Plan =>
    plan({ clusters, placement, primary, mysql: { engine: "mariadb" }, ...extra });
const state = (placement: string[], primary = 0, extra: Record<string, unknown> = {}) => deployedStateOf(cfg(placement, primary, extra));

test("the walk-through in stacks/ is accepted step by step, with the step kinds a user expects", () => {
    let prev: DeployedState | undefined;
    const kinds: string[] = [];
    for (const f of STACK_FILES) {
        const next = plan(rawOf(f));
        kinds.push(planStep(prev, next).kind);
        prev = deployedStateOf(next);
    }
    assert.deepEqual(kinds, ["initial", "move", "switchover", "move", "move", "retire"].slice(0, STACK_FILES.length));
});

// [description, previous state, next config, expected refusal]
const refused: [string, DeployedState, Plan, RegExp][] = [
    [
        "two ordinals move at once",
        state(["c1", "c1", "c1"]),
        cfg(["c1", "c2", "c2"]),
        /^mysql-multicluster:placement: 2 ordinals change cluster in one step \(1: c1→c2, 2: c1→c2\); at most 1 per step \(migration\.maxMovesPerStep\)\. Next safe step: placement \[c1, c1, c2\]$/,
    ],
    [
        "the primary's ordinal moves",
        state(["c1", "c1"]),
        cfg(["c2", "c1"]),
        /^mysql-multicluster:placement\[0\]: ordinal 0 is the primary; it never changes cluster\. Switch first: set primary: 1, run up, then move ordinal 0$/,
    ],
    [
        "primary changes while an ordinal moves",
        state(["c1", "c1"]),
        cfg(["c1", "c2"], 1),
        /^mysql-multicluster:primary: changes 0 → 1 in the same step as moving ordinal\(s\) 1; a change of primary is a step of its own\. Next safe step: set primary: 1 with placement \[c1, c1\]/,
    ],
    ["primary changes while scaling", state(["c1", "c1"]), cfg(["c1", "c1", "c1"], 1), /a change of primary is a step of its own/],
    ["switch to an ordinal that does not run yet", state(["c1"]), cfg(["c1", "c1"], 1), /^mysql-multicluster:primary: 1 does not run yet/],
    ["scale and move together", state(["c1", "c1"]), cfg(["c1", "c2", "c2"]), /scaling is a step of its own\. Next safe step: placement \[c1, c1, c2\]$/],
    [
        "engine changes",
        state(["c1"]),
        plan({ clusters, placement: ["c1"], mysql: { engine: "mysql" } }),
        /^mysql-multicluster:mysql\.engine: "mysql" changes the deployed "mariadb"/,
    ],
    [
        "namespace changes",
        state(["c1"]),
        plan({ clusters, placement: ["c1"], mysql: { engine: "mariadb", namespace: "other" } }),
        /^mysql-multicluster:mysql\.namespace:/,
    ],
    [
        "a cluster with data is dropped without retiring it",
        state(["c2"], 0),
        plan({ clusters: { c2: clusters.c2, c3: clusters.c3 }, placement: ["c2"], mysql: { engine: "mariadb" } }),
        /^mysql-multicluster:clusters: cluster "c1" was removed but never retired.*set retire: \[c1\]/,
    ],
    [
        "storage class changes under running pods",
        state(["c3"]),
        plan({ clusters: { ...clusters, c3: { ...clusters.c3, storage: { storageClass: "slow" } } }, placement: ["c3"], mysql: { engine: "mariadb" } }),
        /^mysql-multicluster:clusters\.c3\.storage: storage class "slow" changes the deployed "fast"/,
    ],
];
for (const [name, prev, next, re] of refused) {
    test(`refused: ${name}`, () => {
        assert.throws(
            () => planStep(prev, next),
            (e: unknown) => {
                assert.ok(e instanceof TransitionError);
                assert.match(e.message, re);
                assert.ok(!e.message.includes("\n"));
                return true;
            },
        );
    });
}

test("the rules are named guards; each refusal above comes from one of them", () => {
    const names = GUARDS.map((g) => g.name);
    assert.equal(new Set(names).size, names.length);
    for (const [, prev, next] of refused) {
        const hits = GUARDS.filter((g) => g.check(prev, next) !== undefined).map((g) => g.name);
        assert.ok(hits.length >= 1, `no guard refuses ${JSON.stringify(next.placement)}`);
    }
});

test("deployed state: read back through its schema; anything else is one line", () => {
    const s = state(["c1", "c2"]);
    assert.deepEqual(parseDeployedState(JSON.parse(JSON.stringify(s))), s);
    assert.equal(parseDeployedState(undefined), undefined);
    assert.throws(() => parseDeployedState({ ...s, primary: "zero" }), /^TransitionError: stack output migrationState is not readable/);
    assert.throws(() => parseDeployedState({ ...s, storageClasses: null }), TransitionError);
});

const accepted: [string, DeployedState | undefined, Plan, Step["kind"]][] = [
    ["first deployment", undefined, cfg(["c1", "c1"]), "initial"],
    ["nothing changes", state(["c1", "c1"]), cfg(["c1", "c1"]), "unchanged"],
    ["one replica moves", state(["c1", "c1"]), cfg(["c1", "c2"]), "move"],
    ["switchover alone", state(["c1", "c2"]), cfg(["c1", "c2"], 1), "switchover"],
    ["scale up at the tail", state(["c1"]), cfg(["c1", "c1", "c2"]), "scale"],
    ["scale down at the tail", state(["c1", "c1", "c2"]), cfg(["c1", "c1"]), "scale"],
    ["two moves with maxMovesPerStep 2", state(["c1", "c1", "c1"]), cfg(["c1", "c2", "c2"], 0, { migration: { maxMovesPerStep: 2 } }), "move"],
    ["retire an emptied cluster", state(["c2", "c2"]), cfg(["c2", "c2"], 0, { retire: ["c1"] }), "retire"],
    [
        "drop a retired cluster",
        state(["c2"], 0, { retire: ["c1"] }),
        plan({ clusters: { c2: clusters.c2, c3: clusters.c3 }, placement: ["c2"], mysql: { engine: "mariadb" } }),
        "config",
    ],
];
for (const [name, prev, next, kind] of accepted) {
    test(`accepted: ${name}`, () => assert.equal(planStep(prev, next).kind, kind));
}

test("ordering: the source shrinks before the destination grows, in both directions", () => {
    const there = planStep(state(["c1", "c1"]), cfg(["c1", "c2"]));
    assert.deepEqual(there.waitsFor, { c2: ["c1"] });
    assert.equal(there.applyOrder[0], "c1");
    const back = planStep(state(["c1", "c2"]), cfg(["c1", "c1"]));
    assert.deepEqual(back.waitsFor, { c1: ["c2"] });
    assert.equal(back.applyOrder[0], "c2");
});

test("the step table names ordinal, member, from -> to, role, what happens and the donor; Kubernetes apart", () => {
    const t = stepTable(planStep(state(["c1", "c1"]), cfg(["c1", "c2"])));
    assert.match(t, /^1\s+mysql-1\s+c1 -> c2\s+replica\s+moves: stops in c1, then starts in c2; seeds from mysql-0$/m);
    assert.match(t, /^changes \(Kubernetes, apply order: c1 -> c2 -> c3\):$/m);
    assert.match(t, /c2: waits for c1 to scale down first/);
    const s = stepTable(planStep(state(["c1", "c2"]), cfg(["c1", "c2"], 1)));
    assert.match(s, /Job mysql-switchover-0-to-1/);
});

/** Every order in which the engine may apply the clusters: any order that respects waitsFor. */
function respectsEdges(order: string[], step: Step): boolean {
    return Object.entries(step.waitsFor).every(([dst, srcs]) => srcs.every((s) => order.indexOf(s) < order.indexOf(dst)));
}

test("property: random sequences of edits — every accepted step keeps one primary and never two pods with one name", () => {
    const names = ["c1", "c2", "c3"];
    const edit = fc.record({
        kind: fc.constantFrom("move", "move2", "switch", "scale-up", "scale-down", "primary-move"),
        a: fc.nat(),
        b: fc.nat(),
        order: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
    });
    fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 25 }), (edits) => {
            let current = cfg(["c1", "c1"]);
            let deployed: DeployedState | undefined;
            planStep(undefined, current);
            deployed = deployedStateOf(current);
            let accepted = 0;
            for (const e of edits) {
                const p = [...current.placement];
                let primary = current.primary;
                if (e.kind === "move") p[e.a % p.length] = names[e.b % 3];
                if (e.kind === "move2") {
                    p[e.a % p.length] = names[e.b % 3];
                    p[(e.a + 1) % p.length] = names[(e.b + 1) % 3];
                }
                if (e.kind === "switch") primary = e.a % p.length;
                if (e.kind === "scale-up") p.push(names[e.b % 3]);
                if (e.kind === "scale-down" && p.length > 1) p.pop();
                if (e.kind === "primary-move") p[primary] = names[e.b % 3];
                let next: Plan;
                try {
                    next = cfg(p, primary);
                } catch (err) {
                    assert.ok(err instanceof ConfigError);
                    continue;
                }
                let step: Step;
                try {
                    step = planStep(deployed, next);
                } catch (err) {
                    assert.ok(err instanceof TransitionError, String(err));
                    continue;
                }
                accepted++;
                // The primary never moves; a switchover moves nothing.
                if (primary === current.primary) assert.equal(next.placement[primary], current.placement[primary]);
                else assert.deepEqual(next.placement, current.placement);
                // The plan's own order respects its edges; then simulate the engine applying the clusters
                // one at a time in a random order that respects them too.
                assert.ok(respectsEdges([...step.applyOrder], step), "applyOrder breaks a waitsFor edge");
                const order = [...step.applyOrder].sort((x, y) => e.order[names.indexOf(x)] - e.order[names.indexOf(y)]);
                const applied = respectsEdges(order, step) ? order : [...step.applyOrder];
                const live = new Map(names.map((c) => [c, current.placement.flatMap((x, i) => (x === c ? [i] : []))]));
                for (const c of applied) {
                    live.set(
                        c,
                        next.placement.flatMap((x, i) => (x === c ? [i] : [])),
                    );
                    const all = [...live.values()].flat();
                    assert.equal(new Set(all).size, all.length, `two pods with one name after applying ${c}: ${JSON.stringify([...live])}`);
                    assert.ok(all.includes(next.primary) && all.includes(current.primary), "the primary is missing mid-step");
                }
                current = next;
                deployed = deployedStateOf(next);
            }
            return accepted >= 0;
        }),
        { numRuns: 200 },
    );
});
