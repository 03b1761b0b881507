/**
 * One model replica's training step: micro-batches of forward and backward accumulating into one
 * gradient buffer, global-norm clipping, AdamW. Used as-is on a single device, inside every
 * device worker, and as the single-device reference that parallel layouts are tested against.
 */
import type { Batch } from "../data/batches.js";
import { sliceBatch } from "../data/batches.js";
import { InputError } from "../errors.js";
import type { Floats } from "../kernels/types.js";
import type { Activations } from "../model/activations.js";
import { modelConfigOf, type ModelConfig } from "../model/config.js";
import { initParams } from "../model/init.js";
import { buildLayout, fullModelPart, type Layout, type StagePart, type TensorSpec } from "../model/layout.js";
import { LlamaModel, type StageResult } from "../model/model.js";
import { tpGradSquares, type TpComm } from "../parallel/tensor.js";
import { shardTpTensors } from "../parallel/tp-layout.js";
import type { NamedTensor } from "../checkpoint/safetensors.js";
import { loadTensors } from "../checkpoint/hf.js";
import type { Scenario } from "../scenario/schema.js";
import { optimizerLaunches } from "../kernels/cost.js";
import type { Launch } from "../sim/roofline.js";
import { ADAMW_FLOPS_PER_PARAM, AdamW, clipFactor, decayRanges, scaleInPlace, sumOfSquares } from "./optimizer.js";
import { OptimizerShard, type Range } from "./shard.js";
import { learningRate } from "./schedule.js";
import { isMeta } from "../kernels/meta.js";
import { DTYPE_BYTES, storeAs } from "../kernels/round.js";
import { numericFormat, type NumericFormat } from "./precision.js";
import { LossScaler, lossScaleSettings } from "./loss-scale.js";
import { kernelFloats } from "../wasm/heap.js";

export { modelConfigOf };

type TensorsByName = ReadonlyMap<string, NamedTensor>;

export interface StepOutcome {
  step: number;
  /** Mean next-token loss over this replica's rows, before the update (null on ranks without the loss: pipeline stages before the last). */
  loss: number | null;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  /** fp16: the loss scale this step's backward used; null without loss scaling (fp32, bf16). */
  lossScale: number | null;
  /** fp16: the step's gradients held an inf or NaN somewhere, so no rank updated its weights. */
  skipped: boolean;
}

/** What `Trainer.update` did. */
export type UpdateOutcome = Omit<StepOutcome, "step" | "loss">;

/**
 * Watches the trainer's work: `compute` after each unit of work with its FLOPs (labels like
 * `F0:L2:attn`, `B1:head`, `optimizer`), `gradsReady` when a pass that completes gradients (see
 * `StagePass`) has finished some tensors'.
 */
export interface TrainerObserver {
  /** Work done: its FLOPs and the kernel launches that did them (src/sim/roofline.ts prices them). */
  compute(label: string, flops: number, launches: readonly Launch[]): void;
  gradsReady(names: string[]): void;
}

export interface TrainerOptions {
  /** Weights to start from instead of the seeded initialisation. */
  init?: Map<string, NamedTensor>;
  observer?: TrainerObserver;
  /** The ranges of the flat buffer this rank's optimizer updates (ZeRO, src/parallel/zero.ts); default all of it. */
  optimizerShard?: (layout: FlatLayout) => Range[];
  /** The model parts (pipeline stages) this rank holds; default the whole model. */
  parts?: StagePart[];
  /** This rank's tensor-parallel group (default: none, full tensors). */
  tp?: TensorParallel;
  /**
   * Allocates the flat parameter and gradient buffers (default: plain Float32Arrays). A device
   * passes its Comm's shared-memory allocator, so collectives on them read neighbours in place.
   */
  allocate?: (length: number) => Float32Array;
}

/** A rank's parameters: every tensor of its parts, in one flat buffer (offsets global to it). */
export interface FlatLayout {
  tensors: TensorSpec[];
  totalSize: number;
}

/** One model part of a rank: its model over a contiguous range of the rank's flat buffers. */
export interface Chunk {
  part: StagePart;
  /** The part's own layout (offsets relative to `offset`). */
  layout: Layout;
  offset: number;
  model: LlamaModel;
}

/**
 * How one pass over a model chunk shows to the observer: the prefix of its compute labels (`F3`,
 * `B3`, `W3` for micro-batch 3), and whether it completes the gradients. Only the backward of the
 * last micro-batch does (its W when the backward is split), since every micro-batch adds to them.
 */
