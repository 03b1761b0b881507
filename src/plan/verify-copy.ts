/**
 * The scaled-down copy `plan --verify` trains: a model this host can train in real mode, laid out
 * as the plan's layout, and the single-device run it is checked against. Each choice, and why:
 *
 * Model (same family, norms, MLP kind, tied or untied head, attention kernel; smaller sizes):
 * - kv heads G' = the smallest multiple of the copy's tp that is ≥ 2 (tp must divide them; two
 *   keep attention multi-headed at tp 1), or 1 when the model has a single kv head.
 * - heads H' = G' · H/G: the grouped-query ratio of the model is kept.
 * - head size D' = the smallest even number ≥ 64 / H' (rotary embedding pairs dimensions), so the
 *   hidden size H'·D' is at least 64.
 * - intermediate size: the model's ratio to the hidden size (Llama 3: 3.5, gpt: 4), rounded to a
 *   multiple of tp.
 * - vocabulary: 256 rounded up to a multiple of tp (tokens are bytes; tp shards the vocabulary).
 * - layers: one per pipeline stage (pp × virtualStages), at least two; an explicit
 *   layersPerStage is dropped, as each stage holds one layer.
 * - sequence: 16 rounded up to a multiple of tp (sequence parallelism splits a micro-batch's tokens);
 *   a block-sparse attention pattern keeps its kind and stride, with blocks of a quarter of it.
 *
 * Layout (the plan's, except where the host cannot run it):
 * - schedule, virtual stages, sequence parallelism, ZeRO stage, recomputation, precision (with its
 *   loss scale and fp32 gradient reduction) and whether the gradient reduction overlaps backward:
 *   the plan's.
 * - dp' = min(dp, 2): two replicas exercise the gradient reduction and give ZeRO a shard each;
 *   more only repeat them.
 * - tp and pp: the plan's, unless dp'·tp·pp exceeds the worker budget (one thread per device; on
 *   two loaded cores the default, 16, verified in 16–35 s, 64 in 167 s). Then the larger of the
 *   two (tp on a tie, as more pipeline stages give the schedules more distinct orderings) is
 *   halved, never below 2, until the copy fits. The notes say so: such a copy proves the layout's
 *   kinds of parallelism and schedule, not its group sizes.
 * - micro-batches m' = min(m, 2·pp'): twice the stages lets 1F1B reach its steady state; the
 *   interleaved schedule needs a multiple of pp', so m' is rounded down to one (m ≥ pp' there).
 *   Micro-batch size min(mbs, 2).
 * - gradient buckets: the schema's default (64 KiB) rather than the plan's (sized for billions of
 *   parameters it would put the copy's gradients in one bucket).
 *
 * Training: 4 steps (the loss bound holds over ten; four let three losses show the updates, ZeRO's
 * sharded step and parameter gather included, in seconds) with the equivalence tests' optimizer
 * (AdamW, lr 1e-2, two warm-up steps), under which their bounds were derived: each step moves the
 * weights enough that a wrong update shows in the next loss. Data and seed are the plan's. Faults, checkpoints and the
 * hardware's overrides are dropped: they change neither numbers nor correctness.
 *
 * The reference is the same model, data and training on one device (dp = tp = pp = 1, 1F1B); a
 * 16-bit plan adds that reference in fp32, to measure each gradient's 16-bit round-off on one
 * device (src/run/equivalence.ts says how the bounds use it).
 */
import { InputError } from "../errors.js";
import { LIMITS } from "../limits.js";
import { BYTE_VOCAB_SIZE } from "../data/tokenizer.js";
import { validateScenario } from "../scenario/load.js";
import type { Scenario, ScenarioInput } from "../scenario/schema.js";

/** Devices of a copy unless asked otherwise (one worker thread each). */
export const DEFAULT_VERIFY_WORKERS = 16;
/** Steps the copy and the reference train. */
export const VERIFY_STEPS = 4;
const MIN_HIDDEN = 64;
const MIN_SEQ = 16;

export interface ScaledCopy {
  /** The copy, in real mode, validated. */
  copy: Scenario;
  /** The same model, data and training on one device. */
  reference: Scenario;
  /** 16-bit training only: the reference in fp32, which measures how far 16-bit rounding moves each gradient on one device. */
  fp32Reference?: Scenario;
  /** Where the copy's layout differs from the plan's beyond its size, one line each (empty: same layout). */
  notes: string[];
}

/** The smallest multiple of `k` that is ≥ `x`. */
const roundUp = (x: number, k: number) => Math.ceil(x / k) * k;

