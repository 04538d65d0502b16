// Renderer-independent check of the cluster features the walk-through relies
// on, with hand-written objects in a scratch namespace:
//   - StatefulSet spec.ordinals.start (KEP-3335) names pods from the start ordinal,
//   - claims of a WaitForFirstConsumer no-provisioner class bind to the local
//     PersistentVolume of the (fake) node the scheduler picked,
//   - persistentVolumeClaimRetentionPolicy whenScaled: Retain keeps the claim of
//     a removed ordinal, and the ordinal gets the same claim and volume back.
// Everything it creates is deleted again at the end.
import assert from "node:assert/strict";
import { Kubectl, waitUntil } from "./kube";

const NS = "mmc-smoke";
const STS = "smoke";
const SC = "mmc-smoke-local";
const TIMEOUT = 2 * 60_000;

export async function clusterFeatureSmoke(kubectl: Kubectl, context: string, nodes: string[], log: (m: string) => void) {
    assert.ok(nodes.length >= 2, "smoke check needs two nodes");
    const pvName = (n: string) => `mmc-smoke-${n}`;
    const objects = [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
        {
            apiVersion: "storage.k8s.io/v1",
            kind: "StorageClass",
            metadata: { name: SC },
            provisioner: "kubernetes.io/no-provisioner",
            volumeBindingMode: "WaitForFirstConsumer",
            reclaimPolicy: "Retain",
        },
        ...nodes.map((n) => ({
            apiVersion: "v1",
            kind: "PersistentVolume",
            metadata: { name: pvName(n) },
            spec: {
                capacity: { storage: "1Gi" },
                accessModes: ["ReadWriteOnce"],
                persistentVolumeReclaimPolicy: "Retain",
                storageClassName: SC,
                local: { path: "/mnt/smoke" },
                nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [n] }] }] } },
            },
        })),
        statefulSet(2),
    ];
    const apply = async (objs: object[]) =>
        kubectl.run(context, ["apply", "--server-side", "--field-manager", "mmc-smoke", "-f", "-"], {
            input: objs.map((o) => JSON.stringify(o)).join("\n"),
        });
    const describe = async () =>
        (await kubectl.run(context, ["get", "statefulsets,pods,pvc,pv,events", "-n", NS, "-o", "wide"], { allowFailure: true })).stdout;

    const pods = async () => (await kubectl.json(context, ["get", "pods", "-n", NS])).items as any[];
    const running = async (want: string[]) => {
        const ps = await pods();
        return (
            JSON.stringify(ps.map((p) => p.metadata.name).sort()) === JSON.stringify(want) &&
            ps.every(
                (p) =>
                    p.status?.phase === "Running" &&
                    !p.metadata.deletionTimestamp &&
                    (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"),
            )
        );
    };

    try {
        await apply(objects.slice(0, 2));
        await apply(objects.slice(2));
        // ordinals.start = 5, replicas = 2 -> smoke-5, smoke-6
        await waitUntil("smoke-5 and smoke-6 Running (ordinals.start)", TIMEOUT, () => running(["smoke-5", "smoke-6"]), describe);
        const volumes = new Map<string, string>();
        for (const p of await pods()) {
            const claim = await kubectl.json(context, ["get", "pvc", `data-${p.metadata.name}`, "-n", NS]);
            assert.equal(claim.status.phase, "Bound", `claim of ${p.metadata.name}`);
            assert.equal(claim.spec.volumeName, pvName(p.spec.nodeName), `${p.metadata.name} on ${p.spec.nodeName} must use that node's local volume`);
            volumes.set(p.metadata.name, claim.spec.volumeName);
        }
        assert.notEqual(volumes.get("smoke-5"), volumes.get("smoke-6"), "two claims cannot share a local volume");
        log(`smoke: ordinals.start and WaitForFirstConsumer binding ok (${[...volumes].map(([p, v]) => `${p}->${v}`).join(", ")})`);

        // scale down: smoke-6 goes, its claim stays (whenScaled: Retain)
        await apply([statefulSet(1)]);
        await waitUntil("smoke-6 gone after scale-down", TIMEOUT, () => running(["smoke-5"]), describe);
        const kept = await kubectl.getOrUndefined(context, "persistentvolumeclaims", "data-smoke-6", NS);
        assert.ok(kept && !kept.metadata.deletionTimestamp, "whenScaled: Retain must keep data-smoke-6");
        assert.equal(kept.status.phase, "Bound");

        // scale up again: smoke-6 comes back on the same claim and volume
        await apply([statefulSet(2)]);
        await waitUntil("smoke-6 back after scale-up", TIMEOUT, () => running(["smoke-5", "smoke-6"]), describe);
        const back = (await pods()).find((p) => p.metadata.name === "smoke-6")!;
        const again = await kubectl.json(context, ["get", "pvc", "data-smoke-6", "-n", NS]);
        assert.equal(again.metadata.uid, kept.metadata.uid, "smoke-6 must reuse its retained claim");
        assert.equal(again.spec.volumeName, volumes.get("smoke-6"));
        assert.equal(pvName(back.spec.nodeName), volumes.get("smoke-6"), "smoke-6 must return to the node of its volume");
        log("smoke: whenScaled: Retain kept the claim and smoke-6 came back to it");
    } finally {
        await kubectl.run(context, ["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
        await kubectl.run(context, ["delete", "pv", ...nodes.map(pvName), "--ignore-not-found", "--wait=true", "--timeout=60s"], { timeoutMs: 90_000 });
        await kubectl.run(context, ["delete", "storageclass", SC, "--ignore-not-found"]);
    }
}

function statefulSet(replicas: number) {
    const labels = { app: "mmc-smoke" };
    return {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: STS, namespace: NS },
        spec: {
            serviceName: STS,
            replicas,
            ordinals: { start: 5 },
            selector: { matchLabels: labels },
            persistentVolumeClaimRetentionPolicy: { whenScaled: "Retain", whenDeleted: "Delete" },
            template: {
                metadata: { labels },
                spec: {
                    // one pod per node, so the two claims need the two nodes' volumes
                    affinity: {
                        podAntiAffinity: {
                            requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" }],
                        },
                    },
                    containers: [{ name: "c", image: "registry.invalid/none:0", volumeMounts: [{ name: "data", mountPath: "/data" }] }],
                },
            },
            volumeClaimTemplates: [
                {
                    metadata: { name: "data" },
                    spec: { accessModes: ["ReadWriteOnce"], storageClassName: SC, resources: { requests: { storage: "1Gi" } } },
                },
            ],
        },
    };
}
