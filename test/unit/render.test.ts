import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RENDER_MARKER } from "../../tools/render";
import { ROOT } from "../helpers/configs";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-render-out-"));
const render = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "tools/render.ts"), ...args], { cwd: ROOT, encoding: "utf8" });
const listing = (dir: string) => fs.readdirSync(dir, { recursive: true }).map(String).sort();

test("--out: a folder holding a plan.json but no render marker is refused and left as it was", () => {
    const user = path.join(tmp, "user");
    fs.mkdirSync(path.join(user, "docs"), { recursive: true });
    fs.writeFileSync(path.join(user, "plan.json"), "{}\n");
    fs.writeFileSync(path.join(user, "main.tf"), "terraform {}\n");
    fs.writeFileSync(path.join(user, "docs", "x.md"), "mine\n");
    const before = listing(user);
    const r = render("--config", "Pulumi.dev.yaml", "--out", user, "--quiet");
    assert.equal(r.status, 2, r.stderr);
    assert.match(
        r.stderr.trim(),
        /^error: --out .*: directory is not empty and holds no earlier render \(no valid \.mysql-multicluster-render\.json\); refusing to overwrite it$/,
    );
    assert.deepEqual(listing(user), before);
    assert.equal(fs.readFileSync(path.join(user, "main.tf"), "utf8"), "terraform {}\n");
});

test("--out: an earlier render is recognised by its signed marker and re-rendered; a file added to it, or a forged marker, is refused", () => {
    const out = path.join(tmp, "out");
    const first = render("--config", "stacks/02-replica-in-cluster2.yaml", "--previous", "stacks/01-all-in-cluster1.yaml", "--out", out, "--quiet");
    assert.equal(first.status, 0, first.stderr);
    const marker = JSON.parse(fs.readFileSync(path.join(out, RENDER_MARKER), "utf8"));
    assert.deepEqual(
        [...marker.files, RENDER_MARKER].sort(),
        listing(out).filter((f) => fs.statSync(path.join(out, f)).isFile()),
    );
    // Again, without --previous: accepted, says it shows a first deployment, and only rendered files remain.
    const again = render("--config", "stacks/01-all-in-cluster1.yaml", "--out", out, "--quiet");
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /^note: no --previous given: this shows a first deployment \(every object created\)/m);
    assert.match(again.stdout, /step: initial \(a first deployment: every object is created\)/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, "plan.json"), "utf8")).firstDeployment, true);
    fs.writeFileSync(path.join(out, "cluster1", "notes.txt"), "mine\n");
    const added = render("--config", "stacks/01-all-in-cluster1.yaml", "--out", out, "--quiet");
    assert.equal(added.status, 2);
    assert.match(added.stderr.trim(), /^error: --out .*: holds files the earlier render did not write \(cluster1\/notes\.txt\); refusing to touch it$/);
    assert.equal(fs.readFileSync(path.join(out, "cluster1", "notes.txt"), "utf8"), "mine\n");
    fs.rmSync(path.join(out, "cluster1", "notes.txt"));
    fs.writeFileSync(path.join(out, RENDER_MARKER), JSON.stringify({ ...marker, files: [...marker.files, "main.tf"] }));
    assert.equal(render("--config", "stacks/01-all-in-cluster1.yaml", "--out", out, "--quiet").status, 2, "a marker whose signature does not hold");
});

test("the renderer accepts numbers and booleans as strings, as `pulumi config set` stores them", () => {
    const text = fs
        .readFileSync(path.join(ROOT, "stacks/03-switchover-to-mysql-1.yaml"), "utf8")
        .replace(/mysql-multicluster:primary: 1/, 'mysql-multicluster:primary: "1"');
    assert.match(text, /primary: "1"/);
    const file = path.join(tmp, "Pulumi.strings.yaml");
    fs.writeFileSync(file, text);
    const r = render("--config", file, "--previous", "stacks/02-replica-in-cluster2.yaml", "--out", path.join(tmp, "strings"), "--quiet");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(fs.readFileSync(path.join(tmp, "strings", "plan.json"), "utf8")).primary, 1);
    assert.match(r.stdout, /step: switchover/);
});

test("--previous with the earlier deployments: a retire step names each retained claim and its size, as `pulumi up` after that walk would", () => {
    const walk = ["01-all-in-cluster1", "02-replica-in-cluster2", "03-switchover-to-mysql-1", "04-both-in-cluster2", "05-cluster2-and-cluster3"];
    const out = path.join(tmp, "retire");
    const r = render("--config", "stacks/06-retire-cluster1.yaml", ...walk.flatMap((s) => ["--previous", `stacks/${s}.yaml`]), "--out", out, "--quiet");
    assert.equal(r.status, 0, r.stderr);
    // cluster1 ran mysql-0 and mysql-1 (01) and kept both claims when they moved away (02, 04).
    assert.match(r.stdout, /cluster1: retired: Job mysql-retire deletes the retained claims data-mysql-0 \(10Gi\), data-mysql-1 \(10Gi\); the volumes/);
    const plan = JSON.parse(fs.readFileSync(path.join(out, "plan.json"), "utf8"));
    assert.equal(plan.previous, path.join(ROOT, "stacks/05-cluster2-and-cluster3.yaml"));
    assert.equal(plan.history.length, 4);
    // The deployed config alone cannot say which claims cluster1 retained, and the plan says so.
    const alone = render(
        "--config",
        "stacks/06-retire-cluster1.yaml",
        "--previous",
        "stacks/05-cluster2-and-cluster3.yaml",
        "--out",
        path.join(tmp, "retire-alone"),
        "--quiet",
    );
    assert.equal(alone.status, 0, alone.stderr);
    assert.match(alone.stdout, /cluster1: retired: .*\(the deployed state names none: it has no claim history\)/);
});
