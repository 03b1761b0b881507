/**
 * Data parallelism on this host: wall tokens/s of dp = 2 against dp = 1 on the same global batch
 * of the default scenario. Two device workers on two cores should approach 2×; the all-reduce of
 * ~0.9 MB of gradients per step and the serial parts (batch drawing, optimizer) keep it below.
 */
import { bundledScenarioPath, loadScenario, simulate } from "../src/index.js";

const STEPS = 12;

export async function run(): Promise<void> {
  const base = loadScenario(bundledScenarioPath("default.yaml"));
  base.training.steps = STEPS;
  const one = await simulate(base);
  const two = await simulate({ ...base, parallel: { ...base.parallel, dp: 2 } });
  const same = one.losses.every((l, i) => Math.abs(l - two.losses[i]) / l < 1e-4);
  console.log(`default scenario, ${STEPS} steps, global batch ${base.training.globalBatch}×${base.model.seqLen}`);
  console.log(`  dp = 1: ${one.wall.tokensPerSecond.toFixed(0)} tokens/s`);
  console.log(`  dp = 2: ${two.wall.tokensPerSecond.toFixed(0)} tokens/s`);
  console.log(`  ratio dp2 / dp1: ${(two.wall.tokensPerSecond / one.wall.tokensPerSecond).toFixed(2)} (target ≥ 1.6); losses agree: ${same}`);
}
