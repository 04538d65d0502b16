import * as pulumi from "@pulumi/pulumi";
// The mock monitor is where the SDK sends each registration (URN, parent, aliases as the engine gets them).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- an SDK module without a public import path
const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks") as { MockMonitor: { prototype: Record<string, any> } };
import { PROJECT, parseStackConfig } from "../../components/config";
import { previousStateOutputs } from "../../tools/stackFile";
import { RecordedResource, recordingMocks } from "../../tools/mocks";

/** One registration as the engine receives it. */
export interface Registration {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    /** Parent URN ("" at the stack root). */
    readonly parent: string;
    /** Alias specs: `noParent` (the stack root) and/or another name, type or parent. */
    readonly aliases: { readonly noParent: boolean; readonly name: string; readonly type: string; readonly parentUrn: string; readonly urn: string }[];
}

/**
 * Runs the program's own index.ts under mocks with `raws` (raw configs, earliest first): the last is
 * deployed on top of the state the earlier ones left (as `npm run render -- --previous ...` does).
 * Returns every resource registration, in order.
 */
export async function programRegistrations(raws: readonly Record<string, unknown>[], stack = "test"): Promise<Registration[]> {
    const target = raws[raws.length - 1];
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(target)) flat[`${PROJECT}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program, loaded as the language host loads it
    const run = await runProgram(require("../../index"), flat, previousStateOutputs(raws.slice(0, -1).map((r) => parseStackConfig(r))), stack);
    return run.registrations;
}

/** One program run under mocks: its registrations (engine URNs), recorded resources and resolved outputs. */
export interface ProgramRun {
    readonly registrations: Registration[];
    readonly resources: RecordedResource[];
    readonly outputs: Record<string, any>;
}

/**
 * Runs a program module (its export a function, as the language host runs it) under mocks, with the
 * flat `project:key` config and `extraState` answering reads (e.g. the stack's own outputs).
 */
export async function runProgram(
    program: () => unknown,
    flat: Record<string, string>,
    extraState: Parameters<typeof recordingMocks>[0],
    stack = "test",
): Promise<ProgramRun> {
    const registrations: Registration[] = [];
    const original = MockMonitor.prototype.registerResource;
    MockMonitor.prototype.registerResource = function (req: any, callback: (err: unknown, res: any) => void) {
        return original.call(this, req, (err: unknown, res: any) => {
            if (!err)
                registrations.push({
                    urn: res.getUrn(),
                    type: req.getType(),
                    name: req.getName(),
                    parent: req.getParent(),
                    aliases: req.getAliasesList().map((a: any) => {
                        const s = a.getSpec();
                        return s
                            ? { noParent: s.getNoparent(), name: s.getName(), type: s.getType(), parentUrn: s.getParenturn(), urn: "" }
                            : { noParent: false, name: "", type: "", parentUrn: "", urn: a.getUrn() };
                    }),
                });
            callback(err, res);
        });
    };
    try {
        pulumi.runtime.setAllConfig(flat);
        const { mocks, resources } = recordingMocks(extraState);
        await pulumi.runtime.setMocks(mocks, PROJECT, stack, false, "organization");
        const exported = await program();
        const outputs = await new Promise<Record<string, any>>((r) => pulumi.output(exported as Record<string, any>).apply((v) => r(v as Record<string, any>)));
        await pulumi.runtime.disconnect();
        return { registrations: withEngineUrns(registrations), resources, outputs };
    } finally {
        MockMonitor.prototype.registerResource = original;
    }
}

/**
 * The mock monitor qualifies a URN's type with its parent's own type only; the engine with the parent's
 * whole chain (`A$B$C::name`). Rewrites every URN (own, parent, alias parent) as the engine forms it.
 */
function withEngineUrns(regs: readonly Registration[]): Registration[] {
    const byMock = new Map(regs.map((r) => [r.urn, r]));
    const memo = new Map<string, string>();
    const real = (mockUrn: string): string => {
        if (!mockUrn) return "";
        const known = memo.get(mockUrn);
        if (known) return known;
        const r = byMock.get(mockUrn);
        if (!r) return mockUrn;
        const parent = real(r.parent);
        const urn = parent ? `${parent.slice(0, parent.lastIndexOf("::"))}$${r.type}::${r.name}` : r.urn;
        memo.set(mockUrn, urn);
        return urn;
    };
    return regs.map((r) => ({
        ...r,
        urn: real(r.urn),
        parent: real(r.parent),
        aliases: r.aliases.map((a) => ({ ...a, parentUrn: real(a.parentUrn) })),
    }));
}
