/**
 * Path planner: from the deployed stack config to a target one, the sequence of complete stack config
 * files, each one step the program accepts, fewest steps first.
 *
 *   npm run plan -- --from <deployed stack file> [--from <later deployed stack file>]... --to <target stack file> --out <dir>
 *
 * It decides nothing about safety itself: every candidate step is validated by the program's own config
 * schema (parseStackConfig), plan (buildPlan) and step judgement (planStep and its guards), and the state
 * after it is the program's own deployedStateOf. The planner only proposes candidates (a move, a switchover,
 * scaling at the tail, a retirement, removing a retired cluster, the target's other settings) and searches
 * breadth first, so the first path found has the fewest steps. An unreachable target is one line naming
 * why (the program's refusal of the direct step), exit 2, nothing written.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, PROJECT, StackConfig, parseStackConfig, stripProjectPrefix } from "../components/config";
import { Plan, buildPlan, formatTable } from "../components/plan";
import { DeployedState, Step, TransitionError, deployedStateOf, historyOf, planStep } from "../components/step";
import { readStackFile } from "./stackFile";

type Raw = Record<string, unknown>;

/** One step of a path: the complete raw config (keys without the project prefix) and the program's judgement of it. */
export interface PathStep {
    readonly raw: Raw;
    readonly config: StackConfig;
    readonly step: Step;
}

/** Refused target: one line, the reason (the program's own refusal when there is one). */
export class UnreachableError extends Error {}

/** What the search may explore before it gives up (a migration is a handful of steps; this is generous). */
export const SEARCH_LIMIT = 20000;

interface Node {
    /** 0: the deployed config's other settings; 1: the target's (a rolling or in-place change is its own step). */
    readonly phase: 0 | 1;
    readonly placement: readonly string[];
    readonly primary: number;
    readonly retire: readonly string[];
    readonly clusters: readonly string[];
}

const keyOf = (n: Node, state: DeployedState | undefined) =>
    JSON.stringify([n.phase, n.placement, n.primary, n.retire, n.clusters, state?.pending ?? [], Object.keys(state?.claims ?? {})]);

function subsets<T>(items: readonly T[], max: number): T[][] {
    const out: T[][] = [];
    const walk = (start: number, acc: T[]) => {
        if (acc.length) out.push([...acc]);
        if (acc.length === max) return;
        for (let i = start; i < items.length; i++) walk(i + 1, [...acc, items[i]]);
    };
    walk(0, []);
    return out;
}

/** The state the deployments in `history` (earliest first) leave behind, as render --previous builds it. */
export function stateOfHistory(history: readonly StackConfig[]): DeployedState | undefined {
    return history.reduce<DeployedState | undefined>((prev, cfg) => deployedStateOf(buildPlan(cfg, historyOf(prev, cfg.primary)), prev), undefined);
}

/**
 * The fewest-steps path from the deployed config (the last of `history`, raw) to `target` (raw): every
 * step accepted by the program's rules, the last one equal to the target. Empty when already there.
 * Throws ConfigError for an invalid file, UnreachableError when no path exists.
 */
