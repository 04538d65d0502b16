/**
 * The `MMC_*` inputs of the data-plane scripts, read from their text: which names each script reads and
 * which it assigns itself. Used to prove the scripts and the program agree on the contract, both ways.
 */
import * as fs from "fs";
import * as path from "path";

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
export function contractErrors(
    scripts: readonly ScriptText[],
    provided: ReadonlyMap<string, string>,
    scriptDefaulted: readonly string[],
): string[] {
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
