import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "../../components/config";
import { deploy, Deployment } from "../../components/deployment";
import { DeployedState } from "../../components/step";
import { PROJECT } from "../../components/config";
import { RecordedResource, clustersByProvider, kubernetesObjects, recordingMocks } from "../../tools/mocks";

export interface MockRun {
    readonly deployment: Deployment;
    readonly resources: RecordedResource[];
    /** Logical name → logical names it was told to depend on (explicit dependsOn, resolved). */
    readonly dependsOn: Map<string, string[]>;
    /** Resolved stack outputs. */
    readonly outputs: Record<string, any>;
}

function resolve<T>(o: pulumi.Input<T>): Promise<T> {
    return pulumi.Output.isInstance(o) ? new Promise((r) => (o as pulumi.Output<T>).apply(r)) : Promise.resolve(o as T);
}

/** Runs the program's deploy() under Pulumi mocks and records resources, explicit edges and outputs. */
export async function runUnderMocks(cfg: StackConfig, previous?: DeployedState): Promise<MockRun> {
    const { mocks, resources } = recordingMocks();
    await pulumi.runtime.setMocks(mocks, PROJECT, "test", false, "organization");
    const edges: { name: string; deps: Promise<pulumi.Input<pulumi.Resource>[]> }[] = [];
    const record: pulumi.ResourceTransformation = (args) => {
        const d = args.opts.dependsOn;
        const list = Promise.resolve(d as any).then((x: any) => (Array.isArray(x) ? x : x ? [x] : []));
        edges.push({ name: args.name, deps: list });
        return undefined;
    };
    const deployment = deploy(cfg, previous, { transformations: [record] });
    const outputs: Record<string, any> = {};
    for (const [k, v] of Object.entries(deployment.outputs)) outputs[k] = await resolve(v as any);
    await pulumi.runtime.disconnect();
    const dependsOn = new Map<string, string[]>();
    for (const e of edges) {
        const deps = await e.deps;
        const names: string[] = [];
        for (const d of deps) {
            const r = (await d) as pulumi.Resource;
            const urn = await resolve(r.urn);
            names.push(urn.split("::").pop()!);
        }
        dependsOn.set(e.name, names);
    }
    return { deployment, resources, dependsOn, outputs };
}

/** Kubernetes objects of one cluster by `<kind>/<name>` (the cluster of each from the program's outputs). */
export function objectsOf(run: MockRun, cluster: string): Map<string, Record<string, any>> {
    const m = new Map<string, Record<string, any>>();
    for (const o of kubernetesObjects(run.resources, clustersByProvider(run.outputs.clusters))) {
        if (o.cluster === cluster) m.set(`${o.object.kind}/${o.object.metadata?.name}`, o.object);
    }
    return m;
}
