// Least privilege in every pod the program renders (issue 13): Pod Security "restricted", read-only
// root filesystems, no service-account token unless used, each container only the passwords its
// scripts use, the retire Role limited to named claims, the NetworkPolicy and the image warnings.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { parseStackConfig } from "../../components/config";
import { CONTAINER_SECRETS, MYSQL_UID, PATHS } from "../../components/contract";
import { buildPlan } from "../../components/plan";
import { SCRIPTS_DIR } from "../../components/scripts";
import { deployedStateOf } from "../../components/step";
import { retireRules } from "../../components/retire";
import { ANY_ADDRESS, imagePinned, networkPolicySpec, policyWarnings } from "../../components/networkPolicy";
import { STACK_FILES, baseRaw, rawOf } from "../helpers/configs";
import { MockRun, objectsOf, runUnderMocks } from "../helpers/mockProgram";
import { declaredInputs } from "../helpers/scriptInputs";
import { restrictedViolations } from "../helpers/podSecurity";

const phase = (i: number) => parseStackConfig(rawOf(STACK_FILES[i]));

/** Every phase of the walk-through run after the one before it (so the switchover and retire Jobs are declared). */
async function walk(): Promise<MockRun[]> {
    const runs: MockRun[] = [];
    for (let i = 0; i < STACK_FILES.length; i++) runs.push(await runUnderMocks(phase(i), i ? deployedStateOf(buildPlan(phase(i - 1))) : undefined));
    return runs;
}
let walked: Promise<MockRun[]> | undefined;
const walkOnce = () => (walked ??= walk());

/** Every pod template of a run: `[cluster, "<Kind>/<name>", pod spec]`. */
function podTemplates(run: MockRun): [string, string, any][] {
    const out: [string, string, any][] = [];
    for (const cluster of Object.keys(run.outputs.clusters)) {
        for (const [key, o] of objectsOf(run, cluster)) if (o.spec?.template?.spec) out.push([cluster, key, o.spec.template.spec]);
    }
    return out;
}

test("the restricted checker fails on what it checks (a root, privileged, hostPath pod)", () => {
    const bad = {
        hostNetwork: true,
        volumes: [{ name: "h", hostPath: { path: "/" } }],
        containers: [{ name: "c", securityContext: { privileged: true, capabilities: { add: ["SYS_ADMIN"] } }, ports: [{ hostPort: 80 }] }],
    };
    const v = restrictedViolations(bad);
    for (const want of [
        "hostNetwork",
        "hostPath",
        "privileged",
        "allowPrivilegeEscalation",
        "drop ALL",
        "SYS_ADMIN",
        "runAsNonRoot",
        "seccompProfile",
        "hostPort",
        "writable",
    ])
        assert.ok(
            v.some((x) => x.includes(want)),
            `${want} not reported: ${v.join("; ")}`,
        );
});

test("every pod of every phase (StatefulSets, switchover and retire Jobs) meets Pod Security restricted, read-only root filesystem", async () => {
    const seen = new Set<string>();
    for (const run of await walkOnce()) {
        for (const [cluster, key, spec] of podTemplates(run)) {
            seen.add(key.split("/")[0] + "/" + (key.includes("switchover") ? "switchover" : key.split("/")[1]));
            assert.deepEqual(restrictedViolations(spec), [], `${cluster} ${key}`);
        }
    }
    assert.deepEqual([...seen].sort(), ["Job/mysql-retire", "Job/switchover", "StatefulSet/mysql"]);
});

test("database pods run as the images' mysql uid with fsGroup OnRootMismatch; every writable path is a volume; no token", async () => {
    const [first] = await walkOnce();
    const spec = objectsOf(first, "cluster1").get("StatefulSet/mysql")!.spec.template.spec;
    assert.deepEqual(spec.securityContext, {
        runAsNonRoot: true,
        runAsUser: MYSQL_UID,
        runAsGroup: MYSQL_UID,
        fsGroup: MYSQL_UID,
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
    });
    assert.equal(spec.automountServiceAccountToken, false);
    const volumes = new Map<string, any>(spec.volumes.map((v: any) => [v.name, v]));
    // The "labels" container (kubectl proxy) mounts only its token and a tmp: test/unit/podLabels.test.ts.
    for (const c of [...spec.initContainers, ...spec.containers.filter((x: any) => x.name !== "labels")]) {
        const mounts = new Map<string, any>(c.volumeMounts.map((m: any) => [m.mountPath, m]));
        // What the scripts and the server write: the datadir (claim), the generated config, socket and pid, temporary files.
        for (const p of [PATHS.data, PATHS.conf, PATHS.run, PATHS.tmp]) assert.ok(mounts.has(p) && !mounts.get(p).readOnly, `${c.name}: ${p} writable`);
        // What the server must never change: scripts, base config, topology (ConfigMaps, read-only, root-owned).
        for (const p of [PATHS.scripts, PATHS.baseConf, PATHS.topology]) {
            const m = mounts.get(p);
            assert.equal(m?.readOnly, true, `${c.name}: ${p} read-only`);
            const vol = volumes.get(m.name);
            assert.ok(vol.configMap, `${p} is a ConfigMap`);
            assert.equal(vol.configMap.defaultMode & 0o222, 0, `${p}: no write bit in mode ${vol.configMap.defaultMode.toString(8)}`);
        }
    }
    for (const n of ["conf", "run", "tmp"]) assert.deepEqual(volumes.get(n), { name: n, emptyDir: {} });
});

