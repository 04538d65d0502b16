import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, StackConfig } from "../components/config";
import { buildPlan } from "../components/plan";
import { DeployedState, deployedStateOf, historyOf } from "../components/step";

/** A `Pulumi.<stack>.yaml`-format file: top-level `config:` with `project:key` entries. */
export interface StackFile {
    readonly path: string;
    /** The stack name when the file is named `Pulumi.<stack>.yaml`. */
    readonly stack?: string;
    readonly config: Record<string, unknown>;
}

/** Reads and parses a stack config file; one-line ConfigError naming the flag and file on any fault. */
export function readStackFile(file: string, flag: string): StackFile {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new ConfigError(`${flag} ${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    }
    let doc: unknown;
    try {
        doc = YAML.parse(text, { prettyErrors: true });
    } catch (e) {
        const err = e as Error & { linePos?: { line: number; col: number }[] };
        const pos = err.linePos?.[0] ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : "";
        throw new ConfigError(`${flag} ${file}: YAML does not parse${pos}: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`);
    }
    if (!doc || typeof doc !== "object" || Array.isArray(doc) || !("config" in doc)) {
        throw new ConfigError(`${flag} ${file}: not a stack config file: expected a top-level "config:" map`);
    }
    const config = (doc as { config: unknown }).config;
    if (!config || typeof config !== "object" || Array.isArray(config)) {
        throw new ConfigError(`${flag} ${file}: "config" must be a map of project:key entries`);
    }
    const m = /^Pulumi\.([^.]+)\.yaml$/.exec(path.basename(file));
    return { path: file, stack: m?.[1], config: config as Record<string, unknown> };
}

/**
 * Mock answer to the program's read of its own last deployment (a StackReference to itself): the state
 * that deploying `history` (earliest first, the last is the deployed config) leaves behind, or no outputs
 * for a first deployment. This plays the deployed
 * stack; the plan of the config being rendered is the program's own.
 */
export function previousStateOutputs(history: readonly StackConfig[]) {
    // Each deployment's state from the one before, by the program's own deployedStateOf: the claims a
    // cluster retains after moves (and a retire step's named claims) come out exactly as under `pulumi up`.
    const state = history.reduce<DeployedState | undefined>((prev, cfg) => deployedStateOf(buildPlan(cfg, historyOf(prev, cfg.primary)), prev), undefined);
    return (args: pulumi.runtime.MockResourceArgs) =>
        args.type === "pulumi:pulumi:StackReference" ? { outputs: state ? { migrationState: state } : {}, secretOutputNames: [] } : undefined;
}
