// The MysqlMultiCluster component (issue 16, "A component to import"): the program's own set keeps the
// URNs existing stacks hold; two sets live side by side in one program.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Registration, programRegistrations, runProgram } from "../helpers/urns";
import { urnScenarios } from "../helpers/urnScenarios";
import { ROOT } from "../helpers/configs";

const COMPONENT = "mysql-multicluster:index:MysqlMultiCluster";
const value = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply(r));

/**
 * Every URN a registration also answers to: its own alias specs, and the aliases it inherits from its
 * parent's (the engine's rule, computed with the SDK's own `allAliases`: a child named `<parent>-x`
 * follows a renamed parent).
 */
async function aliasUrns(regs: readonly Registration[]): Promise<Map<string, string[]>> {
    const byUrn = new Map(regs.map((r) => [r.urn, r]));
    const memo = new Map<string, Promise<string[]>>();
    const full = (r: Registration): Promise<string[]> => {
        const known = memo.get(r.urn);
        if (known) return known;
        const p = (async () => {
            const own = r.aliases.map((a) => {
                if (a.urn) return a.urn;
                const parent = a.noParent ? undefined : a.parentUrn || r.parent || undefined;
                return value(pulumi.createUrn(a.name || r.name, a.type || r.type, parent));
            });
            const parent = byUrn.get(r.parent);
            const inherited = parent
                ? pulumi.allAliases([], r.name, r.type, { __aliases: (await full(parent)).map((u) => pulumi.output(u)) } as never, parent.name).map(value)
                : [];
            return Promise.all([...own, ...inherited]);
        })();
        memo.set(r.urn, p);
        return p;
    };
    const out = new Map<string, string[]>();
    for (const r of regs) out.set(r.urn, await full(r));
    return out;
}

test("existing stacks keep their resources: every URN the program registered before the component is the URN or an alias of exactly one resource now", async () => {
    const before: Record<string, string[]> = JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/stack-root-urns.json"), "utf8"));
    const scenarios = urnScenarios();
    assert.deepEqual(scenarios.map((s) => s.name).sort(), Object.keys(before).sort());
    for (const s of scenarios) {
        const regs = await programRegistrations(s.raws);
        const aliases = await aliasUrns(regs);
        const old = new Set(before[s.name]);
        const claimed = new Map<string, string>();
        for (const r of regs) {
            const matches = [r.urn, ...aliases.get(r.urn)!].filter((u) => old.has(u));
            if (r.type === COMPONENT) {
                // The one new resource: a component (no cloud object), created once on the first `up`.
                assert.deepEqual(matches, [], `${s.name}: the component matches an old URN`);
                continue;
            }
            assert.equal(
                new Set(matches).size,
                1,
                `${s.name}: ${r.urn} matches ${matches.length ? matches.join(", ") : "no old URN"} (a create, or ambiguous)`,
            );
            const prior = claimed.get(matches[0]);
            assert.equal(prior, undefined, `${s.name}: ${matches[0]} claimed by ${prior} and ${r.urn}`);
            claimed.set(matches[0], r.urn);
        }
        // Nothing the stack holds is left unclaimed (that would be a delete).
        assert.deepEqual(
            [...old].filter((u) => !claimed.has(u)),
            [],
            `${s.name}: deleted`,
        );
        // The set's children moved under the component; the providers (referenced by URN) did not move.
        assert.ok(
            regs.some((r) => r.type === "mysql-multicluster:cluster:ClusterMember" && r.parent.endsWith(`${COMPONENT}::mysql`)),
            s.name,
        );
        for (const p of regs.filter((r) => r.type === "pulumi:providers:kubernetes")) assert.ok(old.has(p.urn), `${s.name}: provider ${p.urn} moved`);
    }
});

test("the alias check fails when a child loses its alias (the test can fail)", async () => {
    const before: Record<string, string[]> = JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/stack-root-urns.json"), "utf8"));
    const regs = (await programRegistrations(urnScenarios()[0].raws)).map((r) => (r.name === "credentials" ? { ...r, aliases: [] } : r));
    const aliases = await aliasUrns(regs);
    const old = new Set(before["walk 1"]);
    const unmatched = regs.filter((r) => r.type !== COMPONENT && ![r.urn, ...aliases.get(r.urn)!].some((u) => old.has(u))).map((r) => r.name);
    assert.deepEqual(unmatched.sort(), ["credentials", "credentials-admin", "credentials-replication", "credentials-root", "credentials-seed"]);
});

