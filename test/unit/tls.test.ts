// Verified TLS from the program (issue 13): the set's CA and a certificate per member cluster with
// @pulumi/tls, the Secrets and mounts, the server config, the names each certificate lists, the config
// and the step's refusal. Offline: the TLS resources answer with fixed PEM text (tools/mocks.ts).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "child_process";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, PROJECT, parseStackConfig } from "../../components/config";
import { PATHS, TLS_CONTAINERS } from "../../components/contract";
import { deploy, judgeStep } from "../../components/deployment";
import { buildPlan } from "../../components/plan";
import { SCRIPTS_DIR } from "../../components/scripts";
import { tlsServerConfig } from "../../components/serverConfig";
import { DeployedState, TransitionError, deployedStateOf } from "../../components/step";
import { TLS_MODE } from "../../components/podSpec";
import { tlsDnsNames } from "../../components/tlsCertificates";
import { OFFLINE_PEM, recordingMocks } from "../../tools/mocks";
import { STACK_FILES, rawOf } from "../helpers/configs";
import { MockRun, objectsOf, runUnderMocks } from "../helpers/mockProgram";
import { restrictedViolations } from "../helpers/podSecurity";

const withTls = (raw: Record<string, any>, tls: Record<string, unknown> = { enabled: true }) => parseStackConfig({ ...raw, tls });
const phase = (i: number) => withTls(rawOf(STACK_FILES[i]));
const stateOf = (cfg: ReturnType<typeof parseStackConfig>) => deployedStateOf(buildPlan(cfg));

/** The TLS steps whose objects cover every container: the stacks/ walk, a failover Job, automatic failover's agent. */
async function tlsRuns(profile?: string): Promise<{ label: string; run: MockRun }[]> {
    const raw = (i: number) => ({ ...rawOf(STACK_FILES[i]), ...(profile ? { mcs: { profile } } : {}) });
    const runs: { label: string; run: MockRun }[] = [];
    for (let i = 0; i < STACK_FILES.length; i++) {
        const prev = i ? stateOf(withTls(raw(i - 1))) : undefined;
        runs.push({ label: path.basename(STACK_FILES[i]), run: await runUnderMocks(withTls(raw(i)), prev) });
    }
    runs.push({
        label: "failover (cluster1 lost)",
        run: await runUnderMocks(withTls({ ...raw(1), primary: 1, failover: { lost: ["cluster1"] } }), stateOf(withTls(raw(1)))),
    });
    runs.push({
        label: "automatic failover",
        run: await runUnderMocks(withTls({ ...raw(1), failover: { mode: "automatic", witnesses: ["cluster3"] } }), stateOf(withTls(raw(1)))),
    });
    return runs;
}
let kosmosRuns: Promise<{ label: string; run: MockRun }[]> | undefined;
const kosmosOnce = () => (kosmosRuns ??= tlsRuns());

/** Every pod spec of a run: `[cluster, "<Kind>/<name>", pod spec]`. */
function pods(run: MockRun): [string, string, any][] {
    const out: [string, string, any][] = [];
    for (const cluster of Object.keys(run.outputs.clusters))
        for (const [key, o] of objectsOf(run, cluster)) if (o.spec?.template?.spec) out.push([cluster, key, o.spec.template.spec]);
    return out;
}

/** The certificate request of each member cluster, by cluster (Pulumi name `tls-<cluster>-member`). */
function requests(run: MockRun): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const r of run.resources.filter((x) => x.type === "tls:index/certRequest:CertRequest")) {
        const cluster = /^tls-(.+)-member$/.exec(r.name)?.[1];
        assert.ok(cluster, `certificate request ${r.name} is named after its cluster`);
        m.set(cluster, r.inputs.dnsNames);
    }
    return m;
}

