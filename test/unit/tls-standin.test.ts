// The test-only pulumi-resource-tls stand-in (tools/toolchain/tls-standin) must keep the real provider's
// interface for the four resources the program uses: its schema.json is compared here with the types of the
// @pulumi/tls npm package the program is built against, so a version bump that changes them is caught.
// (The Go tests check that the stand-in's code and its schema.json agree.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { declared, fromSchema, sdkSecrets } from "./standinSchema";

const REPO = path.resolve(__dirname, "..", "..");
const schema = JSON.parse(fs.readFileSync(path.join(REPO, "tools", "toolchain", "tls-standin", "schema.json"), "utf8"));
const pkgDir = path.dirname(require.resolve("@pulumi/tls/package.json"));
// token -> [the SDK's file, its class]
const RESOURCES: Record<string, [string, string]> = {
    "tls:index/certRequest:CertRequest": ["certRequest", "CertRequest"],
    "tls:index/locallySignedCert:LocallySignedCert": ["locallySignedCert", "LocallySignedCert"],
    "tls:index/privateKey:PrivateKey": ["privateKey", "PrivateKey"],
    "tls:index/selfSignedCert:SelfSignedCert": ["selfSignedCert", "SelfSignedCert"],
};

test("the stand-in stands in for the @pulumi/tls version package.json pins, and implements exactly the four resources", () => {
    const pinned = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).dependencies["@pulumi/tls"];
    const installed = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
    assert.equal(installed.version, pinned, "node_modules/@pulumi/tls is not the pinned version (run npm ci)");
    assert.equal(installed.pulumi?.name, "tls");
    assert.match(schema.description, /STAND-IN/, "the schema must name the stand-in");
    assert.deepEqual(Object.keys(schema.resources).sort(), Object.keys(RESOURCES).sort());
    assert.deepEqual(schema.functions ?? {}, {}, "the stand-in implements no functions");
});

for (const [token, [file, name]] of Object.entries(RESOURCES)) {
    const resource = schema.resources[token];
    const sdk = declared(pkgDir, file, name);

    test(`${name}Args: the same inputs, types and required ones as the stand-in's inputProperties`, () => {
        assert.ok(sdk.args.size > 0, `${name}Args not found in ${file}.d.ts`);
        assert.deepEqual([...sdk.args.keys()].sort(), Object.keys(resource.inputProperties).sort());
        const required = [...sdk.args].filter(([, p]) => !p.optional).map(([k]) => k);
        assert.deepEqual(required.sort(), [...(resource.requiredInputs ?? [])].sort());
        for (const [k, p] of sdk.args) assert.equal(p.type, fromSchema(resource.inputProperties[k]), `input ${k}`);
    });

    test(`${name}State: the same properties as stateInputs, all optional`, () => {
        assert.ok(sdk.state.size > 0, `${name}State not found`);
        assert.deepEqual([...sdk.state.keys()].sort(), Object.keys(resource.stateInputs.properties).sort());
        for (const [k, p] of sdk.state) {
            assert.ok(p.optional, `state ${k} must be optional`);
            assert.equal(p.type, fromSchema(resource.stateInputs.properties[k]), `state ${k}`);
        }
    });

    test(`${name}'s outputs are the stand-in's properties; optional ones are exactly those not required`, () => {
        assert.deepEqual([...sdk.outputs.keys()].sort(), Object.keys(resource.properties).sort());
        const required = new Set<string>(resource.required ?? []);
        for (const [k, p] of sdk.outputs) {
            assert.equal(p.type, fromSchema(resource.properties[k]), `output ${k}`);
            // Generated SDKs type a non-required output as `Output<T | undefined>`.
            assert.equal(/\| undefined>$/.test(p.raw), !required.has(k), `output ${k}: required in schema=${required.has(k)}, SDK type ${p.raw}`);
        }
    });

    test(`${name}: the outputs the SDK marks secret are the stand-in's secret properties`, () => {
        const secrets = Object.entries<any>(resource.properties)
            .filter(([, p]) => p.secret)
            .map(([k]) => k)
            .sort();
        assert.deepEqual(sdkSecrets(pkgDir, file), secrets);
        assert.ok(
            secrets.some((k) => /rivateKeyPem$/.test(k)),
            "a private key is among the secrets",
        );
    });
}
