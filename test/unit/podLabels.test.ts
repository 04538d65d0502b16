// Roles on pods (issue 16): members label their own pods through a kubectl proxy that alone holds a
// token; the Role allows get and patch of exactly the cluster's pods; the read Service selects healthy replicas.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseStackConfig } from "../../components/config";
import { ROLE_LABELS, databaseSelector } from "../../components/contract";
import { buildPlan } from "../../components/plan";
import { deployedStateOf } from "../../components/step";
import { LABEL_PROXY_PORT, TOKEN_PATH, podLabelRules } from "../../components/podLabels";
import { STACK_FILES, rawOf } from "../helpers/configs";
import { MockRun, objectsOf, runUnderMocks } from "../helpers/mockProgram";

const phase = (i: number) => parseStackConfig(rawOf(STACK_FILES[i]));
let walked: Promise<MockRun[]> | undefined;
const walkOnce = () =>
    (walked ??= (async () => {
        const runs: MockRun[] = [];
        for (let i = 0; i < STACK_FILES.length; i++) runs.push(await runUnderMocks(phase(i), i ? deployedStateOf(buildPlan(phase(i - 1))) : undefined));
        return runs;
    })());

test("each cluster's Role allows get and patch of exactly the pods its StatefulSet runs; none where it runs none", async () => {
    let roles = 0;
    for (const [i, run] of (await walkOnce()).entries()) {
        for (const cluster of Object.keys(run.outputs.clusters)) {
            const objs = objectsOf(run, cluster);
            const sts = objs.get("StatefulSet/mysql");
            const role = objs.get("Role/mysql-pod-labels");
            const pods = sts ? Array.from({ length: sts.spec.replicas }, (_, k) => `mysql-${(sts.spec.ordinals?.start ?? 0) + k}`) : [];
            if (pods.length === 0) {
                assert.equal(role, undefined, `${STACK_FILES[i]} ${cluster}: no Role without pods (empty resourceNames would mean every pod)`);
                assert.equal(objs.get("RoleBinding/mysql-pod-labels"), undefined);
                continue;
            }
            roles++;
            assert.deepEqual(
                role!.rules,
                [{ apiGroups: [""], resources: ["pods"], resourceNames: pods, verbs: ["get", "patch"] }],
                `${STACK_FILES[i]} ${cluster}`,
            );
            const binding = objs.get("RoleBinding/mysql-pod-labels")!;
            assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "mysql-pod-labels" });
            assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "mysql-pod-labels", namespace: "mysql" }]);
            const sa = objs.get("ServiceAccount/mysql-pod-labels")!;
            assert.equal(sa.automountServiceAccountToken, false);
            assert.equal(sts!.spec.template.spec.serviceAccountName, "mysql-pod-labels");
        }
    }
    assert.ok(roles >= STACK_FILES.length, `a Role in every phase (${roles})`);
});

test("podLabelRules: undefined for a cluster without pods, the ordinals from ordinals.start otherwise", () => {
    const plan = buildPlan(phase(1));
    for (const c of plan.clusters) {
        const rules = podLabelRules(plan, c);
        if (c.podCount === 0) assert.equal(rules, undefined, c.name);
        else
            assert.deepEqual(
                rules![0].resourceNames,
                Array.from({ length: c.podCount }, (_, k) => `mysql-${c.ordinalsStart + k}`),
                c.name,
            );
    }
});

test("the token is projected into the labels container only; the pod automounts none; the proxy listens on loopback", async () => {
    const [first] = await walkOnce();
    const spec = objectsOf(first, "cluster1").get("StatefulSet/mysql")!.spec.template.spec;
    assert.equal(spec.automountServiceAccountToken, false);
    const tokenVolumes = spec.volumes.filter((v: any) => v.projected?.sources?.some((s: any) => s.serviceAccountToken)).map((v: any) => v.name);
    assert.deepEqual(tokenVolumes, ["labels-token"]);
    const projected = spec.volumes.find((v: any) => v.name === "labels-token").projected;
    assert.equal(projected.sources[0].serviceAccountToken.expirationSeconds, 3600);
    for (const c of [...spec.initContainers, ...spec.containers]) {
        const mountsToken = (c.volumeMounts ?? []).some((m: any) => m.name === "labels-token");
        assert.equal(mountsToken, c.name === "labels", `${c.name}: token mounted only in "labels"`);
        assert.ok(!(c.volumeMounts ?? []).some((m: any) => m.mountPath.startsWith(TOKEN_PATH) && c.name !== "labels"), c.name);
    }
    const labels = spec.containers.find((c: any) => c.name === "labels");
    assert.equal(labels.image, "registry.k8s.io/kubectl:v1.34.2");
    assert.deepEqual(labels.command.slice(0, 4), ["kubectl", "proxy", "--address=127.0.0.1", `--port=${LABEL_PROXY_PORT}`]);
    assert.ok(labels.command.includes("--accept-paths=^/api/v1/namespaces/mysql/pods/[^/]+$"), labels.command.join(" "));
    assert.deepEqual(
        labels.volumeMounts.find((m: any) => m.name === "labels-token"),
        { name: "labels-token", mountPath: TOKEN_PATH, readOnly: true },
    );
    assert.deepEqual(labels.env, undefined, "the proxy gets no password");
    const replicate = spec.containers.find((c: any) => c.name === "replicate");
    assert.deepEqual(
        replicate.env.find((e: any) => e.name === "MMC_LABEL_API"),
        { name: "MMC_LABEL_API", value: `127.0.0.1:${LABEL_PROXY_PORT}/api/v1/namespaces/mysql/pods` },
    );
    for (const c of spec.containers.filter((x: any) => x.name !== "replicate")) assert.ok(!(c.env ?? []).some((e: any) => e.name === "MMC_LABEL_API"), c.name);
    // the template never carries a role label: only the member sets it on its live pod
    const template = objectsOf(first, "cluster1").get("StatefulSet/mysql")!.spec.template.metadata.labels;
    assert.equal(template[ROLE_LABELS.role], undefined);
});

test("the read Service selects only database pods labelled healthy replicas; the write and headless ones are unchanged", async () => {
    for (const run of await walkOnce()) {
        for (const cluster of Object.keys(run.outputs.clusters)) {
            const objs = objectsOf(run, cluster);
            const read = objs.get("Service/mysql-read");
            if (!read) continue;
            assert.deepEqual(read.spec.selector, { ...databaseSelector("mysql"), "mysql-multicluster/role": "replica", "mysql-multicluster/healthy": "true" });
            assert.deepEqual(objs.get("Service/mysql")!.spec.selector, databaseSelector("mysql"));
        }
    }
});
