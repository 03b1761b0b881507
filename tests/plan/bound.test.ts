/**
 * The search may skip a layout only if it provably cannot win or fit, so the step-time bound
 * (src/plan/bound.ts) must never exceed the simulated step, and the memory floor
 * (src/plan/memory.ts) never the simulated peak memory per device. Checked on a sample of small
 * layouts that covers every schedule, ZeRO stage and recomputation, with and without sequence
 * parallelism, on two nodes (data-parallel groups that cross the network), for a Llama with
 * several gradient buckets per stage and a GPT with tied embeddings in fp16.
 *
 * Both sides add the same doubles in different orders; the bound keeps a relative margin of 1e-9
 * for that (far above n·2^-53 for the few thousand terms of these steps), so the comparison is
 * exact here. Memory is integer bytes on both sides.
 */
import { afterAll, describe, expect, it } from "vitest";
import { candidates, type Candidate } from "../../src/plan/candidates.js";
import { layoutLabel, layoutScenario } from "../../src/plan/scenario.js";
import { planPool, simulateOn } from "../../src/plan/search.js";
import { planSetup, type PlanSetup } from "../../src/plan/setup.js";
import { configFile, GPT, LLAMA, request } from "./helpers.js";

const pool = planPool(2);
afterAll(() => pool.destroy());

/** One kept candidate per (schedule, ZeRO stage), recomputation and sp varying, preferring pipelines and data parallelism. */
function sample(kept: readonly Candidate[]): Candidate[] {
  const picked: Candidate[] = [];
  let i = 0;
  for (const schedule of ["1f1b", "interleaved", "zb-h1", "gpipe"]) {
    for (const zero of [0, 1, 2, 3]) {
      const fits = kept.filter((c) => c.layout.schedule === schedule && c.layout.zero === zero);
      const recompute = ["none", "selective", "full"][i % 3];
      const sp = i % 2 === 0;
      const score = (c: Candidate) =>
        Number(c.layout.recompute === recompute) + Number(c.layout.sequenceParallel === sp) + Number(c.layout.pp > 1) + Number(c.layout.dp > 1) + Number(c.layout.tp > 1);
      const best = fits.sort((a, b) => score(b) - score(a))[0];
      if (best) picked.push(best);
      i++;
    }
  }
  return picked;
}

async function check(setup: PlanSetup, picked: Candidate[]): Promise<void> {
  const simulated = await Promise.all(picked.map((c) => simulateOn(pool, layoutScenario(setup, c.layout), false)));
  picked.forEach((c, i) => {
    const { figures } = simulated[i]!;
    expect(c.bound, `${layoutLabel(c.layout)}: bound ${c.bound} > simulated ${figures.stepSeconds}`).toBeLessThanOrEqual(figures.stepSeconds);
    expect(c.memoryFloor, `${layoutLabel(c.layout)}: memory floor`).toBeLessThanOrEqual(figures.peakMemoryBytes);
    // Not vacuous: the bound holds most of the step (compute and tp are most of a small model's step).
    expect(c.bound, layoutLabel(c.layout)).toBeGreaterThan(0.5 * figures.stepSeconds);
  });
}

describe("plan bounds (simulated in shapes mode)", () => {
  it("never exceed the simulated step and memory of a Llama on two nodes (naive attention, bf16)", async () => {
    const setup = planSetup(request(configFile(LLAMA), { attention: "naive" }));
    const picked = sample(candidates(setup).kept);
    expect(new Set(picked.map((c) => c.layout.schedule)).size).toBe(4);
    expect(new Set(picked.map((c) => c.layout.zero)).size).toBe(4);
    await check(setup, picked);
  });

  it("never exceed them for a tied-embedding GPT in fp16 on one node", async () => {
    const setup = planSetup(request(configFile(GPT), { devices: 8, globalBatch: 8, seqLen: 256, precision: "fp16", attention: "naive" }));
    await check(setup, sample(candidates(setup).kept).filter((_, i) => i % 2 === 0));
  });
});