export function planPath(history: readonly Raw[], target: Raw, limit = SEARCH_LIMIT): PathStep[] {
    if (!history.length) throw new UnreachableError("--from is required: the deployed stack config file");
    const historyCfg = history.map((h) => parseStackConfig(h));
    const targetCfg = parseStackConfig(target);
    const from = history[history.length - 1];
    const fromCfg = historyCfg[historyCfg.length - 1];
    const start = stateOfHistory(historyCfg)!;
    if (JSON.stringify(fromCfg) === JSON.stringify(targetCfg)) return [];

    const fromClusters = Object.keys(fromCfg.clusters);
    const toClusters = Object.keys(targetCfg.clusters);
    const defs = (phase: 0 | 1) => {
        const [mine, other] = phase === 0 ? [from, target] : [target, from];
        return { ...(other.clusters as Raw), ...(mine.clusters as Raw) };
    };
    const order = (phase: 0 | 1, names: readonly string[]) => {
        const first = phase === 0 ? fromClusters : toClusters;
        return [...first.filter((c) => names.includes(c)), ...names.filter((c) => !first.includes(c))];
    };
    const goal: Node = { phase: 1, placement: targetCfg.placement, primary: targetCfg.primary, retire: targetCfg.retire, clusters: toClusters };
    const goalKey = JSON.stringify([goal.phase, goal.placement, goal.primary, goal.retire, goal.clusters]);
    const rawOf = (n: Node): Raw => {
        if (JSON.stringify([n.phase, n.placement, n.primary, n.retire, n.clusters]) === goalKey) return target;
        const base = n.phase === 0 ? from : target;
        const d = defs(n.phase);
        const { retire: _omit, ...rest } = base;
        void _omit;
        return {
            ...rest,
            clusters: Object.fromEntries(order(n.phase, n.clusters).map((c) => [c, d[c]])),
            placement: [...n.placement],
            primary: n.primary,
            ...(n.retire.length || "retire" in base ? { retire: [...n.retire] } : {}),
        };
    };
    /** The program's config validation and plan of one candidate (undefined: refused), once per candidate. */
    const plans = new Map<string, { config: StackConfig; plan: Plan } | undefined>();
    const planOf = (raw: Raw) => {
        const k = JSON.stringify(raw);
        if (plans.has(k)) return plans.get(k);
        let res: { config: StackConfig; plan: Plan } | undefined;
        try {
            const config = parseStackConfig(raw);
            res = { config, plan: buildPlan(config) };
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
        }
        plans.set(k, res);
        return res;
    };
    /** The program's judgement of one candidate against the deployed state: the step, or undefined when refused. */
    const judgeStep = (state: DeployedState, raw: Raw): { config: StackConfig; plan: Plan; step: Step } | undefined => {
        const p = planOf(raw);
        if (!p) return undefined;
        try {
            const step = planStep(state, p.plan);
            return step.kind === "unchanged" ? undefined : { ...p, step };
        } catch (e) {
            if (e instanceof TransitionError) return undefined;
            throw e;
        }
    };

    const maxMoves = Math.max(fromCfg.migration.maxMovesPerStep, targetCfg.migration.maxMovesPerStep);
    const maxLen = Math.max(fromCfg.placement.length, targetCfg.placement.length) + 1;
    const neighbours = (n: Node): Node[] => {
        const out: Node[] = [];
        const live = n.clusters.filter((c) => !n.retire.includes(c));
        const withTopology = (placement: readonly string[], primary = n.primary): Node => ({ ...n, placement, primary });
        // The target's other settings (a rolling or in-place change), as a step of its own.
        if (n.phase === 0) out.push({ ...n, phase: 1, clusters: order(1, [...new Set([...n.clusters, ...toClusters])]) });
        // A planned switchover to any other member.
        for (let o = 0; o < n.placement.length; o++) if (o !== n.primary) out.push(withTopology(n.placement, o));
        // Moves: one ordinal to any live cluster; several towards the target (up to maxMovesPerStep).
        for (let o = 0; o < n.placement.length; o++) {
            for (const c of live) if (c !== n.placement[o]) out.push(withTopology(n.placement.map((p, i) => (i === o ? c : p))));
        }
        if (maxMoves > 1) {
            const towards = n.placement.map((_, o) => o).filter((o) => o < goal.placement.length && goal.placement[o] !== n.placement[o]);
            for (const s of subsets(towards, maxMoves)) {
                if (s.length > 1) out.push(withTopology(n.placement.map((p, i) => (s.includes(i) ? goal.placement[i] : p))));
            }
        }
        // Scaling at the tail: towards the target's length, or by one in any live cluster.
        if (goal.placement.length > n.placement.length && goal.placement.slice(0, n.placement.length).every((c, i) => c === n.placement[i])) {
            out.push(withTopology(goal.placement));
        }
        if (n.placement.length < maxLen) for (const c of live) out.push(withTopology([...n.placement, c]));
        if (n.placement.length > 1) {
            out.push(withTopology(n.placement.slice(0, -1), n.primary));
            if (goal.placement.length < n.placement.length) out.push(withTopology(n.placement.slice(0, goal.placement.length)));
        }
        // Retirement: a cluster the target retires or drops, once it runs nothing; then its removal from clusters.
        for (const c of n.clusters) {
            if (!n.retire.includes(c) && (goal.retire.includes(c) || !toClusters.includes(c))) out.push({ ...n, retire: [...n.retire, c] });
            if (n.retire.includes(c) && !toClusters.includes(c))
                out.push({ ...n, clusters: n.clusters.filter((x) => x !== c), retire: n.retire.filter((x) => x !== c) });
        }
        // Any topology change may also retire the clusters it leaves empty, as the target asks.
        const more = out.flatMap((m) => {
            const empty = m.clusters.filter((c) => !m.retire.includes(c) && !m.placement.includes(c) && (goal.retire.includes(c) || !toClusters.includes(c)));
            return empty.length ? [{ ...m, retire: [...m.retire, ...empty] }] : [];
        });
        // The target itself, whenever it is one step away.
        return [goal, ...out, ...more].filter((m) => m.primary < m.placement.length);
    };

    const startNode: Node = { phase: 0, placement: fromCfg.placement, primary: fromCfg.primary, retire: fromCfg.retire, clusters: fromClusters };
    interface Entry {
        readonly node: Node;
        readonly state: DeployedState;
        readonly path: PathStep[];
    }
    const seen = new Set<string>([keyOf(startNode, start)]);
    let frontier: Entry[] = [{ node: startNode, state: start, path: [] }];
    let explored = 0;
    while (frontier.length && explored < limit) {
        const next: Entry[] = [];
        for (const e of frontier) {
            for (const n of neighbours(e.node)) {
                if (++explored > limit) break;
                const raw = rawOf(n);
                const judged = judgeStep(e.state, raw);
                if (!judged) continue;
                const state = deployedStateOf(judged.plan, e.state, judged.step);
                const k = keyOf(n, state);
                if (seen.has(k)) continue;
                seen.add(k);
                const p = [...e.path, { raw, config: judged.config, step: judged.step }];
                if (raw === target) return p;
                next.push({ node: n, state, path: p });
            }
        }
        frontier = next;
    }
    // No path: say why, in the program's own words for the direct step when it refuses it.
    const searched = frontier.length
        ? `searched ${limit} candidate steps, the limit`
        : `none of the ${seen.size} configs reachable by accepted steps is the target`;
    let why = "";
    try {
        planStep(start, buildPlan(targetCfg));
    } catch (e) {
        if (!(e instanceof TransitionError)) throw e;
        why = `; the direct step is refused: ${e.message}`;
    }
    throw new UnreachableError(`cannot reach the target from the deployed config (${searched})${why}`);
}

