/**
 * Training throughput of the bundled default scenario on this host: wall tokens/s through the
 * device worker, beside the same steps run in this thread (the ratio shows what the worker and
 * its messaging cost).
 */
import { drawBatch, loadCorpus } from "../src/data/batches.js";
import { bundledScenarioPath, loadScenario, simulate } from "../src/index.js";
import { Trainer } from "../src/train/trainer.js";

const STEPS = 20;

export async function run(): Promise<void> {
  const scenario = loadScenario(bundledScenarioPath("default.yaml"));
  scenario.training.steps = STEPS;
  const { globalBatch, seed } = scenario.training;
  const tokens = STEPS * globalBatch * scenario.model.seqLen;

  const worker = await simulate(scenario);

  const trainer = new Trainer(scenario, globalBatch);
  const corpus = loadCorpus(scenario);
  const started = performance.now();
  for (let step = 0; step < STEPS; step++) trainer.step(step, drawBatch(corpus, seed, step, globalBatch, scenario.model.seqLen));
  const inThread = tokens / ((performance.now() - started) / 1000);

  console.log(`default scenario (${scenario.name}), ${STEPS} steps of ${globalBatch}×${scenario.model.seqLen} tokens`);
  console.log(`  simulate() through a device worker: ${worker.wall.tokensPerSecond.toFixed(0)} tokens/s`);
  console.log(`  the same steps in this thread:      ${inThread.toFixed(0)} tokens/s`);
  console.log(`  ratio worker / in-thread:           ${(worker.wall.tokensPerSecond / inThread).toFixed(3)}`);
}
