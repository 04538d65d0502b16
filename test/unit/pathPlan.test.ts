import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as fc from "fast-check";
import { parseStackConfig, stripProjectPrefix } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { DeployedState, TransitionError, deployedStateOf, planStep } from "../../components/step";
import { PathStep, UnreachableError, planPath, stateOfHistory } from "../../tools/pathPlan";
import { readStackFile } from "../../tools/stackFile";
import { ROOT, rawOf } from "../helpers/configs";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-plan-"));
const plan = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "tools/pathPlan.ts"), ...args], { cwd: ROOT, encoding: "utf8" });

/**
 * Replays a path with the program's own functions, independently of the planner: every step must be
 * accepted by planStep (its guards) against the state the steps before it left, and the last must be the target.
 */
function replay(history: readonly Record<string, unknown>[], target: Record<string, unknown>, steps: readonly PathStep[]): void {
    let state: DeployedState | undefined = stateOfHistory(history.map((h) => parseStackConfig(h)));
    for (const [i, s] of steps.entries()) {
        const cfg = parseStackConfig(s.raw);
        const p = buildPlan(cfg);
        let step;
        try {
            step = planStep(state, p);
        } catch (e) {
            assert.fail(`step ${i + 1} is refused by the program: ${(e as Error).message}`);
        }
        assert.notEqual(step.kind, "unchanged", `step ${i + 1} changes something`);
        state = deployedStateOf(p, state, step);
    }
    assert.deepEqual(parseStackConfig(steps[steps.length - 1].raw), parseStackConfig(target), "the last step is the target");
}

test("plan: the Kosmos walk stacks/01 -> stacks/06 comes out as a valid path, shorter than the hand-written one, and renders step by step", () => {
    const from = rawOf(path.join(ROOT, "stacks/01-all-in-cluster1.yaml"));
    const to = rawOf(path.join(ROOT, "stacks/06-retire-cluster1.yaml"));
    const steps = planPath([from], to);
    replay([from], to, steps);
    assert.ok(steps.length <= 5, `at most the walk-through's 5 steps (got ${steps.length})`);
    // cluster1 is retired only a step after its last member left it (rule retire-only-after-members-left)
    assert.deepEqual(
        steps.map((s) => s.step.kind),
        ["move", "switchover", "move", "move"],
    );

    const out = path.join(tmp, "kosmos");
    const r = plan("--from", "stacks/01-all-in-cluster1.yaml", "--to", "stacks/06-retire-cluster1.yaml", "--out", out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^1 +01-move\.yaml +move +\[cluster1, cluster2\] +0 +- +move mysql-1 cluster1 -> cluster2$/m);
    assert.match(r.stdout, /^2 +02-switchover\.yaml +switchover +\[cluster1, cluster2\] +1 +- +switchover mysql-0 -> mysql-1$/m);
    assert.match(r.stdout, /^3 +03-move\.yaml +move +\[cluster2, cluster2\] +1 +- +move mysql-0 cluster1 -> cluster2$/m);
    assert.match(r.stdout, /^4 +04-move\.yaml +move +\[cluster3, cluster2\] +1 +\[cluster1\] +move mysql-0 cluster2 -> cluster3; retire cluster1/m);
    assert.deepEqual(fs.readdirSync(out).sort(), ["01-move.yaml", "02-switchover.yaml", "03-move.yaml", "04-move.yaml", "path.txt"]);
    // The written files are stack files the program itself accepts, one after another (render --previous).
    const files = ["01-move.yaml", "02-switchover.yaml", "03-move.yaml", "04-move.yaml"].map((f) => path.join(out, f));
    const last = spawnSync(
        process.execPath,
        [
            "--import",
            "tsx",
            path.join(ROOT, "tools/render.ts"),
            "--config",
            files[3],
            "--previous",
            "stacks/01-all-in-cluster1.yaml",
            "--previous",
            files[0],
            "--previous",
            files[1],
            "--previous",
            files[2],
            "--out",
            path.join(tmp, "kosmos-render"),
            "--quiet",
        ],
        { cwd: ROOT, encoding: "utf8" },
    );
    assert.equal(last.status, 0, last.stderr);
    assert.match(last.stdout, /retired: Job mysql-retire deletes the retained claims data-mysql-0 \(10Gi\), data-mysql-1 \(10Gi\)/);
    assert.deepEqual(parseStackConfig(stripProjectPrefix(readStackFile(files[3], "--config").config)), parseStackConfig(to));
});

