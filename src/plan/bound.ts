/**
 * A lower bound on a layout's simulated step time, from figures that need no simulation
 * (src/plan/estimate.ts). The search simulates layouts in the order of this bound and stops when
 * the next bound cannot beat the K-th best simulated step, so the bound must never exceed what
 * the simulation gives (tests/plan/bound.test.ts checks it on small layouts of every kind).
 *
 * It is the largest of three facts about the simulated clock (src/sim/clock.ts), per pipeline rank:
 *
 * 1. The pipeline. Each compute action lasts at least its stage's probed time (compute plus its
 *    blocking tensor-parallel collectives). Under ZeRO-3 a pass (F, BW, B or W) also gathers every
 *    weight unit of its stage on the communication stream, a FIFO shared with its tp collectives:
 *    the next unit's gather is queued as a unit starts, before the unit's first tp collective, so
 *    each unit lasts at least max(time to its first tp collective, next gather) plus the rest
 *    (and the pass at least tp + max(compute, all gathers)). Buckets reduced as backward finishes
 *    them (plain dp, ZeRO-2) go on the same FIFO when their unit announces its gradients and hold
 *    back later tp collectives. Each rank ends no earlier than its last action on the schedule's
 *    critical path with those durations and constraints (src/plan/critical-path.ts), then runs its
 *    optimizer and what ZeRO-1 and -2 do after it on the compute stream's wait (ZeRO-1:
 *    reduce-scatter the gradients, then all-gather the parameters; ZeRO-2: all-gather them).
 * 2. The streams. A blocking tp collective occupies the communication stream while the compute
 *    stream waits for it; every data-parallel collective occupies the communication stream too,
 *    and the step waits for all of them: a step lasts at least
 *    tp + max(compute + optimizer + ZeRO tail, data-parallel collectives).
 * 3. The last passes. From each pass that finishes a stage's gradients, the rank still runs its
 *    remaining tp collectives and the longer of its remaining compute and the reduction of every
 *    bucket issued from then on.
 *
 * Data-parallel collectives are priced one per bucket or unit, as the device issues them, with
 * NCCL's cost (src/sim/cost.ts). Pipeline sends, where a receive blocks and whatever else waits
 * on the FIFO are left to the simulation.
 */
import { launchesTime } from "../sim/roofline.js";
import { optimizerLaunches } from "../kernels/cost.js";
import { DTYPE_BYTES } from "../kernels/round.js";
import { ADAMW_FLOPS_PER_PARAM } from "../train/optimizer.js";
import type { HardwareProfile } from "../sim/hardware.js";
import type { Dtype } from "../kernels/round.js";
import { durationOf, earliestTimes, type ActionDurations, type EarliestTimes, type FinishingUnit } from "./critical-path.js";
import { elementBytes, type LayoutFigures, type RankFigures } from "./estimate.js";
import type { UnitTime } from "./probe.js";
import { shardFloor } from "./memory.js";
import type { PlanLayout } from "./types.js";
import type { PlanSetup } from "./setup.js";
import { costDtypeOf } from "../scenario/schema.js";

/**
 * Each term is a sum of the same doubles the clock adds, in another order; this margin keeps
 * the bound under the simulated time when the two orders round differently (relative round-off
 * of a sum of n terms is at most n·2^-53, far below 1e-9 for any step parasim schedules).
 */
const ROUND_OFF_MARGIN = 1 - 1e-9;

export interface BoundContext {
  hardware: HardwareProfile;
  /** The dtype the clock prices kernels in (the training precision). */
  dtype: Dtype;
  /** The model ties its embeddings (a last stage then holds a copy whose gradient is summed across stages). */
  tiedEmbeddings: boolean;
}

/**
 * Whether gradient buckets (ZeRO-2, -3: units) are reduced as backward finishes them, as a device
 * decides (src/runtime/device.ts): not under ZeRO-1, nor under ZeRO-2 and -3 when a tied
 * embedding's gradient must first be summed across stages.
 */
function earlyBuckets(ctx: BoundContext, l: PlanLayout): boolean {
  return l.zero !== 1 && !(l.zero > 1 && ctx.tiedEmbeddings && l.pp * l.virtualStages > 1);
}

