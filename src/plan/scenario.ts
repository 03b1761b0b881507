/** A candidate layout as the scenario that simulates it (shapes mode, one step), and as a short label. */
import { validateScenario } from "../scenario/load.js";
import type { Scenario } from "../scenario/schema.js";
import { PLAN_BUCKET_BYTES, type PlanSetup } from "./setup.js";
import type { PlanLayout } from "./types.js";

const RECOMPUTE_LABEL = { none: "", selective: "sel", full: "full" } as const;

/** E.g. `dp16·tp8·pp8 1f1b mbs1 sp sel zero1`; interleaved shows its chunks (`interleaved×3`); no sp, no recomputation and ZeRO 0 are left out. */
export function layoutLabel(l: PlanLayout): string {
  const schedule = l.schedule === "interleaved" ? `interleaved×${l.virtualStages}` : l.schedule;
  const parts = [`dp${l.dp}·tp${l.tp}·pp${l.pp}`, schedule, `mbs${l.microBatchSize}`, l.sequenceParallel ? "sp" : "", RECOMPUTE_LABEL[l.recompute], l.zero > 0 ? `zero${l.zero}` : ""];
  return parts.filter((p) => p !== "").join(" ");
}

/** The scenario of `layout`, validated by the scenario schema (an InputError names the rule it breaks). */
export function layoutScenario(setup: PlanSetup, l: PlanLayout): Scenario {
  const { request, model } = setup;
  return validateScenario({
    name: layoutLabel(l),
    mode: "shapes",
    model,
    training: {
      steps: 1,
      globalBatch: request.globalBatch,
      microBatches: l.microBatches,
      optimizer: { lr: 1e-4 },
      precision: request.precision,
      recompute: l.recompute,
    },
    parallel: {
      dp: l.dp,
      tp: l.tp,
      pp: l.pp,
      schedule: l.schedule,
      virtualStages: l.virtualStages,
      sequenceParallel: l.sequenceParallel,
      zero: l.zero,
      bucketBytes: PLAN_BUCKET_BYTES,
    },
    hardware: { profile: request.hardware },
  });
}

/** The layout a scenario runs (for ranking a given scenario, e.g. a published one, among the plan's). */
export function layoutOf(s: Scenario): PlanLayout {
  const p = s.parallel;
  const t = s.training;
  return {
    dp: p.dp,
    tp: p.tp,
    pp: p.pp,
    schedule: p.schedule,
    virtualStages: p.virtualStages,
    microBatchSize: t.globalBatch / p.dp / t.microBatches,
    microBatches: t.microBatches,
    sequenceParallel: p.sequenceParallel,
    recompute: t.recompute,
    zero: p.zero,
  };
}

/** A key that is equal for equal layouts. */
export function layoutKey(l: PlanLayout): string {
  return [l.dp, l.tp, l.pp, l.schedule, l.virtualStages, l.microBatchSize, l.sequenceParallel, l.recompute, l.zero].join("|");
}
