/**
 * What one pipeline stage costs per micro-batch, measured by running the model itself: a Trainer
 * for the stage on meta arrays (src/kernels/meta.ts), charging a Clock of the plan's hardware,
 * with a tensor-parallel group whose collectives charge that clock as blocking collectives. The
 * kernels, their roofline and NCCL's collective costs are the simulator's own, so the plan has no
 * cost formula of its own: a probe is a one-device, one-micro-batch slice of a shapes-mode run.
 *
 * A stage of n layers costs (n − 1) layers more than the same stage with one layer (layers of a
 * model are identical in shape): probing parts of one and two layers with and without the
 * embedding and the head gives every stage of every pipeline depth from four small probes per
 * setting (tests/plan/probe.test.ts checks the composition against whole stages).
 */
import { metaFloats } from "../kernels/meta.js";
import type { Floats } from "../kernels/types.js";
import { Wire } from "../comm/wire.js";
import type { StagePart } from "../model/layout.js";
import type { TpComm } from "../parallel/tensor.js";
import type { Scenario } from "../scenario/schema.js";
import { costDtypeOf } from "../scenario/schema.js";
import { Clock } from "../sim/clock.js";
import { groupSpread, type CollectiveOp } from "../sim/cost.js";
import { numericFormat, wireDtype } from "../train/precision.js";
import { Trainer } from "../train/trainer.js";
import { zeroUnits } from "../parallel/zero.js";
import type { WeightSource } from "../model/weights.js";

/** What decides a stage's per-micro-batch cost besides its part of the model. */
export interface ProbeSetting {
  tp: number;
  /** The ranks of the tensor-parallel group the probe stands in (its node spread prices the collectives). */
  tpRanks: readonly number[];
  sequenceParallel: boolean;
  recompute: "none" | "selective" | "full";
  /** Sequences per micro-batch. */
  microBatchSize: number;
  /** A split backward (zb-h1): input gradients in B, weight gradients in W. */
  split: boolean;
}

/**
 * One weight unit's part of a pass (`L3`, `embed`, `head`; src/model/weights.ts): its parameter
 * elements on this tp rank, the seconds from its start to its first tensor-parallel collective,
 * and in all. ZeRO-3's bound (src/plan/bound.ts) needs them.
 */
export interface UnitTime {
  names: string[];
  elements: number;
  /** A transformer layer: a stage of n layers repeats it n times. */
  layer: boolean;
  beforeTp: number;
  total: number;
  /** Seconds from its start to announcing its finished weight gradients (a pass that completes them; else Infinity). */
  gradsAt: number;
}

export type Pass = "forward" | "backward" | "weights";

/** One stage, one micro-batch, on one tensor-parallel rank (seconds and bytes). */
export interface StageCost {
  /** Forward, backward (input gradients only when split) and W: compute plus blocking tp collectives. */
  forward: number;
  backward: number;
  weights: number;
  /** The blocking tensor-parallel collectives' share of each. */
  forwardTp: number;
  backwardTp: number;
  weightsTp: number;
  /** Parameter elements of the stage on this tp rank. */
  parameters: number;
  /** One micro-batch's saved activations; the extra a split backward keeps until W; the model's workspace. */
  activationBytes: number;
  deferredBytes: number;
  workspaceBytes: number;
  /** Each pass's weight units in the order it reads them. */
  units: Record<Pass, UnitTime[]>;
}

/**
 * Notes where each weight unit of a pass starts and ends on the clock, and its first tp
 * collective: the model names units to its WeightSource as a pass reads them (src/model/weights.ts).
 */
class UnitRecorder implements WeightSource {
  pass: UnitTime[] = [];
  private open: { names: string[]; start: number; firstTp: number | null; gradsAt: number } | null = null;
  constructor(
    private readonly clock: Clock,
    private readonly sizes: Map<string, number>,
  ) {}

  acquire(names: readonly string[]): void {
    this.open = { names: [...names], start: this.clock.now, firstTp: null, gradsAt: Infinity };
  }

  release(): void {
    const u = this.open!;
    const elements = u.names.reduce((n, name) => n + this.sizes.get(name)!, 0);
    const end = this.clock.now;
    this.pass.push({ names: u.names, elements, layer: /^L\d+$/.test(u.names[0]!), beforeTp: (u.firstTp ?? end) - u.start, total: end - u.start, gradsAt: u.gradsAt });
    this.open = null;
  }

  /** Called when the open unit's weight gradients are complete. */
  gradsReady(): void {
    if (this.open) this.open.gradsAt = this.clock.now - this.open.start;
  }

  /** Called before each tp collective is charged. */
  collective(): void {
    if (this.open && this.open.firstTp === null) this.open.firstTp = this.clock.now;
  }

  take(): UnitTime[] {
    const units = this.pass;
    this.pass = [];
    return units;
  }
}

/** A tp group that moves nothing and charges each collective on `clock`, blocking, as a device's Comm does. */
function chargingGroup(clock: Clock, ranks: readonly number[], wire: Wire, units: UnitRecorder): TpComm {
  const charge = (op: CollectiveOp, buf: Floats, kind: string): void => {
    units.collective();
    clock.collective(`${op}(${kind})`, op, ranks, buf.length * wire.bytes(buf, kind), [], false, 0);
  };
  return {
    size: ranks.length,
    index: 0,
    allReduce: (buf, kind) => charge("all-reduce", buf, kind),
    reduceScatter: (buf, kind) => {
      charge("reduce-scatter", buf, kind);
      return buf.subarray(0, buf.length / ranks.length);
    },
    allGather: (buf, kind) => charge("all-gather", buf, kind),
  };
}

