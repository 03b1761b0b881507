/**
 * The host memory a real-mode run needs. In real mode every device is a worker thread on this
 * host holding float32 buffers, so a published model on a few devices asks for terabytes; this
 * estimate lets validation refuse such a scenario with a one-line error before any worker
 * starts, instead of the run dying of an out-of-memory crash.
 *
 * Formula (bytes, summed over all dp·tp·pp devices):
 *
 *   state       = Σ devices  4·P + 4·P + 4·2·S  (+ 4·S of fp32 master weights in bf16/fp16)
 *   activations = Σ devices  Σ stages s of the device  k_s · (A_s + W_s)
 *   data        = 4·N · (devices + 1)
 *
 * - P: elements of the device's parameter buffer, `buildLayout(config, part, tp).totalSize`
 *   summed over its pipeline stages (its tensor-parallel shard; norms replicated). The buffer
 *   and the gradient buffer of the same layout take 4·P bytes each.
 * - S: AdamW's state per moment (m and v): P, or under ZeRO (any stage) the device's 1/dp shard of P.
 *   16-bit precision is emulated in float32 buffers, so only its master weights add host memory.
 * - A_s: one micro-batch's saved activations of stage s (`Activations` with buffers that are
 *   counted, not allocated), as the model keeps them under the scenario's recomputation,
 *   attention kernel and sparse pattern; B = globalBatch / dp / microBatches rows of seqLen.
 * - k_s: the activation sets stage s keeps, the most micro-batches it holds at once in the
 *   device's schedule (stashed when its input arrives, freed by BW, or by W after a split
 *   backward) and at least 1: the pool the executor keeps.
 * - W_s: with a split backward (zb-h1), the weight-gradient inputs each set also keeps until
 *   its W; otherwise 0.
 * - N: tokens of the training corpus (a text file's bytes, or the synthetic text's), held as an
 *   Int32Array by the main thread and copied to every device worker.
 *
 * Left out: each model's workspace (about one micro-batch of scratch, and the one set of buffers
 * that recomputation refills), stage-boundary gradient buffers, the token stream and the
 * JavaScript heap. The estimate is therefore slightly below what a run allocates, so a scenario
 * it refuses cannot fit.
 */
import { numericFormat } from "../train/precision.js";
import { statSync } from "node:fs";
import { totalmem } from "node:os";
import { SYNTHETIC_BYTES } from "../data/batches.js";
import { InputError } from "../errors.js";
import { grouped, LIMITS } from "../limits.js";
import { Activations, countingAllocator, metaMaker, recomputedBuffers, WeightGradInputs } from "../model/activations.js";
import { modelDims } from "../model/dims.js";
import { familyOf, modelConfigOf, type ModelConfig } from "../model/config.js";
import { buildLayout, EMBED_NAME, LM_HEAD_NAME, type StagePart } from "../model/layout.js";
import { stageParts } from "../parallel/pipeline.js";
import { stagesOfRank } from "../parallel/placement.js";
import { formatBytes } from "../report/table.js";
import type { Action } from "../schedule/actions.js";
import { generateSchedule } from "../schedule/generators.js";
import type { Scenario } from "./schema.js";

const FLOAT32_BYTES = 4;

export interface HostFootprint {
  /** Parameters, gradients and AdamW's two moments, over all devices. */
  stateBytes: number;
  /** Saved activations of the micro-batches in flight, over all devices. */
  activationBytes: number;
  /** The token stream: the main thread's and each device's copy. */
  dataBytes: number;
  totalBytes: number;
  /** dp·tp·pp. */
  devices: number;
  /** Elements of the largest parameter buffer (one stage's layout on one tp rank). */
  largestBuffer: number;
}

/** Estimates the host bytes a real-mode run of `scenario` allocates (see the header for the formula). */
export function hostFootprint(scenario: Scenario): HostFootprint {
  const p = scenario.parallel;
  const config = modelConfigOf(scenario);
  const m = scenario.training.microBatches;
  const B = scenario.training.globalBatch / p.dp / m;
  const shape = { p: p.pp, v: p.virtualStages, layersPerStage: p.layersPerStage };
  const parts = stageParts(config, shape);
  const schedule = generateSchedule(p.schedule, { p: p.pp, m, v: p.virtualStages });
  const split = schedule.some((actions) => actions.some((a) => a.type === "W"));
  const tp = { size: p.tp, index: 0 };
  // dp replicas hold the same layout; under ZeRO their moments add up to one copy. (ZeRO-2 and -3
  // keep full-size gradient and parameter arrays on the host: the sharding is in what they count.)
  const momentCopies = p.zero >= 1 ? 1 : p.dp;
  // 16-bit precision keeps fp32 master weights beside the moments (emulated 16-bit buffers are float32 on the host).
  const optimizerCopies = numericFormat(scenario.training).masterWeights ? 3 : 2;
  let stateBytes = 0;
  let activationBytes = 0;
  let largestBuffer = 0;
  for (let r = 0; r < p.pp; r++) {
    const sets = activationSetsPerStage(schedule[r]);
    for (const s of stagesOfRank(r, shape)) {
      const P = buildLayout(config, parts[s], tp).totalSize;
      largestBuffer = Math.max(largestBuffer, P);
      stateBytes += p.tp * FLOAT32_BYTES * (2 * P * p.dp + optimizerCopies * P * momentCopies);
      const perSet = savedBytes(config, parts[s], B, scenario, split);
      activationBytes += p.tp * p.dp * Math.max(1, sets.get(s) ?? 0) * perSet;
    }
  }
  const devices = p.dp * p.tp * p.pp;
  const dataBytes = Int32Array.BYTES_PER_ELEMENT * corpusTokens(scenario) * (devices + 1);
  return { stateBytes, activationBytes, dataBytes, totalBytes: stateBytes + activationBytes + dataBytes, devices, largestBuffer };
}