test("config: tls is validated, one line naming the key; defaults off; validityDays only with enabled", () => {
    const base = rawOf(STACK_FILES[0]);
    const refused: [string, unknown, RegExp][] = [
        ["enabled not a boolean", { enabled: "yes" }, /^mysql-multicluster:tls\.enabled: "yes": .*boolean/],
        ["validityDays 0", { enabled: true, validityDays: 0 }, /^mysql-multicluster:tls\.validityDays: 0: .*>=1/],
        ["validityDays above 3650", { enabled: true, validityDays: 3651 }, /^mysql-multicluster:tls\.validityDays: 3651: .*<=3650/],
        ["validityDays not an integer", { enabled: true, validityDays: 1.5 }, /^mysql-multicluster:tls\.validityDays: 1\.5: .*int/],
        ["unknown key", { enabled: true, enable: true }, /^mysql-multicluster:tls\.enable: unknown key; did you mean enabled\?$/],
        ["not an object", "on", /^mysql-multicluster:tls: "on": /],
        [
            "validityDays without enabled",
            { validityDays: 90 },
            /^mysql-multicluster:tls\.validityDays: 90: has no effect without tls\.enabled: true: set tls\.enabled: true, or remove tls\.validityDays$/,
        ],
    ];
    for (const [what, tls, want] of refused) {
        assert.throws(
            () => parseStackConfig({ ...base, tls }),
            (e: Error) => e instanceof ConfigError && want.test(e.message) && !e.message.includes("\n"),
            what,
        );
    }
    // `pulumi config set --path tls.enabled true` stores a string: accepted as the boolean.
    assert.deepEqual(buildPlan(parseStackConfig({ ...base, tls: { enabled: "true", validityDays: "90" } })).tls, { validityDays: 90 });
    assert.deepEqual(buildPlan(withTls(base)).tls, { validityDays: 825 });
    for (const off of [undefined, {}, { enabled: false }]) assert.equal(buildPlan(parseStackConfig({ ...base, tls: off })).tls, undefined);
    // no tls key: the deployed settings gain nothing (a state written before TLS existed compares equal)
    assert.deepEqual(
        Object.keys(buildPlan(parseStackConfig(base)).settings).filter((k) => k.startsWith("tls")),
        [],
    );
});

test("off: the same objects as without the key (no TLS resource, no mount, no MMC_TLS_DIR, the same server config)", async () => {
    const base = rawOf(STACK_FILES[1]);
    const render = async (tls: unknown) => {
        const run = await runUnderMocks(parseStackConfig(tls === undefined ? base : { ...base, tls }), stateOf(parseStackConfig(rawOf(STACK_FILES[0]))));
        return { run, objects: Object.keys(run.outputs.clusters).map((c) => [c, [...objectsOf(run, c)]]) };
    };
    const without = await render(undefined);
    assert.ok(!without.run.resources.some((r) => r.type.startsWith("tls:")));
    for (const tls of [{}, { enabled: false }]) {
        const off = await render(tls);
        assert.deepEqual(off.objects, without.objects, JSON.stringify(tls));
        assert.ok(!off.run.resources.some((r) => r.type.startsWith("tls:")), "no TLS resource");
        // (the scripts' ConfigMap ships the scripts, which read MMC_TLS_DIR when it is set)
        const rendered = JSON.stringify(off.objects.map(([c, os]) => [c, (os as [string, unknown][]).filter(([k]) => k !== "ConfigMap/mysql-scripts")]));
        assert.ok(!rendered.includes("MMC_TLS_DIR") && !rendered.includes(PATHS.tls) && !rendered.includes("mysql-tls"));
    }
});

