/**
 * `plan()`: the best layouts of a model on a cluster. Checks the request (src/plan/setup.ts),
 * enumerates and prunes the space and bounds each survivor (src/plan/candidates.ts), simulates
 * them by branch and bound (src/plan/search.ts), and ranks what it simulated: every layout that
 * fits, fastest first, then those that do not. Its output is the contract of
 * src/plan/types.ts, which `--json`, the report, `--verify` and `--emit` read.
 */
import { InputError } from "../errors.js";
import { formatBytes } from "../report/table.js";
import type { TimelineEvent } from "../sim/clock.js";
import { boundContext, StepBound } from "./bound.js";
import { candidates, type Candidate } from "./candidates.js";
import { Estimator } from "./estimate.js";
import { memoryFloor } from "./memory.js";
import { layoutKey, layoutLabel } from "./scenario.js";
import { planPool, search, simulateOn, type Simulated } from "./search.js";
import { planSetup, type PlanSetup } from "./setup.js";
import { Rules } from "./space.js";
import type { PlanLayout, PlannedLayout, PlanOutput, PlanRequest, PlanResult } from "./types.js";

export interface PlanOptions {
  /** Pool threads (default: the machine's cores). */
  threads?: number;
  /**
   * Layouts to simulate and rank whatever their bound, e.g. a published one whose rank is
   * wanted; the search then goes on until no unsimulated layout can beat them, so their ranks
   * are exact (unless `exactRanks` is false). They are counted as simulated beside the space's own.
   */
  include?: PlanLayout[];
  /** With `include`: go on until no unsimulated layout can beat them (default true); false reports how many could instead. */
  exactRanks?: boolean;
  /** Simulate the top three again recording their timelines (for the HTML report). */
  timelines?: boolean;
  /** After each simulation: simulated so far, layouts queued, the K-th best step so far (Infinity until K fit). */
  onSimulated?: (done: number, queued: number, kthBest: number) => void;
}

/** How many of the top layouts `timelines` records. */
export const TIMELINE_LAYOUTS = 3;

/** An included layout as a candidate: it must break no rule of the space. */
function includedCandidate(setup: PlanSetup, rules: Rules, estimator: Estimator, layout: PlanLayout): Candidate {
  const reason = rules.broken(layout);
  if (reason) throw new InputError("include", `${layoutLabel(layout)}: ${reason}`);
  const figures = estimator.figures(layout);
  const bound = new StepBound(boundContext(setup));
  return { layout, bound: bound.of(layout, figures), memoryFloor: memoryFloor(layout, figures) };
}

/** Fitting layouts fastest first, then the rest fastest first; ranks from 1. */
export function rankLayouts(simulated: readonly Simulated[]): PlannedLayout[] {
  const order = [...simulated].sort((a, b) => Number(b.figures.fits) - Number(a.figures.fits) || a.figures.stepSeconds - b.figures.stepSeconds);
  return order.map((s, i) => ({ rank: i + 1, label: layoutLabel(s.layout), layout: s.layout, scenario: s.scenario, ...s.figures }));
}

export async function plan(request: PlanRequest, options: PlanOptions = {}): Promise<PlanOutput> {
  const started = performance.now();
  const setup = planSetup(request);
  const space = candidates(setup);
  const rules = new Rules(setup);
  const estimator = new Estimator(setup);
  const include = (options.include ?? []).map((l) => includedCandidate(setup, rules, estimator, l));
  const outcome = await search(setup, space.kept, { top: setup.request.top, threads: options.threads, include, exactRanks: options.exactRanks, onSimulated: options.onSimulated });
  const ranked = rankLayouts(outcome.simulated);
  if (!ranked[0]!.fits) {
    const smallest = ranked.reduce((a, r) => (r.peakMemoryBytes < a.peakMemoryBytes ? r : a));
    throw new InputError(
      "--model",
      `${request.model} fits no layout of ${request.devices} × ${request.hardware} (${formatBytes(setup.hardware.memoryBytes)} each): the smallest simulated needs ${formatBytes(smallest.peakMemoryBytes)} per device (${smallest.label})`,
    );
  }
  const timelines = options.timelines ? await topTimelines(ranked, options.threads) : [];
  const counts = { enumerated: space.enumerated, pruned: { ...space.pruned, ...outcome.pruned }, simulated: outcome.runs, cached: outcome.cached };
  const result: PlanResult = { request: setup.request, counts, ranked, memoryCapacity: setup.hardware.memoryBytes, wallSeconds: (performance.now() - started) / 1000 };
  if (include.length > 0) {
    result.included = include.map((c) => {
      const entry = ranked.find((r) => layoutKey(r.layout) === layoutKey(c.layout))!;
      return { label: entry.label, rank: entry.rank, couldBeatIt: outcome.couldBeatIncluded.get(layoutKey(c.layout))! };
    });
  }
  return { result, timelines };
}

/** The timelines of the top fitting layouts, simulated again (the simulation is deterministic: same figures). */
async function topTimelines(ranked: readonly PlannedLayout[], threads: number | undefined): Promise<TimelineEvent[][]> {
  const top = ranked.filter((r) => r.fits).slice(0, TIMELINE_LAYOUTS);
  const pool = planPool(Math.min(top.length, threads ?? top.length));
  try {
    return await Promise.all(top.map(async (r) => (await simulateOn(pool, r.scenario, true)).timeline!));
  } finally {
    await pool.destroy();
  }
}
