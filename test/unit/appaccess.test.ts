import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { ConfigError, PROJECT, parseStackConfig } from "../../components/config";
import { deploy } from "../../components/deployment";
import { APP_SECRET_KEY } from "../../components/contract";
import { Credentials } from "../../components/credentials";
import { OFFLINE_SECRET, clustersByProvider, kubernetesObjects, recordingMocks } from "../../tools/mocks";
import { ROOT, STACK_FILES, baseRaw, rawOf } from "../helpers/configs";

const withApp = (raw: Record<string, any>, app: unknown): Record<string, any> => ({ ...raw, mysql: { ...raw.mysql, application: app } });
const refusal = (raw: Record<string, any>) => {
    try {
        parseStackConfig(raw);
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        assert.ok(!e.message.includes("\n"), "one line");
        return e.message;
    }
    assert.fail("accepted");
};

test("mysql.application: identifier syntax, per-engine length and reserved names are refused naming key and value", () => {
    const cases: [string, Record<string, any>, RegExp][] = [
        [
            "upper case",
            withApp(baseRaw(), { database: "Orders", user: "app" }),
            /^mysql-multicluster:mysql\.application\.database: "Orders": is not an identifier/,
        ],
        ["quote", withApp(baseRaw(), { database: "orders", user: "app'x" }), /^mysql-multicluster:mysql\.application\.user: "app'x": is not an identifier/],
        ["digit first", withApp(baseRaw(), { database: "1db", user: "app" }), /^mysql-multicluster:mysql\.application\.database: "1db": is not an identifier/],
        ["root", withApp(baseRaw(), { database: "orders", user: "root" }), /^mysql-multicluster:mysql\.application\.user: "root": is reserved/],
        ["repl", withApp(baseRaw(), { database: "orders", user: "repl" }), /^mysql-multicluster:mysql\.application\.user: "repl": is reserved/],
        ["mmc_admin", withApp(baseRaw(), { database: "orders", user: "mmc_admin" }), /^mysql-multicluster:mysql\.application\.user: "mmc_admin": is reserved/],
        ["mysql db", withApp(baseRaw(), { database: "mysql", user: "app" }), /^mysql-multicluster:mysql\.application\.database: "mysql": is reserved/],
        ["mmc db", withApp(baseRaw(), { database: "mmc", user: "app" }), /^mysql-multicluster:mysql\.application\.database: "mmc": is reserved/],
        [
            "mysql user of 33",
            {
                ...withApp(baseRaw(), { database: "orders", user: "u".repeat(33) }),
                mysql: { engine: "mysql", application: { database: "orders", user: "u".repeat(33) } },
            },
            /^mysql-multicluster:mysql\.application\.user: "u{33}": is 33 characters; mysql allows at most 32 in a user name$/,
        ],
        [
            "database of 65",
            withApp(baseRaw(), { database: "d".repeat(65), user: "app" }),
            /^mysql-multicluster:mysql\.application\.database: "d{65}": is 65 characters; at most 64/,
        ],
        ["missing user", withApp(baseRaw(), { database: "orders" }), /^mysql-multicluster:mysql\.application\.user: is required/],
        [
            "unknown key",
            withApp(baseRaw(), { database: "orders", user: "app", password: "x" }),
            /^mysql-multicluster:mysql\.application\.password: unknown key/,
        ],
    ];
    for (const [name, raw, want] of cases) assert.match(refusal(raw), want, name);
    // MariaDB allows longer user names than MySQL
    assert.equal(parseStackConfig(withApp(baseRaw(), { database: "orders", user: "u".repeat(33) })).mysql.application?.user.length, 33);
});

/** The program under mocks, keeping each resource's inputs as the runtime sent them (secrets still wrapped). */
async function run(raw: Record<string, any>) {
    const cfg = parseStackConfig(raw);
    const { mocks, resources } = recordingMocks();
    const wrapped = new Map<string, any>();
    const recording: pulumi.runtime.Mocks = {
        newResource: (args) => {
            wrapped.set(args.name, args.inputs);
            return mocks.newResource(args);
        },
        call: mocks.call,
    };
    await pulumi.runtime.setMocks(recording, PROJECT, "test", false, "organization");
    const d = deploy(cfg);
    const clusters = await new Promise<any>((r) => pulumi.output(d.outputs.clusters).apply(r));
    await new Promise<void>((r) => pulumi.output(d.outputs.migrationState).apply(() => r()));
    await pulumi.runtime.disconnect();
    const objects = kubernetesObjects(resources, clustersByProvider(clusters));
    return { objects, wrapped, clusters };
}
const isSecret = (v: any) => v !== null && typeof v === "object" && "4dabf18193072939515e22adb298388d" in v;

