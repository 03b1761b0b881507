/**
 * One model replica's training step: micro-batches of forward and backward accumulating into one
 * gradient buffer, global-norm clipping, AdamW. Used as-is on a single device, and as the
 * single-device reference that every parallel layout is tested against.
 */
import type { Batch } from "../data/batches.js";
import { sliceBatch } from "../data/batches.js";
import { InputError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { initParams } from "../model/init.js";
import { buildLayout, type Layout } from "../model/layout.js";
import { modelFlops } from "../model/flops.js";
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
 * Runs one compute action and charges its FLOPs; a device passes its clock's `timed`, which turns
 * FLOPs into simulated time and measures the wall time beside it.
 */
export type ComputeHook = <T>(label: string, flops: number, work: () => T) => T;

const untimed: ComputeHook = (_label, _flops, work) => work();

export function modelConfigOf(scenario: Scenario): ModelConfig {
  const { initStd: _unused, ...config } = scenario.model;
  return config;
}

/** Weight decay on matrices only: norm gains are scales, and decaying them toward 0 hurts (as in GPT-2/nanoGPT practice). */
export function decayRanges(layout: Layout): DecayRange[] {
  return layout.tensors.map((t) => ({ offset: t.offset, size: t.size, decay: t.shape.length >= 2 }));
}

export class Trainer {
  readonly config: ModelConfig;
  readonly layout: Layout;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly optimizer: AdamW;
  readonly model: LlamaModel;
  /** Rows per micro-batch. */
  readonly microRows: number;

  /** `rows` is this replica's share of the global batch; `init` replaces the seeded weights. */
  constructor(
    readonly scenario: Scenario,
    readonly rows: number,
    init?: Map<string, NamedTensor>,
  ) {
    this.config = modelConfigOf(scenario);
    this.layout = buildLayout(this.config);
    this.params = new Float32Array(this.layout.totalSize);
    this.grads = new Float32Array(this.layout.totalSize);
    if (init) loadTensors(this.layout, this.params, init);
    else initParams(this.layout, this.params, scenario.training.seed, scenario.model.initStd);
    this.optimizer = new AdamW(scenario.training.optimizer, this.layout.totalSize, decayRanges(this.layout));
    this.microRows = rows / scenario.training.microBatches;
    this.model = new LlamaModel(this.config, this.layout, this.params, this.grads, this.microRows, scenario.model.seqLen);
  }

  /**
   * Forward and backward over `batch` in micro-batches; gradients become those of the mean loss
   * over `tokensInGlobalBatch` tokens (so replicas' gradients add up to the global mean).
   * Returns the mean loss of `batch`.
   */
  accumulate(batch: Batch, tokensInGlobalBatch: number, timed: ComputeHook = untimed): number {
    const m = this.scenario.training.microBatches;
    const flops = modelFlops(this.config, this.layout.part, this.microRows, batch.seqLen);
    this.grads.fill(0);
    let lossSum = 0;
    for (let mb = 0; mb < m; mb++) {
      const micro = sliceBatch(batch, mb * this.microRows, this.microRows);
      lossSum += timed(`F${mb}`, flops.forward, () => this.model.forward(micro.inputs, micro.targets));
      timed(`B${mb}`, flops.backwardInput + flops.backwardWeight, () => this.model.backward(1 / tokensInGlobalBatch));
    }
    return lossSum / m;
  }

  /** Clips by the global norm (of grads whose squared norm is `sumSquares`) and applies AdamW. */
  update(step: number, sumSquares: number, timed: ComputeHook = untimed): { gradNorm: number; lr: number } {
    const opt = this.scenario.training.optimizer;
    const gradNorm = Math.sqrt(sumSquares);
    const lr = learningRate(opt, step, this.scenario.training.steps);
    timed("optimizer", ADAMW_FLOPS_PER_PARAM * this.layout.totalSize, () => {
      scaleInPlace(this.grads, clipFactor(gradNorm, opt.clipGradNorm));
      this.optimizer.step(this.params, this.grads, lr);
    });
    return { gradNorm, lr };
  }

  /** A whole single-replica step. */
  step(step: number, batch: Batch, timed: ComputeHook = untimed): StepOutcome {
    if (batch.rows !== this.rows) throw new InputError("batch", `must have ${this.rows} rows, got ${batch.rows}`);
    const loss = this.accumulate(batch, batch.rows * batch.seqLen, timed);
    return { step, loss, ...this.update(step, sumOfSquares(this.grads), timed) };
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
