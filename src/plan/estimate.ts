/**
 * A candidate layout in figures that need no simulation: per pipeline rank, the parameters its
 * representative device holds (dp 0, tp 0: the device a shapes-mode run reports for its stage),
 * its compute per step, its tensor-parallel share, the activation sets its schedule keeps, and
 * the time of its data-parallel collectives. Built from stage probes (src/plan/probe.ts), the
 * schedule's action lists and the simulator's collective costs; the memory floor
 * (src/plan/memory.ts) and the step-time bound (src/plan/bound.ts) read them.
 */
import { DTYPE_BYTES } from "../kernels/round.js";
import { buildLayout, type StagePart, type TensorSpec } from "../model/layout.js";
import { planBuckets } from "../parallel/data.js";
import { unitOf, zeroUnits } from "../parallel/zero.js";
import { buildMesh } from "../parallel/mesh.js";
import { stageParts } from "../parallel/pipeline.js";
import { stagesOfRank } from "../parallel/placement.js";
import type { Action } from "../schedule/actions.js";
import { activationSetsPerStage } from "../scenario/footprint.js";
import { generateSchedule } from "../schedule/generators.js";
import { groupCollectiveTime, groupSpread, type CollectiveOp } from "../sim/cost.js";
import { numericFormat, type NumericFormat } from "../train/precision.js";
import { computeOrders } from "./critical-path.js";
import { StageCosts, type ProbeSetting, type StageCost } from "./probe.js";
import type { PlanSetup } from "./setup.js";
import type { PlanLayout } from "./types.js";

export interface RankFigures {
  /** Parameter elements of the representative device (its stages, tp shard 0). */
  parameters: number;
  /** Seconds of forward, backward and W over all micro-batches, blocking tp collectives included. */
  work: number;
  /** The tp collectives' share of `work`. */
  tpComm: number;
  /** Activation sets the schedule keeps (at least one per stage, the executor's pool) times their bytes. */
  activationBytes: number;
  workspaceBytes: number;
  /** Seconds of one data-parallel collective of `bytes` over this rank's dp group (NCCL's cost, src/sim/cost.ts). */
  dpCollective(op: CollectiveOp, bytes: number): number;
  /**
   * Seconds of one such collective per piece of the rank's flat buffer, summed: per gradient
   * bucket (`buckets`; only those inside chunk `chunk` when given), or per ZeRO-3 unit (`units`),
   * at `elementBytes` per element — the collectives its device issues (src/runtime/device.ts).
   */
  dpSum(op: CollectiveOp, pieces: "buckets" | "units", elementBytes: number, chunk?: number): number;
  /** The gradient buckets of chunk `chunk` by the weight unit whose gradients complete them (`L3`, `head`, `embed`): seconds of their collectives. */
  dpByUnit(op: CollectiveOp, elementBytes: number, chunk: number): ReadonlyMap<string, number>;
}

/** How a rank's flat buffer is cut for data parallelism: gradient buckets (with the chunk each lies in, or −1) and ZeRO-3 units. */
interface RankPieces {
  buckets: number[];
  bucketChunks: number[];
  /** The unit of each bucket's last-ready tensor (src/parallel/zero.ts `unitOf`). */
  bucketUnits: string[];
  units: number[];
}

export interface LayoutFigures {
  /** Each stage's cost per micro-batch, by stage index. */
  stages: StageCost[];
  /** Each pipeline rank's compute actions in schedule order. */
  orders: Action[][];
  /** The model part of each stage. */
  parts: StagePart[];
  /** By pipeline rank. */
  ranks: RankFigures[];
  format: NumericFormat;
}

/** The groups of a mesh's representative devices (dp 0, tp 0) by pipeline rank, and their node spreads. */
interface MeshGroups {
  /** Per pipeline rank: the tp group and the dp group of its representative, and the dp group's size and node spread. */
  tpRanks: number[][];
  dpRanks: number[][];
  dpSpread: string[];
}

