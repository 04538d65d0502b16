import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { parseStackConfig } from "../../components/config";
import { ROOT } from "../helpers/configs";

const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const section = (title: string) => {
    const start = readme.indexOf(`\n## ${title}\n`);
    assert.ok(start >= 0, `README has "## ${title}"`);
    const end = readme.indexOf("\n## ", start + 1);
    return readme.slice(start, end < 0 ? undefined : end);
};

test("README's first screen: the two commands first, then the Pulumi quick start before anything else", () => {
    const block = /^# [^\n]+\n\n```bash\n([^\n]+)\n([^\n]+)\n```\n/.exec(readme);
    assert.ok(block, "a title, then one bash block");
    assert.match(block[1], /^npm ci && npm start\s+#/);
    assert.match(block[2], /^npm test\s+#/);
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    assert.equal(headings[0], "Quick start with Pulumi");
    const qs = section("Quick start with Pulumi");
    for (const cmd of ["pulumi login", "pulumi stack init", "pulumi config set --path", "pulumi preview"]) assert.ok(qs.includes(cmd), cmd);
    assert.ok(qs.indexOf("pulumi login") < qs.indexOf("pulumi stack init") && qs.indexOf("pulumi stack init") < qs.indexOf("pulumi preview"));
});

test("README's quick start: its `pulumi config set --path` commands make a config the program accepts", () => {
    // What Pulumi stores for `config set --path 'a.b[0]' v`: nested maps and lists, values as strings.
    const raw: Record<string, any> = {};
    const sets = [...section("Quick start with Pulumi").matchAll(/^pulumi config set --path '([^']+)' (\S+)/gm)];
    assert.ok(sets.length >= 5);
    for (const [, key, value] of sets) {
        const parts = key.split(/\.|(?=\[)/).map((p) => (p.startsWith("[") ? Number(p.slice(1, -1)) : p));
        let at: any = raw;
        parts.forEach((p, i) => {
            if (i === parts.length - 1) at[p] = value;
            else at = at[p] ??= typeof parts[i + 1] === "number" ? [] : {};
        });
    }
    const cfg = parseStackConfig(raw);
    assert.deepEqual(cfg.placement, ["east", "east"]);
    assert.deepEqual(cfg.mysql.application, { database: "orders", user: "orders_app" });
});

test("README and docs/: every link points inside the repository, at a file that exists", () => {
    const files = [
        "README.md",
        ...fs
            .readdirSync(path.join(ROOT, "docs"))
            .filter((f) => f.endsWith(".md"))
            .map((f) => `docs/${f}`),
    ];
    assert.ok(files.includes("docs/proof.md"), "the proof status lives in docs/proof.md");
    assert.match(readme, /\]\(docs\/proof\.md\)/, "README links the proof status");
    for (const f of files) {
        const text = fs.readFileSync(path.join(ROOT, f), "utf8");
        for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
            const target = m[1];
            assert.doesNotMatch(target, /^([a-z][a-z0-9+.-]*:|\/\/)/i, `${f}: link ${target} points outside the repository`);
            const file = target.split("#")[0];
            if (file) assert.ok(fs.existsSync(path.resolve(ROOT, path.dirname(f), file)), `${f}: link ${target} names no file`);
        }
    }
    assert.doesNotMatch(readme, /https?:\/\//, "README names an outside address");
});
