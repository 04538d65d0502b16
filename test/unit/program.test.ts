import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseStackConfig } from "../../components/config";
import { deployedStateOf } from "../../components/step";
import { buildPlan } from "../../components/plan";
import { OFFLINE_SECRET } from "../../tools/mocks";
import { baseRaw, rawOf, STACK_FILES } from "../helpers/configs";
import { objectsOf, runUnderMocks } from "../helpers/mockProgram";

const phase = (i: number) => parseStackConfig(rawOf(STACK_FILES[i]));

test("phase 1: cluster1 runs ordinals 0-1 with local storage; no MCS objects; empty slices elsewhere", async () => {
    const run = await runUnderMocks(phase(0));
    const c1 = objectsOf(run, "cluster1");
    const sts = c1.get("StatefulSet/mysql")!;
    assert.equal(sts.spec.replicas, 2);
    assert.deepEqual(sts.spec.ordinals, { start: 0 });
    assert.equal(sts.spec.serviceName, "mysql");
    assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, { whenScaled: "Retain", whenDeleted: "Retain" });
    assert.equal(sts.spec.volumeClaimTemplates[0].spec.storageClassName, "mysql-local");
    assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "10Gi");
    const anti = sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    assert.equal(anti.topologyKey, "kubernetes.io/hostname");
    assert.deepEqual(
        sts.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values,
        ["kosmoscluster1-1", "kosmoscluster1-2"],
    );
    const containers = sts.spec.template.spec.containers.map((c: any) => c.name);
    assert.deepEqual(containers, ["mysql", "replicate", "labels", "donor"]);
    const mysql = sts.spec.template.spec.containers[0];
    assert.equal(mysql.image, "mariadb:10.11");
    assert.ok(mysql.readinessProbe.exec.command.join(" ").includes("probe.sh ready"));
    assert.ok(mysql.resources.limits.memory);

    const sc = c1.get("StorageClass/mysql-local")!;
    assert.equal(sc.provisioner, "kubernetes.io/no-provisioner");
    assert.equal(sc.volumeBindingMode, "WaitForFirstConsumer");
    for (const node of ["kosmoscluster1-1", "kosmoscluster1-2"]) {
        const pv = c1.get(`PersistentVolume/mysql-data-${node}`)!;
        assert.equal(pv.spec.persistentVolumeReclaimPolicy, "Retain");
        assert.equal(pv.spec.local.path, "/data/mysql");
        assert.equal(pv.spec.capacity.storage, "15Gi");
        assert.deepEqual(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0], {
            key: "kubernetes.io/hostname",
            operator: "In",
            values: [node],
        });
    }
    for (const c of ["cluster1", "cluster2", "cluster3"]) {
        const kinds = [...objectsOf(run, c).keys()];
        assert.ok(!kinds.some((k) => k.startsWith("ServiceExport/") || k.startsWith("ServiceImport/")), `${c} has MCS objects in a one-cluster phase`);
    }
    assert.equal(objectsOf(run, "cluster2").get("StatefulSet/mysql")!.spec.replicas, 0);
    const write = c1.get("Service/mysql-write")!;
    assert.equal(write.spec.selector["statefulset.kubernetes.io/pod-name"], "mysql-0");
    assert.equal(c1.get("Service/mysql")!.spec.clusterIP, "None");
    // one replica beside the primary: it may be evicted (minAvailable 0); the primary's pod never (budgets.test.ts)
    assert.equal(c1.get("PodDisruptionBudget/mysql")!.spec.minAvailable, 0);
    assert.equal(c1.get("PodDisruptionBudget/mysql-primary")!.spec.minAvailable, 1);
});

test("providers: one per cluster, ConfigMaps and Secrets updated in place (a phase edits the topology, never replaces it)", async () => {
    const run = await runUnderMocks(phase(0));
    const providers = run.resources.filter((r) => r.type === "pulumi:providers:kubernetes");
    assert.deepEqual(providers.map((p) => [p.name, p.inputs.context]).sort(), [
        ["k8s-cluster1", "kosmos-cluster1"],
        ["k8s-cluster2", "kosmos-cluster2"],
        ["k8s-cluster3", "kosmos-cluster3"],
    ]);
    // Tools learn a resource's cluster from this output, never from the provider's name.
    assert.deepEqual(
        Object.entries(run.outputs.clusters).map(([c, o]: [string, any]) => [o.provider, c, o.context]),
        [
            ["k8s-cluster1", "cluster1", "kosmos-cluster1"],
            ["k8s-cluster2", "cluster2", "kosmos-cluster2"],
            ["k8s-cluster3", "cluster3", "kosmos-cluster3"],
        ],
    );
    for (const p of providers) {
        assert.equal(String(p.inputs.enableConfigMapMutable), "true");
        assert.equal(String(p.inputs.enableSecretMutable), "true");
    }
});

