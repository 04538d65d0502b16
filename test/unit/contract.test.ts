import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseStackConfig } from "../../components/config";
import { SCRIPT_DEFAULTED_INPUTS } from "../../components/contract";
import { buildPlan } from "../../components/plan";
import { SCRIPTS_DIR } from "../../components/scripts";
import { deployedStateOf } from "../../components/step";
import { ROOT, STACK_FILES, rawOf } from "../helpers/configs";
import { objectsOf, runUnderMocks } from "../helpers/mockProgram";
import { contractErrors, declaredInputs, declaredRoles, scriptTexts, scriptUse, withoutInputLists } from "../helpers/scriptInputs";

const phase = (i: number) => parseStackConfig(rawOf(STACK_FILES[i]));

/**
 * The steps whose objects cover every script's container: the switchover step (its Job), the retire step
 * (its Job), a failover step (stacks/02's set with cluster1 lost and mysql-1 promoted: its Job) and
 * automatic failover turned on (the failover-agent container).
 */
function steps() {
    const failover = parseStackConfig({ ...rawOf(STACK_FILES[1]), primary: 1, failover: { lost: ["cluster1"] } });
    // automatic failover (stacks/02's set with cluster3 as the witness): the failover-agent container and the arbiter's inputs
    const automatic = parseStackConfig({ ...rawOf(STACK_FILES[1]), failover: { mode: "automatic", witnesses: ["cluster3"] } });
    return [
        { config: phase(2), prev: deployedStateOf(buildPlan(phase(1))) },
        { config: phase(5), prev: deployedStateOf(buildPlan(phase(4))) },
        { config: failover, prev: deployedStateOf(buildPlan(phase(1))) },
        { config: automatic, prev: deployedStateOf(buildPlan(phase(1))) },
    ];
}

/**
 * Every `MMC_*` name the program gives the scripts, as it declares them (under mocks): the env of every
 * pod container and Job container, and the keys of every topology.env. Name → where it is provided.
 */
async function providedInputs(): Promise<{ provided: Map<string, string>; seen: Set<string> }> {
    const provided = new Map<string, string>();
    const seen = new Set<string>();
    const add = (name: string, where: string) => provided.has(name) || provided.set(name, where);
    // Every step of steps(); each declares every cluster's pods and topology.
    for (const { config, prev } of steps()) {
        const run = await runUnderMocks(config, prev);
        for (const cluster of Object.keys(run.outputs.clusters)) {
            for (const [key, o] of objectsOf(run, cluster)) {
                seen.add(key);
                const pod = o.spec?.template?.spec;
                for (const ctr of pod ? [...(pod.initContainers ?? []), ...pod.containers] : []) {
                    const owner = o.kind === "StatefulSet" ? "components/contract.ts containerEnv" : `the ${o.metadata.name} Job`;
                    // (the arbiter's etcd container takes ETCD_* settings: not the scripts' contract)
                    for (const e of ctr.env ?? []) if (e.name.startsWith("MMC_")) add(e.name, `${owner} (${key}, container ${ctr.name})`);
                }
                if (o.kind === "ConfigMap" && o.data?.["topology.env"] !== undefined) {
                    for (const m of String(o.data["topology.env"]).matchAll(/^([A-Za-z0-9_]+)=/gm)) add(m[1], `components/contract.ts topologyEnv (${key})`);
                }
            }
        }
    }
    return { provided, seen };
}

test("the MMC_* inputs the scripts read are exactly the ones the program provides, both ways", async () => {
    const scripts = scriptTexts(SCRIPTS_DIR, ROOT);
    assert.ok(
        scripts.some((s) => s.file === path.join("components", "scripts", "init.sh")),
        "the scripts are found",
    );
    const { provided, seen } = await providedInputs();
    // Every source is covered: pods, the topology file, the switchover Job and the retire Job.
    for (const k of ["StatefulSet/mysql", "ConfigMap/mysql-topology", "Job/mysql-switchover-0-to-1", "Job/mysql-retire", "Job/mysql-failover-e2"])
        assert.ok(seen.has(k), `${k} was declared`);
    for (const n of ["MMC_POD_NAME", "MMC_ROOT_PASSWORD", "MMC_WRITE_HOST", "MMC_OLD_PRIMARY_HOST"]) assert.ok(provided.has(n), `${n} is provided`);
    assert.deepEqual(contractErrors(scripts, provided, SCRIPT_DEFAULTED_INPUTS), []);
});

