// Engine smoke test: the locally built CLI + Node.js language host run a throwaway TypeScript program
// (in a temp dir, with this repo's node_modules) against a local file backend with a passphrase
// secrets provider: up, a no-op preview, an update, secrets never in plaintext in the export, destroy.
// Then the kubernetes provider plugin is loaded by a ConfigMap preview with a kubeconfig that points
// nowhere: the provider must check and plan the ConfigMap (not the engine's "no resource plugin found").
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Engine, REPO, ensureEngine, run } from "./engine";

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
const cfg = new pulumi.Config();
const provider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: any) { return { id: "c-" + inputs.seed, outs: { ...inputs, value: inputs.seed * 2 } }; },
    async diff(_id: string, olds: any, news: any) { return { changes: olds.seed !== news.seed }; },
    async update(_id: string, _olds: any, news: any) { return { outs: { ...news, value: news.seed * 2 } }; },
};
class Doubler extends pulumi.dynamic.Resource {
    public readonly value!: pulumi.Output<number>;
    constructor(name: string, args: { seed: pulumi.Input<number>; token: pulumi.Input<string> }) {
        super(provider, name, { value: undefined, ...args }, {});
    }
}
const d = new Doubler("d", { seed: cfg.requireNumber("seed"), token: cfg.requireSecret("token") });
export const doubled = d.value;
export const stack = pulumi.getStack();
export const token = cfg.requireSecret("token");
if (cfg.get("k8s") === "yes") {
    const k8s = require("@pulumi/kubernetes");
    const p = new k8s.Provider("p", { kubeconfig: cfg.require("kubeconfig") });
    new k8s.core.v1.ConfigMap("cm", { metadata: { name: "mmc-smoke" }, data: { a: "b" } }, { provider: p });
}
if (cfg.get("fail") === "yes") throw new Error("deliberate program failure");
`;

describe("engine: locally built CLI, language host and providers", { timeout: 3 * 3600 * 1000 }, () => {
    let engine: Engine;
    let dir: string;
    let env: Record<string, string>;
    const SECRET = `tok-${process.pid}-s3cr3t-${Date.now()}`;
    const pulumi = (args: string[], allowFailure = false) =>
        run(path.join(engine.bin, "pulumi"), [...args, "--non-interactive"], { cwd: path.join(dir, "prog"), env, timeoutMs: 300_000, allowFailure });

    before(() => {
        engine = ensureEngine();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-engine-"));
        const prog = path.join(dir, "prog");
        fs.mkdirSync(prog);
        fs.mkdirSync(path.join(dir, "backend"));
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(prog, "node_modules"));
        fs.writeFileSync(path.join(prog, "Pulumi.yaml"), "name: mmc-engine-smoke\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
        fs.writeFileSync(path.join(prog, "package.json"), JSON.stringify({ name: "mmc-engine-smoke", main: "index.ts" }));
        fs.writeFileSync(
            path.join(prog, "tsconfig.json"),
            JSON.stringify({
                compilerOptions: { strict: true, target: "es2020", module: "commonjs", moduleResolution: "node", esModuleInterop: true, skipLibCheck: true },
            }),
        );
        fs.writeFileSync(path.join(prog, "index.ts"), PROGRAM);
        env = {
            ...(process.env as Record<string, string>),
            ...engine.env,
            PULUMI_BACKEND_URL: `file://${path.join(dir, "backend")}`,
            PULUMI_CONFIG_PASSPHRASE: `pass-${process.pid}`,
        };
    });

    after(() => {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("pulumi version is the npm SDK's version", () => {
        const sdk = JSON.parse(fs.readFileSync(path.join(REPO, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8")).version;
        assert.equal(engine.version, `v${sdk}`);
    });

    it("up, preview, update, export without plaintext secrets, destroy", async () => {
        await pulumi(["stack", "init", "smoke"]);
        await pulumi(["config", "set", "seed", "21"]);
        await pulumi(["config", "set", "--secret", "token", SECRET]);
        const up = await pulumi(["up", "--yes", "--skip-preview"]);
        assert.match(up.stdout, /\+ 2 created/);
        const outs = JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
        assert.equal(outs.doubled, 42);
        assert.equal(outs.stack, "smoke");
        assert.equal(outs.token, SECRET);

        const raw = (await pulumi(["stack", "export"])).stdout;
        const shown = (await pulumi(["stack", "export", "--show-secrets"])).stdout;
        assert.ok(shown.includes(SECRET), "--show-secrets export should hold the secret");
        assert.ok(!raw.includes(SECRET), "plain export holds the secret in plaintext");

        const same = await pulumi(["preview", "--expect-no-changes"]);
        assert.match(same.stdout, /2 unchanged/);

        await pulumi(["config", "set", "seed", "5"]);
        const upd = await pulumi(["up", "--yes", "--skip-preview"]);
        assert.match(upd.stdout, /~ 1 updated/);
        assert.equal(JSON.parse((await pulumi(["stack", "output", "--json"])).stdout).doubled, 10);

        // A failing program fails the update and changes nothing.
        await pulumi(["config", "set", "fail", "yes"]);
        const failed = await pulumi(["up", "--yes", "--skip-preview"], true);
        assert.notEqual(failed.code, 0);
        assert.match(failed.stdout + failed.stderr, /deliberate program failure/);
        await pulumi(["config", "rm", "fail"]);

        const down = await pulumi(["destroy", "--yes", "--skip-preview"]);
        assert.match(down.stdout, /- 2 deleted/);
        await pulumi(["stack", "rm", "--yes"]);
    });

    it("the kubernetes provider plugin loads and answers", async () => {
        const have = engine.providers.split(/\s+/).some((p) => p.startsWith("kubernetes@"));
        assert.ok(have, `kubernetes provider not built: ${engine.missing}`);
        await pulumi(["stack", "init", "k8s"]);
        await pulumi(["config", "set", "seed", "1"]);
        await pulumi(["config", "set", "--secret", "token", SECRET]);
        await pulumi(["config", "set", "k8s", "yes"]);
        // A kubeconfig whose server is a closed loopback port: the provider must load and report it.
        const kc = path.join(dir, "kubeconfig");
        fs.writeFileSync(
            kc,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster: { server: 'https://127.0.0.1:9' }\n" +
                "contexts:\n- name: nowhere\n  context: { cluster: nowhere, user: nobody }\ncurrent-context: nowhere\nusers:\n- name: nobody\n  user: { token: x }\n",
        );
        await pulumi(["config", "set", "kubeconfig", fs.readFileSync(kc, "utf8")]);
        const pv = await pulumi(["preview"], true);
        const out = pv.stdout + pv.stderr;
        assert.doesNotMatch(out, /no resource plugin 'pulumi-resource-kubernetes' found/);
        assert.equal(pv.code, 0, out);
        // The provider checked the ConfigMap's inputs and planned it (the cluster is never reached in a preview).
        assert.match(out, /\+\s+kubernetes:core\/v1:ConfigMap\s+cm\s+create/);
        if (engine.substitutes.includes("kubernetes")) {
            // A stand-in provider version must be visible to whoever reads the output.
            assert.match(out, /resource plugin kubernetes is expected to have version >=\S+, but has/);
        }
        await pulumi(["stack", "rm", "--yes", "--force"], true);
    });
});
