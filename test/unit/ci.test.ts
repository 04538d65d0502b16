import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import * as semver from "semver";
import { ROOT } from "../helpers/configs";

const WORKFLOW = path.join(ROOT, "docs/ci/github-actions.yml");
const wf = YAML.parse(fs.readFileSync(WORKFLOW, "utf8"));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const steps = (job: string): any[] => wf.jobs[job].steps;
/** The `engines.node` of every direct dependency that declares one, as installed. */
const depEngines = (): [string, string][] =>
    Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).flatMap((d) => {
        const r = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", d, "package.json"), "utf8")).engines?.node;
        return r ? [[d, r] as [string, string]] : [];
    });
/**
 * Direct dependencies whose engines may be narrower than ours, with why: test-only, and the unit tier
 * runs them on the lowest Node engines allows (this machine: 20.20).
 */
const NARROWER_ENGINES: Record<string, string> = { "kubernetes-models": "test-only schemas (test/helpers/k8sSchema.ts), loaded by import() on Node 20.19+" };

test("engines covers only Node versions every direct dependency supports (the listed test-only exceptions aside)", () => {
    for (const [dep, range] of depEngines()) {
        if (NARROWER_ENGINES[dep]) continue;
        assert.ok(semver.subset(pkg.engines.node, range), `engines ${pkg.engines.node} allows a Node ${dep} does not support (${range})`);
    }
    // eslint 10 needs 20.19: engines must not allow 20.0
    assert.ok(!semver.satisfies("20.0.0", pkg.engines.node));
    assert.ok(semver.satisfies(process.versions.node, pkg.engines.node), `this machine's Node ${process.versions.node}`);
});

/**
 * actionlint v1.7.12 (the newest the Go module proxy serves) predates GitHub's `concurrency.queue` key
 * (GitHub changelog 2026-05-07, "concurrency groups now allow larger queues"): that one message is
 * ignored, by its exact text; every other finding fails.
 */
const IGNORED = 'unexpected key "queue" for "concurrency" section';

test("CI template: actionlint (built from its Go module, tools/toolchain/actionlint.sh) finds nothing", { timeout: 20 * 60_000 }, () => {
    const built = spawnSync("bash", [path.join(ROOT, "tools/toolchain/actionlint.sh")], { encoding: "utf8", timeout: 20 * 60_000 });
    assert.equal(
        built.status,
        0,
        `actionlint is missing and could not be built (tools/toolchain/actionlint.sh needs Go and the Go module proxy):\n${built.stderr}`,
    );
    const bin = built.stdout.trim().split("\n").pop()!;
    const r = spawnSync(bin, ["-ignore", IGNORED, WORKFLOW], { encoding: "utf8" });
    assert.equal(r.status, 0, `actionlint:\n${r.stdout}${r.stderr}`);
    // The ignore hides exactly the queue key: without it, that is the only finding.
    const all = spawnSync(bin, ["-format", "{{range $e := .}}{{$e.Message}}\n{{end}}", WORKFLOW], { encoding: "utf8" });
    const found = all.stdout.trim().split("\n");
    assert.equal(found.length, 1, all.stdout);
    assert.ok(found[0].startsWith(IGNORED), all.stdout);
    // And it does find things: a broken copy fails.
    const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mmc-ci-")), "wf.yml");
    fs.writeFileSync(broken, fs.readFileSync(WORKFLOW, "utf8").replace("pull-requests: write", "pull-requests: writ"));
    assert.notEqual(spawnSync(bin, ["-ignore", IGNORED, broken], { encoding: "utf8" }).status, 0);
});