/** The scripts a container runs: its command, its probes, and what those start (`bash "$MMC_DIR/x.sh"`). */
function scriptsRun(c: any): string[] {
    const text = (s: string) => fs.readFileSync(path.join(SCRIPTS_DIR, `${s}.sh`), "utf8");
    const todo = [c.command, c.readinessProbe?.exec?.command, c.livenessProbe?.exec?.command, c.startupProbe?.exec?.command]
        .map((cmd) => (cmd ?? []).join(" ").match(/\/([a-z]+)\.sh\b/)?.[1])
        .filter((s): s is string => !!s);
    const seen = new Set<string>();
    while (todo.length) {
        const s = todo.pop()!;
        if (seen.has(s)) continue;
        seen.add(s);
        for (const m of text(s).matchAll(/\$MMC_DIR\/([a-z]+)\.sh/g)) todo.push(m[1]);
    }
    return [...seen].sort();
}

test("each container gets exactly the passwords its scripts (and the scripts they start) declare; the switchover Job never root's", async () => {
    const runs = await walkOnce();
    const checked = new Set<string>();
    for (const run of runs) {
        for (const [cluster, key, spec] of podTemplates(run)) {
            for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
                const scripts = scriptsRun(c);
                if (!scripts.length) continue;
                const want = new Set(scripts.flatMap((s) => declaredInputs(SCRIPTS_DIR, s)).filter((n) => n.endsWith("_PASSWORD")));
                const got = (c.env ?? []).filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.name);
                assert.deepEqual([...got].sort(), [...want].sort(), `${cluster} ${key} container ${c.name} (runs ${scripts.join(", ")})`);
                assert.equal(got.length, (CONTAINER_SECRETS as Record<string, readonly string[]>)[c.name].length, `${c.name}: CONTAINER_SECRETS`);
                checked.add(c.name);
            }
        }
    }
    assert.deepEqual([...checked].sort(), ["donor", "init", "mysql", "replicate", "switchover"]);
    const job = objectsOf(runs[2], "cluster2").get("Job/mysql-switchover-0-to-1")!.spec.template.spec;
    const names = job.containers[0].env.map((e: any) => e.name);
    assert.ok(!names.includes("MMC_ROOT_PASSWORD") && !names.includes("MMC_SEED_PASSWORD"), names.join(" "));
    assert.equal(job.automountServiceAccountToken, false);
});

test("the retire Job deletes exactly the claims it names, and its Role allows exactly those", async () => {
    const runs = await walkOnce();
    const o = objectsOf(runs[5], "cluster1");
    const job = o.get("Job/mysql-retire")!.spec.template.spec;
    const named = job.containers[0].command.filter((a: string) => a.startsWith("data-"));
    assert.deepEqual(named, ["data-mysql-0", "data-mysql-1"]);
    assert.ok(!job.containers[0].command.some((a: string) => a.startsWith("--selector") || a === "--all"), job.containers[0].command.join(" "));
    const rules = o.get("Role/mysql-retire")!.rules;
    assert.deepEqual(rules, [{ apiGroups: [""], resources: ["persistentvolumeclaims"], resourceNames: named, verbs: ["get", "list", "watch", "delete"] }]);
    assert.equal(job.automountServiceAccountToken, true, "the one pod that uses its token");
    assert.notEqual(job.securityContext.runAsUser, 0);
    // An empty resourceNames would allow every claim: refused.
    assert.throws(() => retireRules("mysql", []), /no claim/);
});

const multi = (extra: (r: any) => void = () => {}) => {
    const r = baseRaw();
    r.placement = ["a", "b"];
    extra(r);
    return buildPlan(parseStackConfig(r));
};
const ports = (rule: any) => rule.ports.map((p: any) => p.port);