test("credentials: one set of random passwords for all clusters; never plaintext in env; replication is not root", async () => {
    const run = await runUnderMocks(phase(0));
    const passwords = run.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    assert.deepEqual(passwords.map((p) => p.name).sort(), ["credentials-admin", "credentials-replication", "credentials-root", "credentials-seed"]);
    for (const c of ["cluster1", "cluster2"]) {
        const secret = objectsOf(run, c).get("Secret/mysql-credentials")!;
        assert.deepEqual(Object.keys(secret.stringData).sort(), ["admin-password", "replication-password", "root-password", "seed-password"]);
        const sts = objectsOf(run, c).get("StatefulSet/mysql")!;
        // "labels" (kubectl proxy) gets no env at all: test/unit/podLabels.test.ts.
        for (const container of [...sts.spec.template.spec.containers.filter((x: any) => x.name !== "labels"), ...sts.spec.template.spec.initContainers]) {
            const env = Object.fromEntries(container.env.map((e: any) => [e.name, e]));
            assert.equal(env.MMC_ROOT_PASSWORD.valueFrom.secretKeyRef.key, "root-password");
            // The replication password goes to replicate, and to init and mysql (init.sh reconciles every
            // account with the Secret); never to the donor (test/unit/podsec.test.ts: each container's set).
            if (["replicate", "init", "mysql"].includes(container.name)) assert.equal(env.MMC_REPL_PASSWORD.valueFrom.secretKeyRef.key, "replication-password");
            else assert.equal(env.MMC_REPL_PASSWORD, undefined, `${container.name} gets the replication password`);
            assert.equal(env.MMC_REPL_USER.value, "repl");
            assert.ok(!JSON.stringify(container.env).includes(OFFLINE_SECRET), "a password value in env");
        }
    }
});

test("phase 2 (kosmos): exports and manual imports in both clusters that run pods; cluster2 runs ordinal 1 only", async () => {
    const run = await runUnderMocks(phase(1), deployedStateOf(buildPlan(phase(0))));
    for (const c of ["cluster1", "cluster2"]) {
        const o = objectsOf(run, c);
        for (const svc of ["mysql", "mysql-write", "mysql-read"]) {
            assert.equal(o.get(`ServiceExport/${svc}`)?.apiVersion, "multicluster.x-k8s.io/v1alpha1", `${c} export ${svc}`);
            assert.ok(o.get(`ServiceImport/${svc}`), `${c} import ${svc}`);
        }
        assert.equal(o.get("ServiceImport/mysql")!.spec.type, "Headless");
        assert.equal(o.get("ServiceImport/mysql-write")!.spec.type, "ClusterSetIP");
        assert.deepEqual(
            o.get("ServiceImport/mysql")!.spec.ports.map((p: any) => p.port),
            [3306, 3307],
        );
    }
    assert.ok(![...objectsOf(run, "cluster3").keys()].some((k) => k.startsWith("Service" + "Export")), "cluster3 runs nothing: no export");
    const sts2 = objectsOf(run, "cluster2").get("StatefulSet/mysql")!;
    assert.deepEqual([sts2.spec.ordinals.start, sts2.spec.replicas], [1, 1]);
    const topo = objectsOf(run, "cluster2").get("ConfigMap/mysql-topology")!.data["topology.env"];
    assert.match(topo, /^MMC_WRITE_HOST='mysql-write\.mysql\.svc\.cluster\.local'$/m);
    assert.match(topo, /^MMC_DONORS='mysql-1\.mysql\.mysql\.svc\.cluster\.local mysql-0\.mysql\.mysql\.svc\.cluster\.local'$/m);
    assert.deepEqual(run.outputs.clusters.cluster2.ordinals, [1]);
    assert.equal(run.outputs.primary.pod, "mysql-0");
    assert.equal(run.outputs.migrationState.placement.join(), "cluster1,cluster2");
});

test("mcs-api profile: no ServiceImports (automatic), clusterset names in topology", async () => {
    const raw = rawOf(STACK_FILES[1]);
    raw.mcs = { profile: "mcs-api" };
    const run = await runUnderMocks(parseStackConfig(raw));
    assert.ok(![...objectsOf(run, "cluster2").keys()].some((k) => k.startsWith("ServiceImport/")));
    const topo = objectsOf(run, "cluster2").get("ConfigMap/mysql-topology")!.data["topology.env"];
    assert.match(topo, /MMC_WRITE_HOST='mysql-write\.mysql\.svc\.clusterset\.local'/);
    assert.match(topo, /0=mysql-0\.cluster1\.mysql\.mysql\.svc\.clusterset\.local/);
});

