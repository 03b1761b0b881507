/**
 * `npm run bench -- plan`: how long `parasim plan` takes to search the whole space of Llama-3-70B
 * on 1,024 H100 (sequence 8192, global batch 512, bf16; the target: under 60 s on a
 * 2-core machine), and what the search did: layouts enumerated, pruned by each reason, simulated.
 *
 * The plan runs in a fresh `node` child on the compiled dist/ (`npm run build` first; without it
 * the suite says so and exits 2), as a user runs it. Wall = the child's lifetime as this process
 * sees it (Node's boot, pricing every candidate, the simulations, the report). This machine is
 * shared: the machine's load average is printed beside the time.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { PlanResult } from "../src/plan/types.js";

const CLI = fileURLToPath(new URL("../dist/src/cli.js", import.meta.url));
const ARGS = ["--model", "llama-3-70b", "--devices", "1024", "--hardware", "h100-80gb", "--global-batch", "512", "--seq", "8192", "--precision", "bf16"];

export async function run(): Promise<void> {
  if (!existsSync(CLI)) {
    console.error(`bench plan: ${CLI} is missing; run \`npm run build\` first`);
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), "parasim-bench-plan-"));
  try {
    const json = join(dir, "plan.json");
    const load = loadavg()[0]!;
    const started = performance.now();
    await promisify(execFile)(process.execPath, [CLI, "plan", ...ARGS, "--json", json], { maxBuffer: 1 << 26 });
    const wall = (performance.now() - started) / 1000;
    const plan = JSON.parse(readFileSync(json, "utf8")) as PlanResult;
    const c = plan.counts;
    console.log(`parasim plan ${ARGS.join(" ")}`);
    console.log(`wall ${wall.toFixed(1)} s (target < 60 s); load average ${load.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`);
    console.log(`enumerated ${c.enumerated}, simulated ${c.simulated}, answered from the cache ${c.cached}`);
    for (const [reason, n] of Object.entries(c.pruned).sort((a, b) => b[1] - a[1])) console.log(`  pruned ${String(n).padStart(6)}  ${reason}`);
    const best = plan.ranked[0]!;
    console.log(`best: ${best.label}, ${best.stepSeconds.toFixed(3)} s per step, MFU ${(100 * best.mfu).toFixed(1)} %`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