test("CI template: PR comments allowed, org/stack names, secrets only through env, triggers on code, Node of engines", () => {
    assert.equal(wf.permissions["pull-requests"], "write");
    assert.equal(wf.permissions.contents, "read");
    for (const ev of ["pull_request", "push"]) {
        for (const p of ["Pulumi.*.yaml", "index.ts", "components/**", "package-lock.json"]) assert.ok(wf.on[ev].paths.includes(p), `${ev} triggers on ${p}`);
    }
    for (const job of ["check", "up"]) {
        for (const s of steps(job)) {
            if (s.run) assert.doesNotMatch(s.run, /\$\{\{\s*secrets\./, `${job}: "${s.name ?? s.run}" puts a secret into a script; use env`);
            if (s.uses?.startsWith("pulumi/actions")) assert.match(s.with["stack-name"], /^\$\{\{ vars\.PULUMI_ORG \}\}\/\$\{\{ matrix\.stack \}\}$/);
            if (s.uses?.startsWith("actions/setup-node")) {
                // CI's Node is within engines and within what every direct dependency declares (setup-node's
                // "22" is the newest 22.x: at least 22.13); @types/node describes the lowest Node engines allows.
                const ci = `${s.with["node-version"]}.13.0`;
                assert.ok(semver.satisfies(ci, pkg.engines.node), `CI Node ${ci} outside engines ${pkg.engines.node}`);
                for (const [dep, range] of depEngines()) assert.ok(semver.satisfies(ci, range), `CI Node ${ci}: ${dep} needs ${range}`);
                assert.equal(pkg.devDependencies["@types/node"].split(".")[0], String(semver.minVersion(pkg.engines.node)!.major));
            }
        }
    }
    const preview = steps("check").find((s) => s.name === "preview");
    assert.equal(preview.with["comment-on-pr"], false, "the preview's own comment would show every object, the scripts ConfigMap too");
});

test("CI template: applies are serialised per stack and a pending up is never cancelled", () => {
    const up = wf.jobs.up;
    assert.equal(up.if, "github.event_name == 'push'");
    assert.equal(up.strategy["max-parallel"], 1);
    assert.equal(up.concurrency["cancel-in-progress"], false);
    assert.equal(up.concurrency.queue, "max", "without queue: max a newer pending run cancels the pending one");
    assert.match(up.concurrency.group, /\$\{\{ matrix\.stack \}\}/);
    assert.equal(wf.concurrency, undefined, "no workflow-level group: a PR check never waits for, or cancels, an up");
    const names = steps("up").map((s) => s.name ?? s.uses ?? s.run);
    assert.ok(names.indexOf("offline check against the previous commit's stack file") < names.indexOf("up"));
    assert.ok(names.indexOf("up") < names.indexOf("live status (gates the next step)"));
});

test("CI template: the offline check is real: tools/ci/check.sh renders with --previous and comments the step table, or the refusal", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-ci-check-"));
    const check = (config: string, deployed: string, dir: string) =>
        spawnSync("bash", [path.join(ROOT, "tools/ci/check.sh"), config, deployed, path.join(out, dir)], { cwd: ROOT, encoding: "utf8" });
    assert.ok(
        steps("check").some((s) => /bash tools\/ci\/check\.sh "Pulumi\.\$\{STACK\}\.yaml" "\$deployed"/.test(s.run ?? "")),
        "the workflow runs the check",
    );
    const ok = check("stacks/03-switchover-to-mysql-1.yaml", "stacks/02-replica-in-cluster2.yaml", "ok");
    assert.equal(ok.status, 0, ok.stderr);
    const comment = fs.readFileSync(path.join(out, "ok/comment.md"), "utf8");
    assert.match(comment, /^step: switchover \(planned switchover: mysql-0 -> mysql-1\)$/m);
    assert.match(comment, /Job mysql-switchover-0-to-1/);
    assert.doesNotMatch(comment, /kind: ConfigMap|lib-engine\.sh|#!\/usr\/bin\/env bash|password/i, "no rendered object, no scripts, no secret");
    const refused = check("stacks/03-switchover-to-mysql-1.yaml", "stacks/01-all-in-cluster1.yaml", "refused");
    assert.equal(refused.status, 2);
    assert.match(
        fs.readFileSync(path.join(out, "refused/comment.md"), "utf8"),
        /The program refuses this step \(nothing would change\):\n\n```\nerror: mysql-multicluster:primary: changes 0 → 1 in the same step as moving ordinal\(s\) 1/,
    );
});
