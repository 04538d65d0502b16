import * as fs from "fs";
import * as path from "path";
import * as fc from "fast-check";
import { stripProjectPrefix } from "../../components/config";
import { readStackFile } from "../../tools/stackFile";

export const ROOT = path.resolve(__dirname, "../..");
export const STACK_FILES = fs
    .readdirSync(path.join(ROOT, "stacks"))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => path.join(ROOT, "stacks", f));

/** Raw (unprefixed) config of a stack file. */
export function rawOf(file: string): Record<string, any> {
    return stripProjectPrefix(readStackFile(file, "--config").config);
}

/** A small valid raw config: two clusters with two nodes each. */
export function baseRaw(): Record<string, any> {
    return {
        clusters: {
            a: { context: "ctx-a", nodes: ["a-1", "a-2"], storage: { localPath: "/data/mysql", capacity: "15Gi" } },
            b: { context: "ctx-b", nodes: ["b-1", "b-2"], storage: { storageClass: "standard" } },
        },
        placement: ["a", "a"],
        primary: 0,
        mysql: { engine: "mariadb" },
    };
}

/**
 * Arbitrary valid raw configs: 1-5 clusters, each a contiguous run of ordinals within its node count,
 * any profile and engine. Generated so that validity holds by construction.
 */
export const validRawConfig = fc
    .record({
        runs: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 }),
        spareClusters: fc.integer({ min: 0, max: 2 }),
        extraNodes: fc.integer({ min: 0, max: 2 }),
        profile: fc.constantFrom("mcs-api", "ack-one", "kosmos"),
        engine: fc.constantFrom("mysql", "mariadb"),
        local: fc.boolean(),
        primarySeed: fc.nat(),
        consumer: fc.boolean(),
    })
    .map(({ runs, spareClusters, extraNodes, profile, engine, local, primarySeed, consumer }) => {
        const clusters: Record<string, any> = {};
        const placement: string[] = [];
        const total = runs.length + spareClusters;
        for (let c = 0; c < total; c++) {
            const n = c < runs.length ? runs[c] : 1;
            const name = `c${c}`;
            clusters[name] = {
                context: `ctx-${name}`,
                nodes: Array.from({ length: n + extraNodes }, (_, i) => `${name}-node-${i}`),
                storage: local ? { localPath: "/data/mysql", capacity: "20Gi" } : { storageClass: "fast" },
            };
            if (c < runs.length) for (let i = 0; i < runs[c]; i++) placement.push(name);
        }
        const consumers = consumer && spareClusters > 0 ? [`c${runs.length}`] : [];
        return { clusters, placement, primary: primarySeed % placement.length, mysql: { engine }, mcs: { profile, consumers } };
    });