export interface StagePass {
  label: string;
  completesGrads?: boolean;
}

/** Between passes: no label, no finished gradients. */
const NO_PASS: StagePass = { label: "" };

/** Tensor parallelism of a rank: its tp group and whether norms work on sequence shards. */
export interface TensorParallel {
  comm: TpComm;
  sequenceParallel: boolean;
}

export class Trainer {
  readonly config: ModelConfig;
  readonly layout: FlatLayout;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly optimizer: AdamW;
  readonly shard: OptimizerShard;
  readonly chunks: Chunk[];
  /** Rows per micro-batch. */
  readonly microRows: number;
  /** Built on meta arrays (src/kernels/meta.ts): every cost is charged, nothing is computed. */
  readonly shapesOnly: boolean;
  /** Which tensors are stored in which dtype (src/train/precision.ts). */
  readonly format: NumericFormat;
  /** 16-bit precision: the fp32 master weights of this rank's optimizer shard, packed (`params` holds their 16-bit copy); else null. */
  readonly master: Float32Array | null;
  /** fp16: the dynamic loss scaler; else null. */
  readonly scaler: LossScaler | null;
  /** The pass in progress. The models' hooks, installed once by `observe`, read it; only `during` sets it. */
  private pass = NO_PASS;

  /** `rows` is this replica's share of the global batch. */
  constructor(
    readonly scenario: Scenario,
    readonly rows: number,
    private readonly options: TrainerOptions = {},
  ) {
    this.config = modelConfigOf(scenario);
    const parts = options.parts ?? [fullModelPart(this.config)];
    const tp = options.tp && options.tp.comm.size > 1 ? options.tp : undefined;
    const shard = tp ? { size: tp.comm.size, index: tp.comm.index } : undefined;
    const layouts = parts.map((part) => buildLayout(this.config, part, shard));
    const offsets = layouts.map((_, k) => layouts.slice(0, k).reduce((n, l) => n + l.totalSize, 0));
    this.layout = {
      tensors: layouts.flatMap((l, k) => l.tensors.map((t) => ({ ...t, offset: t.offset + offsets[k] }))),
      totalSize: layouts.reduce((n, l) => n + l.totalSize, 0),
    };
    const allocate = options.allocate ?? kernelFloats;
    this.params = allocate(this.layout.totalSize);
    this.grads = allocate(this.layout.totalSize);
    this.shapesOnly = isMeta(this.params);
    const init = options.init && withTiedCopies(options.init, this.layout.tensors);
    if (this.shapesOnly) {
      // Meta parameters (a shapes-only run) have no values to initialise or load.
    } else if (!init) initParams(this.layout, this.params, scenario.training.seed, scenario.model.initStd);
    else if (tp) layouts.forEach((l, k) => shardTpTensors(l, init, this.params.subarray(offsets[k], offsets[k] + l.totalSize)));
    else loadTensors(this.layout, this.params, init, parts.length === 1 && parts[0].hasEmbedding && parts[0].hasHead);
    this.shard = new OptimizerShard(options.optimizerShard?.(this.layout) ?? [{ offset: 0, size: this.layout.totalSize }]);
    this.format = numericFormat(scenario.training);
    this.master = this.format.masterWeights ? this.makeMasterWeights(allocate) : null;
    const scaling = lossScaleSettings(scenario.training);
    this.scaler = scaling && new LossScaler(scaling);
    const ranges = this.shard.decayRanges(decayRanges(this.layout));
    // Moments are private to the rank (never communicated): plain arrays, or meta ones in shapes mode.
    this.optimizer = new AdamW(scenario.training.optimizer, this.shard.size, ranges, this.shapesOnly ? allocate : undefined);
    this.microRows = rows / scenario.training.microBatches;
    const seqLen = scenario.model.seqLen;
    this.chunks = layouts.map((layout, k) => {
      const range = (buf: Float32Array) => buf.subarray(offsets[k], offsets[k] + layout.totalSize);
      const [params, grads] = [range(this.params), range(this.grads)];
      const { attention, attentionPattern, dropout } = scenario.model;
      const store = { activations: this.format.compute, grads: this.format.grads };
      const options = { sequenceParallel: tp?.sequenceParallel, recompute: scenario.training.recompute, attention, attentionPattern, store, dropout };
      const model = new LlamaModel(this.config, layout, params, grads, this.microRows, seqLen, tp?.comm, options);
      return { part: parts[k], layout, offset: offsets[k], model };
    });
    if (options.observer) this.observe(options.observer);
  }

