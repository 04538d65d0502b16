import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import * as YAML from "yaml";
import { parseStackConfig } from "../../components/config";
import { deployedStateOf } from "../../components/step";
import { buildPlan } from "../../components/plan";
import { ROOT, STACK_FILES, rawOf } from "../helpers/configs";
import { validateObject } from "../helpers/k8sSchema";
import { objectsOf, runUnderMocks } from "../helpers/mockProgram";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-render-"));
const render = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "tools/render.ts"), ...args], { cwd: ROOT, encoding: "utf8" });

/** Rendered objects as kubectl reads them: YAML 1.1, where a bare `on` or `yes` is a boolean. */
function readRendered(dir: string): Map<string, Record<string, any>> {
    const out = new Map<string, Record<string, any>>();
    for (const cluster of fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory())) {
        for (const f of fs.readdirSync(path.join(dir, cluster)))
            out.set(`${cluster}/${f}`, YAML.parse(fs.readFileSync(path.join(dir, cluster, f), "utf8"), { version: "1.1" }));
    }
    return out;
}

test("every phase in stacks/ renders through the CLI, in order, and every object passes the Kubernetes 1.34 OpenAPI schema", async () => {
    assert.ok(STACK_FILES.length >= 5, "the walk-through has its phases");
    let prev: string | undefined;
    for (const file of STACK_FILES) {
        const out = path.join(tmp, path.basename(file, ".yaml"));
        const r = render("--config", file, ...(prev ? ["--previous", prev] : []), "--out", out);
        assert.equal(r.status, 0, `${file}: ${r.stderr}`);
        assert.match(r.stdout, /ordinal\s+cluster\s+role/);
        const objects = readRendered(out);
        assert.ok(objects.size > 20, `${file}: ${objects.size} objects`);
        for (const [name, obj] of objects) {
            const err = await validateObject(obj);
            assert.equal(err, undefined, `${file} ${name}: ${err}`);
            for (const c of [...(obj.spec?.template?.spec?.containers ?? []), ...(obj.spec?.template?.spec?.initContainers ?? [])]) {
                for (const e of c.env ?? [])
                    if ("value" in e) assert.equal(typeof e.value, "string", `${file} ${name}: env ${e.name} is not a string for kubectl`);
            }
            if (obj.kind === "Secret") for (const v of Object.values(obj.stringData ?? {})) assert.equal(v, "<generated-at-deploy-time>");
        }
        const plan = JSON.parse(fs.readFileSync(path.join(out, "plan.json"), "utf8"));
        const cfg = parseStackConfig(rawOf(file));
        assert.deepEqual(plan.placement, cfg.placement);
        for (const [c, info] of Object.entries<any>(plan.clusters)) {
            const sts = objects.get(`${c}/statefulset-mysql.yaml`);
            assert.equal(sts?.spec.replicas, info.ordinals.length, `${file} ${c}`);
        }
        prev = file;
    }
});

test("the schema check can fail: a malformed object is reported", async () => {
    assert.match(
        (await validateObject({ apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "x" }, spec: { ordinals: { start: "one" } } }))!,
        /ordinals\/start must be integer/,
    );
    assert.ok(await validateObject({ apiVersion: "multicluster.x-k8s.io/v1alpha1", kind: "ServiceImport", metadata: { name: "x" }, spec: { type: "Bogus" } }));
});

