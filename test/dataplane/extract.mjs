// Reads what the program rendered (tools/render.ts --out DIR) and writes, under OUT, what the test
// machine needs to run the data plane exactly as the pods would:
//   scripts/<name>            the ConfigMap <set>-scripts, verbatim (checked identical in every cluster)
//   base.cnf                  the ConfigMap <set>-config, key my.cnf
//   <cluster>.env             env of the StatefulSet's `mysql` container (KEY=shell-quoted value);
//                             valueFrom fieldRef -> @FIELD:<path>@, secretKeyRef -> @SECRET:<key>@
//   <cluster>.topology.env    the ConfigMap <set>-topology, key topology.env
//   <cluster>.ordinals        "<start> <replicas>" of the StatefulSet
//   <cluster>.secrets.<ctr>   names of the password variables container <ctr> gets (secretKeyRef)
//   job-<name>.env            env of each Job's container (switchover)
// usage: node extract.mjs RENDER_DIR OUT [SET]
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const YAML = require(path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../node_modules/yaml"));

const [renderDir, out, set = "mysql"] = process.argv.slice(2);
if (!renderDir || !out) {
    console.error("usage: node extract.mjs RENDER_DIR OUT [SET]");
    process.exit(2);
}
fs.mkdirSync(path.join(out, "scripts"), { recursive: true });
const q = (v) => "'" + String(v).replace(/'/g, "'\\''") + "'";
const envLines = (env) =>
    (env ?? [])
        .map((e) => {
            let v;
            if (e.value !== undefined) v = e.value;
            else if (e.valueFrom?.fieldRef) v = `@FIELD:${e.valueFrom.fieldRef.fieldPath}@`;
            else if (e.valueFrom?.secretKeyRef) v = `@SECRET:${e.valueFrom.secretKeyRef.key}@`;
            else throw new Error(`unsupported env entry ${e.name}`);
            return `${e.name}=${q(v)}`;
        })
        .join("\n") + "\n";

let scripts = null;
const clusters = fs
    .readdirSync(renderDir)
    .filter((d) => fs.statSync(path.join(renderDir, d)).isDirectory())
    .sort();
for (const c of clusters) {
    const dir = path.join(renderDir, c);
    const read = (f) => (fs.existsSync(path.join(dir, f)) ? YAML.parse(fs.readFileSync(path.join(dir, f), "utf8")) : null);
    const cm = read(`configmap-${set}-scripts.yaml`);
    if (cm) {
        if (scripts && JSON.stringify(scripts) !== JSON.stringify(cm.data)) throw new Error(`scripts differ in ${c}`);
        scripts = cm.data;
    }
    const cfg = read(`configmap-${set}-config.yaml`);
    if (cfg) fs.writeFileSync(path.join(out, "base.cnf"), cfg.data["my.cnf"]);
    const topo = read(`configmap-${set}-topology.yaml`);
    if (topo) fs.writeFileSync(path.join(out, `${c}.topology.env`), topo.data["topology.env"]);
    const sts = read(`statefulset-${set}.yaml`);
    if (sts) {
        const ctr = sts.spec.template.spec.containers.find((x) => x.name === "mysql");
        fs.writeFileSync(path.join(out, `${c}.env`), envLines(ctr.env));
        for (const x of [...(sts.spec.template.spec.initContainers ?? []), ...sts.spec.template.spec.containers]) {
            const names = (x.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name);
            fs.writeFileSync(path.join(out, `${c}.secrets.${x.name}`), names.join(" ") + "\n");
        }
        fs.writeFileSync(path.join(out, `${c}.ordinals`), `${sts.spec.ordinals?.start ?? 0} ${sts.spec.replicas ?? 0}\n`);
    }
    for (const f of fs.readdirSync(dir).filter((f) => f.startsWith("job-"))) {
        const job = read(f);
        fs.writeFileSync(path.join(out, `job-${job.metadata.name}.env`), envLines(job.spec.template.spec.containers[0].env));
    }
}
if (!scripts) throw new Error(`no configmap-${set}-scripts.yaml under ${renderDir}`);
for (const [name, body] of Object.entries(scripts)) fs.writeFileSync(path.join(out, "scripts", name), body, { mode: 0o755 });
console.log(`extracted ${Object.keys(scripts).length} scripts and ${clusters.length} clusters from ${renderDir}`);
