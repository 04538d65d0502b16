/**
 * Render benchmark: wall time and peak memory of the offline renderer (the real CLI, one process per
 * render) for the dev stack and for a synthetic 50-cluster × 9-replica stack, measured in one run and
 * reported as a ratio too, since these machines are noisy. Writes bench/results/render.json.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import * as YAML from "yaml";

const ROOT = path.resolve(__dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-bench-"));

function syntheticStack(clusters: number, perCluster: number): string {
    const cfg: Record<string, unknown> = {};
    const cl: Record<string, unknown> = {};
    const placement: string[] = [];
    for (let c = 0; c < clusters; c++) {
        const name = `cluster${c + 1}`;
        cl[name] = {
            context: `ctx-${name}`,
            nodes: Array.from({ length: perCluster }, (_, i) => `${name}-node-${i + 1}`),
            storage: { localPath: "/data/mysql", capacity: "20Gi" },
        };
        for (let i = 0; i < perCluster; i++) placement.push(name);
    }
    cfg["mysql-multicluster:clusters"] = cl;
    cfg["mysql-multicluster:placement"] = placement;
    cfg["mysql-multicluster:primary"] = 0;
    cfg["mysql-multicluster:mysql"] = { engine: "mariadb" };
    cfg["mysql-multicluster:mcs"] = { profile: "mcs-api" };
    const file = path.join(tmp, `Pulumi.synthetic-${clusters}x${perCluster}.yaml`);
    fs.writeFileSync(file, YAML.stringify({ config: cfg }));
    return file;
}

function measure(label: string, config: string) {
    const out = path.join(tmp, label);
    const t0 = process.hrtime.bigint();
    // GNU time reports the child's peak RSS; fall back to wall time only when it is absent.
    const hasTime = fs.existsSync("/usr/bin/time");
    const cmd = hasTime ? "/usr/bin/time" : process.execPath;
    const args = [
        ...(hasTime ? ["-f", "MAXRSS_KB=%M", process.execPath] : []),
        "--import",
        "tsx",
        path.join(ROOT, "tools/render.ts"),
        "--config",
        config,
        "--out",
        out,
        "--quiet",
    ];
    const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${label}: render failed: ${r.stderr}`);
    const rss = /MAXRSS_KB=(\d+)/.exec(r.stderr)?.[1];
    const objects = fs
        .readdirSync(out)
        .filter((d) => fs.statSync(path.join(out, d)).isDirectory())
        .reduce((n, d) => n + fs.readdirSync(path.join(out, d)).length, 0);
    return { label, ms: Math.round(ms), objects, peakRssMiB: rss ? Math.round(Number(rss) / 1024) : null };
}

const dev = measure("dev", path.join(ROOT, "Pulumi.dev.yaml"));
const big = measure("synthetic-50x9", syntheticStack(50, 9));
const result = {
    dev,
    synthetic: big,
    ratio_time_synthetic_over_dev: +(big.ms / dev.ms).toFixed(2),
    ratio_objects_synthetic_over_dev: +(big.objects / dev.objects).toFixed(2),
    ms_per_object_synthetic: +(big.ms / big.objects).toFixed(2),
};
console.log("stack            wall ms  objects  peak RSS MiB");
for (const r of [dev, big])
    console.log(`${r.label.padEnd(16)} ${String(r.ms).padStart(7)}  ${String(r.objects).padStart(7)}  ${String(r.peakRssMiB ?? "n/a").padStart(12)}`);
console.log(`time ratio synthetic/dev: ${result.ratio_time_synthetic_over_dev} for ${result.ratio_objects_synthetic_over_dev}× the objects`);
fs.mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
fs.writeFileSync(path.join(ROOT, "bench/results/render.json"), JSON.stringify(result, null, 2) + "\n");
fs.rmSync(tmp, { recursive: true, force: true });