  /**
   * The fp32 master copy of this rank's optimizer shard, from the initial weights; the weights the
   * model computes with become their 16-bit copy.
   */
  private makeMasterWeights(allocate: (n: number) => Float32Array): Float32Array {
    if (this.shapesOnly) return allocate(this.shard.size);
    const master = this.shard.read(this.params).slice();
    storeAs(this.format.compute, this.params);
    return master;
  }

  /** The loss scale of the step in progress (1 without loss scaling). */
  get lossScale(): number {
    return this.scaler?.scale ?? 1;
  }

  /** Reports every chunk's work to `observer`, labelled with the pass in progress. */
  private observe(observer: TrainerObserver): void {
    for (const { model } of this.chunks) {
      model.hooks = {
        compute: (label, flops, launches) => observer.compute(`${this.pass.label}:${label}`, flops, launches),
        gradsReady: (names) => {
          if (this.pass.completesGrads) observer.gradsReady(names);
        },
      };
    }
  }

  /** Runs `work` as `pass`. */
  private during<T>(pass: StagePass, work: () => T): T {
    this.pass = pass;
    try {
      return work();
    } finally {
      this.pass = NO_PASS;
    }
  }

  /** Forward of chunk `chunk` on `acts` (see LlamaModel.stageForward). */
  stageForward(chunk: number, acts: Activations, input: Int32Array | Floats, targets: Int32Array | undefined, pass: StagePass): StageResult {
    return this.during(pass, () => this.chunks[chunk].model.stageForward(acts, input, targets));
  }

  /** Backward of chunk `chunk`, or its input-gradient half with `deferWeights` (see LlamaModel.stageBackward). */
  stageBackward(chunk: number, acts: Activations, dOutput: Floats | null, gradScale: number, deferWeights: boolean, pass: StagePass): Floats | null {
    const scaled = gradScale * this.lossScale;
    return this.during(pass, () => this.chunks[chunk].model.stageBackward(acts, dOutput, scaled, deferWeights));
  }

  /** The weight-gradient half of a split backward of chunk `chunk` (see LlamaModel.stageBackwardWeights). */
  stageBackwardWeights(chunk: number, acts: Activations, pass: StagePass): void {
    this.during(pass, () => this.chunks[chunk].model.stageBackwardWeights(acts));
  }

  /** The whole-model replica (single-stage, unsharded ranks only). */
  get model(): LlamaModel {
    if (this.chunks.length !== 1 || this.chunks[0].model.tp.size > 1) throw new Error("this rank holds a pipeline stage or a tensor shard; use chunks[k].model");
    return this.chunks[0].model;
  }

  /**
   * Forward and backward over `batch` in micro-batches; gradients become those of the mean loss
   * over `tokensInGlobalBatch` tokens (so replicas' gradients add up to the global mean).
   * Returns the mean loss of `batch`.
   */
  accumulate(batch: Batch, tokensInGlobalBatch: number): number {
    if (batch.rows !== this.rows) throw new InputError("batch", `must have ${this.rows} rows, got ${batch.rows}`);
    const m = this.scenario.training.microBatches;
    this.grads.fill(0);
    let lossSum = 0;
    for (let mb = 0; mb < m; mb++) {
      const micro = sliceBatch(batch, mb * this.microRows, this.microRows);
      lossSum += this.during({ label: `F${mb}` }, () => this.model.forward(micro.inputs, micro.targets));
      this.during({ label: `B${mb}`, completesGrads: mb === m - 1 }, () => this.model.backward(this.lossScale / tokensInGlobalBatch));
    }
    return lossSum / m;
  }