/** The TypeScript example of docs/two-sets.md, run as a program under mocks. */
async function runTwoSets(states: Record<string, unknown> = {}) {
    const doc = fs.readFileSync(path.join(ROOT, "docs/two-sets.md"), "utf8");
    // The example's imports, resolved from the repository (it is written to a temporary directory).
    const code = /```ts\n([\s\S]*?)```/
        .exec(doc)![1]
        .replace(/from "(\.\/[^"]+|@pulumi\/[^"]+)"/g, (_, m: string) => `from ${JSON.stringify(m.startsWith(".") ? path.join(ROOT, m) : require.resolve(m))}`);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mmc-two-sets-")), "program.ts");
    fs.writeFileSync(file, code);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the example, loaded as the language host loads a program
    const program = require(file);
    const outputs = Object.fromEntries(Object.entries(states).map(([set, s]) => [set, { migrationState: s }]));
    return runProgram(program, {}, (args) => (args.type === "pulumi:pulumi:StackReference" ? { outputs, secretOutputNames: [] } : undefined));
}

test("docs/two-sets.md: two sets in one program: distinct URNs, distinct Kubernetes names, each with its own providers and outputs", async () => {
    const run = await runTwoSets();
    const urns = run.registrations.map((r) => r.urn);
    assert.equal(new Set(urns).size, urns.length, "a URN registered twice");
    assert.deepEqual(
        run.registrations.filter((r) => r.type === COMPONENT).map((r) => r.name),
        ["orders", "billing"],
    );
    // Every child of a set is under its component and carries its name.
    for (const r of run.registrations.filter((x) => x.type === "mysql-multicluster:cluster:ClusterMember"))
        assert.match(r.urn, new RegExp(`${COMPONENT}\\$mysql-multicluster:cluster:ClusterMember::(orders|billing)-(east|west)$`));
    // orders uses the passed-in providers, billing builds its own, named after it.
    assert.deepEqual(
        Object.values(run.outputs.orders.clusters).map((c: any) => [c.provider, c.context]),
        [
            ["east", null],
            ["west", null],
        ],
    );
    assert.deepEqual(
        Object.values(run.outputs.billing.clusters).map((c: any) => [c.provider, c.context]),
        [
            ["billing-k8s-east", "kind-east"],
            ["billing-k8s-west", "kind-west"],
        ],
    );
    const providerContexts = run.resources.filter((r) => r.type === "pulumi:providers:kubernetes").map((r) => [r.name, r.inputs.context]);
    assert.deepEqual(providerContexts.sort(), [
        ["billing-k8s-east", "kind-east"],
        ["billing-k8s-west", "kind-west"],
        ["east", "kind-east"],
        ["west", "kind-west"],
    ]);
    // Kubernetes objects: per real cluster (context), no kind/namespace/name declared twice.
    const contextOf = new Map(providerContexts.map(([n, c]) => [n, c]));
    const seen = new Map<string, string>();
    const sets = new Map<string, Set<string>>();
    for (const r of run.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
        const o = r.inputs;
        const key = `${contextOf.get(r.provider!)} ${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
        assert.equal(seen.get(key), undefined, `${key} declared by ${seen.get(key)} and ${r.name}`);
        seen.set(key, r.name);
        const set = o.metadata.labels?.["app.kubernetes.io/instance"] ?? o.metadata.name;
        sets.set(set, (sets.get(set) ?? new Set()).add(o.kind));
    }
    assert.ok(seen.has("kind-east StatefulSet/orders/orders") && seen.has("kind-west StatefulSet/orders/orders"));
    assert.ok(seen.has("kind-west StatefulSet/billing/billing") && seen.has("kind-west PersistentVolume//billing-data-west-1"));
    assert.ok(seen.has("kind-east PersistentVolume//orders-data-east-1"));
    // Each set's outputs are its own.
    assert.deepEqual(run.outputs.orders.migrationState.placement, ["east", "west"]);
    assert.deepEqual(run.outputs.billing.migrationState.placement, ["west", "west"]);
    assert.equal(run.outputs.billing.writeEndpoint.split(".")[0], "billing-write");
});

test("docs/two-sets.md: each set's step is judged against its own state output; an unsafe step of one set is refused before anything is registered", async () => {
    const first = await runTwoSets();
    // Deployed once: the same config again is a steady step for both.
    const again = await runTwoSets({ orders: first.outputs.orders.migrationState, billing: first.outputs.billing.migrationState });
    assert.deepEqual([first.outputs.orders.step.kind, first.outputs.billing.step.kind], ["initial", "initial"]);
    assert.deepEqual([again.outputs.orders.step.kind, again.outputs.billing.step.kind], ["unchanged", "unchanged"]);
    // billing's state says both members are in east: the config (both in west) moves two at once.
    const east = { ...first.outputs.billing.migrationState, placement: ["east", "east"] };
    await assert.rejects(
        () => runTwoSets({ orders: first.outputs.orders.migrationState, billing: east }),
        (e: Error) => /move|moves|at most/i.test(e.message) && !/\n/.test(e.message),
    );
});