/**
 * What the data-parallel collectives of one rank cost, as its device issues them: after the
 * optimizer on the compute stream's wait (`tail`), on the comm stream in all (`stream`), and the
 * buckets of chunk k that the pass finishing its gradients issues (`overlapped`; 0 when they wait
 * for the end). Plain dp all-reduces bucket by bucket; ZeRO-1 reduce-scatters and all-gathers the
 * whole buffer; ZeRO-2 both bucket by bucket; ZeRO-3 reduce-scatters unit by unit and gathers
 * every unit before each pass of each micro-batch.
 */
function dataParallel(ctx: BoundContext, l: PlanLayout, figures: LayoutFigures, rank: RankFigures): { tail: number; stream: number; overlapped: (chunk: number) => number } {
  if (l.dp === 1) return { tail: 0, stream: 0, overlapped: () => 0 };
  const e = elementBytes(figures.format);
  const early = earlyBuckets(ctx, l);
  const pieces = l.zero === 3 ? "units" : "buckets";
  const op = l.zero === 0 ? "all-reduce" : "reduce-scatter";
  const reduced = l.zero === 1 ? rank.dpCollective(op, rank.parameters * e.grads) : rank.dpSum(op, pieces, e.grads);
  const afterUpdate = l.zero === 1 ? rank.dpCollective("all-gather", rank.parameters * e.compute) : l.zero === 2 ? rank.dpSum("all-gather", pieces, e.compute) : 0;
  const gathers = l.zero === 3 ? l.microBatches * (l.schedule === "zb-h1" ? 3 : 2) * rank.dpSum("all-gather", pieces, e.compute) : 0;
  return {
    tail: (early ? 0 : reduced) + afterUpdate,
    stream: reduced + gathers + afterUpdate,
    overlapped: (chunk) => (early && l.zero !== 3 ? rank.dpSum(op, "buckets", e.grads, chunk) : 0),
  };
}

/** ZeRO-3's least duration of a pass over `units`: each unit's first tp collective waits for the next unit's gather, issued as the unit starts (header, 1). */
function zero3Pass(units: readonly UnitTime[], gather: (elements: number) => number): number {
  if (units.length === 0) return 0;
  let t = gather(units[0]!.elements);
  units.forEach((u, i) => {
    const next = i + 1 < units.length ? gather(units[i + 1]!.elements) : 0;
    t += Math.max(u.beforeTp, next) + u.total - u.beforeTp;
  });
  return t;
}

/** Seconds from a pass's start to its first tp collective (Infinity without one). */
function firstTpOffset(units: readonly UnitTime[]): number {
  let t = 0;
  for (const u of units) {
    if (u.beforeTp < u.total) return t + u.beforeTp;
    t += u.total;
  }
  return Infinity;
}

/**
 * The units of the pass that completes stage `s`'s gradients (BW, or W when split), each with the
 * reduction of the buckets its gradients complete: a composed stage repeats its layer unit, and
 * the i-th layer a backward pass meets is the stage's (n − 1 − i)-th.
 */
function finishingUnits(l: PlanLayout, figures: LayoutFigures, s: number, gradBytes: number): FinishingUnit[] {
  const c = figures.stages[s]!;
  const part = figures.parts[s]!;
  const reduce = figures.ranks[s % l.pp]!.dpByUnit(l.zero === 0 ? "all-reduce" : "reduce-scatter", gradBytes, Math.floor(s / l.pp));
  let layer = 0;
  return c.units[l.schedule === "zb-h1" ? "weights" : "backward"].map((u) => {
    const name = u.layer ? `L${part.firstLayer + part.numLayers - 1 - layer++}` : u.names[0]!;
    return { beforeTp: u.beforeTp, total: u.total, gradsAt: u.gradsAt, reduce: reduce.get(name) ?? 0 };
  });
}

