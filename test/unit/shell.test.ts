import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const SKIP_DIRS = new Set([".git", "node_modules", "rendered"]);

/** Every shell script of the repository: *.sh, *.bash, *.bats, and extensionless files with a sh/bash shebang. */
function shellScripts(dir = ROOT): string[] {
    const out: string[] = [];
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
            if (!SKIP_DIRS.has(e.name)) out.push(...shellScripts(p));
        } else if (e.isFile()) {
            if (/\.(sh|bash|bats)$/.test(e.name)) out.push(p);
            else if (!e.name.includes(".") && /^#!.*\b(bash|sh)\b/.test(fs.readFileSync(p, "utf8").split("\n", 1)[0])) out.push(p);
        }
    }
    return out.sort();
}

test("shellcheck (severity warning) passes on every shell script", () => {
    const files = shellScripts();
    assert.ok(
        files.some((f) => f.endsWith("components/scripts/init.sh")),
        "the data-plane scripts are found",
    );
    const r = spawnSync("shellcheck", ["-x", "-S", "warning", ...files.map((f) => path.relative(ROOT, f))], { cwd: ROOT, encoding: "utf8" });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
        assert.fail("shellcheck is not installed: install it (Debian/Ubuntu: apt-get install shellcheck; macOS: brew install shellcheck); .ci/run installs it");
    }
    assert.equal(r.status, 0, `shellcheck found problems in ${files.length} scripts:\n${r.stdout}${r.stderr}`);
});

test("bats: the shell helpers' own tests (test/shell/*.bats)", () => {
    const bats = path.join(ROOT, "node_modules/bats/bin/bats");
    assert.ok(fs.existsSync(bats), "bats-core is a devDependency: run npm ci");
    const r = spawnSync(bats, ["--tap", path.join(ROOT, "test/shell")], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.error, undefined, String(r.error));
    const failed = r.stdout.split("\n").filter((l) => l.startsWith("not ok"));
    assert.equal(r.status, 0, `bats failed:\n${failed.join("\n")}\n${r.stdout}${r.stderr}`);
    const plan = /^1\.\.(\d+)$/m.exec(r.stdout);
    assert.ok(plan && Number(plan[1]) >= 40, `expected the full bats suite, got plan ${plan?.[0]}`);
});
