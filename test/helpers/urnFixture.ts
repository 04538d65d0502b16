// Writes the URNs the program registers for each of urnScenarios() (run on the commit before the
// component: the URNs existing stacks hold). Usage: npx tsx test/helpers/urnFixture.ts <out.json>
import * as fs from "fs";
import { programRegistrations } from "./urns";
import { urnScenarios } from "./urnScenarios";

async function main() {
    const out: Record<string, string[]> = {};
    for (const s of urnScenarios()) out[s.name] = (await programRegistrations(s.raws)).map((r) => r.urn);
    fs.writeFileSync(process.argv[2], JSON.stringify(out, null, 1) + "\n");
}
void main();