test("a connection Secret in every cluster that runs pods or consumes the set, with that cluster's hosts; the password a secret", async () => {
    // stacks/02: cluster1 runs the primary, cluster2 the replica; cluster3 runs nothing and is made a consumer
    const raw = withApp(rawOf(STACK_FILES[1]), { database: "orders", user: "orders_app" });
    raw.mcs = { ...raw.mcs, consumers: ["cluster3"] };
    const { objects, wrapped } = await run(raw);
    const secrets = objects.filter((o) => o.object.kind === "Secret" && o.object.metadata.name === "mysql-app");
    assert.deepEqual(secrets.map((s) => s.cluster).sort(), ["cluster1", "cluster2", "cluster3"]);
    const by = Object.fromEntries(secrets.map((s) => [s.cluster, s.object.stringData]));
    assert.deepEqual(Object.keys(by.cluster1).sort(), ["database", "host", "password", "port", "read-host", "user"]);
    assert.equal(by.cluster1.host, "mysql-write.mysql.svc.cluster.local");
    assert.equal(by.cluster1["read-host"], "mysql-read.mysql.svc.cluster.local");
    // kosmos: an imported Service keeps its name; the hosts are what each cluster's topology says
    for (const c of ["cluster2", "cluster3"]) {
        const topo = objects.find((o) => o.cluster === c && o.object.kind === "ConfigMap" && o.object.metadata.name === "mysql-topology")!;
        assert.match(topo.object.data["topology.env"], new RegExp(`^MMC_WRITE_HOST='${by[c].host.replace(/\./g, "\\.")}'$`, "m"), c);
    }
    for (const s of Object.values(by)) {
        assert.equal(s.port, "3306");
        assert.equal(s.user, "orders_app");
        assert.equal(s.database, "orders");
        assert.equal(s.password, OFFLINE_SECRET);
    }
    // the password is a secret wherever it is an input (the runtime sends the whole stringData as one secret)
    for (const c of ["cluster1", "cluster2", "cluster3"]) {
        assert.ok(isSecret(wrapped.get(`${c}-app`).stringData), `${c}-app: stringData is not a secret`);
        assert.ok(isSecret(wrapped.get(`${c}-mysql-credentials`).stringData), `${c}-mysql-credentials: stringData is not a secret`);
    }
    // only the containers that create or reconcile the account get its password; every member gets the names
    const sts = objects.find((o) => o.cluster === "cluster1" && o.object.kind === "StatefulSet")!.object.spec.template.spec;
    for (const ctr of [...sts.initContainers, ...sts.containers]) {
        const env = Object.fromEntries((ctr.env ?? []).map((e: any) => [e.name, e]));
        const has = "MMC_APP_PASSWORD" in env;
        assert.equal(has, ["init", "mysql", "replicate"].includes(ctr.name), `${ctr.name}: MMC_APP_PASSWORD`);
        if (has) assert.deepEqual(env.MMC_APP_PASSWORD.valueFrom.secretKeyRef, { name: "mysql-credentials", key: APP_SECRET_KEY });
        // the pod-labels proxy (kubectl proxy) runs no script of the set: no env at all
        if (ctr.name === "labels") {
            assert.deepEqual(env, {}, "labels: no env");
            continue;
        }
        assert.equal(env.MMC_APP_USER.value, "orders_app");
        assert.equal(env.MMC_APP_DATABASE.value, "orders");
    }
});

test("without mysql.application: no connection Secret, no application password, no application env", async () => {
    const { objects, wrapped } = await run(rawOf(STACK_FILES[1]));
    assert.deepEqual(
        objects.filter((o) => o.object.kind === "Secret").map((o) => o.object.metadata.name),
        Array(3).fill("mysql-credentials"),
    );
    assert.ok(![...wrapped.keys()].some((k) => k.includes("application")), "a RandomPassword for the application");
    for (const o of objects.filter((x) => x.object.kind === "StatefulSet" || x.object.kind === "Secret")) {
        const text = JSON.stringify(o.object.spec?.template ?? o.object.stringData);
        assert.ok(!text.includes("MMC_APP_") && !text.includes(APP_SECRET_KEY), `${o.cluster} ${o.object.kind}`);
    }
});

test("a cluster that neither runs pods nor consumes the set gets no connection Secret", async () => {
    const { objects } = await run(withApp(rawOf(STACK_FILES[0]), { database: "orders", user: "app" }));
    const where = objects.filter((o) => o.object.kind === "Secret" && o.object.metadata.name === "mysql-app").map((o) => o.cluster);
    assert.deepEqual(where, ["cluster1"]);
});

test("the renderer writes the connection Secret with every value redacted", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-app-render-"));
    const doc = YAML.parse(fs.readFileSync(STACK_FILES[1], "utf8"));
    doc.config["mysql-multicluster:mysql"] = { ...doc.config["mysql-multicluster:mysql"], application: { database: "orders", user: "orders_app" } };
    const file = path.join(tmp, "Pulumi.app.yaml");
    fs.writeFileSync(file, YAML.stringify(doc));
    const out = path.join(tmp, "out");
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "tools/render.ts"), "--config", file, "--out", out, "--quiet"], {
        cwd: ROOT,
        encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    for (const c of ["cluster1", "cluster2"]) {
        const s = YAML.parse(fs.readFileSync(path.join(out, c, "secret-mysql-app.yaml"), "utf8"));
        assert.deepEqual(Object.keys(s.stringData).sort(), ["database", "host", "password", "port", "read-host", "user"]);
        for (const v of Object.values(s.stringData)) assert.equal(v, OFFLINE_SECRET);
    }
    assert.ok(!fs.existsSync(path.join(out, "cluster3", "secret-mysql-app.yaml")));
});

test("the application's password is a generated secret output, only when asked for", async () => {
    const { mocks } = recordingMocks();
    await pulumi.runtime.setMocks(mocks, PROJECT, "test", false, "organization");
    const withPw = new Credentials("with", { application: true });
    const without = new Credentials("without", {});
    assert.equal(await (withPw.appPassword as unknown as { isSecret: Promise<boolean> }).isSecret, true);
    assert.equal(without.appPassword, undefined);
    await pulumi.runtime.disconnect();
});
