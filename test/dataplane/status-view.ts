/**
 * The data-plane tier's `npm run status`: the same report (tools/status.ts reportScript) run inside each
 * "pod" of the harness as kubectl exec runs it in a container, judged and printed by the same functions.
 *
 *   node --import tsx test/dataplane/status-view.ts --print-report
 *   node --import tsx test/dataplane/status-view.ts --config <stack file> <ordinal>=<cluster>:<ready 0|1>:<report file>...
 *
 * Exit 0 healthy, 1 not (as npm run status).
 */
import * as fs from "fs";
import { parseStackConfig, stripProjectPrefix } from "../../components/config";
import { podName } from "../../components/naming";
import { MemberStatus, assess, formatStatus, parseReport, reportScript } from "../../tools/status";
import { readStackFile } from "../../tools/stackFile";

const argv = process.argv.slice(2);
if (argv[0] === "--print-report") {
    // The harness's pods carry their scripts directory in MMC_SCRIPTS (the container mounts /opt/mmc).
    process.stdout.write(reportScript('"$MMC_SCRIPTS"'));
    process.exit(0);
}
if (argv[0] !== "--config" || !argv[1]) {
    console.error("usage: status-view.ts --config <stack file> <ordinal>=<cluster>:<ready>:<report file>...");
    process.exit(2);
}
const cfg = parseStackConfig(stripProjectPrefix(readStackFile(argv[1], "--config").config));
const pods = new Map<number, { cluster: string; ready: boolean; file: string }>();
for (const a of argv.slice(2)) {
    const m = /^(\d+)=([^:]+):([01]):(.+)$/.exec(a);
    if (!m) {
        console.error(`bad member argument: ${a}`);
        process.exit(2);
    }
    pods.set(Number(m[1]), { cluster: m[2], ready: m[3] === "1", file: m[4] });
}
const members: MemberStatus[] = cfg.placement.map((cluster, ordinal) => {
    const p = pods.get(ordinal);
    const base = { ordinal, member: podName(cfg.mysql.name, ordinal), cluster, foundIn: p ? [p.cluster] : [] };
    if (!p) return base;
    return { ...base, phase: "Running", ready: p.ready, server: parseReport(fs.readFileSync(p.file, "utf8")) };
});
const status = assess(cfg, members);
console.log(formatStatus(status));
process.exit(status.problems.length ? 1 : 0);