test("every container gets the inputs its script declares (mmc_inputs_of), and each declared input is really used", async () => {
    const libEnv = fs.readFileSync(path.join(SCRIPTS_DIR, "lib-env.sh"), "utf8");
    const roles = declaredRoles(libEnv);
    assert.deepEqual([...roles].sort(), ["autofailover", "donor", "failover", "init", "probe", "replicate", "run", "switchover"]);
    // The names the scripts use, with the input lists themselves left out: a declared name must be used.
    const used = scriptUse(scriptTexts(SCRIPTS_DIR, ROOT).map(withoutInputLists)).reads;
    for (const role of roles) {
        for (const n of declaredInputs(SCRIPTS_DIR, role)) assert.ok(used.has(n), `mmc_inputs_of ${role} lists ${n}, which no script uses`);
    }
    // Each container that runs an entry script (command or probe) gets what that script validates.
    const missing: string[] = [];
    const ran = new Set<string>();
    for (const { config, prev } of steps()) {
        const run = await runUnderMocks(config, prev);
        for (const cluster of Object.keys(run.outputs.clusters)) {
            const objects = objectsOf(run, cluster);
            const topology = String(
                [...objects.values()].find((o) => o.kind === "ConfigMap" && o.data?.["topology.env"] !== undefined)?.data["topology.env"] ?? "",
            );
            const fromFile = [...topology.matchAll(/^([A-Za-z0-9_]+)=/gm)].map((m) => m[1]);
            for (const [key, o] of objects) {
                const pod = o.spec?.template?.spec;
                for (const ctr of pod ? [...(pod.initContainers ?? []), ...pod.containers] : []) {
                    const env = (ctr.env ?? []).map((e: { name: string }) => e.name);
                    const has = new Set([...env, ...(env.includes("MMC_TOPOLOGY_FILE") ? fromFile : [])]);
                    const commands = [ctr.command, ctr.readinessProbe?.exec?.command, ctr.livenessProbe?.exec?.command, ctr.startupProbe?.exec?.command];
                    for (const cmd of commands) {
                        const script = (cmd ?? []).join(" ").match(/\/([a-z]+)\.sh\b/)?.[1];
                        if (!script) continue;
                        ran.add(script);
                        for (const n of declaredInputs(SCRIPTS_DIR, script))
                            if (!has.has(n)) missing.push(`${key} container ${ctr.name} runs ${script}.sh without ${n}`);
                    }
                }
            }
        }
    }
    assert.deepEqual([...ran].sort(), [...roles].sort(), "every entry script runs somewhere");
    assert.deepEqual([...new Set(missing)], []);
});

test("the comparison fails, naming the variable and the file: unprovided, unread, stale and default-less inputs", () => {
    const scripts = [
        { file: "s/a.sh", text: '#!/usr/bin/env bash\necho "$MMC_NOBODY"\n: "${MMC_KNOB:-3}"\nMMC_OWN=1; echo "$MMC_OWN"  # MMC_IN_COMMENT\n' },
        { file: "s/sub/b.sh", text: 'f() { echo "${MMC_GIVEN}" "$MMC_BARE"; }\n' },
    ];
    const provided = new Map([
        ["MMC_GIVEN", "pod env"],
        ["MMC_UNREAD", "a Job"],
    ]);
    assert.deepEqual(contractErrors(scripts, provided, ["MMC_KNOB", "MMC_STALE", "MMC_BARE", "MMC_GIVEN"]), [
        "s/a.sh:2: reads MMC_NOBODY, which the program does not provide (container env, topology env, Jobs' env) and no script assigns",
        "MMC_UNREAD: provided by a Job, but no script under components/scripts reads it",
        "MMC_STALE: listed as defaulted by the scripts (contract.ts), but no script reads it",
        "s/sub/b.sh:1: reads MMC_BARE with no default, and the program never sets it",
        "MMC_GIVEN: listed as defaulted by the scripts (contract.ts), but pod env provides it",
    ]);
});

test("scripts are found recursively: every *.sh at any depth, nothing else", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mmc-scripts-"));
    fs.mkdirSync(path.join(dir, "lib", "sql"), { recursive: true });
    for (const f of ["run.sh", "lib/env.sh", "lib/sql/repl.sh", "README.md"]) fs.writeFileSync(path.join(dir, f), "echo $MMC_X\n");
    assert.deepEqual(
        scriptTexts(dir, dir).map((s) => s.file),
        ["lib/env.sh", "lib/sql/repl.sh", "run.sh"],
    );
});
