import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseStackConfig } from "../../components/config";
import { deployedStateOf } from "../../components/step";
import { buildPlan } from "../../components/plan";
import { disruptionBudgets } from "../../components/budgets";
import { commonLabels } from "../../components/contract";
import { rawOf, STACK_FILES } from "../helpers/configs";
import { objectsOf, runUnderMocks } from "../helpers/mockProgram";

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };

/** Kubernetes label-selector semantics (In, NotIn, Exists, DoesNotExist). */
function selects(sel: Selector, labels: Record<string, string>): boolean {
    if (!Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v)) return false;
    return (sel.matchExpressions ?? []).every((e) => {
        switch (e.operator) {
            case "In":
                return k(e.key) && e.values!.includes(labels[e.key]);
            case "NotIn":
                return !k(e.key) || !e.values!.includes(labels[e.key]);
            case "Exists":
                return k(e.key);
            case "DoesNotExist":
                return !k(e.key);
            default:
                throw new Error(`operator ${e.operator}`);
        }
    });
    function k(key: string) {
        return key in labels;
    }
}

/** The labels a pod of ordinal `o` carries: the template's plus the StatefulSet controller's pod-name label. */
const podLabels = (o: number) => ({ ...commonLabels("mysql", "database"), "statefulset.kubernetes.io/pod-name": `mysql-${o}` });

test("disruption budgets: the primary's pod allows no disruption, the other pods one at a time, no pod selected twice", () => {
    const cases: [number, number[]][] = [
        [0, [0, 1]],
        [1, [0, 1, 2]],
        [4, [0, 1, 2]],
        [0, [0]],
        [2, [1, 2]],
    ];
    for (const [primary, ordinals] of cases) {
        const budgets = disruptionBudgets("mysql", primary, ordinals);
        assert.deepEqual(
            budgets.map((b) => b.name),
            ["mysql", "mysql-primary"],
        );
        for (let o = 0; o < 6; o++) {
            const matching = budgets.filter((b) => selects(b.spec.selector as Selector, podLabels(o)));
            assert.equal(matching.length, 1, `mysql-${o} (primary ${primary}) is selected by ${matching.map((b) => b.name)}`);
            assert.equal(matching[0].role, o === primary ? "primary" : "replicas");
        }
        // integer minAvailable over the selected pods only (maxUnavailable would count the StatefulSet's whole scale)
        const replicas = ordinals.filter((o) => o !== primary).length;
        const [r, p] = budgets;
        assert.equal(p.spec.minAvailable, 1);
        assert.equal(r.spec.minAvailable, Math.max(replicas - 1, 0), `primary ${primary}, ordinals ${ordinals}`);
        assert.ok(budgets.every((b) => b.spec.maxUnavailable === undefined));
        // disruptions the budget allows with every selected pod healthy: none for the primary, one replica
        if (replicas) assert.equal(replicas - Number(r.spec.minAvailable), 1);
        // a Job's pod carries other labels: no budget selects it
        assert.ok(
            !budgets.some((b) =>
                selects(b.spec.selector as Selector, { "app.kubernetes.io/name": "mysql-multicluster-job", "app.kubernetes.io/instance": "mysql" }),
            ),
        );
    }
});

test("disruption budgets in every phase: same names in every cluster, the primary's follows it after the switchover Job", async () => {
    const cfgs = STACK_FILES.map((f) => parseStackConfig(rawOf(f)));
    for (const [i, cfg] of cfgs.entries()) {
        const run = await runUnderMocks(cfg, i > 0 ? deployedStateOf(buildPlan(cfgs[i - 1])) : undefined);
        for (const c of Object.keys(cfg.clusters)) {
            if (cfg.retire.includes(c)) continue;
            const objs = objectsOf(run, c);
            const pdbs = [...objs.keys()].filter((k) => k.startsWith("PodDisruptionBudget/")).sort();
            assert.deepEqual(pdbs, ["PodDisruptionBudget/mysql", "PodDisruptionBudget/mysql-primary"], `${STACK_FILES[i]}: ${c}`);
            const p = objs.get("PodDisruptionBudget/mysql-primary")!;
            assert.equal(p.spec.minAvailable, 1);
            assert.ok(selects(p.spec.selector, podLabels(cfg.primary)), `${STACK_FILES[i]}: ${c}: the primary's budget selects mysql-${cfg.primary}`);
            assert.ok(!selects(objs.get("PodDisruptionBudget/mysql")!.spec.selector, podLabels(cfg.primary)));
            // the primary's budget is written after the replicas' (never two budgets on one pod during an upgrade)
            assert.ok(run.dependsOn.get(`${c}-mysql-pdb-primary`)!.includes(`${c}-mysql-pdb`), `${c}: order of the budgets`);
            if (run.resources.some((r) => r.inputs?.kind === "Job" && String(r.inputs?.metadata?.name).includes("switchover"))) {
                assert.ok(run.dependsOn.get(`${c}-mysql-pdb`)!.includes("switchover-job"), `${STACK_FILES[i]}: ${c}: budgets wait for the switchover Job`);
            }
        }
    }
});