test("NetworkPolicy, one cluster: members and the switchover and failover Jobs reach 3306 and 3307; clients of the namespace 3306 only", () => {
    const plan = buildPlan(parseStackConfig(baseRaw()));
    const spec: any = networkPolicySpec(plan, plan.clusters[0]);
    assert.deepEqual(spec.podSelector.matchLabels["app.kubernetes.io/component"], "database");
    assert.deepEqual(spec.policyTypes, ["Ingress"]);
    assert.equal(spec.ingress.length, 2, "no cross-cluster rule for a one-cluster set");
    const [members, clients] = spec.ingress;
    assert.deepEqual(ports(members), [3306, 3307]);
    assert.deepEqual(
        members.from.map((p: any) => p.podSelector.matchLabels["app.kubernetes.io/component"]),
        ["database", "switchover", "failover"],
    );
    assert.deepEqual(ports(clients), [3306]);
    assert.deepEqual(clients.from, [{ podSelector: { matchLabels: {} } }], "default: every pod of the set's namespace, no namespaceSelector");
    // MySQL seeds by CLONE over 3306: no seed port.
    const my = buildPlan(parseStackConfig({ ...baseRaw(), mysql: { engine: "mysql" } }));
    assert.deepEqual(ports((networkPolicySpec(my, my.clusters[0]) as any).ingress[0]), [3306]);
});

test("NetworkPolicy across clusters: the other clusters' podCidrs reach the member ports; without them any address, with a warning", () => {
    const open = multi();
    const rule = (p: ReturnType<typeof multi>, c: number) => (networkPolicySpec(p, p.clusters[c]) as any).ingress[1];
    assert.deepEqual(
        rule(open, 0).from.map((f: any) => f.ipBlock.cidr),
        [...ANY_ADDRESS],
    );
    assert.ok(policyWarnings(open).some((w) => /^mysql-multicluster:clusters\.a\.podCidrs is not set \(a, b\)/.test(w)));
    const closed = multi((r) => {
        r.clusters.a.podCidrs = ["10.241.0.0/16"];
        r.clusters.b.podCidrs = ["10.242.0.0/16", "fd00:242::/64"];
    });
    assert.deepEqual(
        rule(closed, 0).from.map((f: any) => f.ipBlock.cidr),
        ["10.242.0.0/16", "fd00:242::/64"],
    );
    assert.deepEqual(
        rule(closed, 1).from.map((f: any) => f.ipBlock.cidr),
        ["10.241.0.0/16"],
    );
    assert.deepEqual(ports(rule(closed, 1)), [3306, 3307]);
    assert.ok(!policyWarnings(closed).some((w) => w.includes("podCidrs")));
});

test("NetworkPolicy clients: the configured selector, namespaces, ipBlocks and consumer clusters' pods reach 3306 only", () => {
    const r = baseRaw();
    r.clusters.b.podCidrs = ["10.242.0.0/16"];
    r.mcs = { consumers: ["b"] };
    r.mysql.clients = { podSelector: { app: "shop" }, namespaceSelector: { "kubernetes.io/metadata.name": "shop" }, ipBlocks: ["192.168.7.0/24"] };
    const plan = buildPlan(parseStackConfig(r));
    const clients = (networkPolicySpec(plan, plan.clusters[0]) as any).ingress.at(-1);
    assert.deepEqual(ports(clients), [3306]);
    assert.deepEqual(clients.from, [
        { podSelector: { matchLabels: { app: "shop" } }, namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } } },
        { ipBlock: { cidr: "192.168.7.0/24" } },
        { ipBlock: { cidr: "10.242.0.0/16" } },
    ]);
});

test("every cluster declares the NetworkPolicy before its StatefulSet", async () => {
    const [first] = await walkOnce();
    for (const c of ["cluster1", "cluster2", "cluster3"]) {
        assert.ok(objectsOf(first, c).get("NetworkPolicy/mysql-database"), c);
        assert.ok(first.dependsOn.get(`${c}-mysql-statefulset`)?.includes(`${c}-mysql-netpol`), `${c}: StatefulSet after the policy`);
    }
});

test("images: a tag is warned about in the plan table; a digest is used as given, with no warning", async () => {
    assert.equal(imagePinned("mariadb:10.11"), false);
    const digest = "mariadb:10.11@sha256:" + "ab".repeat(32);
    assert.equal(imagePinned(digest), true);
    const tagged = await runUnderMocks(parseStackConfig(baseRaw()));
    assert.match(tagged.outputs.step.table, /^warning: mysql-multicluster:mysql\.image: "mariadb:10\.11" is a tag, not a digest/m);
    const r = baseRaw();
    r.mysql.image = digest;
    r.migration = { kubectlImage: "registry.k8s.io/kubectl@sha256:" + "cd".repeat(32) };
    const pinned = await runUnderMocks(parseStackConfig(r));
    assert.ok(!pinned.outputs.step.table.includes("warning:"), pinned.outputs.step.table);
    const sts = objectsOf(pinned, "a").get("StatefulSet/mysql")!;
    for (const c of [...sts.spec.template.spec.initContainers, ...sts.spec.template.spec.containers])
        assert.equal(c.image, c.name === "labels" ? r.migration.kubectlImage : digest, c.name);
});
