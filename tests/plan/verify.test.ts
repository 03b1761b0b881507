/**
 * `plan --verify` (src/plan/verify.ts): the planned layouts of three presets train, as scaled-down
 * copies in real mode, like one device within the equivalence bounds (src/run/equivalence.ts
 * derives them); a deliberately broken layout (a test hook, src/runtime/sabotage.ts) fails.
 * Multi-worker: each verification starts up to 16 device workers and two single-device references.
 */
import { describe, expect, it } from "vitest";
import { verifyLayout, formatVerify, type VerifyResult } from "../../src/plan/verify.js";
import type { Sabotage } from "../../src/runtime/sabotage.js";
import { PLANNED_PRESETS, plannedLayout, type PlannedPreset } from "./layouts.js";

// A loaded 2-core host starts 16 workers slowly: give them (and the test) room.
const TIMEOUT_MS = 300_000;
const verify = (preset: PlannedPreset, sabotage?: Sabotage): Promise<VerifyResult> => verifyLayout(plannedLayout(preset), { sabotage, startupMs: TIMEOUT_MS });

describe("plan --verify", () => {
  it.each(PLANNED_PRESETS)(
    "%s: the planned layout's copy trains like one device",
    async (preset) => {
      const original = plannedLayout(preset);
      const r = await verify(preset);
      expect(r.failures, formatVerify(r)).toEqual([]);
      expect(r.pass).toBe(true);
      // The copy ran the plan's schedule and kinds of parallelism, within the worker budget.
      const p = r.copy.scenario.parallel;
      expect(p).toMatchObject({ schedule: original.parallel.schedule, virtualStages: original.parallel.virtualStages, sequenceParallel: true, zero: 1 });
      expect(p.tp).toBeGreaterThan(1);
      expect(p.pp).toBeGreaterThan(1);
      expect(r.copy.workers).toBeLessThanOrEqual(16);
      // It trained (a check of runs that stand still would prove nothing), and every number is within its bound.
      expect(r.losses.copy).toHaveLength(4);
      expect(r.losses.copy.at(-1)!).toBeLessThan(0.9 * r.losses.copy[0]!);
      expect(r.lossError).toBeLessThanOrEqual(r.lossTolerance);
      expect(r.gradientError).toBeLessThanOrEqual(r.gradientTolerance);
    },
    TIMEOUT_MS,
  );

  it(
    "an fp32 plan is held to the fp32 bounds (1e-5, 1e-4); a budget of 8 workers halves tp 4 to 2 and says so",
    async () => {
      const r = await verifyLayout(plannedLayout("llama-3-8b", { precision: "fp32" }), { maxWorkers: 8, startupMs: TIMEOUT_MS });
      expect(r.failures, formatVerify(r)).toEqual([]);
      expect(r.copy.scenario.parallel).toMatchObject({ dp: 2, tp: 2, pp: 2, schedule: "zb-h1" });
      expect(r.notes).toContain("tp 4 → 2, to fit 8 workers; the group sizes themselves are not proven");
      expect([r.gradientTolerance, r.lossTolerance]).toEqual([1e-5, 1e-4]);
      expect(r.gradientError).toBeLessThanOrEqual(1e-5);
      expect(r.lossError).toBeLessThanOrEqual(1e-4);
    },
    TIMEOUT_MS,
  );

  it(
    "a tensor-parallel rank that keeps its own partial sums fails it: the step-0 gradients are far past their bounds",
    async () => {
      // Rank 1 is tp index 1 of the first pipeline stage (tp varies fastest in the mesh).
      const r = await verify("llama-3-8b", { kind: "tp-partial", rank: 1 });
      expect(r.pass).toBe(false);
      expect(r.failures.some((f) => f.startsWith("step-0 gradient of"))).toBe(true);
      // Far past, not at the edge: a lost half of a sum is a large error.
      expect(r.gradientError).toBeGreaterThan(5 * r.gradientTolerance);
      expect(formatVerify(r)).toMatch(/^verify: FAIL/);
    },
    TIMEOUT_MS,
  );

  it(
    "a pipeline rank that sends its previous activations fails it: gradients and losses differ",
    async () => {
      // Rank 0 holds the first pipeline stage; it sends every micro-batch's activations to stage 1.
      const r = await verify("llama-3-8b", { kind: "pp-stale", rank: 0 });
      expect(r.pass).toBe(false);
      expect(r.gradientError).toBeGreaterThan(5 * r.gradientTolerance);
      expect(r.lossError).toBeGreaterThan(r.lossTolerance);
    },
    TIMEOUT_MS,
  );
});
