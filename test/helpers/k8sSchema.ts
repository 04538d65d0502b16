import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import Ajv from "ajv";
import { ROOT } from "./configs";

// kubernetes-models (generated from the Kubernetes 1.34 OpenAPI spec) is ESM-only; load it at run time.
const esmImport = new Function("m", "return import(m)") as (m: string) => Promise<Record<string, any>>;

/** The module of an apiVersion in kubernetes-models: `v1`, `apps/v1`, `storage.k8s.io/v1`, ... */
function modelModule(apiVersion: string): string {
    return `kubernetes-models/${apiVersion}`;
}

/** CRD schemas of the MCS API (ServiceExport, ServiceImport) as the clusters install them. */
function crdValidators() {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(ROOT, "tools/clusters/mcs-crds.yaml"), "utf8")).map((d) => d.toJS());
    const out = new Map<string, (o: unknown) => string | undefined>();
    for (const crd of docs) {
        if (crd?.kind !== "CustomResourceDefinition") continue;
        for (const v of crd.spec.versions) {
            const validate = ajv.compile(v.schema.openAPIV3Schema);
            out.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, (o) => (validate(o) ? undefined : ajv.errorsText(validate.errors)));
        }
    }
    return out;
}

/** Validates a Kubernetes object against the OpenAPI schema of its kind; returns the error text or undefined. */
export async function validateObject(obj: Record<string, any>): Promise<string | undefined> {
    const key = `${obj.apiVersion}/${obj.kind}`;
    if (String(obj.apiVersion).startsWith("multicluster.x-k8s.io/")) {
        const v = (crds ??= crdValidators()).get(key);
        if (!v) return `no CRD schema for ${key}`;
        return v(obj);
    }
    const mod = await esmImport(modelModule(obj.apiVersion));
    const Model = mod[obj.kind];
    if (!Model) return `kubernetes-models has no ${key}`;
    try {
        new Model(obj).validate();
        return undefined;
    } catch (e) {
        return (e as Error).message;
    }
}
let crds: ReturnType<typeof crdValidators> | undefined;