test("ordering under mocks: a move's destination StatefulSet depends on its source, in both directions", async () => {
    const there = await runUnderMocks(phase(1), deployedStateOf(buildPlan(phase(0))));
    assert.ok(there.dependsOn.get("cluster2-mysql-statefulset")!.includes("cluster1-mysql-statefulset"));
    assert.ok(!there.dependsOn.get("cluster1-mysql-statefulset")!.includes("cluster2-mysql-statefulset"));
    // Every StatefulSet waits for every cluster's MCS wiring (a pod's imports and its peers' exports).
    for (const c of ["cluster1", "cluster2", "cluster3"]) {
        for (const w of ["cluster1-mcs", "cluster2-mcs", "cluster3-mcs"]) assert.ok(there.dependsOn.get(`${c}-mysql-statefulset`)!.includes(w), `${c} → ${w}`);
    }
    const back = await runUnderMocks(phase(0), deployedStateOf(buildPlan(phase(1))));
    assert.ok(back.dependsOn.get("cluster1-mysql-statefulset")!.includes("cluster2-mysql-statefulset"));
    assert.ok(!back.dependsOn.get("cluster2-mysql-statefulset")!.includes("cluster1-mysql-statefulset"));
});

test("switchover step: a Job in the new primary's cluster; write Services and topology wait for it", async () => {
    const run = await runUnderMocks(phase(2), deployedStateOf(buildPlan(phase(1))));
    const job = objectsOf(run, "cluster2").get("Job/mysql-switchover-0-to-1")!;
    assert.ok(job, "Job in cluster2");
    assert.equal(job.spec.backoffLimit, 0);
    const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    assert.equal(env.MMC_OLD_PRIMARY_HOST, "mysql-0.mysql.mysql.svc.cluster.local");
    assert.equal(env.MMC_NEW_PRIMARY_HOST, "mysql-1.mysql.mysql.svc.cluster.local");
    assert.equal(env.MMC_TOPOLOGY_FILE, undefined);
    assert.ok(!objectsOf(run, "cluster1").has("Job/mysql-switchover-0-to-1"));
    for (const c of ["cluster1", "cluster2", "cluster3"]) {
        assert.ok(run.dependsOn.get(`${c}-mysql-svc-write`)!.includes("switchover-job"), `${c} write Service waits for the Job`);
        assert.ok(run.dependsOn.get(`${c}-mysql-topology`)!.includes("switchover-job"));
        assert.equal(objectsOf(run, c).get("Service/mysql-write")!.spec.selector["statefulset.kubernetes.io/pod-name"], "mysql-1");
    }
    // Job pods are outside every selector of the set (Services, PDB, StatefulSet).
    const podLabels = job.spec.template.metadata.labels;
    const sts = objectsOf(run, "cluster2").get("StatefulSet/mysql")!;
    const selectors = [
        sts.spec.selector.matchLabels,
        objectsOf(run, "cluster2").get("PodDisruptionBudget/mysql")!.spec.selector.matchLabels,
        ...["mysql", "mysql-read", "mysql-write"].map((n) => objectsOf(run, "cluster2").get(`Service/${n}`)!.spec.selector),
    ];
    for (const sel of selectors) assert.ok(!Object.entries(sel).every(([k, v]) => podLabels[k] === v), `Job pods match ${JSON.stringify(sel)}`);
    // The next step has no Job.
    const after = await runUnderMocks(phase(3), deployedStateOf(buildPlan(phase(2))));
    assert.ok(!after.resources.some((r) => r.inputs?.kind === "Job"));
});

test("unsafe step is refused before any resource is registered", async () => {
    await assert.rejects(() => runUnderMocks(phase(3), deployedStateOf(buildPlan(phase(0)))), /a change of primary is a step of its own/);
});

test("retire: Job deletes the claims of the retired cluster; its volumes may now leave the stack", async () => {
    const run = await runUnderMocks(phase(5), deployedStateOf(buildPlan(phase(4))));
    const job = objectsOf(run, "cluster1").get("Job/mysql-retire")!;
    assert.deepEqual(job.spec.template.spec.containers[0].command.slice(0, 3), ["kubectl", "delete", "persistentvolumeclaims"]);
    assert.ok(objectsOf(run, "cluster1").get("Role/mysql-retire")!.rules[0].resources.includes("persistentvolumeclaims"));
    assert.ok(!objectsOf(run, "cluster2").has("Job/mysql-retire"));
});