/** Tokens of the training corpus: one per byte of the text file (validated to exist), or the synthetic text's. */
function corpusTokens(scenario: Scenario): number {
  const data = scenario.training.data;
  return data.source === "text" ? statSync(data.path).size : SYNTHETIC_BYTES;
}

/**
 * Bytes one micro-batch of a stage keeps on one tensor-parallel rank between its forward and its
 * backward: what the model keeps under the scenario's recomputation, attention kernel and pattern
 * (the buffers recomputation refills are the model's workspace, left out, as the header says).
 */
function savedBytes(config: ModelConfig, part: StagePart, B: number, scenario: Scenario, split: boolean): number {
  const { tp, sequenceParallel: sp } = scenario.parallel;
  const T = config.seqLen;
  const { attention, attentionPattern } = scenario.model;
  const workspace = countingAllocator(metaMaker());
  const recomputed = recomputedBuffers(workspace, modelDims(config, B, T, tp, sp), B, T, { recompute: scenario.training.recompute, attention, attentionPattern }, familyOf(config));
  const acts = new Activations(config, part, B, T, metaMaker(), tp, sp, recomputed).bytes;
  return split ? acts + new WeightGradInputs(config, part, B, T, metaMaker(), tp, sp).bytes : acts;
}

/**
 * For each stage in one pipeline rank's action list, the most micro-batches whose activations
 * it holds at once: a set is taken when the micro-batch's input arrives (RECV_F, or F on the
 * first stage) and given back by BW, or by W after a split backward.
 */
export function activationSetsPerStage(actions: readonly Action[]): Map<number, number> {
  const held = new Map<number, number>();
  const peak = new Map<number, number>();
  for (const a of actions) {
    const taken = a.type === "RECV_F" || (a.type === "F" && a.stage === 0);
    const freed = a.type === "BW" || a.type === "W";
    if (!taken && !freed) continue;
    const now = (held.get(a.stage) ?? 0) + (taken ? 1 : -1);
    held.set(a.stage, now);
    peak.set(a.stage, Math.max(peak.get(a.stage) ?? 0, now));
  }
  return peak;
}

/**
 * Throws an InputError on `modelField` (the field the model's size comes from) when a real-mode
 * run of `scenario` would need more memory than the host has, or a parameter buffer longer than
 * a typed array holds. The field named is the one that takes the run past the host: the model's
 * (its largest part, when its fields are given one by one) when its state alone does not fit,
 * else the text corpus when it does, else what sizes the activations (`model.seqLen`). Call
 * checkScenarioLimits first: it bounds the buffers counted here.
 */
export function checkHostMemory(scenario: Scenario, modelField: string, hostBytes: number = totalmem()): void {
  const f = hostFootprint(scenario);
  if (f.totalBytes > hostBytes) {
    const sizeField = modelField === "model.hiddenSize" ? largestPartField(modelConfigOf(scenario)) : modelField;
    const field = f.stateBytes > hostBytes ? sizeField : f.stateBytes + f.dataBytes > hostBytes ? "training.data.path" : "model.seqLen";
    throw new InputError(
      field,
      `needs about ${formatBytes(f.totalBytes)} of host memory in real mode on ${f.devices} device(s) ` +
        `(parameters, gradients and optimizer state ${formatBytes(f.stateBytes)}, activations ${formatBytes(f.activationBytes)}, ` +
        `tokens ${formatBytes(f.dataBytes)}; this host has ${formatBytes(hostBytes)}) — use mode: shapes`,
    );
  }
  if (f.largestBuffer > LIMITS.typedArrayElements) {
    throw new InputError(
      modelField,
      `real mode needs a parameter buffer of ${grouped(f.largestBuffer)} elements (one pipeline stage on one tp rank); ` +
        `a typed array holds at most ${grouped(LIMITS.typedArrayElements)} — raise parallel.pp or parallel.tp, or use mode: shapes`,
    );
  }
}

/**
 * The model field that sizes the largest part of its parameters: the vocabulary (embedding and
 * head), the MLP (intermediateSize) or the attention and norms (hiddenSize).
 */
function largestPartField(config: ModelConfig): string {
  const parts = { "model.vocabSize": 0, "model.intermediateSize": 0, "model.hiddenSize": 0 };
  for (const t of buildLayout(config).tensors) {
    const part = t.name === EMBED_NAME || t.name === LM_HEAD_NAME ? "model.vocabSize" : t.name.includes(".mlp.") ? "model.intermediateSize" : "model.hiddenSize";
    parts[part] += t.size;
  }
  return Object.entries(parts).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
}