/** One line per step: what a DBA reads before running it (`prev`: the config deployed before it). */
export function describeStep(s: PathStep, prev: StackConfig): string {
    const st = s.step;
    const set = s.config.mysql.name;
    const parts: string[] = [];
    if (st.switchover) parts.push(`switchover ${set}-${st.switchover.fromOrdinal} -> ${set}-${st.switchover.toOrdinal}`);
    for (const c of st.changes) {
        if (c.action === "move") parts.push(`move ${c.member} ${c.from} -> ${c.to}`);
        if (c.action === "scale-up") parts.push(`add ${c.member} in ${c.to}`);
        if (c.action === "scale-down") parts.push(`remove ${set}-${c.ordinal} from ${c.from}`);
    }
    const [was, is] = [Object.keys(prev.clusters), Object.keys(s.config.clusters)];
    const added = is.filter((c) => !was.includes(c));
    const removed = was.filter((c) => !is.includes(c));
    const retired = s.config.retire.filter((c) => !prev.retire.includes(c));
    if (added.length) parts.push(`add ${added.join(", ")} to clusters`);
    if (retired.length) parts.push(`retire ${retired.join(", ")} (its claims are deleted)`);
    if (removed.length) parts.push(`remove ${removed.join(", ")} from clusters`);
    for (const x of st.settings ?? []) parts.push(x);
    return parts.join("; ") || st.kind;
}

/** The table of a path: one row per step file. */
export function pathTable(steps: readonly PathStep[], files: readonly string[], from: StackConfig): string {
    const rows = steps.map((s, i) => [
        String(i + 1),
        files[i],
        s.step.kind,
        `[${s.config.placement.join(", ")}]`,
        String(s.config.primary),
        s.config.retire.length ? `[${s.config.retire.join(", ")}]` : "-",
        describeStep(s, i ? steps[i - 1].config : from),
    ]);
    return formatTable(["step", "file", "kind", "placement", "primary", "retire", "what changes"], rows);
}