test("plan: every hand-written phase of stacks/ reaches every later one", () => {
    const files = fs
        .readdirSync(path.join(ROOT, "stacks"))
        .sort()
        .map((f) => path.join(ROOT, "stacks", f));
    for (let i = 0; i < files.length; i++) {
        for (let j = i + 1; j < files.length; j++) {
            const history = files.slice(0, i + 1).map(rawOf);
            const to = rawOf(files[j]);
            const steps = planPath(history, to);
            assert.ok(steps.length >= 1 && steps.length <= j - i, `${path.basename(files[i])} -> ${path.basename(files[j])}: ${steps.length} steps`);
            replay(history, to, steps);
        }
    }
});

/** A universe of clusters, and two valid configs over it that share the set's identity. */
const pairArb = fc
    .record({
        nodes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 3 }),
        fromRuns: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 2 })), { minLength: 1, maxLength: 2 }),
        toRuns: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 2 })), { minLength: 1, maxLength: 2 }),
        fromPrimary: fc.nat(),
        toPrimary: fc.nat(),
        retireEmpty: fc.boolean(),
        dropEmpty: fc.boolean(),
        upgrade: fc.boolean(),
        maxMoves: fc.constantFrom(1, 1, 2),
    })
    .map(({ nodes, fromRuns, toRuns, fromPrimary, toPrimary, retireEmpty, dropEmpty, upgrade, maxMoves }) => {
        const names = nodes.map((_, i) => `c${i + 1}`);
        const clusters = Object.fromEntries(
            names.map((c, i) => [
                c,
                {
                    context: `ctx-${c}`,
                    nodes: Array.from({ length: nodes[i] }, (_, n) => `${c}-n${n}`),
                    storage: { localPath: "/data/mysql", capacity: "15Gi" },
                },
            ]),
        );
        // Contiguous runs in distinct clusters, each within the cluster's node count.
        const placementOf = (runs: [number, number][]) => {
            const used = new Set<string>();
            const p: string[] = [];
            for (const [pick, len] of runs) {
                const c = names[pick % names.length];
                if (used.has(c)) continue;
                used.add(c);
                for (let k = 0; k < Math.min(len, nodes[names.indexOf(c)]); k++) p.push(c);
            }
            return p;
        };
        const fromPlacement = placementOf(fromRuns);
        const toPlacement = placementOf(toRuns);
        const empty = names.filter((c) => !toPlacement.includes(c));
        const mysql = (version: string) => ({ name: "db", namespace: "db", engine: "mariadb", version, storageSize: "10Gi" });
        const from = {
            clusters,
            placement: fromPlacement,
            primary: fromPrimary % fromPlacement.length,
            mysql: mysql("10.11"),
            mcs: { profile: "kosmos" },
            migration: { maxMovesPerStep: maxMoves },
        };
        // The target may retire a cluster it leaves empty, and may drop one (after retiring it, which the planner must add).
        const dropped = dropEmpty && empty.length ? empty[empty.length - 1] : undefined;
        const retire = retireEmpty ? empty.filter((c) => c !== dropped) : [];
        const to = {
            clusters: Object.fromEntries(Object.entries(clusters).filter(([c]) => c !== dropped)),
            placement: toPlacement,
            primary: toPrimary % toPlacement.length,
            mysql: mysql(upgrade ? "11.4" : "10.11"),
            mcs: { profile: "kosmos" },
            migration: { maxMovesPerStep: maxMoves },
            ...(retire.length ? { retire } : {}),
        };
        return { from, to };
    });