/** Builds LayoutFigures; caches what candidates share (stage parts, schedules, meshes, collective times, figures). */
export class Estimator {
  readonly costs: StageCosts;
  private readonly format: NumericFormat;
  private readonly parts = new Map<string, StagePart[]>();
  private readonly schedules = new Map<string, { sets: Map<number, number>[]; orders: Action[][] }>();
  private readonly meshes = new Map<string, MeshGroups>();
  private readonly times = new Map<string, number>();
  private readonly all = new Map<string, LayoutFigures>();
  private readonly pieces = new Map<string, RankPieces>();
  private readonly sums = new Map<string, number>();

  constructor(private readonly setup: PlanSetup) {
    this.costs = new StageCosts(setup.template);
    this.format = numericFormat(setup.template.training);
  }

  /** The figures of `l`; they do not depend on its ZeRO stage, so the four stages share them. */
  figures(l: PlanLayout): LayoutFigures {
    const key = [l.dp, l.tp, l.pp, l.schedule, l.virtualStages, l.microBatchSize, l.sequenceParallel, l.recompute].join();
    return this.cached(this.all, key, () => this.compute(l));
  }

  private compute(l: PlanLayout): LayoutFigures {
    const dims = { p: l.pp, v: l.virtualStages };
    const parts = this.cached(this.parts, `${l.pp},${l.virtualStages}`, () => stageParts(this.setup.config, dims));
    const groups = this.cached(this.meshes, `${l.dp},${l.tp},${l.pp}`, () => this.meshGroups(l));
    const settings = groups.tpRanks.map((tpRanks) => {
      const setting: ProbeSetting = { tp: l.tp, tpRanks, sequenceParallel: l.sequenceParallel, recompute: l.recompute, microBatchSize: l.microBatchSize, split: l.schedule === "zb-h1" };
      return { setting, key: this.costs.keyOf(setting) };
    });
    const stages = parts.map((part, s) => {
      const { setting, key } = settings[s % l.pp]!;
      return this.costs.cost(setting, key, part);
    });
    const { sets, orders } = this.cached(this.schedules, `${l.schedule},${l.pp},${l.microBatches},${l.virtualStages}`, () => {
      const schedule = generateSchedule(l.schedule, { p: l.pp, m: l.microBatches, v: l.virtualStages });
      return { sets: schedule.map(activationSetsPerStage), orders: computeOrders(schedule) };
    });
    const ranks = Array.from({ length: l.pp }, (_, r) => this.rankFigures(l, groups, stages, parts, stagesOfRank(r, dims), sets[r]!, r));
    return { stages, orders, parts, ranks, format: this.format };
  }

  private meshGroups(l: PlanLayout): MeshGroups {
    const mesh = buildMesh(l);
    const reps = Array.from({ length: l.pp }, (_, r) => mesh.rankOf({ dp: 0, tp: 0, pp: r }));
    const dpRanks = reps.map((rank) => mesh.groupOf(rank, "dp").ranks);
    const dpSpread = dpRanks.map((ranks) => {
      const { nodes, perNode } = groupSpread(this.setup.hardware, ranks);
      return `${ranks.length},${nodes},${perNode}`;
    });
    return { tpRanks: reps.map((rank) => mesh.groupOf(rank, "tp").ranks), dpRanks, dpSpread };
  }

