// End-to-end tier: verified TLS from the program (issue 13) by real `pulumi up` (the locally built engine;
// @pulumi/tls's plugin is this repo's test-only stand-in, tools/toolchain/tls-standin) on the local
// clusters (KWOK pods: the certificates are checked, not a TLS session).
//
//   1. A set with tls.enabled (MariaDB, kosmos, certs-0 in cluster1, certs-1 in cluster2): the CA, the
//      certificates and the Secrets are created in every member cluster (none in cluster3); each Secret's
//      tls.crt verifies against its ca.crt with `openssl verify`, names exactly the cluster's dnsNames
//      (tlsDnsNames) and matches tls.key; `pulumi stack export` (no --show-secrets) holds no private key.
//   2. The same config again: no resource changes (nothing created, replaced, updated or deleted).
//   3. tls.enabled turned off: the `up` is refused, one line naming tls.enabled, and nothing changes.
// Run under `flock /tmp/mmc-k8s.lock` (it starts the clusters as the other e2e files do).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { CACHE, Engine, REPO, ensureEngine, inlineStack, plaintextSecrets, run, toolchainKubectl } from "./engine";
import { MysqlMultiCluster } from "../../components/mysqlMultiCluster";
import { parseStackConfig } from "../../components/config";
import { buildPlan } from "../../components/plan";
import { localVolumeName } from "../../components/naming";
import { tlsDnsNames } from "../../components/tlsCertificates";

const STACK = `e2e-tls-${process.pid}`;
const CLUSTERS_DIR = process.env.MMC_CLUSTERS_DIR ?? path.join(CACHE, "clusters");
const KUBECONFIG = path.join(CLUSTERS_DIR, "kubeconfig");
const CONTEXTS = { cluster1: "kosmos-cluster1", cluster2: "kosmos-cluster2", cluster3: "kosmos-cluster3" } as const;
type Cluster = keyof typeof CONTEXTS;
const NODES: Record<Cluster, string[]> = {
    cluster1: ["kosmoscluster1-1", "kosmoscluster1-2"],
    cluster2: ["kosmoscluster2-1", "kosmoscluster2-2"],
    cluster3: ["kosmoscluster3-1", "kosmoscluster3-2"],
};
const SET = "certs";
const NS = "mmc-tls";

let tlsEnabled = true;
const config = () => ({
    clusters: Object.fromEntries(
        (Object.keys(CONTEXTS) as Cluster[]).map((c) => [
            c,
            { context: CONTEXTS[c], clusterId: c, nodes: NODES[c], storage: { localPath: "/data/mysql", capacity: "15Gi" } },
        ]),
    ),
    placement: ["cluster1", "cluster2"],
    mysql: { name: SET, namespace: NS, engine: "mariadb", version: "10.11", storageSize: "10Gi" },
    mcs: { profile: "kosmos" },
    liveStatus: { read: false },
    tls: { enabled: tlsEnabled },
});
const program = async () => {
    const set = await MysqlMultiCluster.create(SET, { config: config(), stateOutput: `${SET}.migrationState` });
    return { [SET]: set.outputs };
};

let engine: Engine;
let kubectl: string;
let stack: Stack;
let backendDir: string;
let work: string;
const results: Record<string, unknown> = { startedAt: new Date().toISOString() };