test("plan (property): for random valid deployed/target configs, every step of the path is accepted by the program's rules and the last equals the target; with room on every cluster a path always exists", () => {
    let found = 0;
    let multi = 0;
    fc.assert(
        fc.property(pairArb, ({ from, to }) => {
            const roomy = Object.values(from.clusters).every((c) => c.nodes.length > Math.max(from.placement.length, to.placement.length));
            let steps: PathStep[];
            try {
                steps = planPath([from], to);
            } catch (e) {
                if (!(e instanceof UnreachableError)) throw e;
                assert.ok(!roomy, `a target with room on every cluster is reachable: ${e.message}`);
                assert.match(
                    e.message,
                    /^cannot reach the target from the deployed config \(none of the \d+ configs reachable by accepted steps is the target\)/,
                );
                assert.equal(e.message.split("\n").length, 1);
                return;
            }
            if (JSON.stringify(parseStackConfig(from)) === JSON.stringify(parseStackConfig(to))) {
                assert.equal(steps.length, 0);
                return;
            }
            found++;
            if (steps.length > 1) multi++;
            replay([from], to, steps);
            // Fewest steps: when the program accepts the target directly, the path is that one step.
            let direct = true;
            try {
                planStep(stateOfHistory([parseStackConfig(from)]), buildPlan(parseStackConfig(to)));
            } catch (e) {
                if (!(e instanceof TransitionError)) throw e;
                direct = false;
            }
            assert.equal(steps.length === 1, direct, "one step exactly when the program accepts the target directly");
        }),
        { numRuns: 40, seed: 16 },
    );
    assert.ok(found >= 20 && multi >= 10, `the random pairs give paths, many of several steps (${found} paths, ${multi} of more than one step)`);
});

test("plan: an unreachable target is refused in one line naming why, exit 2, nothing written", () => {
    const engine = path.join(tmp, "Pulumi.engine.yaml");
    fs.writeFileSync(engine, fs.readFileSync(path.join(ROOT, "stacks/06-retire-cluster1.yaml"), "utf8").replace("engine: mariadb", "engine: mysql"));
    const out = path.join(tmp, "unreachable");
    const r = plan("--from", "stacks/01-all-in-cluster1.yaml", "--to", engine, "--out", out);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, "");
    assert.match(
        r.stderr,
        /^error: cannot reach the target from the deployed config \(none of the \d+ configs reachable by accepted steps is the target\); the direct step is refused: mysql-multicluster:mysql\.engine: "mysql" changes the deployed "mariadb"; that replaces the whole set instead of moving it\. Keep "mariadb"\n$/,
    );
    assert.equal(fs.existsSync(out), false);
    assert.throws(
        () => planPath([rawOf(path.join(ROOT, "stacks/03-switchover-to-mysql-1.yaml"))], { ...rawOf(engine), mysql: { name: "other" } }),
        UnreachableError,
    );
});

test("plan: bad input is one line naming the flag or key; a non-empty --out is refused; the deployed target writes nothing", () => {
    const out = path.join(tmp, "bad");
    const noTo = plan("--from", "stacks/01-all-in-cluster1.yaml", "--out", out);
    assert.equal(noTo.status, 2);
    assert.match(noTo.stderr, /^error: --to is required\. usage: npm run plan/);
    const bad = path.join(tmp, "Pulumi.bad.yaml");
    fs.writeFileSync(
        bad,
        fs.readFileSync(path.join(ROOT, "stacks/02-replica-in-cluster2.yaml"), "utf8").replace("[cluster1, cluster2]", "[cluster1, cluster9]"),
    );
    const r = plan("--from", "stacks/01-all-in-cluster1.yaml", "--to", bad, "--out", out);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^error: mysql-multicluster:placement\[1\]: "cluster9": cluster "cluster9" is not in clusters/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, "mine.txt"), "keep\n");
    const full = plan("--from", "stacks/01-all-in-cluster1.yaml", "--to", "stacks/02-replica-in-cluster2.yaml", "--out", out);
    assert.equal(full.status, 2);
    assert.match(full.stderr, /^error: --out .*: exists and is not an empty directory; refusing to write into it\n$/);
    assert.deepEqual(fs.readdirSync(out), ["mine.txt"]);
    const same = plan("--from", "stacks/02-replica-in-cluster2.yaml", "--to", "stacks/02-replica-in-cluster2.yaml", "--out", path.join(tmp, "same"));
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /no step to take; nothing written/);
    assert.equal(fs.existsSync(path.join(tmp, "same")), false);
});
