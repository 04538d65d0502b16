import * as fs from "fs";
import * as path from "path";

/** The entry scripts every pod runs (docs/dataplane-contract.md) and the modules they source; all ship, in one flat directory, in the ConfigMap `<set>-scripts`. */
export const REQUIRED_SCRIPTS = [
    "init.sh",
    "run.sh",
    "replicate.sh",
    "donor.sh",
    "probe.sh",
    "switchover.sh",
    "failover.sh",
    "lib-env.sh",
    "lib-sql.sh",
    "lib-engine.sh",
    "lib-repl.sh",
    "lib-job.sh",
    "lib-stream.sh",
    "lib-arbiter.sh",
    "lib-autofailover.sh",
    "autofailover.sh",
] as const;

export const SCRIPTS_DIR = path.join(__dirname, "scripts");

/** Reads every file of `components/scripts/` (name → content). Throws naming a missing script. */
export function loadScripts(dir: string = SCRIPTS_DIR): Record<string, string> {
    const files = fs.existsSync(dir)
        ? fs
              .readdirSync(dir)
              .filter((f) => fs.statSync(path.join(dir, f)).isFile())
              .sort()
        : [];
    const missing = REQUIRED_SCRIPTS.filter((s) => !files.includes(s));
    if (missing.length) throw new Error(`data-plane scripts missing from ${dir}: ${missing.join(", ")}`);
    return Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));
}