function kube(context: string, args: string[], allowFailure = false, timeoutMs = 60_000) {
    return run(kubectl, ["--kubeconfig", KUBECONFIG, "--context", context, "--request-timeout=20s", ...args], { timeoutMs, allowFailure });
}
async function secret(c: Cluster, name: string): Promise<any | undefined> {
    const r = await kube(CONTEXTS[c], ["-n", NS, "get", "secret", name, "-o", "json", "--ignore-not-found"], true);
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}
const decoded = (s: any, key: string) => Buffer.from(s.data[key], "base64").toString("utf8");
function openssl(args: string[]): { code: number; out: string } {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    return { code: r.status ?? -1, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

async function up(label: string): Promise<string[]> {
    const t = Date.now();
    const ops: string[] = [];
    let log = "";
    try {
        await stack.up({
            onOutput: (s) => (log += s),
            onEvent: (ev) => {
                const md = ev.resOutputsEvent?.metadata;
                if (md && !["same", "read", "refresh"].includes(md.op) && !md.urn.includes("::pulumi:pulumi:Stack::")) ops.push(`${md.op} ${md.urn}`);
            },
        });
    } catch (e) {
        results[label] = { ok: false, seconds: (Date.now() - t) / 1000 };
        throw Object.assign(new Error(`${label}: up failed: ${(e as Error).message.slice(-3000)}\n${log.slice(-2000)}`, { cause: e }), { log });
    }
    results[label] = { ok: true, seconds: (Date.now() - t) / 1000, changes: ops.length };
    return ops;
}

async function cleanup() {
    for (const ctx of Object.values(CONTEXTS)) {
        await kube(ctx, ["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], true, 180_000);
        const pvs = Object.values(NODES)
            .flat()
            .map((n) => localVolumeName(SET, n));
        await kube(ctx, ["delete", "pv", ...pvs, "--ignore-not-found", "--wait=true", "--timeout=120s"], true, 180_000);
    }
}

/** What the clusters hold of the set's Secrets, ConfigMaps and StatefulSets: uid, and resourceVersion (StatefulSets: generation: status moves). */
async function snapshot(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [c, ctx] of Object.entries(CONTEXTS)) {
        const r = await kube(ctx, ["-n", NS, "get", "secrets,statefulsets,configmaps", "-o", "json"], true);
        for (const o of r.stdout.trim() ? JSON.parse(r.stdout).items : [])
            out[`${c} ${o.kind}/${o.metadata.name}`] =
                `${o.metadata.uid} ${o.kind === "StatefulSet" ? `generation ${o.metadata.generation}` : o.metadata.resourceVersion}`;
    }
    return out;
}

describe("verified TLS from the program: CA, certificates and Secrets by real pulumi up", { timeout: 3600 * 1000 }, () => {
    before(async () => {
        engine = ensureEngine();
        assert.ok(
            engine.providers.split(/\s+/).some((p) => p.startsWith("tls@")),
            `the tls plugin was not installed: ${engine.providers} / ${engine.missing}`,
        );
        kubectl = toolchainKubectl();
        const upClusters = await run("bash", [path.join(REPO, "tools", "clusters", "up.sh")], { cwd: REPO, timeoutMs: 15 * 60 * 1000 });
        assert.equal(upClusters.code, 0);
        await cleanup();
        work = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-e2e-tls-"));
        ({ stack, backendDir } = await inlineStack(engine, "tls", STACK, program, KUBECONFIG, kubectl));
    });

    after(async () => {
        try {
            if (stack) {
                tlsEnabled = true;
                results.destroy = await stack.destroy({ onOutput: () => {} }).then(
                    (r) => ({ ok: true, deleted: r.summary.resourceChanges?.delete ?? 0 }),
                    (e: Error) => ({ ok: false, error: e.message.slice(-1500) }),
                );
                await stack.workspace.removeStack(STACK, { force: true }).catch(() => {});
            }
            await cleanup();
        } finally {
            for (const d of [backendDir, work, stack?.workspace.workDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
            results.totalSeconds = (Date.now() - Date.parse(results.startedAt as string)) / 1000;
            fs.mkdirSync(path.join(REPO, "bench", "results"), { recursive: true });
            fs.writeFileSync(path.join(REPO, "bench", "results", "e2e-tls.json"), JSON.stringify(results, null, 2) + "\n");
        }
    });

    it("up creates the CA, a certificate per member cluster and the Secrets; each verifies against the CA and names its cluster's addresses", async () => {
        const ops = await up("first up");
        // (a child's URN type is its parents' types joined by `$`, then its own)
        const created = (t: string) => ops.filter((o) => o.startsWith("create ") && o.includes(`${t}::`)).length;
        assert.equal(created("tls:index/selfSignedCert:SelfSignedCert"), 1, ops.join("\n"));
        assert.equal(created("tls:index/privateKey:PrivateKey"), 3, "the CA's key and one per member cluster");
        assert.equal(created("tls:index/locallySignedCert:LocallySignedCert"), 2);
        const plan = buildPlan(parseStackConfig(config()));
        let ca: string | undefined;
        for (const c of ["cluster1", "cluster2"] as const) {
            const s = await secret(c, `${SET}-tls`);
            assert.ok(s, `${c}: Secret ${SET}-tls`);
            assert.equal(s.type, "kubernetes.io/tls");
            assert.deepEqual(Object.keys(s.data).sort(), ["ca.crt", "tls.crt", "tls.key"]);
            const dir = fs.mkdtempSync(path.join(work, `${c}-`));
            for (const k of ["ca.crt", "tls.crt", "tls.key"]) fs.writeFileSync(path.join(dir, k), decoded(s, k), { mode: 0o600 });
            const f = (k: string) => path.join(dir, k);
            // One CA per set: the same in every cluster.
            ca ??= decoded(s, "ca.crt");
            assert.equal(decoded(s, "ca.crt"), ca, `${c}: the set's one CA`);
            const verified = openssl(["verify", "-CAfile", f("ca.crt"), "-purpose", "sslserver", f("tls.crt")]);
            assert.equal(verified.code, 0, verified.out);
            assert.match(verified.out, /: OK/);
            assert.equal(openssl(["verify", "-CAfile", f("ca.crt"), "-purpose", "sslclient", f("tls.crt")]).code, 0, "a client certificate too");
            const san = openssl(["x509", "-in", f("tls.crt"), "-noout", "-ext", "subjectAltName"]).out;
            const names = [...san.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]).sort();
            assert.deepEqual(names, [...tlsDnsNames(plan, c)].sort(), `${c}: subjectAltName`);
            const host = openssl([
                "verify",
                "-CAfile",
                f("ca.crt"),
                "-verify_hostname",
                `${SET}-${c === "cluster1" ? 0 : 1}.${SET}.${NS}.svc.cluster.local`,
                f("tls.crt"),
            ]);
            assert.equal(host.code, 0, host.out);
            const other = openssl([
                "verify",
                "-CAfile",
                f("ca.crt"),
                "-verify_hostname",
                `${SET}-${c === "cluster1" ? 1 : 0}.${SET}.${NS}.svc.cluster.local`,
                f("tls.crt"),
            ]);
            assert.notEqual(other.code, 0, `${c}: the other cluster's pod name must not verify`);
            // The key is the certificate's.
            const pub = (args: string[]) => openssl(args).out.trim();
            assert.equal(
                pub(["pkey", "-in", f("tls.key"), "-pubout"]),
                pub(["x509", "-in", f("tls.crt"), "-noout", "-pubkey"]),
                `${c}: tls.key matches tls.crt`,
            );
            const caOnly = await secret(c, `${SET}-tls-ca`);
            assert.deepEqual(Object.keys(caOnly?.data ?? {}), ["ca.crt"], `${c}: the Jobs' Secret holds the CA alone`);
            assert.equal(decoded(caOnly, "ca.crt"), ca);
        }
        assert.equal(await secret("cluster3", `${SET}-tls`), undefined, "cluster3 runs no member: no certificate");
        assert.match(ca!, /BEGIN CERTIFICATE/);
        fs.writeFileSync(path.join(work, "ca.crt"), ca!);
        results.ca = openssl(["x509", "-in", path.join(work, "ca.crt"), "-noout", "-subject", "-enddate"]).out.trim();

        // The state as `pulumi stack export` shows it, without --show-secrets (the Automation API's
        // exportStack shows them): certificates in plaintext (public), no private key anywhere.
        const cli = await run(path.join(engine.bin, "pulumi"), ["stack", "export", "--stack", STACK, "--non-interactive"], {
            cwd: stack.workspace.workDir,
            timeoutMs: 120_000,
        });
        const deployment = JSON.parse(cli.stdout).deployment as { resources: { urn: string }[] };
        const exported = JSON.stringify(deployment);
        assert.ok(exported.includes("BEGIN CERTIFICATE"), "the certificates are in the state");
        const leaks = deployment.resources.filter((r) => /PRIVATE KEY/.test(JSON.stringify(r)));
        assert.deepEqual(
            leaks.map((r) => `${r.urn}: ${/.{300}PRIVATE KEY/.exec(JSON.stringify(r))?.[0]}`),
            [],
        );
        assert.doesNotMatch(exported, /PRIVATE KEY/);
        // ... while the keys are there, as secrets (what --show-secrets decrypts).
        const secrets = [...plaintextSecrets((await stack.exportStack()).deployment)];
        assert.ok(
            secrets.some((v) => v.includes("PRIVATE KEY")),
            "the keys are secrets in the state",
        );
        const key = decoded((await secret("cluster1", `${SET}-tls`))!, "tls.key");
        assert.ok(!exported.includes(key.split("\n")[1]), "the key's text is not in the state");
    });

    it("up again with the same config re-issues nothing, replaces nothing; a third changes nothing at all", async () => {
        const secrets = async () => Object.entries(await snapshot()).filter(([k]) => k.includes(" Secret/"));
        const before = await secrets();
        // The second up only leaves the first deployment: the topology files' MMC_BOOTSTRAP 1 -> 0.
        const second = await up("second up");
        assert.deepEqual(
            second.filter((o) => !/^update \S+kubernetes:core\/v1:ConfigMap::certs-cluster[123]-mysql-topology$/.test(o)),
            [],
        );
        assert.deepEqual(await secrets(), before, "no Secret changed");
        const snap = await snapshot();
        assert.deepEqual(await up("third up"), []);
        assert.deepEqual(await snapshot(), snap);
    });

    it("turning tls.enabled off on the running set is refused, one line naming tls.enabled; nothing changes", async () => {
        const before = await snapshot();
        // Out of process, as `pulumi up` runs a program (an inline program's refusal would also surface in
        // this process as an unhandled rejection): the same project, stack, backend and component.
        const prog = path.join(work, "prog");
        fs.mkdirSync(prog, { recursive: true });
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(prog, "node_modules"));
        fs.writeFileSync(path.join(prog, "Pulumi.yaml"), "name: mmc-tls\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
        fs.writeFileSync(path.join(prog, "package.json"), JSON.stringify({ name: "mmc-tls", main: "index.ts" }));
        fs.writeFileSync(
            path.join(prog, "tsconfig.json"),
            JSON.stringify({ compilerOptions: { strict: true, target: "es2020", module: "commonjs", moduleResolution: "node", esModuleInterop: true } }),
        );
        tlsEnabled = false;
        fs.writeFileSync(path.join(prog, "config.json"), JSON.stringify(config()));
        tlsEnabled = true;
        fs.writeFileSync(
            path.join(prog, "index.ts"),
            `import { MysqlMultiCluster } from ${JSON.stringify(path.join(REPO, "components", "mysqlMultiCluster"))};\n` +
                `const config = JSON.parse(require("fs").readFileSync(${JSON.stringify(path.join(prog, "config.json"))}, "utf8"));\n` +
                `export = MysqlMultiCluster.create(${JSON.stringify(SET)}, { config, stateOutput: "${SET}.migrationState" }).then((s) => ({ ${SET}: s.outputs }));\n`,
        );
        const t = Date.now();
        const off = await run(path.join(engine.bin, "pulumi"), ["up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive"], {
            cwd: prog,
            env: { ...process.env, PULUMI_NODEJS_TRANSPILE_ONLY: "true" },
            timeoutMs: 600_000,
            allowFailure: true,
        });
        results["tls off"] = { refused: off.code !== 0, seconds: (Date.now() - t) / 1000 };
        assert.notEqual(off.code, 0, "the up must fail");
        const err = off.stdout + off.stderr;
        assert.match(err, /mysql-multicluster:tls\.enabled: false changes the deployed true on a running set; [^\n]*Keep tls\.enabled: true/);
        assert.deepEqual(await snapshot(), before);
    });
});