/** Each action's least duration by stage, and what delays its first tp collective (header, 1). */
function actionDurations(ctx: BoundContext, l: PlanLayout, figures: LayoutFigures): ActionDurations {
  const zero3 = l.dp > 1 && l.zero === 3;
  const e = elementBytes(figures.format);
  const F: number[] = [];
  const B: number[] = [];
  const W: number[] = [];
  const firstTp = { F: [] as number[], B: [] as number[], W: [] as number[] };
  const finishing: FinishingUnit[][] = [];
  const early = l.dp > 1 && !zero3 && earlyBuckets(ctx, l);
  figures.stages.forEach((c, s) => {
    firstTp.F.push(firstTpOffset(c.units.forward));
    firstTp.B.push(firstTpOffset(c.units.backward));
    firstTp.W.push(firstTpOffset(c.units.weights));
    if (early) finishing.push(finishingUnits(l, figures, s, e.grads));
    const gather = (elements: number): number => figures.ranks[s % l.pp]!.dpCollective("all-gather", elements * e.compute);
    const pass = (total: number, tp: number, units: readonly UnitTime[]): number =>
      zero3 ? Math.max(tp + Math.max(total - tp, gather(c.parameters)), zero3Pass(units, gather)) : total;
    F.push(pass(c.forward, c.forwardTp, c.units.forward));
    B.push(pass(c.backward, c.backwardTp, c.units.backward));
    W.push(l.schedule === "zb-h1" ? pass(c.weights, c.weightsTp, c.units.weights) : 0);
  });
  return early ? { F, B, W, firstTp, finishing } : { F, B, W };
}

/** The bound's context for a plan's setup. */
export function boundContext(setup: PlanSetup): BoundContext {
  return { hardware: setup.hardware, dtype: costDtypeOf(setup.template), tiedEmbeddings: setup.config.tieEmbeddings === true };
}

/** The step-time lower bound of layouts (header); caches the critical paths that layouts share. */
export class StepBound {
  private readonly paths = new Map<string, EarliestTimes>();

  constructor(private readonly ctx: BoundContext) {}

  of(l: PlanLayout, figures: LayoutFigures): number {
    const d = actionDurations(this.ctx, l, figures);
    const reductions = d.finishing?.map((units) => units.map((u) => u.reduce).join(" ")).join() ?? "";
    const key = `${l.schedule},${l.pp},${l.microBatches},${l.virtualStages}|${d.F.join()}|${d.B.join()}|${d.W.join()}|${reductions}`;
    let times = this.paths.get(key);
    if (!times) {
      times = earliestTimes(figures.orders, figures.stages.length, l.microBatches, d);
      this.paths.set(key, times);
    }
    let bound = 0;
    figures.ranks.forEach((rank, r) => {
      // The optimizer's passes at their narrowest: gradients at least the compute width, and the
      // 16-bit copy of master weights left out, so the term never exceeds what the trainer charges.
      const passes = optimizerLaunches(shardFloor(l, rank.parameters), ADAMW_FLOPS_PER_PARAM, DTYPE_BYTES[this.ctx.dtype], 0);
      const optimizer = launchesTime(this.ctx, passes);
      const dp = dataParallel(this.ctx, l, figures, rank);
      const pipeline = times.ends[r]! + optimizer + dp.tail;
      const streams = rank.tpComm + Math.max(rank.work - rank.tpComm + optimizer + dp.tail, dp.stream);
      const last = finishingPasses(l, figures, d, times.starts[r]!, r, dp.overlapped) + optimizer + dp.tail;
      bound = Math.max(bound, pipeline, streams, last);
    });
    return bound * ROUND_OFF_MARGIN;
  }
}

/**
 * From each pass that finishes a stage's gradients (BW, or W of a split backward, of the last
 * micro-batch) and issues their buckets: its earliest start, then the rank's remaining tp
 * collectives, then the longer of its remaining compute and the reduction of every bucket issued
 * from then on (header, 2). Not under ZeRO-3, whose pass durations hold gathers on that stream.
 */
function finishingPasses(l: PlanLayout, figures: LayoutFigures, d: ActionDurations, starts: Float64Array, r: number, overlapped: (chunk: number) => number): number {
  if (l.dp > 1 && l.zero === 3) return 0;
  const order = figures.orders[r]!;
  const finisher = l.schedule === "zb-h1" ? "W" : "BW";
  let [tp, compute, reduction, bound] = [0, 0, 0, 0];
  for (let i = order.length - 1; i >= 0; i--) {
    const a = order[i]!;
    const c = figures.stages[a.stage]!;
    const share = a.type === "F" ? c.forwardTp : a.type === "W" ? c.weightsTp : c.backwardTp;
    tp += share;
    compute += durationOf(a, d) - share;
    if (a.type !== finisher || a.mb !== l.microBatches - 1) continue;
    reduction += overlapped(Math.floor(a.stage / l.pp));
    bound = Math.max(bound, starts[i]! + tp + Math.max(compute, reduction));
  }
  return bound;
}