test("on: one CA per set and one certificate per member cluster, named after the cluster; each member cluster's Secrets", async () => {
    const runs = await kosmosOnce();
    for (const { label, run } of runs) {
        const byType = (t: string) => run.resources.filter((r) => r.type === `tls:index/${t}`).map((r) => r.name);
        const members = [...new Set(run.deployment.plan.placement)];
        const lostViews = Object.keys(run.outputs.clusters).filter((c) => run.deployment.plan.lost.includes(c));
        const certified = [...new Set([...members, ...lostViews])].sort();
        assert.deepEqual(byType("selfSignedCert:SelfSignedCert"), ["tls-ca"], label);
        assert.deepEqual(byType("privateKey:PrivateKey").sort(), ["tls-ca", ...certified.map((c) => `tls-${c}-member`)].sort(), label);
        assert.deepEqual(byType("locallySignedCert:LocallySignedCert").sort(), certified.map((c) => `tls-${c}-member`).sort(), label);
        const ca = run.resources.find((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert")!.inputs;
        assert.equal(ca.isCaCertificate, true);
        assert.deepEqual(ca.allowedUses, ["cert_signing", "crl_signing", "digital_signature"]);
        const key = run.resources.find((r) => r.type === "tls:index/privateKey:PrivateKey")!.inputs;
        assert.deepEqual([key.algorithm, key.ecdsaCurve], ["ECDSA", "P256"]);
        for (const cert of run.resources.filter((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert")) {
            assert.equal(cert.inputs.validityPeriodHours, 825 * 24);
            assert.deepEqual(cert.inputs.allowedUses, ["digital_signature", "key_encipherment", "server_auth", "client_auth"]);
            assert.equal(cert.inputs.caCertPem, OFFLINE_PEM.certificate("tls-ca"), "signed by the set's CA");
        }
        for (const cluster of Object.keys(run.outputs.clusters)) {
            const o = objectsOf(run, cluster);
            const secret = o.get("Secret/mysql-tls");
            const caOnly = o.get("Secret/mysql-tls-ca");
            if (!certified.includes(cluster)) {
                assert.ok(!secret && !caOnly, `${label}: ${cluster} runs no member: no certificate Secret`);
                continue;
            }
            assert.equal(secret?.type, "kubernetes.io/tls", `${label}: ${cluster}`);
            assert.deepEqual(Object.keys(secret.stringData).sort(), ["ca.crt", "tls.crt", "tls.key"]);
            assert.equal(secret.stringData["tls.key"], OFFLINE_PEM.privateKey);
            assert.equal(secret.stringData["tls.crt"], OFFLINE_PEM.certificate(`tls-${cluster}-member`));
            assert.equal(secret.stringData["ca.crt"], OFFLINE_PEM.certificate("tls-ca"));
            assert.deepEqual(caOnly?.stringData, { "ca.crt": OFFLINE_PEM.certificate("tls-ca") }, `${label}: ${cluster}: the CA alone`);
        }
    }
    // One URN per cluster whatever the phase: the names above are the cluster's, never the step's.
});

test("on: every container that speaks TLS mounts its Secret read-only and has MMC_TLS_DIR; the others neither", async () => {
    const seen = new Set<string>();
    for (const { label, run } of await kosmosOnce()) {
        for (const [cluster, key, spec] of pods(run)) {
            const vol = (spec.volumes ?? []).find((v: any) => v.name === "tls");
            for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
                const at = `${label} ${cluster} ${key} container ${c.name}`;
                const env = (c.env ?? []).filter((e: any) => e.name === "MMC_TLS_DIR");
                const mount = (c.volumeMounts ?? []).filter((m: any) => m.name === "tls");
                const kind = (TLS_CONTAINERS as Record<string, string>)[c.name];
                if (key.startsWith("Job/mysql-retire") || c.name === "labels" || key.startsWith("StatefulSet/mysql-arbiter")) {
                    assert.deepEqual([env, mount], [[], []], `${at}: no TLS (no SQL)`);
                    continue;
                }
                assert.ok(kind, `${at}: a container TLS_CONTAINERS does not know`);
                seen.add(c.name);
                assert.deepEqual(env, [{ name: "MMC_TLS_DIR", value: PATHS.tls }], at);
                assert.deepEqual(mount, [{ name: "tls", mountPath: PATHS.tls, readOnly: true }], at);
                assert.deepEqual(vol, { name: "tls", secret: { secretName: kind === "ca" ? "mysql-tls-ca" : "mysql-tls", defaultMode: TLS_MODE } }, at);
            }
            // read by the server's group (fsGroup), never writable
            if (vol) assert.equal(spec.securityContext.fsGroup, 999);
            assert.deepEqual(restrictedViolations(spec), [], `${label} ${cluster} ${key}: Pod Security restricted`);
        }
    }
    assert.equal(TLS_MODE, 0o440);
    assert.deepEqual([...seen].sort(), Object.keys(TLS_CONTAINERS).sort(), "every TLS container was rendered");
});

test("script inputs: each container with MMC_TLS_DIR mounts the files its scripts require there (lib-env.sh mmc_tls_files_of)", async () => {
    // container -> the entry scripts it runs (command and probes), as mmc_validate's roles
    const roles: Record<keyof typeof TLS_CONTAINERS, string[]> = {
        init: ["init"],
        mysql: ["run", "probe"],
        replicate: ["replicate"],
        donor: ["donor"],
        "failover-agent": ["autofailover"],
        switchover: ["switchover"],
        failover: ["failover"],
    };
    const filesOf = (role: string) =>
        execFileSync("bash", ["-c", `source "$1/lib-env.sh" && mmc_tls_files_of "$2"`, "-", SCRIPTS_DIR, role], { encoding: "utf8" })
            .trim()
            .split(/\s+/)
            .sort();
    const held = { member: ["ca.crt", "tls.crt", "tls.key"], ca: ["ca.crt"] };
    for (const [container, kind] of Object.entries(TLS_CONTAINERS)) {
        for (const role of roles[container as keyof typeof TLS_CONTAINERS]) {
            const need = filesOf(role);
            assert.ok(
                need.every((f) => held[kind].includes(f)),
                `${container} runs ${role}, which needs ${need.join(" ")}; its Secret holds ${held[kind].join(" ")}`,
            );
        }
    }
    // the Jobs hold the CA alone: a member's key never reaches a Job
    assert.deepEqual(filesOf("switchover"), ["ca.crt"]);
    assert.deepEqual(filesOf("replicate"), ["ca.crt", "tls.crt", "tls.key"]);
});

test("on: the server config carries tlsServerConfig for the mounted directory; the scripts write the same lines", async () => {
    const [{ run }] = await kosmosOnce();
    const conf = objectsOf(run, "cluster1").get("ConfigMap/mysql-config")!.data["my.cnf"];
    assert.ok(conf.endsWith(tlsServerConfig("mariadb", PATHS.tls)), conf);
    assert.match(conf, /^require_secure_transport = ON$/m);
    assert.match(conf, /^ssl_key = \/etc\/mysql-multicluster\/tls\/tls\.key$/m);
});

/**
 * The names a container of cluster `from` dials, each with the cluster whose member answers it: the
 * topology file's peers, donors and write name, and the Jobs' hosts. The write name reaches the primary.
 */
function dialled(run: MockRun): { host: string; cluster: string; where: string }[] {
    const plan = run.deployment.plan;
    const out: { host: string; cluster: string; where: string }[] = [];
    const target = (host: string) => {
        const pod = new RegExp(`^${plan.set}-([0-9]+)\\.`).exec(host);
        if (pod) return plan.placement[Number(pod[1])];
        assert.match(host, new RegExp(`^(amcs-)?${plan.set}-write\\.`), `a name the test does not know: ${host}`);
        return plan.primaryCluster;
    };
    for (const cluster of Object.keys(run.outputs.clusters)) {
        for (const [key, o] of objectsOf(run, cluster)) {
            const topo = o.data?.["topology.env"];
            const lines: string[] = [];
            if (topo) lines.push(...String(topo).split("\n"));
            for (const c of o.spec?.template?.spec?.containers ?? [])
                for (const e of c.env ?? []) if (e.value !== undefined) lines.push(`${e.name}='${e.value}'`);
            for (const line of lines) {
                const m = /^(MMC_WRITE_HOST|MMC_PEERS|MMC_DONORS|MMC_[A-Z_]*HOSTS?|MMC_SOURCE_FOR)='(.*)'$/.exec(line);
                if (!m) continue;
                for (const word of m[2].split(" ").filter(Boolean)) {
                    // `ordinal=host` (peers) or `host=host` (the source each member points at)
                    const hosts = word.split("=").filter((h) => !/^[0-9]+$/.test(h));
                    for (const h of hosts) out.push({ host: h, cluster: target(h), where: `${cluster} ${key} ${m[1]}` });
                }
            }
        }
    }
    return out;
}

for (const profile of ["kosmos", "mcs-api", "ack-one"]) {
    test(`certificate names (${profile}): every name any member or Job dials is in the certificate of the cluster that answers it, every phase`, async () => {
        const runs = profile === "kosmos" ? await kosmosOnce() : await tlsRuns(profile);
        let checked = 0;
        for (const { label, run } of runs) {
            const names = requests(run);
            for (const d of dialled(run)) {
                if (run.deployment.plan.lost.includes(d.cluster)) continue;
                assert.ok(names.get(d.cluster)?.includes(d.host), `${label}: ${d.where} dials ${d.host}, which ${d.cluster}'s certificate does not name`);
                checked++;
            }
            // the computed list is what was requested: the pure function is the one source
            for (const [cluster, dns] of names)
                if (!run.deployment.plan.lost.includes(cluster)) assert.deepEqual(dns, tlsDnsNames(run.deployment.plan, cluster));
        }
        assert.ok(checked > 50, `${checked} dialled names checked`);
    });
}

test("tlsDnsNames: the cluster's pods (short, FQDN, cross-cluster) and the write and read Services, per profile", () => {
    const raw = rawOf(STACK_FILES[4]); // stacks/05: mysql-1 primary in cluster2, mysql-2 replica... (see the file)
    const names = (profile: string, cluster: string) => tlsDnsNames(buildPlan(parseStackConfig({ ...raw, mcs: { profile } })), cluster);
    const plan = buildPlan(parseStackConfig(raw));
    const inCluster = (c: string) => plan.placement.flatMap((p, o) => (p === c ? [o] : []));
    const c = plan.placement[plan.placement.length - 1];
    const pod = `mysql-${inCluster(c)[0]}`;
    const svc = (role: string) => [`mysql-${role}`, `mysql-${role}.mysql`, `mysql-${role}.mysql.svc`, `mysql-${role}.mysql.svc.cluster.local`];
    const podNames = [`${pod}.mysql`, `${pod}.mysql.mysql`, `${pod}.mysql.mysql.svc`, `${pod}.mysql.mysql.svc.cluster.local`];
    const kosmos = names("kosmos", c);
    for (const n of [...podNames, ...svc("write"), ...svc("read")]) assert.ok(kosmos.includes(n), `kosmos ${n}`);
    assert.ok(names("mcs-api", c).includes(`${pod}.${c}.mysql.mysql.svc.clusterset.local`));
    assert.ok(names("mcs-api", c).includes("mysql-write.mysql.svc.clusterset.local"));
    assert.ok(names("ack-one", c).includes(`${pod}.amcs-mysql.mysql.svc.cluster.local`));
    assert.ok(names("ack-one", c).includes("amcs-mysql-read.mysql.svc.cluster.local"));
    // only this cluster's pods, no duplicates, no empty cluster's names
    const other = plan.placement.flatMap((p, o) => (p !== c ? [o] : []));
    for (const o of other) assert.ok(!kosmos.some((n) => n.startsWith(`mysql-${o}.`)), `mysql-${o} runs elsewhere`);
    assert.equal(new Set(kosmos).size, kosmos.length);
});

test("no private key in any rendered object but the certificate Secret, nor in the outputs; the key reaches it as a secret", async () => {
    for (const { label, run } of await kosmosOnce()) {
        for (const cluster of Object.keys(run.outputs.clusters)) {
            for (const [key, o] of objectsOf(run, cluster)) {
                if (key === "Secret/mysql-tls") continue;
                assert.doesNotMatch(JSON.stringify(o), /PRIVATE KEY|offline-mock-key/, `${label} ${cluster} ${key}`);
            }
        }
        assert.doesNotMatch(JSON.stringify(run.outputs), /PRIVATE KEY/, `${label}: outputs`);
    }
    // The Secret's key, as the program hands it to the provider: a secret value (encrypted in state).
    const raw: Record<string, any>[] = [];
    const { mocks } = recordingMocks((args) => {
        if (args.type === "kubernetes:core/v1:Secret" && args.inputs.type === "kubernetes.io/tls") raw.push(args.inputs.stringData);
        return undefined;
    });
    await pulumi.runtime.setMocks(mocks, PROJECT, "test", false, "organization");
    const d = deploy(phase(1), stateOf(phase(0)));
    await new Promise((r) => d.outputs.migrationState.apply(r));
    await pulumi.runtime.disconnect();
    assert.equal(raw.length, 2, "cluster1 and cluster2");
    // (the runtime's wire form of a secret: { <sig>: <secret sig>, value }; a secret key makes the whole map one)
    const SIG = "4dabf18193072939515e22adb298388d";
    for (const data of raw) assert.ok(data[SIG] !== undefined && data.value["tls.key"] === OFFLINE_PEM.privateKey, "stringData is sent as a secret");
});

test("step: turning tls.enabled on or off on a running set is refused, one line naming the key; keeping it is accepted", () => {
    const off = parseStackConfig(rawOf(STACK_FILES[1]));
    const on = withTls(rawOf(STACK_FILES[1]));
    const refuses = (prev: DeployedState, next: typeof off, want: RegExp) =>
        assert.throws(
            () => judgeStep(next, prev),
            (e: Error) => e instanceof TransitionError && want.test(e.message) && !e.message.includes("\n"),
        );
    refuses(
        stateOf(off),
        on,
        /^mysql-multicluster:tls\.enabled: true changes the deployed false on a running set; .*unable to replicate.*Keep tls\.enabled: false; for TLS deploy a new set/,
    );
    refuses(stateOf(on), off, /^mysql-multicluster:tls\.enabled: false changes the deployed true on a running set; .*Keep tls\.enabled: true/);
    // a state written before the key existed ran without TLS
    const legacy = stateOf(off);
    delete (legacy as { settings?: unknown }).settings;
    refuses(legacy, on, /^mysql-multicluster:tls\.enabled: true changes the deployed false/);
    // kept: accepted, as is an explicit false against a state without the key, and a first deployment with TLS
    assert.equal(judgeStep(on, stateOf(on)).step.kind, judgeStep(off, stateOf(off)).step.kind);
    judgeStep(parseStackConfig({ ...rawOf(STACK_FILES[1]), tls: { enabled: false } }), stateOf(off));
    judgeStep(on, undefined);
    // validityDays: in place (re-issued certificates; no rolling restart is planned)
    const longer = withTls(rawOf(STACK_FILES[1]), { enabled: true, validityDays: 400 });
    const step = judgeStep(longer, stateOf(on)).step;
    assert.equal(step.kind, "config");
    assert.deepEqual(step.partitions, {});
});
