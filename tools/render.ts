/**
 * Offline renderer: evaluates the Pulumi program itself (index.ts) under Pulumi's mock runtime — no
 * cluster, no CLI — and writes every Kubernetes object it declares as YAML under <out>/<cluster>/.
 *
 *   npm run render -- --config <stack config file> [--previous <earlier deployed stack config file>]... [--previous <deployed stack config file>] --out <dir>
 *
 * Bad input: one line naming the flag, file or key at fault, exit 2, nothing written.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { ConfigError, PROJECT, parseStackConfig, stripProjectPrefix } from "../components/config";
import { DeploymentOutputs, placementTable } from "../components/deployment";
import { OFFLINE_SECRET, clustersByProvider, kubernetesObjects, recordingMocks } from "./mocks";
import { previousStateOutputs, readStackFile } from "./stackFile";

class UsageError extends Error {}

interface Args {
    config: string;
    out: string;
    /** Deployed stack config files, earliest first; the last is the deployed one, the earlier ones its history. */
    previous: string[];
    stack?: string;
    quiet: boolean;
}

const USAGE =
    "usage: npm run render -- --config <stack config file> [--previous <earlier deployed stack config file>]... [--previous <deployed stack config file>] --out <dir> [--stack <name>] [--quiet]";

export function parseArgs(argv: string[]): Args {
    const a: Partial<Args> & Pick<Args, "previous"> = { quiet: false, previous: [] };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag}: needs a value. ${USAGE}`);
            return v;
        };
        switch (flag) {
            case "--config":
                a.config = value();
                break;
            case "--out":
                a.out = value();
                break;
            case "--previous":
                a.previous.push(value());
                break;
            case "--stack":
                a.stack = value();
                break;
            case "--quiet":
                a.quiet = true;
                break;
            case "--help":
            case "-h":
                throw new UsageError(USAGE);
            default:
                throw new UsageError(`${flag}: unknown argument. ${USAGE}`);
        }
    }
    if (!a.config) throw new UsageError(`--config is required. ${USAGE}`);
    if (!a.out) throw new UsageError(`--out is required. ${USAGE}`);
    return a as Args;
}

/** Written last into every render: the files it wrote, signed, so a later render deletes only those. */
export const RENDER_MARKER = ".mysql-multicluster-render.json";
const MARKER_TOOL = "mysql-multicluster tools/render.ts";

export function markerSignature(files: readonly string[]): string {
    return createHash("sha256")
        .update(`${MARKER_TOOL}\0${files.join("\0")}`)
        .digest("hex");
}

function filesUnder(dir: string, rel = ""): string[] {
    return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
        const r = rel ? `${rel}/${e.name}` : e.name;
        return e.isDirectory() ? filesUnder(dir, r) : [r];
    });
}

/**
 * The output directory must be new, empty, or an earlier render: its marker's signature holds and it
 * holds nothing else. Returns the files the earlier render wrote (the only ones a new render deletes).
 */
export function checkOutDir(out: string): string[] {
    if (!fs.existsSync(out)) return [];
    if (!fs.statSync(out).isDirectory()) throw new UsageError(`--out ${out}: exists and is not a directory`);
    const present = filesUnder(out);
    if (!present.length) return [];
    let marker: { tool?: unknown; files?: unknown; signature?: unknown } | undefined;
    try {
        marker = JSON.parse(fs.readFileSync(path.join(out, RENDER_MARKER), "utf8"));
    } catch {
        marker = undefined;
    }
    const files = marker && Array.isArray(marker.files) && marker.files.every((f) => typeof f === "string") ? (marker.files as string[]) : undefined;
    if (!files || marker!.tool !== MARKER_TOOL || marker!.signature !== markerSignature(files)) {
        throw new UsageError(`--out ${out}: directory is not empty and holds no earlier render (no valid ${RENDER_MARKER}); refusing to overwrite it`);
    }
    const foreign = present.filter((f) => f !== RENDER_MARKER && !files.includes(f));
    if (foreign.length) {
        throw new UsageError(
            `--out ${out}: holds files the earlier render did not write (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}); refusing to touch it`,
        );
    }
    return files;
}

/** Secret values are never written: under mocks they are placeholders already; redact whatever is there. */
function redact(obj: Record<string, any>): Record<string, any> {
    if (obj.kind !== "Secret") return obj;
    const hide = (m?: Record<string, unknown>) => (m ? Object.fromEntries(Object.keys(m).map((k) => [k, OFFLINE_SECRET])) : undefined);
    return { ...obj, ...(obj.stringData ? { stringData: hide(obj.stringData) } : {}), ...(obj.data ? { data: hide(obj.data) } : {}) };
}

function fileName(obj: Record<string, any>): string {
    return `${String(obj.kind).toLowerCase()}-${obj.metadata?.name}.yaml`;
}

async function main(argv: string[]): Promise<number> {
    const args = parseArgs(argv);
    // The config itself is validated by the program, exactly as under `pulumi up` (one line, exit 2).
    const next = readStackFile(args.config, "--config");
    // Every --previous is validated like a config; together they are the deployments that led here.
    const history = args.previous.map((f) => parseStackConfig(stripProjectPrefix(readStackFile(f, "--previous").config)));
    const earlier = checkOutDir(args.out);

    // The program reads config exactly as under `pulumi up`: the flat project:key map.
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(next.config)) flat[k] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(flat);
    const stack = args.stack ?? next.stack ?? "render";
    const { mocks, resources } = recordingMocks(previousStateOutputs(history));
    await pulumi.runtime.setMocks(mocks, PROJECT, stack, false, "organization");

    // Exactly what the Pulumi language host does with a program whose export is a function.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS program is loaded as the language host loads it
    const program = require("../index");
    const exported: Record<string, unknown> = typeof program === "function" ? await program() : program;
    await pulumi.runtime.disconnect();
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(exported)) outputs[k] = await unwrap(v);
    // What is printed and written comes from the program's outputs, never from a second plan.
    const out = outputs as unknown as Omit<DeploymentOutputs, "migrationState">;

    const byCluster = new Map<string, { file: string; text: string }[]>();
    for (const { cluster, object } of kubernetesObjects(resources, clustersByProvider(out.clusters))) {
        const obj = redact(object);
        const files = byCluster.get(cluster) ?? [];
        // YAML 1.1 output: kubectl reads 1.1, where a bare `on` would be a boolean; 1.1 quotes it.
        files.push({ file: fileName(obj), text: YAML.stringify(obj, { lineWidth: 0, blockQuote: "literal", version: "1.1" }) });
        byCluster.set(cluster, files);
    }
    const planJson = {
        stack,
        config: path.resolve(args.config),
        previous: args.previous.length ? path.resolve(args.previous[args.previous.length - 1]) : null,
        history: args.previous.slice(0, -1).map((f) => path.resolve(f)),
        firstDeployment: args.previous.length === 0,
        placement: out.placement.map((p) => p.cluster),
        primary: out.primary.ordinal,
        applyOrder: out.step.applyOrder,
        step: out.step,
        clusters: Object.fromEntries(
            Object.entries(out.clusters).map(([name, c]) => [
                name,
                {
                    context: c.context,
                    clusterId: c.clusterId,
                    ordinals: c.ordinals,
                    retired: c.retired,
                    files: (byCluster.get(name) ?? []).map((f) => f.file).sort(),
                },
            ]),
        ),
        outputs,
    };

    // Everything is decided; only now touch the disk, and only files a render wrote.
    for (const f of earlier) fs.rmSync(path.join(args.out, f), { force: true });
    fs.rmSync(path.join(args.out, RENDER_MARKER), { force: true });
    for (const d of new Set(earlier.filter((f) => f.includes("/")).map((f) => path.join(args.out, path.dirname(f))))) {
        if (fs.existsSync(d) && fs.readdirSync(d).length === 0) fs.rmdirSync(d);
    }
    const written: string[] = [];
    for (const [cluster, files] of byCluster) {
        const dir = path.join(args.out, cluster);
        fs.mkdirSync(dir, { recursive: true });
        for (const f of files) {
            fs.writeFileSync(path.join(dir, f.file), f.text);
            written.push(`${cluster}/${f.file}`);
        }
    }
    fs.mkdirSync(args.out, { recursive: true });
    fs.writeFileSync(path.join(args.out, "plan.json"), JSON.stringify(planJson, null, 2) + "\n");
    written.push("plan.json");
    written.sort();
    fs.writeFileSync(
        path.join(args.out, RENDER_MARKER),
        JSON.stringify({ tool: MARKER_TOOL, files: written, signature: markerSignature(written) }, null, 2) + "\n",
    );
    if (args.previous.length === 0) {
        console.log(
            `note: no --previous given: this shows a first deployment (every object created). To see a later step, pass --previous <the deployed stack config file>`,
        );
    }
    if (!args.quiet) {
        // The step table was printed by the program itself (pulumi.log.info), exactly as under `pulumi up`.
        console.log(placementTable(out.placement));
        const total = [...byCluster.values()].reduce((n, f) => n + f.length, 0);
        console.log(`\nwrote ${total} objects for ${byCluster.size} cluster(s) to ${args.out}/`);
    }
    return 0;
}

function unwrap(v: unknown): Promise<unknown> {
    return pulumi.Output.isInstance(v) ? new Promise((r) => (v as pulumi.Output<unknown>).apply(r)) : Promise.resolve(v);
}

/** A user error is one line on stderr and exit code 2; anything else is a bug and keeps its trace. */
function isUserError(e: unknown): e is Error {
    return e instanceof UsageError || e instanceof ConfigError || pulumi.RunError.isInstance(e);
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (e) => {
            if (isUserError(e)) {
                console.error(`error: ${e.message}`);
                process.exit(2);
            }
            console.error(e);
            process.exit(1);
        },
    );
}