/** Runs one micro-batch through `part` as a device of `template`'s run would, and reads the clock. */
export function probeStage(template: Scenario, setting: ProbeSetting, part: StagePart): StageCost {
  const B = setting.microBatchSize;
  const scenario: Scenario = {
    ...template,
    training: { ...template.training, recompute: setting.recompute, globalBatch: B, microBatches: 1 },
    parallel: { ...template.parallel, dp: 1, pp: 1, tp: setting.tp, sequenceParallel: setting.sequenceParallel },
  };
  const clock = new Clock(0, scenario.hardware, { recordEvents: false, dtype: costDtypeOf(scenario) });
  const format = numericFormat(scenario.training);
  const sizes = new Map<string, number>();
  const units = new UnitRecorder(clock, sizes);
  const tp = chargingGroup(clock, setting.tpRanks, new Wire((kind) => wireDtype(format, kind)), units);
  const trainer = new Trainer(scenario, B, {
    parts: [part],
    tp: { comm: tp, sequenceParallel: setting.sequenceParallel },
    allocate: (n) => metaFloats(n) as Float32Array,
    observer: { compute: (label, flops, launches) => clock.compute(label, flops, launches), gradsReady: () => units.gradsReady() },
  });
  const model = trainer.chunks[0]!.model;
  for (const u of zeroUnits(trainer.layout)) sizes.set(u.name, u.size);
  model.weights = units;
  const acts = model.acts;
  const tokens = new Int32Array(B * scenario.model.seqLen);
  /** Seconds `work` takes on the clock, and its tp collectives' share. */
  const timed = (work: () => void): [number, number] => {
    const [start, tp] = [clock.now, clock.phases().tpComm];
    work();
    return [clock.now - start, clock.phases().tpComm - tp];
  };
  const [forward, forwardTp] = timed(() => trainer.stageForward(0, acts, part.hasEmbedding ? tokens : acts.hidden[0]!, part.hasHead ? tokens : undefined, { label: "F0" }));
  const forwardUnits = units.take();
  const dOutput = part.hasHead ? null : (metaFloats(acts.output.length) as Float32Array);
  // The pass that completes the weight gradients announces them unit by unit, when buckets launch.
  const [backward, backwardTp] = timed(() => trainer.stageBackward(0, acts, dOutput, 1, setting.split, { label: "B0", completesGrads: !setting.split }));
  const backwardUnits = units.take();
  const [weights, weightsTp] = setting.split ? timed(() => trainer.stageBackwardWeights(0, acts, { label: "W0", completesGrads: true })) : [0, 0];
  return {
    forward,
    backward,
    weights,
    forwardTp,
    backwardTp,
    weightsTp,
    parameters: trainer.layout.totalSize,
    activationBytes: model.activationBytes(),
    deferredBytes: model.deferredWeightGradBytes(),
    workspaceBytes: model.workspaceBytes(),
    units: { forward: forwardUnits, backward: backwardUnits, weights: units.take() },
  };
}

const FIELDS = ["forward", "backward", "weights", "forwardTp", "backwardTp", "weightsTp", "parameters", "activationBytes", "deferredBytes", "workspaceBytes"] as const;

/** a + k·(b − c), field by field; a's layer unit repeated k + 1 times in each pass. */
function affine(a: StageCost, k: number, b: StageCost, c: StageCost): StageCost {
  const out = { ...a };
  for (const f of FIELDS) out[f] = a[f] + k * (b[f] - c[f]);
  const repeat = (units: UnitTime[]): UnitTime[] => units.flatMap((u) => (u.layer ? new Array<UnitTime>(k + 1).fill(u) : [u]));
  out.units = { forward: repeat(a.units.forward), backward: repeat(a.units.backward), weights: repeat(a.units.weights) };
  return out;
}

/**
 * Stage costs for every part of a setting, from four probes each (header), cached: the same
 * setting recurs across schedules, ZeRO stages and data-parallel degrees.
 */
export class StageCosts {
  private readonly probes = new Map<string, StageCost>();
  private readonly stages = new Map<string, StageCost>();
  /** Probes run so far (each a small shapes-mode model run). */
  probesRun = 0;

  constructor(private readonly template: Scenario) {}

  /** A setting's cache key: the tp group enters only by its node spread, which is all its collectives' cost depends on. */
  keyOf(setting: ProbeSetting): string {
    const { nodes, perNode } = groupSpread(this.template.hardware, setting.tpRanks);
    return `${setting.tp},${nodes},${perNode},${setting.sequenceParallel},${setting.recompute},${setting.microBatchSize},${setting.split}`;
  }

  /** The cost of `part` under `setting`, whose `keyOf` is `key`. */
  cost(setting: ProbeSetting, key: string, part: Pick<StagePart, "numLayers" | "hasEmbedding" | "hasHead">): StageCost {
    const stageKey = `${key}|${part.numLayers}|${part.hasEmbedding}|${part.hasHead}`;
    let cost = this.stages.get(stageKey);
    if (!cost) {
      const one = this.probe(setting, key, 1, part.hasEmbedding, part.hasHead);
      const n = part.numLayers;
      cost = n === 1 ? one : affine(one, n - 1, this.probe(setting, key, 2, false, false), this.probe(setting, key, 1, false, false));
      this.stages.set(stageKey, cost);
    }
    return cost;
  }

  private probe(setting: ProbeSetting, key: string, numLayers: number, hasEmbedding: boolean, hasHead: boolean): StageCost {
    const probeKey = `${key}|${numLayers}|${hasEmbedding}|${hasHead}`;
    let cost = this.probes.get(probeKey);
    if (!cost) {
      cost = probeStage(this.template, setting, { firstLayer: 0, numLayers, hasEmbedding, hasHead });
      this.probes.set(probeKey, cost);
      this.probesRun++;
    }
    return cost;
  }
}