test("between consecutive phases: Pulumi names and immutable StatefulSet fields never change (update in place)", async () => {
    const IMMUTABLE = ["serviceName", "selector", "volumeClaimTemplates", "podManagementPolicy", "revisionHistoryLimit"];
    let prevRun: Awaited<ReturnType<typeof runUnderMocks>> | undefined;
    let prevCfg;
    for (const file of STACK_FILES) {
        const cfg = parseStackConfig(rawOf(file));
        const run = await runUnderMocks(cfg, prevCfg ? deployedStateOf(buildPlan(prevCfg)) : undefined);
        if (prevRun) {
            const byName = (r: typeof run) => new Map(r.resources.filter((x) => x.type.startsWith("kubernetes:")).map((x) => [x.name, x]));
            const before = byName(prevRun);
            for (const [name, res] of byName(run)) {
                const old = before.get(name);
                if (!old) continue;
                assert.equal(
                    `${res.inputs.kind}/${res.inputs.metadata?.name}`,
                    `${old.inputs.kind}/${old.inputs.metadata?.name}`,
                    `${file}: ${name} now names another object`,
                );
                assert.equal(res.inputs.metadata?.namespace, old.inputs.metadata?.namespace);
            }
            for (const c of Object.keys(cfg.clusters)) {
                const a = objectsOf(prevRun, c).get("StatefulSet/mysql");
                const b = objectsOf(run, c).get("StatefulSet/mysql");
                if (!a || !b) continue;
                for (const f of IMMUTABLE) assert.deepEqual(b.spec[f], a.spec[f], `${file}: ${c} StatefulSet spec.${f} changed`);
                // The pod template changes only for a config or script change, never for a move.
                assert.deepEqual(b.spec.template, a.spec.template, `${file}: ${c} pod template changed: a phase would restart pods`);
            }
        }
        prevRun = run;
        prevCfg = cfg;
    }
});

// The renderer's interface: bad input is one line, exit 2, nothing written.
const bad: [string, string[], RegExp][] = [
    ["no --config", ["--out", "X"], /^error: --config is required/],
    ["no --out", ["--config", "Pulumi.dev.yaml"], /^error: --out is required/],
    ["unknown flag", ["--config", "Pulumi.dev.yaml", "--out", "X", "--fast"], /^error: --fast: unknown argument/],
    ["missing file", ["--config", "nope.yaml", "--out", "X"], /^error: --config nope\.yaml: cannot read the file \(ENOENT\)$/],
    ["YAML that does not parse", ["--config", "BADYAML", "--out", "X"], /^error: --config .*: YAML does not parse at line \d+, column \d+: /],
    ["not a stack file", ["--config", "NOCONFIG", "--out", "X"], /^error: --config .*: not a stack config file/],
    ["invalid config", ["--config", "BADCFG", "--out", "X"], /^error: mysql-multicluster:placement\[1\]: "cluster9": cluster "cluster9" is not in clusters/],
    [
        "unsafe step",
        ["--config", "stacks/04-both-in-cluster2.yaml", "--previous", "stacks/01-all-in-cluster1.yaml", "--out", "X"],
        /^error: mysql-multicluster:primary: changes 0 → 1 in the same step/,
    ],
    ["out is a user folder", ["--config", "Pulumi.dev.yaml", "--out", "USERDIR"], /^error: --out .*: directory is not empty and holds no earlier render/],
];
for (const [name, args, re] of bad) {
    test(`render refuses: ${name}`, () => {
        const files: Record<string, string> = {
            BADYAML: "config:\n  mysql-multicluster:placement: [a\n",
            NOCONFIG: "placement: [a]\n",
            BADCFG: fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8").replace("placement: [cluster1, cluster1]", "placement: [cluster1, cluster9]"),
        };
        const dir = fs.mkdtempSync(path.join(tmp, "bad-"));
        const userDir = path.join(dir, "user");
        fs.mkdirSync(userDir);
        fs.writeFileSync(path.join(userDir, "notes.txt"), "mine");
        const out = path.join(dir, "out");
        const resolved = args.map((a) =>
            files[a] ? (fs.writeFileSync(path.join(dir, a), files[a]), path.join(dir, a)) : a === "X" ? out : a === "USERDIR" ? userDir : a,
        );
        const r = render(...resolved);
        assert.equal(r.status, 2, r.stderr);
        const lines = r.stderr.split("\n").filter((l) => l && !l.startsWith("npm warn"));
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], re);
        assert.equal(fs.existsSync(out), false, "nothing written");
        assert.deepEqual(fs.readdirSync(userDir), ["notes.txt"]);
    });
}
