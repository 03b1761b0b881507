/**
 * Branch and bound over the kept candidates: simulate them in the order of their step-time lower
 * bound on a piscina pool (independent runs, as `compare` spreads them; each run starts its own
 * device workers), and stop when the next bound cannot beat the K-th best fitting step simulated
 * so far — no layout left can then enter the top K. Layouts given in `include` are simulated
 * whatever their bound; with `exactRanks` the search goes on until the bound passes their step
 * time too, so their rank among all candidates is exact, otherwise it reports how many
 * unsimulated candidates could still beat each. Repeated layouts are answered from a cache.
 */
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { fromPlainError, InputError } from "../errors.js";
import { workerFile } from "../runtime/cluster.js";
import type { Scenario } from "../scenario/schema.js";
import type { TimelineEvent } from "../sim/clock.js";
import type { Candidate } from "./candidates.js";
import { layoutKey, layoutScenario } from "./scenario.js";
import type { PlanSetup } from "./setup.js";
import { PRUNE } from "./space.js";
import type { PlanTask, PlanTaskResult, SimulatedFigures } from "./task.js";
import type { PlanLayout } from "./types.js";

export interface Simulated {
  layout: PlanLayout;
  scenario: Scenario;
  figures: SimulatedFigures;
}

export interface SearchOptions {
  top: number;
  threads?: number;
  /** Layouts to simulate and rank whatever their bound (already checked against the rules). */
  include?: Candidate[];
  /** Go on until no unsimulated layout can beat an included one (default true; header). */
  exactRanks?: boolean;
  /** After each finished simulation: simulated so far, layouts queued, the K-th best step (Infinity until K fit). */
  onSimulated?: (done: number, queued: number, kthBest: number) => void;
}

export interface SearchOutcome {
  simulated: Simulated[];
  pruned: Record<string, number>;
  /** Simulations run, and those answered from the cache. */
  runs: number;
  cached: number;
  /** Per included layout (by layoutKey): the unsimulated candidates whose bound is under its step (0: its rank is exact). */
  couldBeatIncluded: Map<string, number>;
}

/** A piscina pool of plan tasks (compiled, or through tsx from sources). */
export function planPool(threads: number): Piscina<PlanTask, PlanTaskResult> {
  return new Piscina<PlanTask, PlanTaskResult>({
    filename: workerFile({ compiled: "plan-task.js", source: "plan-task-tsx.mjs" }).href,
    maxThreads: Math.max(1, threads),
    minThreads: 0,
  });
}

/** Simulates one scenario on the pool; a failed run is an error naming the layout. */
export async function simulateOn(pool: Piscina<PlanTask, PlanTaskResult>, scenario: Scenario, timeline: boolean): Promise<{ figures: SimulatedFigures; timeline: TimelineEvent[] | null }> {
  const out = await pool.run({ scenario, timeline });
  if (!out.ok) throw new Error(`simulating ${scenario.name} failed: ${fromPlainError(out.error).message}`);
  return { figures: out.figures, timeline: out.timeline };
}

/** The K-th smallest fitting step time among `results` (Infinity while fewer than K fit). */
function kthBest(results: Iterable<Simulated>, k: number): number {
  const fitting = [...results].filter((r) => r.figures.fits).map((r) => r.figures.stepSeconds).sort((a, b) => a - b);
  return fitting.length >= k ? fitting[k - 1]! : Infinity;
}

/** The step a layout must beat: the K-th best, or an included layout's if slower (its rank must be exact). */
function stepToBeat(options: SearchOptions, forced: readonly Candidate[], results: ReadonlyMap<string, Simulated>): number {
  if (options.exactRanks === false) return kthBest(results.values(), options.top);
  if (forced.some((c) => !results.has(layoutKey(c.layout)))) return Infinity;
  const includedSteps = forced.map((c) => results.get(layoutKey(c.layout))!.figures.stepSeconds);
  return Math.max(kthBest(results.values(), options.top), ...includedSteps);
}

/** Runs the branch and bound (header) on `kept`, fastest bound first. */
export async function search(setup: PlanSetup, kept: Candidate[], options: SearchOptions): Promise<SearchOutcome> {
  const forced = options.include ?? [];
  const queue = [...forced.map((c) => ({ ...c, forced: true })), ...kept.map((c) => ({ ...c, forced: false }))];
  const results = new Map<string, Simulated>();
  const pending = new Map<string, Promise<void>>();
  const pruned: Record<string, number> = {};
  const threads = options.threads ?? availableParallelism();
  const pool = planPool(threads);
  let runs = 0;
  let cached = 0;
  let failure: unknown = null;
  const threshold = (): number => stepToBeat(options, forced, results);
  const start = (c: Candidate): void => {
    const key = layoutKey(c.layout);
    let scenario: Scenario;
    try {
      scenario = layoutScenario(setup, c.layout);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      const reason = `schema: ${err.field}`;
      pruned[reason] = (pruned[reason] ?? 0) + 1;
      return;
    }
    runs++;
    // A failed run is kept, not thrown here: the runs still in flight must settle before the pool goes.
    const run = simulateOn(pool, scenario, false).then(
      ({ figures }) => {
        results.set(key, { layout: c.layout, scenario, figures });
        pending.delete(key);
        options.onSimulated?.(runs, queue.length, kthBest(results.values(), options.top));
      },
      (err: unknown) => {
        failure ??= err;
        pending.delete(key);
      },
    );
    pending.set(key, run);
  };
  try {
    let next = 0;
    for (;;) {
      while (failure === null && pending.size < threads && next < queue.length && (queue[next]!.forced || queue[next]!.bound < threshold())) {
        const c = queue[next++]!;
        const key = layoutKey(c.layout);
        if (results.has(key) || pending.has(key)) cached++;
        else start(c);
      }
      if (pending.size === 0) {
        if (failure !== null) throw failure;
        if (next < queue.length) pruned[PRUNE.cannotWin] = queue.length - next;
        break;
      }
      await Promise.race(pending.values());
    }
  } finally {
    await pool.destroy();
  }
  return { simulated: [...results.values()], pruned, runs, cached, couldBeatIncluded: couldBeat(forced, kept, results) };
}

/** Per included layout: the candidates never simulated whose bound is under its step. */
function couldBeat(included: readonly Candidate[], kept: readonly Candidate[], results: ReadonlyMap<string, Simulated>): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of included) {
    const step = results.get(layoutKey(c.layout))!.figures.stepSeconds;
    out.set(layoutKey(c.layout), kept.filter((k) => k.bound < step && !results.has(layoutKey(k.layout))).length);
  }
  return out;
}