class UsageError extends Error {}
const USAGE = "usage: npm run plan -- --from <deployed stack file> [--from <later deployed stack file>]... --to <target stack file> --out <dir>";

export function parseArgs(argv: string[]): { from: string[]; to: string; out: string } {
    const a: { from: string[]; to?: string; out?: string } = { from: [] };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag}: needs a value. ${USAGE}`);
            return v;
        };
        if (flag === "--from") a.from.push(value());
        else if (flag === "--to") a.to = value();
        else if (flag === "--out") a.out = value();
        else if (flag === "--help" || flag === "-h") throw new UsageError(USAGE);
        else throw new UsageError(`${flag}: unknown argument. ${USAGE}`);
    }
    if (!a.from.length) throw new UsageError(`--from is required. ${USAGE}`);
    if (!a.to) throw new UsageError(`--to is required. ${USAGE}`);
    if (!a.out) throw new UsageError(`--out is required. ${USAGE}`);
    return a as { from: string[]; to: string; out: string };
}

/** A stack file's text for one step: the step's config under the project prefix, other namespaces kept. */
export function stackFileText(raw: Raw, others: Raw, header: string): string {
    const config: Raw = { ...others };
    for (const [k, v] of Object.entries(raw)) config[`${PROJECT}:${k}`] = v;
    return `${header
        .split("\n")
        .map((l) => `# ${l}`)
        .join("\n")}\n${YAML.stringify({ config }, { lineWidth: 0 })}`;
}

const slug = (s: PathStep) => (s.step.kind === "config" ? "settings" : s.step.kind);

export function main(argv: string[]): number {
    const args = parseArgs(argv);
    const fromFiles = args.from.map((f) => readStackFile(f, "--from"));
    const toFile = readStackFile(args.to, "--to");
    const history = fromFiles.map((f) => stripProjectPrefix(f.config));
    const target = stripProjectPrefix(toFile.config);
    if (fs.existsSync(args.out) && (!fs.statSync(args.out).isDirectory() || fs.readdirSync(args.out).length)) {
        throw new UsageError(`--out ${args.out}: exists and is not an empty directory; refusing to write into it`);
    }
    const steps = planPath(history, target);
    if (!steps.length) {
        console.log(`${args.to} is what is deployed (${args.from[args.from.length - 1]}): no step to take; nothing written`);
        return 0;
    }
    const others = Object.fromEntries(Object.entries(toFile.config).filter(([k]) => !k.startsWith(`${PROJECT}:`)));
    const files = steps.map((s, i) => `${String(i + 1).padStart(2, "0")}-${slug(s)}.yaml`);
    const fromCfg = parseStackConfig(history[history.length - 1]);
    const table = pathTable(steps, files, fromCfg);
    fs.mkdirSync(args.out, { recursive: true });
    steps.forEach((s, i) => {
        const header =
            `Step ${i + 1} of ${steps.length} from ${args.from[args.from.length - 1]} to ${args.to} (npm run plan): ${s.step.kind}\n` +
            `${describeStep(s, i ? steps[i - 1].config : fromCfg)}\n` +
            `Run pulumi up with this config, wait for it to succeed, then take the next file.`;
        fs.writeFileSync(path.join(args.out, files[i]), stackFileText(s.raw, others, header));
    });
    fs.writeFileSync(path.join(args.out, "path.txt"), `${table}\n`);
    console.log(
        `${steps.length} step(s) from ${args.from[args.from.length - 1]} to ${args.to}:\n\n${table}\n\nwrote ${steps.length} stack file(s) and path.txt to ${args.out}/`,
    );
    return 0;
}

if (require.main === module) {
    try {
        process.exit(main(process.argv.slice(2)));
    } catch (e) {
        if (e instanceof UsageError || e instanceof ConfigError || e instanceof UnreachableError || e instanceof TransitionError) {
            console.error(`error: ${e.message}`);
            process.exit(2);
        }
        throw e;
    }
}
