// Shared by the stand-in schema tests (random-standin.test.ts, tls-standin.test.ts): reads a generated
// Pulumi npm SDK's .d.ts for one resource and maps its TypeScript types to schema types, so a stand-in's
// schema.json can be compared with the SDK the program is built against.
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

export interface Prop {
    optional: boolean;
    type: string; // the schema type the TypeScript type corresponds to
    raw: string;
}

/** The schema type of a generated SDK type: pulumi.Input<number | undefined> -> integer, etc. */
export function schemaType(t: string): string {
    const s = t.replace(/\s+/g, " ");
    if (/\{ ?\[key: string\]: (pulumi\.Input<)?string>? ?;? ?\}/.test(s)) return "map<string>";
    const ref = s.match(/\b(?:inputs|outputs)\.(\w+)/);
    if (ref) return `ref:${ref[1]}`;
    if (/\b(?:pulumi\.Input<)?string>?\[\]/.test(s)) return "array<string>";
    if (/\bnumber\b/.test(s)) return "integer";
    if (/\bboolean\b/.test(s)) return "boolean";
    if (/\bstring\b/.test(s)) return "string";
    return `unknown(${s})`;
}

/** The same notation for a schema property. */
export function fromSchema(p: any): string {
    if (typeof p.$ref === "string") return `ref:${p.$ref.split(":").pop()}`;
    if (p.type === "array" && p.items?.type === "string") return "array<string>";
    return p.type === "object" && p.additionalProperties?.type === "string" ? "map<string>" : p.type;
}

/** Properties of <name>Args and <name>State, and the readonly outputs of class <name>, in <file>.d.ts. */
export function declared(pkgDir: string, file: string, name: string): { args: Map<string, Prop>; state: Map<string, Prop>; outputs: Map<string, Prop> } {
    const f = path.join(pkgDir, `${file}.d.ts`);
    const src = ts.createSourceFile(f, fs.readFileSync(f, "utf8"), ts.ScriptTarget.ES2022, true);
    const out = { args: new Map<string, Prop>(), state: new Map<string, Prop>(), outputs: new Map<string, Prop>() };
    const collect = (members: ts.NodeArray<ts.TypeElement | ts.ClassElement>, into: Map<string, Prop>) => {
        for (const m of members) {
            if (!(ts.isPropertySignature(m) || ts.isPropertyDeclaration(m)) || !m.type) continue;
            if (ts.isPropertyDeclaration(m) && m.modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword)) continue;
            into.set(m.name.getText(src), { optional: !!m.questionToken, type: schemaType(m.type.getText(src)), raw: m.type.getText(src) });
        }
    };
    src.forEachChild((n) => {
        if (ts.isInterfaceDeclaration(n) && n.name.text === `${name}Args`) collect(n.members, out.args);
        if (ts.isInterfaceDeclaration(n) && n.name.text === `${name}State`) collect(n.members, out.state);
        if (ts.isClassDeclaration(n) && n.name?.text === name) collect(n.members, out.outputs);
    });
    return out;
}

/** The outputs a generated resource's .js marks secret (additionalSecretOutputs), sorted. */
export function sdkSecrets(pkgDir: string, file: string): string[] {
    const js = fs.readFileSync(path.join(pkgDir, `${file}.js`), "utf8");
    const m = js.match(/additionalSecretOutputs:\s*\[([^\]]*)\]/);
    if (!m) throw new Error(`${file}.js declares no additionalSecretOutputs`);
    return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]).sort();
}