/** dp, tp, pp of the copy within `maxWorkers` devices, and a note for each degree it had to shrink. */
export function copyDegrees(p: Scenario["parallel"], maxWorkers: number): { dp: number; tp: number; pp: number; notes: string[] } {
  const dp = Math.min(p.dp, 2);
  let [tp, pp] = [p.tp, p.pp];
  const floor = dp * Math.min(tp, 2) * Math.min(pp, 2);
  if (!Number.isInteger(maxWorkers) || maxWorkers < floor || maxWorkers > LIMITS.realWorldSize) {
    const smallest = `dp ${dp} × tp ${Math.min(tp, 2)} × pp ${Math.min(pp, 2)}, the smallest copy of this layout`;
    throw new InputError("verify.maxWorkers", `must be an integer from ${floor} (${smallest}) to ${LIMITS.realWorldSize} (real mode's limit), got ${maxWorkers}`);
  }
  while (dp * tp * pp > maxWorkers) {
    if (tp >= pp) tp = Math.max(2, Math.floor(tp / 2));
    else pp = Math.max(2, Math.floor(pp / 2));
  }
  const notes: string[] = [];
  if (dp < p.dp) notes.push(`dp ${p.dp} → ${dp}: two replicas exercise the gradient reduction${p.zero > 0 ? ` and ZeRO-${p.zero}'s sharding` : ""}`);
  const shrunk = `to fit ${maxWorkers} workers; the group sizes themselves are not proven`;
  if (tp < p.tp) notes.push(`tp ${p.tp} → ${tp}, ${shrunk}`);
  if (pp < p.pp) notes.push(`pp ${p.pp} → ${pp}, ${shrunk}`);
  return { dp, tp, pp, notes };
}

/** The copy's model section: the family and structure of `m`, sized for `tp` and `stages` pipeline stages. */
function copyModel(m: Scenario["model"], tp: number, stages: number): ScenarioInput["model"] {
  const kvHeads = m.numKvHeads === 1 ? 1 : roundUp(2, tp);
  const heads = kvHeads * (m.numHeads / m.numKvHeads);
  const headSize = roundUp(Math.ceil(MIN_HIDDEN / heads), 2);
  const hidden = heads * headSize;
  const seqLen = roundUp(MIN_SEQ, tp);
  const pattern = m.attentionPattern.kind === "causal" ? "causal" : { ...m.attentionPattern, block: seqLen / 4 };
  return {
    family: m.family,
    tieEmbeddings: m.tieEmbeddings,
    vocabSize: roundUp(BYTE_VOCAB_SIZE, tp),
    hiddenSize: hidden,
    intermediateSize: tp * Math.max(1, Math.round((m.intermediateSize / m.hiddenSize) * hidden / tp)),
    numLayers: Math.max(2, stages),
    numHeads: heads,
    numKvHeads: kvHeads,
    seqLen,
    ropeTheta: m.ropeTheta,
    rmsNormEps: m.rmsNormEps,
    initStd: m.initStd,
    attention: m.attention,
    attentionPattern: pattern,
  };
}

/** The copy of `original` (a validated scenario, usually shapes mode) and its reference. */
export function scaledCopy(original: Scenario, maxWorkers = DEFAULT_VERIFY_WORKERS): ScaledCopy {
  const p = original.parallel;
  const t = original.training;
  const { dp, tp, pp, notes } = copyDegrees(p, maxWorkers);
  const interleaved = p.schedule === "interleaved";
  const microBatchSize = Math.min(t.globalBatch / p.dp / t.microBatches, 2);
  let microBatches = Math.min(t.microBatches, 2 * pp);
  if (interleaved) microBatches -= microBatches % pp;
  const training: ScenarioInput["training"] = {
    steps: VERIFY_STEPS,
    globalBatch: dp * microBatches * microBatchSize,
    microBatches,
    seed: t.seed,
    optimizer: { lr: 1e-2, warmupSteps: 2 },
    data: t.data,
    recompute: t.recompute,
    precision: t.precision,
    gradReduceFp32: t.gradReduceFp32,
    lossScale: t.lossScale,
  };
  const base = { mode: "real" as const, model: copyModel(original.model, tp, pp * p.virtualStages), training, hardware: { profile: original.hardware.profile } };
  const parallel = {
    dp, tp, pp,
    schedule: p.schedule,
    virtualStages: p.virtualStages,
    sequenceParallel: p.sequenceParallel && tp > 1,
    zero: p.zero,
    overlapGradReduce: p.overlapGradReduce,
  };
  const fp32 = { ...training, precision: "fp32" as const, gradReduceFp32: false, lossScale: undefined };
  return {
    copy: validateScenario({ ...base, name: `${original.name} (verify copy)`, parallel }),
    reference: validateScenario({ ...base, name: `${original.name} (verify reference)` }),
    fp32Reference: t.precision === "fp32" ? undefined : validateScenario({ ...base, training: fp32, name: `${original.name} (verify fp32 reference)` }),
    notes,
  };
}
