// The test-only pulumi-resource-random stand-in (tools/toolchain/random-standin) must keep the real
// provider's interface for RandomPassword: its schema.json is compared here with the types of the
// @pulumi/random npm package the program is built against, so a version bump that changes them is
// caught. (The Go tests check that the stand-in's code and its schema.json agree.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { declared as declaredIn, fromSchema, sdkSecrets } from "./standinSchema";

const REPO = path.resolve(__dirname, "..", "..");
const TOKEN = "random:index/randomPassword:RandomPassword";
const schema = JSON.parse(fs.readFileSync(path.join(REPO, "tools", "toolchain", "random-standin", "schema.json"), "utf8"));
const resource = schema.resources[TOKEN];
const pkgDir = path.dirname(require.resolve("@pulumi/random/package.json"));

const declared = () => declaredIn(pkgDir, "randomPassword", "RandomPassword");

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
    const sdk = sdkSecrets(pkgDir, "randomPassword");
    const schemaSecrets = Object.entries<any>(resource.properties)
        .filter(([, p]) => p.secret)
        .map(([k]) => k)
        .sort();
    assert.deepEqual(sdk, schemaSecrets);
    assert.deepEqual(sdk, ["bcryptHash", "result"]);
});
