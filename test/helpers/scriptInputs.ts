/**
 * The `MMC_*` inputs of the data-plane scripts, read from their text: which names each script reads and
 * which it assigns itself. Used to prove the scripts and the program agree on the contract, both ways.
 */
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";

export interface ScriptText {
    /** Path shown in errors (relative to the repository). */
    readonly file: string;
    readonly text: string;
}

const NAME = /MMC_[A-Z0-9_]+/g;

/** Every `*.sh` under `dir`, recursively, sorted; `file` relative to `root`. */
export function scriptTexts(dir: string, root: string): ScriptText[] {
    const out: ScriptText[] = [];
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.isFile() && e.name.endsWith(".sh")) out.push({ file: path.relative(root, p), text: fs.readFileSync(p, "utf8") });
        }
    };
    walk(dir);
    return out;
}

/** Shell text without comments: a `#` at the start of a word (after a blank or `;`) starts one. */
function stripComments(text: string): string[] {
    return text.split("\n").map((l) => (l.startsWith("#!") ? "" : l.replace(/(^|[\s;])#.*$/, "$1")));
}

export interface ScriptUse {
    /** name → first `file:line` where it is read. */
    readonly reads: Map<string, string>;
    /** Names read somewhere with a default of the script's own: `${X:-d}`, `${X:=d}`, `${X-d}`, `${X=d}`. */
    readonly defaulted: Set<string>;
    /** Names some script assigns: `X=...`, `X+=...` (a `${X:=d}` default is not counted: it is an input). */
    readonly assigns: Set<string>;
}

/** What the scripts read and assign, across all of them (they source each other). */
export function scriptUse(scripts: readonly ScriptText[]): ScriptUse {
    const reads = new Map<string, string>();
    const defaulted = new Set<string>();
    const assigns = new Set<string>();
    for (const s of scripts) {
        stripComments(s.text).forEach((line, i) => {
            for (const m of line.matchAll(NAME)) {
                const before = line.slice(0, m.index);
                const after = line.slice(m.index! + m[0].length);
                // An assignment: the name starts a word and is followed by `=` or `+=`.
                if (/(^|[\s;&|(`])$/.test(before) && /^\+?=/.test(after)) {
                    assigns.add(m[0]);
                    continue;
                }
                if (!reads.has(m[0])) reads.set(m[0], `${s.file}:${i + 1}`);
                if (/\$\{$/.test(before) && /^:?[-=]/.test(after)) defaulted.add(m[0]);
            }
        });
    }
    return { reads, defaulted, assigns };
}

/**
 * Compares what the scripts read with what the program provides (name → where it is provided) and with
 * the inputs the scripts default themselves on purpose. Returns one line per disagreement, naming the
 * variable and the file.
 */
export function contractErrors(scripts: readonly ScriptText[], provided: ReadonlyMap<string, string>, scriptDefaulted: readonly string[]): string[] {
    const use = scriptUse(scripts);
    const errors: string[] = [];
    for (const [name, at] of use.reads) {
        if (provided.has(name) || use.assigns.has(name) || scriptDefaulted.includes(name)) continue;
        errors.push(`${at}: reads ${name}, which the program does not provide (container env, topology env, Jobs' env) and no script assigns`);
    }
    for (const [name, where] of provided) {
        if (!use.reads.has(name)) errors.push(`${name}: provided by ${where}, but no script under components/scripts reads it`);
    }
    for (const name of scriptDefaulted) {
        if (provided.has(name)) errors.push(`${name}: listed as defaulted by the scripts (contract.ts), but ${provided.get(name)} provides it`);
        else if (!use.reads.has(name)) errors.push(`${name}: listed as defaulted by the scripts (contract.ts), but no script reads it`);
        else if (!use.defaulted.has(name)) errors.push(`${use.reads.get(name)}: reads ${name} with no default, and the program never sets it`);
    }
    return errors;
}

/**
 * The inputs an entry script declares it needs (`mmc_inputs_of` and `mmc_lists_of` in lib-env.sh, plus
 * MMC_ENGINE and MMC_POD_NAME, which every entry validates): asked from lib-env.sh itself, by bash.
 */
export function declaredInputs(scriptsDir: string, role: string): string[] {
    const lib = path.join(scriptsDir, "lib-env.sh");
    const out = execFileSync("bash", ["-c", `. "$1" && mmc_inputs_of "$2" && mmc_lists_of "$2"`, "declared", lib, role], { encoding: "utf8" });
    return ["MMC_ENGINE", "MMC_POD_NAME", ...out.split(/\s+/).filter(Boolean)];
}

/** The roles lib-env.sh declares inputs for (the `case` arms of `mmc_inputs_of`). */
export function declaredRoles(libEnvText: string): string[] {
    const body = libEnvText.slice(libEnvText.indexOf("mmc_inputs_of() {"), libEnvText.indexOf("\n}\n", libEnvText.indexOf("mmc_inputs_of() {")));
    return [...body.matchAll(/^\s*([a-z]+)\) echo /gm)].map((m) => m[1]);
}

/**
 * lib-env.sh without the functions that only list names (`mmc_inputs_of`, `mmc_lists_of`,
 * `mmc_numeric_inputs`): what is left references the names the scripts really use.
 */
export function withoutInputLists(s: ScriptText): ScriptText {
    let text = s.text;
    for (const fn of ["mmc_inputs_of() {", "mmc_lists_of() {"]) {
        const a = text.indexOf(fn);
        if (a >= 0) text = text.slice(0, a) + text.slice(text.indexOf("\n}\n", a) + 3);
    }
    return { file: s.file, text: text.replace(/^mmc_numeric_inputs\(\).*$/m, "") };
}