  /** The rank's flat layout as its Trainer builds it (its parts in order, tp shard 0), cut as its device cuts it. */
  private rankPieces(l: PlanLayout, parts: StagePart[], mine: number[]): RankPieces {
    const tp = l.tp > 1 ? { size: l.tp, index: 0 } : undefined;
    const layouts = mine.map((s) => buildLayout(this.setup.config, parts[s]!, tp));
    const tensors: TensorSpec[] = [];
    const starts: number[] = [];
    let offset = 0;
    for (const layout of layouts) {
      starts.push(offset);
      for (const t of layout.tensors) tensors.push({ ...t, offset: t.offset + offset });
      offset += layout.totalSize;
    }
    const flat = { tensors, totalSize: offset };
    const buckets = planBuckets(flat, this.setup.template.parallel.bucketBytes, DTYPE_BYTES[this.format.grads]);
    const chunkOf = (from: number, to: number): number => {
      const k = starts.findLastIndex((start) => start <= from);
      return to <= (starts[k + 1] ?? offset) ? k : -1;
    };
    return {
      buckets: buckets.map((b) => b.size),
      bucketChunks: buckets.map((b) => chunkOf(b.offset, b.offset + b.size)),
      bucketUnits: buckets.map((b) => unitOf(b.lastTensor)),
      units: zeroUnits(flat).map((u) => u.size),
    };
  }

  private rankFigures(l: PlanLayout, groups: MeshGroups, stages: StageCost[], parts: StagePart[], mine: number[], sets: Map<number, number>, r: number): RankFigures {
    const f: Omit<RankFigures, "dpCollective" | "dpSum" | "dpByUnit"> = { parameters: 0, work: 0, tpComm: 0, activationBytes: 0, workspaceBytes: 0 };
    for (const s of mine) {
      const c = stages[s]!;
      f.parameters += c.parameters;
      f.work += l.microBatches * (c.forward + c.backward + c.weights);
      f.tpComm += l.microBatches * (c.forwardTp + c.backwardTp + c.weightsTp);
      const kept = c.activationBytes + (l.schedule === "zb-h1" ? c.deferredBytes : 0);
      f.activationBytes += Math.max(1, sets.get(s) ?? 0) * kept;
      f.workspaceBytes += c.workspaceBytes;
    }
    const [dpRanks, spread] = [groups.dpRanks[r]!, groups.dpSpread[r]!];
    const dpCollective = (op: CollectiveOp, bytes: number): number =>
      this.cached(this.times, `${op},${spread},${bytes}`, () => groupCollectiveTime(this.setup.hardware, op, dpRanks, bytes));
    const piecesKey = `${l.tp},${l.pp},${l.virtualStages},${r}`;
    const dpSum = (op: CollectiveOp, which: "buckets" | "units", elementBytes: number, chunk?: number): number =>
      this.cached(this.sums, `${piecesKey}|${spread}|${op},${which},${elementBytes},${chunk}`, () => {
        const pieces = this.cached(this.pieces, piecesKey, () => this.rankPieces(l, parts, mine));
        const sizes = which === "units" ? pieces.units : pieces.buckets.filter((_, i) => chunk === undefined || pieces.bucketChunks[i] === chunk);
        return sizes.reduce((t, n) => t + dpCollective(op, n * elementBytes), 0);
      });
    const byUnit = new Map<string, Map<string, number>>();
    const dpByUnit = (op: CollectiveOp, elementBytes: number, chunk: number): ReadonlyMap<string, number> =>
      this.cached(byUnit, `${op},${elementBytes},${chunk}`, () => {
        const pieces = this.cached(this.pieces, piecesKey, () => this.rankPieces(l, parts, mine));
        const out = new Map<string, number>();
        pieces.buckets.forEach((n, i) => {
          if (pieces.bucketChunks[i] !== chunk) return;
          const unit = pieces.bucketUnits[i]!;
          out.set(unit, (out.get(unit) ?? 0) + dpCollective(op, n * elementBytes));
        });
        return out;
      });
    return { ...f, dpCollective, dpSum, dpByUnit };
  }

  private cached<T>(map: Map<string, T>, key: string, make: () => T): T {
    let value = map.get(key);
    if (value === undefined) {
      value = make();
      map.set(key, value);
    }
    return value;
  }
}

/** Bytes per element of weights as computed with, and of weight gradients (src/train/precision.ts). */
export function elementBytes(format: NumericFormat): { compute: number; grads: number } {
  return { compute: DTYPE_BYTES[format.compute], grads: DTYPE_BYTES[format.grads] };
}
