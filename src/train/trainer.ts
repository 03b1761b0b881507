/**
 * One model replica's training step: micro-batches of forward and backward accumulating into one
 * gradient buffer, global-norm clipping, AdamW. Used as-is on a single device, inside every
 * device worker, and as the single-device reference that parallel layouts are tested against.
 */
import type { Batch } from "../data/batches.js";
import { sliceBatch } from "../data/batches.js";
import { InputError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { initParams } from "../model/init.js";
import { buildLayout, type Layout } from "../model/layout.js";
import { LlamaModel } from "../model/model.js";
import type { NamedTensor } from "../checkpoint/safetensors.js";
import { checkTensorsMatch } from "../checkpoint/hf.js";
import type { Scenario } from "../scenario/schema.js";
import { ADAMW_FLOPS_PER_PARAM, AdamW, clipFactor, scaleInPlace, sumOfSquares, type DecayRange } from "./optimizer.js";
import { learningRate } from "./schedule.js";

export interface StepOutcome {
  step: number;
  /** Mean next-token loss over this replica's rows, before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
}

/**
 * Watches the trainer's work: `compute` after each unit of work with its FLOPs (labels like
 * `F0:L2`, `B1:head`, `optimizer`), `gradsReady` when the last micro-batch's backward has
 * completed some tensors' gradients.
 */
export interface TrainerObserver {
  compute(label: string, flops: number): void;
  gradsReady(names: string[]): void;
}

export interface TrainerOptions {
  /** Weights to start from instead of the seeded initialisation. */
  init?: Map<string, NamedTensor>;
  observer?: TrainerObserver;
  /** The part of the flat buffer this rank's optimizer updates (ZeRO-1); default all of it. */
  optimizerShard?: { offset: number; size: number };
}

export function modelConfigOf(scenario: Scenario): ModelConfig {
  const { initStd: _unused, ...config } = scenario.model;
  return config;
}

/** Weight decay on matrices only: norm gains are scales, and decaying them toward 0 hurts (as in GPT-2/nanoGPT practice). */
export function decayRanges(layout: Layout): DecayRange[] {
  return layout.tensors.map((t) => ({ offset: t.offset, size: t.size, decay: t.shape.length >= 2 }));
}

/** The decay ranges that fall inside [offset, offset + size), shifted to start at 0. */
function shardRanges(ranges: DecayRange[], offset: number, size: number): DecayRange[] {
  const out: DecayRange[] = [];
  for (const r of ranges) {
    const a = Math.max(r.offset, offset);
    const b = Math.min(r.offset + r.size, offset + size);
    if (b > a) out.push({ offset: a - offset, size: b - a, decay: r.decay });
  }
  return out;
}

export class Trainer {
  readonly config: ModelConfig;
  readonly layout: Layout;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly optimizer: AdamW;
  readonly shard: { offset: number; size: number };
  readonly model: LlamaModel;
  /** Rows per micro-batch. */
  readonly microRows: number;
  private phase = "";
  private lastMicroBatch = false;

  /** `rows` is this replica's share of the global batch. */
  constructor(
    readonly scenario: Scenario,
    readonly rows: number,
    private readonly options: TrainerOptions = {},
  ) {
    this.config = modelConfigOf(scenario);
    this.layout = buildLayout(this.config);
    this.params = new Float32Array(this.layout.totalSize);
    this.grads = new Float32Array(this.layout.totalSize);
    if (options.init) loadTensors(this.layout, this.params, options.init);
    else initParams(this.layout, this.params, scenario.training.seed, scenario.model.initStd);
    this.shard = options.optimizerShard ?? { offset: 0, size: this.layout.totalSize };
    const ranges = shardRanges(decayRanges(this.layout), this.shard.offset, this.shard.size);
    this.optimizer = new AdamW(scenario.training.optimizer, this.shard.size, ranges);
    this.microRows = rows / scenario.training.microBatches;
    this.model = new LlamaModel(this.config, this.layout, this.params, this.grads, this.microRows, scenario.model.seqLen);
    const observer = options.observer;
    if (observer) {
      this.model.hooks = {
        compute: (label, flops) => observer.compute(`${this.phase}:${label}`, flops),
        // Gradients are complete only once the last micro-batch has added its share.
        gradsReady: (names) => {
          if (this.lastMicroBatch) observer.gradsReady(names);
        },
      };
    }
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
      this.phase = `F${mb}`;
      lossSum += this.model.forward(micro.inputs, micro.targets);
      this.phase = `B${mb}`;
      this.lastMicroBatch = mb === m - 1;
      this.model.backward(1 / tokensInGlobalBatch);
    }
    this.lastMicroBatch = false;
    return lossSum / m;
  }

  /**
   * Clips this rank's optimizer shard of the gradients by the global norm (whose square over
   * all ranks' shards is `sumSquares`) and applies AdamW to the shard.
   */
  update(step: number, sumSquares: number): { gradNorm: number; lr: number } {
    const opt = this.scenario.training.optimizer;
    const gradNorm = Math.sqrt(sumSquares);
    const lr = learningRate(opt, step, this.scenario.training.steps);
    const { offset, size } = this.shard;
    const grads = this.grads.subarray(offset, offset + size);
    scaleInPlace(grads, clipFactor(gradNorm, opt.clipGradNorm));
    this.optimizer.step(this.params.subarray(offset, offset + size), grads, lr);
    this.options.observer?.compute("optimizer", ADAMW_FLOPS_PER_PARAM * size);
    return { gradNorm, lr };
  }

  /** Squared norm of this rank's shard of the gradients. */
  shardSumOfSquares(): number {
    return sumOfSquares(this.grads, this.shard.offset, this.shard.size);
  }

  /** A whole single-replica step. */
  step(step: number, batch: Batch): StepOutcome {
    const loss = this.accumulate(batch, batch.rows * batch.seqLen);
    return { step, loss, ...this.update(step, sumOfSquares(this.grads)) };
  }

  /** The parameters as named tensors (views, not copies), in layout order. */
  tensors(): NamedTensor[] {
    return this.layout.tensors.map((t) => ({ name: t.name, shape: t.shape, data: this.params.subarray(t.offset, t.offset + t.size) }));
  }
}

/** Copies checkpoint tensors into `params`, after checking names and shapes match the layout. */
export function loadTensors(layout: Layout, params: Float32Array, tensors: Map<string, NamedTensor>): void {
  checkTensorsMatch(tensors, layout.tensors);
  for (const t of layout.tensors) params.set(tensors.get(t.name)!.data, t.offset);
}
