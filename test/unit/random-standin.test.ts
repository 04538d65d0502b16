// The test-only pulumi-resource-random stand-in (tools/toolchain/random-standin) must keep the real
// provider's interface for RandomPassword: its schema.json is compared here with the types of the
// @pulumi/random npm package the program is built against, so a version bump that changes them is
// caught. (The Go tests check that the stand-in's code and its schema.json agree.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const REPO = path.resolve(__dirname, "..", "..");
const TOKEN = "random:index/randomPassword:RandomPassword";
const schema = JSON.parse(fs.readFileSync(path.join(REPO, "tools", "toolchain", "random-standin", "schema.json"), "utf8"));
const resource = schema.resources[TOKEN];
const pkgDir = path.dirname(require.resolve("@pulumi/random/package.json"));

interface Prop {
    optional: boolean;
    type: string; // the schema type the TypeScript type corresponds to
    raw: string;
}

/** The schema type of a generated SDK type: pulumi.Input<number | undefined> -> integer, etc. */
function schemaType(t: string): string {
    const s = t.replace(/\s+/g, " ");
    if (/\{ ?\[key: string\]: (pulumi\.Input<)?string>? ?;? ?\}/.test(s)) return "map<string>";
    if (/\bnumber\b/.test(s)) return "integer";
    if (/\bboolean\b/.test(s)) return "boolean";
    if (/\bstring\b/.test(s)) return "string";
    return `unknown(${s})`;
}

function fromSchema(p: any): string {
    return p.type === "object" && p.additionalProperties?.type === "string" ? "map<string>" : p.type;
}

/** Properties of an interface, or the readonly output properties of a class, in randomPassword.d.ts. */
function declared(): { args: Map<string, Prop>; state: Map<string, Prop>; outputs: Map<string, Prop> } {
    const file = path.join(pkgDir, "randomPassword.d.ts");
    const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
    const out = { args: new Map<string, Prop>(), state: new Map<string, Prop>(), outputs: new Map<string, Prop>() };
    const collect = (members: ts.NodeArray<ts.TypeElement | ts.ClassElement>, into: Map<string, Prop>) => {
        for (const m of members) {
            if (!(ts.isPropertySignature(m) || ts.isPropertyDeclaration(m)) || !m.type) continue;
            if (ts.isPropertyDeclaration(m) && m.modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword)) continue;
            into.set(m.name.getText(src), { optional: !!m.questionToken, type: schemaType(m.type.getText(src)), raw: m.type.getText(src) });
        }
    };
    src.forEachChild((n) => {
        if (ts.isInterfaceDeclaration(n) && n.name.text === "RandomPasswordArgs") collect(n.members, out.args);
        if (ts.isInterfaceDeclaration(n) && n.name.text === "RandomPasswordState") collect(n.members, out.state);
        if (ts.isClassDeclaration(n) && n.name?.text === "RandomPassword") collect(n.members, out.outputs);
    });
    return out;
}

test("the stand-in stands in for the @pulumi/random version package.json pins", () => {
    const pinned = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).dependencies["@pulumi/random"];
    const installed = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
    assert.equal(installed.version, pinned, "node_modules/@pulumi/random is not the pinned version (run npm ci)");
    assert.equal(installed.pulumi?.name, "random");
    assert.match(schema.description, /STAND-IN/, "the schema must name the stand-in");
    assert.deepEqual(Object.keys(schema.resources), [TOKEN], "the stand-in implements exactly RandomPassword");
});

test("RandomPasswordArgs: the same inputs, types and required ones as the stand-in's inputProperties", () => {
    const { args } = declared();
    assert.ok(args.size > 0, "RandomPasswordArgs not found in randomPassword.d.ts");
    assert.deepEqual([...args.keys()].sort(), Object.keys(resource.inputProperties).sort());
    assert.deepEqual(
        [...args]
            .filter(([, p]) => !p.optional)
            .map(([k]) => k)
            .sort(),
        [...resource.requiredInputs].sort(),
    );
    for (const [k, p] of args) assert.equal(p.type, fromSchema(resource.inputProperties[k]), `input ${k}`);
});

test("RandomPasswordState: the same properties as stateInputs, all optional", () => {
    const { state } = declared();
    assert.ok(state.size > 0, "RandomPasswordState not found");
    assert.deepEqual([...state.keys()].sort(), Object.keys(resource.stateInputs.properties).sort());
    for (const [k, p] of state) {
        assert.ok(p.optional, `state ${k} must be optional`);
        assert.equal(p.type, fromSchema(resource.stateInputs.properties[k]), `state ${k}`);
    }
});

test("RandomPassword's outputs are the stand-in's properties; optional ones are exactly those not required", () => {
    const { outputs } = declared();
    assert.deepEqual([...outputs.keys()].sort(), Object.keys(resource.properties).sort());
    const required = new Set<string>(resource.required);
    for (const [k, p] of outputs) {
        assert.equal(p.type, fromSchema(resource.properties[k]), `output ${k}`);
        // Generated SDKs type a non-required output as `Output<T | undefined>`.
        assert.equal(/\| undefined>$/.test(p.raw), !required.has(k), `output ${k}: required in schema=${required.has(k)}, SDK type ${p.raw}`);
    }
});

test("the outputs the SDK marks secret are the stand-in's secret properties", () => {
    const js = fs.readFileSync(path.join(pkgDir, "randomPassword.js"), "utf8");
    const m = js.match(/additionalSecretOutputs:\s*\[([^\]]*)\]/);
    assert.ok(m, "randomPassword.js declares no additionalSecretOutputs");
    const sdkSecrets = [...m![1].matchAll(/"([^"]+)"/g)].map((x) => x[1]).sort();
    const schemaSecrets = Object.entries<any>(resource.properties)
        .filter(([, p]) => p.secret)
        .map(([k]) => k)
        .sort();
    assert.deepEqual(sdkSecrets, schemaSecrets);
    assert.deepEqual(sdkSecrets, ["bcryptHash", "result"]);
});