test("single cluster with a storageClass: claims use it, no PVs or StorageClass declared", async () => {
    const raw = baseRaw();
    raw.placement = ["b", "b"];
    const run = await runUnderMocks(parseStackConfig(raw));
    const b = objectsOf(run, "b");
    assert.equal(b.get("StatefulSet/mysql")!.spec.volumeClaimTemplates[0].spec.storageClassName, "standard");
    assert.ok(![...b.keys()].some((k) => k.startsWith("PersistentVolume/") || k.startsWith("StorageClass/")));
});

test("mysql engine: 9.7 image by default (the version the data-plane tier runs), no donor sidecar (CLONE uses the server port)", async () => {
    const raw = baseRaw();
    raw.mysql = { engine: "mysql" };
    const run = await runUnderMocks(parseStackConfig(raw));
    const sts = objectsOf(run, "a").get("StatefulSet/mysql")!;
    assert.equal(sts.spec.template.spec.containers[0].image, "mysql:9.7");
    assert.deepEqual(
        sts.spec.template.spec.containers.map((c: any) => c.name),
        ["mysql", "replicate", "labels"],
    );
    assert.match(objectsOf(run, "a").get("ConfigMap/mysql-config")!.data["my.cnf"], /gtid_mode = ON/);
});

test("property: any valid config deploys under mocks, each cluster's StatefulSet holding exactly its ordinals", async () => {
    const fc = await import("fast-check");
    const { validRawConfig } = await import("../helpers/configs");
    await fc.assert(
        fc.asyncProperty(validRawConfig, async (raw) => {
            const cfg = parseStackConfig(raw);
            const run = await runUnderMocks(cfg);
            for (const c of Object.keys(cfg.clusters)) {
                const sts = objectsOf(run, c).get("StatefulSet/mysql")!;
                const ords = cfg.placement.flatMap((p, i) => (p === c ? [i] : []));
                assert.equal(sts.spec.replicas, ords.length);
                if (ords.length) assert.equal(sts.spec.ordinals.start, ords[0]);
                const kinds = [...objectsOf(run, c).keys()];
                const multi = new Set(cfg.placement).size > 1 || cfg.mcs.consumers.length > 0;
                assert.equal(
                    kinds.some((k) => k.startsWith("ServiceExport/")),
                    multi && ords.length > 0,
                    `${c} exports`,
                );
            }
            assert.equal(run.outputs.primary.ordinal, cfg.primary);
        }),
        { numRuns: 25 },
    );
});

test("first deployment with primary: 1 in one cluster: the primary starts without waiting for a lower ordinal (no ordered start-up deadlock)", async () => {
    const raw = rawOf(STACK_FILES[0]);
    const cfg = parseStackConfig({ ...raw, primary: 1 });
    const run = await runUnderMocks(cfg);
    const sts = objectsOf(run, "cluster1").get("StatefulSet/mysql")!;
    // OrderedReady would create mysql-1 only once mysql-0 is Ready, and mysql-0 (a replica) waits for a donor.
    assert.equal(sts.spec.podManagementPolicy, "Parallel");
    assert.equal(sts.spec.updateStrategy.type, "RollingUpdate", "updates stay one pod at a time");
    const table: string = run.outputs.step.table;
    assert.match(table, /^1\s+mysql-1\s+cluster1\s+primary\s+initialised empty as the primary, first; every replica waits for it$/m);
    assert.match(table, /^0\s+mysql-0\s+cluster1\s+replica\s+created; seeds from mysql-1 once the primary is Ready$/m);
});

test("rolling under mocks: the primary's cluster gets a partition; the switchover step restarts the old primary only after the Job", async () => {
    const v = { ...rawOf(STACK_FILES[0]), mysql: { ...rawOf(STACK_FILES[0]).mysql, version: "11.4" } };
    const before = deployedStateOf(buildPlan(parseStackConfig(rawOf(STACK_FILES[0]))));
    const roll = await runUnderMocks(parseStackConfig(v), before);
    const sts = objectsOf(roll, "cluster1").get("StatefulSet/mysql")!;
    assert.deepEqual(sts.spec.updateStrategy, { type: "RollingUpdate", rollingUpdate: { partition: 1 } });
    assert.equal(sts.spec.template.spec.containers[0].image, "mariadb:11.4");
    const rolled = roll.outputs.migrationState;
    assert.deepEqual(rolled.pending, [0]);
    const sw = await runUnderMocks(parseStackConfig({ ...v, primary: 1 }), rolled);
    const after = objectsOf(sw, "cluster1").get("StatefulSet/mysql")!;
    assert.deepEqual(after.spec.updateStrategy, { type: "RollingUpdate" });
    assert.ok(sw.dependsOn.get("cluster1-mysql-statefulset")!.includes("switchover-job"), JSON.stringify(sw.dependsOn.get("cluster1-mysql-statefulset")));
});
