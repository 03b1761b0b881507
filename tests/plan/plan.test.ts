/**
 * The search (src/plan/search.ts, src/plan/plan.ts) on small spaces: branch and bound returns the
 * top K that simulating every candidate returns, an included layout's rank is its rank among all
 * candidates, and — the Table 5 property (Korthikanti et al. 2022) on a small GPT — the plan's
 * best is at least as fast as a given "published" layout, which the ranked list holds with its rank.
 */
import { afterAll, describe, expect, it } from "vitest";
import { candidates } from "../../src/plan/candidates.js";
import { plan } from "../../src/plan/plan.js";
import { layoutKey, layoutScenario } from "../../src/plan/scenario.js";
import { planPool, search, simulateOn } from "../../src/plan/search.js";
import { planSetup } from "../../src/plan/setup.js";
import { PRUNE } from "../../src/plan/space.js";
import type { PlanLayout } from "../../src/plan/types.js";
import { configFile, GPT, request } from "./helpers.js";

const pool = planPool(2);
afterAll(() => pool.destroy());

const gpt = (overrides = {}) => request(configFile(GPT), { devices: 4, globalBatch: 4, seqLen: 256, hardware: "a100-80gb", precision: "fp16", attention: "naive", ...overrides });

describe("plan search", () => {
  it("finds the top K that exhaustive simulation finds, and an included layout's exact rank", async () => {
    const setup = planSetup(gpt({ top: 3 }));
    // Twelve candidates spread over the bound order: exhaustive simulation of these is the reference.
    const all = candidates(setup).kept;
    const some = all.filter((_, i) => i % Math.floor(all.length / 12) === 0).slice(0, 12);
    const steps = await Promise.all(some.map(async (c) => (await simulateOn(pool, layoutScenario(setup, c.layout), false)).figures.stepSeconds));
    const byStep = some.map((c, i) => ({ key: layoutKey(c.layout), step: steps[i]! })).sort((a, b) => a.step - b.step);
    const slowest = some[steps.indexOf(Math.max(...steps))]!;
    const outcome = await search(setup, some, { top: 3, threads: 2, include: [slowest] });
    const found = outcome.simulated.sort((a, b) => a.figures.stepSeconds - b.figures.stepSeconds);
    expect(found.slice(0, 3).map((s) => layoutKey(s.layout))).toEqual(byStep.slice(0, 3).map((s) => s.key));
    for (const s of found) expect(s.figures.stepSeconds).toBe(byStep.find((b) => b.key === layoutKey(s.layout))!.step);
    // Including the slowest forces every candidate whose bound is under its step to be simulated: all of them here, so its rank is 12.
    expect(found.map((s) => layoutKey(s.layout)).indexOf(layoutKey(slowest.layout))).toBe(byStep.length - 1);
    expect(outcome.cached).toBe(1); // the included layout, met again in the queue
    // Without it, the search stops early: what it skipped could not beat the third best.
    const plain = await search(setup, some, { top: 3, threads: 2 });
    expect(plain.runs + (plain.pruned[PRUNE.cannotWin] ?? 0)).toBe(12);
    const third = byStep[2]!.step;
    for (const c of some) if (!plain.simulated.some((s) => layoutKey(s.layout) === layoutKey(c.layout))) expect(c.bound).toBeGreaterThanOrEqual(third);
  });

  it("plans at least as fast as a published-style layout, which it ranks (the Table 5 property)", async () => {
    // Table 5's recipe on two devices: all of them in tensor parallelism, selective recomputation with sp.
    const published: PlanLayout = { dp: 1, tp: 2, pp: 1, schedule: "1f1b", virtualStages: 1, microBatchSize: 2, microBatches: 1, sequenceParallel: true, recompute: "selective", zero: 0 };
    const { result } = await plan(gpt({ devices: 2, globalBatch: 2 }), { include: [published], threads: 2 });
    const entry = result.ranked.find((r) => layoutKey(r.layout) === layoutKey(published))!;
    expect(entry.fits).toBe(true);
    expect(result.ranked[0]!.stepSeconds).toBeLessThanOrEqual(entry.stepSeconds);
    expect(entry.rank).toBe(1 + result.ranked.filter((r) => r.fits && r.stepSeconds < entry.stepSeconds).length + result.ranked.filter((r) => r.fits && r.stepSeconds === entry.stepSeconds && r.rank < entry.rank).length);
    // Every candidate is counted once (the included layout also as simulated).
    const pruned = Object.values(result.counts.pruned).reduce((a, b) => a + b, 0);
    expect(pruned + result.counts.simulated + result.counts.cached).toBe(result.counts.enumerated + 1);
    expect(result.ranked.map((r) => r.rank)).toEqual(result.ranked.map((_, i) => i + 1));
    expect(result.included).toEqual([{ label: entry.label, rank: entry.rank, couldBeatIt: 0 }]);
  });
});