  /**
   * Clips this rank's optimizer shard of the gradients by the global norm (whose square over
   * all ranks' shards is `sumSquares`) and applies AdamW to the shard: to the fp32 master weights
   * in 16-bit precision, whose 16-bit copy it then writes. Under loss scaling the gradients carry
   * the scale, which the clip factor divides out; a non-finite `sumSquares` skips the step.
   */
  update(step: number, sumSquares: number): UpdateOutcome {
    const opt = this.scenario.training.optimizer;
    const lossScale = this.lossScale;
    const gradNorm = Math.sqrt(sumSquares) / lossScale;
    const lr = learningRate(opt, step, this.scenario.training.steps);
    const skipped = this.scaler !== null && !Number.isFinite(sumSquares);
    this.scaler?.update(!skipped);
    const outcome = { gradNorm, lr, lossScale: this.scaler && lossScale, skipped };
    if (skipped) return outcome;
    const shard = this.shard;
    if (!this.shapesOnly) {
      const grads = shard.read(this.grads);
      scaleInPlace(grads, clipFactor(gradNorm, opt.clipGradNorm) / lossScale);
      const weights = this.master ?? shard.read(this.params);
      this.optimizer.step(weights, grads, lr);
      shard.write(this.params, weights);
      if (this.master) for (const r of shard.ranges) storeAs(this.format.compute, this.params.subarray(r.offset, r.offset + r.size));
    }
    const { compute, grads } = this.format;
    const launches = optimizerLaunches(shard.size, ADAMW_FLOPS_PER_PARAM, DTYPE_BYTES[grads], this.master ? DTYPE_BYTES[compute] : 0);
    this.options.observer?.compute("optimizer", launches.reduce((f, l) => f + l.flops, 0), launches);
    return outcome;
  }

  /** Bytes of this rank's weights, master weights and gradients, at their dtypes' widths. */
  stateBytes(): { parameters: number; masterWeights: number; gradients: number } {
    const { compute, grads } = this.format;
    return {
      parameters: this.params.length * DTYPE_BYTES[compute],
      masterWeights: (this.master?.length ?? 0) * DTYPE_BYTES.fp32,
      gradients: this.grads.length * DTYPE_BYTES[grads],
    };
  }

  /**
   * This rank's share of the squared global gradient norm, over its optimizer shard: every
   * element it owns, except that a tensor replicated over the tp group counts on tp index 0 only
   * (so the sum over ranks is the single device's squared norm).
   */
  shardSumOfSquares(): number {
    if (this.shapesOnly) return 0;
    const layout = { tensors: this.layout.tensors, tp: this.options.tp?.comm };
    return this.shard.ranges.reduce((sum, range) => sum + tpGradSquares(layout, this.grads, range), 0);
  }

  /**
   * Continues AdamW from a saved state: `m` and `v` are full tensors by weight name (any layout's,
   * gathered); this rank takes its stages, tensor shards and optimizer shard of them, as it does of
   * the weights, and `t` updates done.
   */
  resumeOptimizer(t: number, m: TensorsByName, v: TensorsByName, more: { master?: TensorsByName; lossScale?: { scale: number; goodSteps: number } } = {}): void {
    const flat = new Float32Array(this.layout.totalSize);
    const pairs: [Float32Array | null, TensorsByName | undefined][] = [[this.optimizer.m, m], [this.optimizer.v, v], [this.master, more.master]];
    for (const [state, full] of pairs) {
      if (!state || !full) continue;
      for (const c of this.chunks) shardTpTensors(c.layout, full, flat.subarray(c.offset, c.offset + c.layout.totalSize));
      state.set(this.shard.read(flat));
    }
    this.optimizer.resumeAt(t);
    if (more.lossScale) this.scaler?.restore(more.lossScale);
  }

  /** A whole single-replica step. */
  step(step: number, batch: Batch): StepOutcome & { loss: number } {
    const loss = this.accumulate(batch, batch.rows * batch.seqLen);
    return { step, loss, ...this.update(step, sumOfSquares(this.grads)) };
  }

  /** The parameters as named tensors (views, not copies), in layout order; whole-model, unsharded ranks only. */
  tensors(): NamedTensor[] {
    return this.layout.tensors.map((t) => ({ name: t.name, shape: t.shape, data: this.params.subarray(t.offset, t.offset + t.size) }));
  }
}

/** A checkpoint's tensors, plus each tied copy of `tensors` (a last stage's LM head) under its name with its original's values. */
function withTiedCopies(init: Map<string, NamedTensor>, tensors: readonly TensorSpec[]): Map<string, NamedTensor> {
  const copies = tensors.filter((t) => t.tiedTo !== undefined && init.has(t.tiedTo));
  if (copies.length === 0) return init;
  const out = new Map(init);
  for (const t of copies) out.set(t.name, { ...init.get(t.tiedTo!)!, name: t.name });
  return out;
}
