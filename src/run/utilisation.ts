/**
 * Model and hardware FLOPs utilisation of a simulated run.
 *
 * Model FLOPs, one convention for every report: Megatron-LM's (Narayanan et al. 2021, appendix;
 * Megatron-LM's num_floating_point_operations for causal self-attention), per token of training
 *   6·N + 6·L·h_q·s,
 * with N the parameters that take part in matmuls (every weight matrix, the LM head included
 * also when it is tied to the embedding; not the lookups — the input embedding, gpt's position
 * table — nor norms and biases) and h_q = heads × head size. It is PaLM's
 * 6N + 12·L·h·s (Chowdhery et al. 2022, appendix B) with attention counted over the causal half
 * of the s × s scores that a causal kernel computes, which is what parasim's kernels compute and
 * charge (T(T+1)/2 pairs per head): so with no recomputation, model FLOPs are the matmul part of
 * the FLOPs the clock charges, and MFU cannot exceed the achieved matmul rate. For GPT shapes
 * (MLP 4h, N = 12·L·h² + V·h) it is 72·B·s·L·h²·(1 + s/(12h) + V/(12·L·h)) per iteration.
 * Hardware FLOPs are what the devices executed, recomputation included (HFU, Korthikanti et al. 2022, §6).
 */
import type { ModelConfig } from "../model/config.js";
import { buildLayout, EMBED_NAME, POSITION_NAME } from "../model/layout.js";
import { costDtypeOf, type Scenario } from "../scenario/schema.js";
import { headDim, tiesEmbeddings } from "../model/config.js";
import type { DeviceReport, Utilisation } from "./results.js";
import { modelConfigOf } from "../train/trainer.js";

/** Model FLOPs per token of training (header). */
export function modelFlopsPerToken(config: ModelConfig): number {
  const lookups = new Set([EMBED_NAME, POSITION_NAME]);
  const matrices = buildLayout(config)
    .tensors.filter((t) => !lookups.has(t.name) && t.shape.length === 2)
    .reduce((sum, t) => sum + t.size, 0);
  // A tied LM head is stored once, as the embedding, and does a matmul all the same.
  const tiedHead = tiesEmbeddings(config) ? config.vocabSize * config.hiddenSize : 0;
  return 6 * (matrices + tiedHead) + 6 * config.numLayers * config.numHeads * headDim(config) * config.seqLen;
}

/** The matmul peak utilisation is measured against: 16-bit tensor cores, or TF32 for fp32 costs. */
export function utilisationPeak(scenario: Scenario): number {
  const hw = scenario.hardware;
  return costDtypeOf(scenario) === "fp32" ? hw.peakFlopsFp32 : hw.peakFlops;
}

/** MFU, HFU and TFLOP/s per device of a run whose devices report `devices` and whose cluster trains `tokensPerSecond`. */
export function utilisationOf(scenario: Scenario, worldSize: number, devices: readonly DeviceReport[], tokensPerSecond: number): Utilisation {
  const peak = utilisationPeak(scenario);
  const mfu = (modelFlopsPerToken(modelConfigOf(scenario)) * tokensPerSecond) / (worldSize * peak);
  // A row that stands for several ranks weighs as many; every rank's clock runs to the same step end.
  const makespan = Math.max(...devices.map((d) => d.makespanSeconds));
  const hardwareFlops = devices.reduce((sum, d) => sum + d.ranks * d.flops, 0);
  const perDevice = hardwareFlops / worldSize / makespan;
  return { mfu, hfu: perDevice / peak, tflopsPerDevice: perDevice / 1e12 };
}
