/**
 * `npm run bench -- plan`: how long `parasim plan` takes to search the whole space of Llama-3-70B
 * on 1,024 H100 (sequence 8192, global batch 512, bf16; the target: under 60 s on a 2-core
 * machine), and what the search did: layouts enumerated, pruned by each reason, simulated.
 *
 * The plan runs in a fresh `node` child on the compiled dist/ (`npm run build` first; without it
 * the suite says so and exits 2). Wall = the child's lifetime as this process sees it (Node's
 * boot, pricing every candidate, the simulations); CPU = the child's user + system seconds, all
 * its threads (the pool's and the simulated devices'), which the machine's other load does not
 * inflate as it inflates wall time. This machine is shared: the load average is printed too.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { PlanRequest, PlanResult } from "../src/plan/types.js";

const DIST = fileURLToPath(new URL("../dist/src/index.js", import.meta.url));
const REQUEST: PlanRequest = { model: "llama-3-70b", devices: 1024, hardware: "h100-80gb", globalBatch: 512, seqLen: 8192, precision: "bf16", top: 5, tpAcrossNodes: false };

/** The child: plan, then print the result's counts and best layout with the process's CPU time. */
const CHILD = `
const { plan } = await import(${JSON.stringify(DIST)});
const { result } = await plan(${JSON.stringify(REQUEST)});
const cpu = process.cpuUsage();
console.log(JSON.stringify({ counts: result.counts, best: result.ranked[0], cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
`;

export async function run(): Promise<void> {
  if (!existsSync(DIST)) {
    console.error(`bench plan: ${DIST} is missing; run \`npm run build\` first`);
    process.exit(2);
  }
  // A file, not `node -e`: worker threads inherit the parent's execArgv, and -e would not start them.
  const dir = mkdtempSync(join(tmpdir(), "parasim-bench-plan-"));
  const script = join(dir, "plan.mjs");
  writeFileSync(script, CHILD);
  const load = loadavg()[0]!;
  const started = performance.now();
  const { stdout } = await promisify(execFile)(process.execPath, [script], { maxBuffer: 1 << 26 }).finally(() => rmSync(dir, { recursive: true, force: true }));
  const wall = (performance.now() - started) / 1000;
  const out = JSON.parse(stdout.trim().split("\n").pop()!) as { counts: PlanResult["counts"]; best: PlanResult["ranked"][number]; cpuSeconds: number };
  const c = out.counts;
  console.log(`parasim plan --model ${REQUEST.model} --devices ${REQUEST.devices} --hardware ${REQUEST.hardware} --global-batch ${REQUEST.globalBatch} --seq ${REQUEST.seqLen} --precision ${REQUEST.precision}`);
  console.log(`wall ${wall.toFixed(1)} s (target < 60 s), CPU ${out.cpuSeconds.toFixed(1)} s; load average ${load.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`);
  console.log(`enumerated ${c.enumerated}, simulated ${c.simulated}, answered from the cache ${c.cached}`);
  for (const [reason, n] of Object.entries(c.pruned).sort((a, b) => b[1] - a[1])) console.log(`  pruned ${String(n).padStart(6)}  ${reason}`);
  console.log(`best: ${out.best.label}, ${out.best.stepSeconds.toFixed(3)} s per step, MFU ${(100 * out.best.mfu).toFixed(1)} %`);
}
