/**
 * A real plan for the plan-report tests: a handful of layouts of one job (Llama-2-7B's shape with
 * 16 layers, sequences of 2,048 tokens, 8 H100 80 GB), simulated in shapes mode by compare(), each
 * mapped to a PlannedLayout from its own results and ranked as `parasim plan` ranks (fitting
 * layouts first, each group fastest first). Nothing is typed in by hand but the layouts.
 */
import { compareWithTimelines, validateScenario } from "../../src/index.js";
import type { PlanLayout, PlannedLayout, PlanOutput } from "../../src/plan/types.js";
import type { CompareOutput, CompareRun } from "../../src/run/results.js";
import { emptyBreakdown, PHASES } from "../../src/sim/breakdown.js";

interface Choice {
  parallel: { dp: number; tp?: number; pp?: number; schedule?: PlanLayout["schedule"]; virtualStages?: number; sequenceParallel?: boolean; zero?: 0 | 1 | 2 | 3 };
  microBatches: number;
  recompute: PlanLayout["recompute"];
}

/** Chosen to spread over memory and time: some past 80 GB, some dominated, a Pareto front of several. */
export const CHOICES: Choice[] = [
  { parallel: { dp: 4, tp: 2 }, microBatches: 1, recompute: "none" },
  { parallel: { dp: 4, tp: 2, zero: 3 }, microBatches: 1, recompute: "selective" },
  { parallel: { dp: 4, tp: 2, sequenceParallel: true, zero: 1 }, microBatches: 1, recompute: "selective" },
  { parallel: { dp: 4, pp: 2 }, microBatches: 1, recompute: "none" },
  { parallel: { dp: 2, tp: 2, pp: 2 }, microBatches: 2, recompute: "none" },
  { parallel: { dp: 2, tp: 4, sequenceParallel: true }, microBatches: 2, recompute: "none" },
  { parallel: { dp: 2, pp: 4 }, microBatches: 2, recompute: "full" },
  { parallel: { dp: 1, tp: 8 }, microBatches: 4, recompute: "none" },
  { parallel: { dp: 1, tp: 4, pp: 2, sequenceParallel: true }, microBatches: 4, recompute: "selective" },
  { parallel: { dp: 1, tp: 2, pp: 4, schedule: "interleaved", virtualStages: 2 }, microBatches: 4, recompute: "full" },
  { parallel: { dp: 1, pp: 8, schedule: "gpipe" }, microBatches: 4, recompute: "none" },
];

const GLOBAL_BATCH = 4;
const SEQ = 8192;

function scenarioOf(c: Choice, i: number) {
  return validateScenario({
    name: `choice ${i}`,
    mode: "shapes",
    model: { preset: "llama-2-7b", numLayers: 16, seqLen: SEQ },
    training: { steps: 1, globalBatch: GLOBAL_BATCH, microBatches: c.microBatches, recompute: c.recompute, precision: "bf16", optimizer: { lr: 1e-4 } },
    parallel: c.parallel,
    hardware: { profile: "h100-80gb" },
  });
}

/** The plan's label format, e.g. `dp2·tp4·pp1 mbs1 sp none zero0`. */
function labelOf(l: PlanLayout): string {
  const schedule = l.pp > 1 ? ` ${l.schedule}${l.virtualStages > 1 ? `×${l.virtualStages}` : ""}` : "";
  return `dp${l.dp}·tp${l.tp}·pp${l.pp}${schedule} mbs${l.microBatchSize}${l.sequenceParallel ? " sp" : ""} ${l.recompute} zero${l.zero}`;
}

/** A compared run as the plan reports it: per-step figures from its own results. */
export function plannedFrom(run: CompareRun): Omit<PlannedLayout, "rank"> {
  const s = run.scenario;
  const p = s.parallel;
  const t = s.training;
  const layout: PlanLayout = {
    dp: p.dp,
    tp: p.tp,
    pp: p.pp,
    schedule: p.schedule,
    virtualStages: p.virtualStages,
    microBatchSize: t.globalBatch / (p.dp * t.microBatches),
    microBatches: t.microBatches,
    sequenceParallel: p.sequenceParallel,
    recompute: t.recompute,
    zero: p.zero,
  };
  const slowest = run.devices.reduce((a, d) => (d.makespanSeconds > a.makespanSeconds ? d : a));
  const breakdown = emptyBreakdown();
  for (const phase of PHASES) breakdown[phase] = slowest.breakdown[phase] / t.steps;
  const bytesByKind = Object.fromEntries(Object.entries(run.communication.bytesByKind).map(([k, b]) => [k, b / t.steps]));
  return {
    label: labelOf(layout),
    layout,
    scenario: s,
    stepSeconds: run.simulated.stepSeconds,
    tokensPerSecond: run.simulated.tokensPerSecond,
    mfu: run.utilisation.mfu,
    hfu: run.utilisation.hfu,
    peakMemoryBytes: run.metrics.peakMemoryBytes,
    fits: run.metrics.fitsInMemory,
    bubbleFraction: run.metrics.bubbleFraction,
    bytesByKind,
    breakdown,
  };
}

/** Simulates CHOICES and ranks them into a PlanOutput with the timelines of the top three; also returns the comparison (CHOICES order). */
export async function simulatedPlan(top = 4): Promise<{ output: PlanOutput; compared: CompareOutput }> {
  const started = performance.now();
  const scenarios = CHOICES.map(scenarioOf);
  const compared = await compareWithTimelines(scenarios);
  if (compared.result.failed.length > 0) throw new Error(`fixture layouts failed: ${JSON.stringify(compared.result.failed)}`);
  const runs = compared.result.runs;
  const order = runs.map((_, i) => i).sort((a, b) => Number(runs[b].metrics.fitsInMemory) - Number(runs[a].metrics.fitsInMemory) || runs[a].simulated.stepSeconds - runs[b].simulated.stepSeconds);
  const ranked = order.map((i, r) => ({ rank: r + 1, ...plannedFrom(runs[i]) }));
  const first = scenarios[0];
  const output: PlanOutput = {
    result: {
      request: { model: "llama-2-7b", devices: 8, hardware: "h100-80gb", globalBatch: GLOBAL_BATCH, seqLen: SEQ, precision: "bf16", top, tpAcrossNodes: false },
      counts: { enumerated: CHOICES.length, pruned: {}, simulated: CHOICES.length, cached: 0 },
      ranked,
      memoryCapacity: first.hardware.memoryBytes,
      wallSeconds: (performance.now() - started) / 1000,
    },
    timelines: order.slice(0, 3).map((i) => compared.timelines[i]),
  };
  return { output, compared };
}
