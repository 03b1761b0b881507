/**
 * Mixed precision (Micikevicius et al. 2018, "Mixed Precision Training"; Megatron-LM's recipe):
 * which tensors a run stores in which dtype. In 16-bit precision the model computes with a 16-bit
 * copy of the weights, stores every activation, activation gradient and layer output in 16 bits,
 * and sends every payload in 16 bits; matmuls and reductions accumulate in float32 or wider
 * inside each kernel. The optimizer keeps fp32 master weights and fp32 moments and writes the
 * 16-bit copy after each step. Weight gradients are 16-bit too, unless `gradReduceFp32` keeps them
 * (and their data-parallel reduction) in fp32, as Megatron-LM's
 * `--accumulate-allreduce-grads-in-fp32` does.
 */
import type { Dtype } from "../kernels/round.js";

export type Precision = Dtype;

export interface NumericFormat {
  precision: Precision;
  /** Weights used in forward and backward, activations, activation gradients, their payloads. */
  compute: Dtype;
  /** Weight gradients (their accumulation over micro-batches) and the dp-grad payload. */
  grads: Dtype;
  /** An fp32 master copy of the weights beside the 16-bit ones (16-bit precision only). */
  masterWeights: boolean;
  /** Dynamic loss scaling (fp16 only: bf16 has float32's exponent range). */
  lossScaling: boolean;
}

export function numericFormat(training: { precision: Precision; gradReduceFp32: boolean }): NumericFormat {
  const { precision } = training;
  const mixed = precision !== "fp32";
  return {
    precision,
    compute: precision,
    grads: mixed && training.gradReduceFp32 ? "fp32" : precision,
    masterWeights: mixed,
    lossScaling: precision === "fp16",
  };
}

/** Collective kinds whose payload is a weight gradient; every other model payload is in the compute dtype. */
const GRADIENT_KINDS = new Set(["dp-grad", "tp-norm", "tied-embed"]);
/** Kinds that carry statistics, kept at the buffer's own width in every precision. */
const STATISTIC_KINDS = new Set(["grad-norm", "tp-loss"]);

/**
 * The dtype a payload of `kind` travels in, or undefined for the buffer's own width (fp32 runs,
 * and statistics: the loss's log-sum-exp parts and the gradient norm stay wide).
 */
export function wireDtype(format: NumericFormat, kind: string): Dtype | undefined {
  if (format.precision === "fp32" || STATISTIC_KINDS.has(kind)) return undefined;
  return GRADIENT_KINDS.has(kind) ? format.grads : format.compute;
}
