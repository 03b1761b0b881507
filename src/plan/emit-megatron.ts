/**
 * A planned layout as Megatron-LM `pretrain_gpt.py` arguments: a bash script that fills the
 * arrays MODEL_ARGS, PARALLEL_ARGS, TRAINING_ARGS and DATA_ARGS (and MEGATRON_ARGS, all four),
 * each flag followed by a comment naming the scenario field it comes from. Flag names are those
 * of Megatron-LM's argument parser (megatron/training/arguments.py); the test keeps the list it
 * checks them against, with its source commit.
 *
 * What has no exact Megatron-LM counterpart:
 *   - schedules: Megatron-LM runs 1F1B, and interleaved 1F1B with virtual stages. A GPipe plan
 *     runs as 1F1B (same bubble, at most pp micro-batches of activations instead of all m); a
 *     ZB-H1 plan runs as 1F1B too (Megatron-LM has no zero-bubble schedule for dense models), with
 *     the 1F1B bubble — a note in the script says so.
 *   - ZeRO: stage 1 is the distributed optimizer; stages 2 and 3 are Megatron FSDP's sharding
 *     strategies optim_grads and optim_grads_params, documented with tensor, context and expert
 *     parallelism but not with pipeline parallelism, so zero ≥ 2 with pp > 1 is refused.
 *   - block-sparse attention (strided, fixed) has no counterpart: refused.
 */
import { InputError } from "../errors.js";
import { isGpt, modelConfigOf, tiesEmbeddings } from "../model/config.js";
import type { Scenario } from "../scenario/schema.js";
import { launchFacts, launchSummary, type LaunchFacts } from "./emit-layout.js";

/** One argument: a flag, its value (none for a switch), and the scenario field it comes from. */
export interface MegatronArg {
  flag: string;
  value?: string;
  from: string;
}

export interface MegatronLaunch {
  groups: { name: "MODEL_ARGS" | "PARALLEL_ARGS" | "TRAINING_ARGS" | "DATA_ARGS"; args: MegatronArg[] }[];
  /** Environment variables the launch needs. */
  env: { name: string; value: string; why: string }[];
  /** Where Megatron-LM will run something other than what parasim simulated. */
  notes: string[];
}

const arg = (flag: string, value: string | number | undefined, from: string): MegatronArg =>
  value === undefined ? { flag, from } : { flag, value: String(value), from };

/** Why Megatron-LM cannot run this scenario as planned, or undefined when it can. */
export function megatronRefusal(s: Scenario): InputError | undefined {
  if (s.model.attentionPattern.kind !== "causal") {
    return new InputError("model.attentionPattern", "Megatron-LM has no block-sparse (strided or fixed) attention; --emit megatron needs causal");
  }
  if (s.parallel.zero >= 2 && s.parallel.pp > 1) {
    return new InputError(
      "parallel.zero",
      `Megatron-LM runs ZeRO-${s.parallel.zero} as Megatron FSDP, which is not documented with pipeline parallelism; --emit megatron needs zero ≤ 1 when pp > 1`,
    );
  }
  if (!isGpt(modelConfigOf(s)) && !Number.isInteger(s.model.ropeTheta)) {
    return new InputError("model.ropeTheta", `Megatron-LM's --rotary-base takes an integer, got ${s.model.ropeTheta}`);
  }
  return undefined;
}

/** The arguments, environment and notes of the launch; throws the refusal's InputError when there is one. */
export function megatronLaunch(s: Scenario): MegatronLaunch {
  const refusal = megatronRefusal(s);
  if (refusal) throw refusal;
  const facts = launchFacts(s);
  const notes = [...scheduleNotes(s), ...zeroNotes(s), ...lossScaleNotes(s)];
  return {
    groups: [
      { name: "MODEL_ARGS", args: modelArgs(s) },
      { name: "PARALLEL_ARGS", args: parallelArgs(s, facts) },
      { name: "TRAINING_ARGS", args: [...batchArgs(s, facts), ...recomputeArgs(s), ...precisionArgs(s), ...optimizerArgs(s)] },
      { name: "DATA_ARGS", args: dataArgs(s) },
    ],
    env: environment(s),
    notes,
  };
}

function modelArgs(s: Scenario): MegatronArg[] {
  const m = s.model;
  const gpt = isGpt(modelConfigOf(s));
  const args = [
    arg("--num-layers", m.numLayers, "model.numLayers"),
    arg("--hidden-size", m.hiddenSize, "model.hiddenSize"),
    arg("--ffn-hidden-size", m.intermediateSize, "model.intermediateSize"),
    arg("--num-attention-heads", m.numHeads, "model.numHeads"),
  ];
  if (m.numKvHeads < m.numHeads) {
    args.push(arg("--group-query-attention", undefined, "model.numKvHeads < model.numHeads"), arg("--num-query-groups", m.numKvHeads, "model.numKvHeads"));
  }
  args.push(
    arg("--seq-length", m.seqLen, "model.seqLen"),
    arg("--max-position-embeddings", m.seqLen, "model.seqLen"),
    arg("--norm-epsilon", m.rmsNormEps, "model.rmsNormEps"),
    arg("--init-method-std", m.initStd, "model.initStd"),
    // parasim's model has no dropout; Megatron-LM's default is 0.1.
    arg("--attention-dropout", 0, "parasim has no dropout"),
    arg("--hidden-dropout", 0, "parasim has no dropout"),
  );
  if (gpt) {
    args.push(arg("--normalization", "LayerNorm", "model.family: gpt"), arg("--position-embedding-type", "learned_absolute", "model.family: gpt"));
  } else {
    args.push(
      arg("--normalization", "RMSNorm", "model.family: llama"),
      arg("--swiglu", undefined, "model.family: llama"),
      arg("--position-embedding-type", "rope", "model.family: llama"),
      arg("--rotary-base", m.ropeTheta, "model.ropeTheta"),
      arg("--disable-bias-linear", undefined, "model.family: llama"),
    );
  }
  if (!tiesEmbeddings(modelConfigOf(s))) args.push(arg("--untie-embeddings-and-output-weights", undefined, "model.tieEmbeddings: false"));
  args.push(
    arg("--make-vocab-size-divisible-by", vocabDivisor(m.vocabSize, s.parallel.tp), "model.vocabSize, parallel.tp"),
    arg("--attention-backend", m.attention === "flash" ? "flash" : "unfused", "model.attention"),
  );
  return args;
}

/**
 * Megatron-LM pads the vocabulary to a multiple of make-vocab-size-divisible-by × tp. The largest
 * power of two d ≤ 128 (its default) with d · tp dividing V keeps the planned V unpadded.
 */
export function vocabDivisor(vocabSize: number, tp: number): number {
  let d = 128;
  while (d > 1 && vocabSize % (d * tp) !== 0) d /= 2;
  return d;
}

function parallelArgs(s: Scenario, facts: LaunchFacts): MegatronArg[] {
  const p = s.parallel;
  const args = [arg("--tensor-model-parallel-size", p.tp, "parallel.tp"), arg("--pipeline-model-parallel-size", p.pp, "parallel.pp")];
  if (p.pp > 1 && !facts.evenStages) {
    args.push(arg("--pipeline-model-parallel-layout", pipelineLayout(facts.stageLayers), "parallel.layersPerStage or parasim's balancing"));
  } else if (p.schedule === "interleaved" && p.pp > 1) {
    // With pp = 1 a rank's chunks run one after another: plain layers to Megatron-LM, which rejects virtual stages there.
    args.push(arg("--num-virtual-stages-per-pipeline-rank", p.virtualStages, "parallel.virtualStages"));
  }
  // Megatron-LM turns sequence parallelism off at tp = 1 (with a warning); so does parasim's cost model.
  if (p.sequenceParallel && p.tp > 1) args.push(arg("--sequence-parallel", undefined, "parallel.sequenceParallel"));
  if (p.zero >= 1) args.push(arg("--use-distributed-optimizer", undefined, `parallel.zero: ${p.zero}`));
  if (p.zero >= 2) {
    args.push(
      arg("--use-megatron-fsdp", undefined, `parallel.zero: ${p.zero}`),
      arg("--data-parallel-sharding-strategy", p.zero === 2 ? "optim_grads" : "optim_grads_params", `parallel.zero: ${p.zero}`),
      arg("--no-gradient-accumulation-fusion", undefined, "needed by Megatron FSDP"),
      arg("--ckpt-format", "fsdp_dtensor", "needed by Megatron FSDP"),
    );
  }
  if (p.overlapGradReduce) args.push(arg("--overlap-grad-reduce", undefined, "parallel.overlapGradReduce"));
  return args;
}

/**
 * Megatron-LM's custom pipeline layout: stages in stage order (virtual stage v of rank r is stage
 * v·pp + r, as in parasim) split by `|`; E the embedding, t a decoder layer (`t*n` for n), L the loss.
 */
export function pipelineLayout(stageLayers: number[]): string {
  return stageLayers.map((n, s) => `${s === 0 ? "E" : ""}t*${n}${s === stageLayers.length - 1 ? "L" : ""}`).join("|");
}

function batchArgs(s: Scenario, facts: LaunchFacts): MegatronArg[] {
  return [
    arg("--micro-batch-size", facts.microBatchSize, "training.globalBatch / (parallel.dp × training.microBatches)"),
    arg("--global-batch-size", s.training.globalBatch, "training.globalBatch"),
    arg("--train-iters", s.training.steps, "training.steps"),
  ];
}

function recomputeArgs(s: Scenario): MegatronArg[] {
  const r = s.training.recompute;
  // Selective recomputes the attention core ("core_attn", Megatron-LM's default module), as parasim does.
  if (r === "selective") return [arg("--recompute-granularity", "selective", "training.recompute")];
  if (r === "none") return [];
  return [
    arg("--recompute-granularity", "full", "training.recompute"),
    arg("--recompute-method", "uniform", "training.recompute: every layer"),
    arg("--recompute-num-layers", 1, "training.recompute: every layer"),
  ];
}

function precisionArgs(s: Scenario): MegatronArg[] {
  const t = s.training;
  if (t.precision === "fp32") return [];
  if (t.precision === "bf16") {
    const bf16 = arg("--bf16", undefined, "training.precision");
    // Megatron-LM keeps bf16 gradients in fp32 unless told otherwise; parasim's default reduces them in bf16.
    return t.gradReduceFp32 ? [bf16, arg("--accumulate-allreduce-grads-in-fp32", undefined, "training.gradReduceFp32")] : [bf16, arg("--grad-reduce-in-bf16", undefined, "training.gradReduceFp32: false")];
  }
  const scale = lossScaleOf(s);
  const args = [
    arg("--fp16", undefined, "training.precision"),
    arg("--initial-loss-scale", scale.initial, "training.lossScale.initial"),
    arg("--loss-scale-window", scale.growthInterval, "training.lossScale.growthInterval"),
    // Back off on the first overflow, as PyTorch's GradScaler (and parasim) do; Megatron-LM's default waits for 2.
    arg("--hysteresis", 1, "GradScaler semantics"),
  ];
  if (t.gradReduceFp32) args.push(arg("--accumulate-allreduce-grads-in-fp32", undefined, "training.gradReduceFp32"));
  return args;
}

/** fp16's loss scale with the schema's defaults (PyTorch's GradScaler) filled in. */
function lossScaleOf(s: Scenario) {
  return { initial: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, ...s.training.lossScale };
}

function optimizerArgs(s: Scenario): MegatronArg[] {
  const o = s.training.optimizer;
  return [
    arg("--lr", o.lr, "training.optimizer.lr"),
    arg("--min-lr", o.minLr, "training.optimizer.minLr"),
    arg("--lr-decay-style", "cosine", "parasim's schedule: warm-up, then cosine"),
    arg("--lr-warmup-iters", o.warmupSteps, "training.optimizer.warmupSteps"),
    arg("--weight-decay", o.weightDecay, "training.optimizer.weightDecay"),
    arg("--adam-beta1", o.beta1, "training.optimizer.beta1"),
    arg("--adam-beta2", o.beta2, "training.optimizer.beta2"),
    arg("--adam-eps", o.eps, "training.optimizer.eps"),
    arg("--clip-grad", o.clipGradNorm, "training.optimizer.clipGradNorm"),
    arg("--seed", s.training.seed, "training.seed"),
  ];
}

/** Mock data and a null tokenizer of the planned vocabulary: NullTokenizer adds one (end-of-document) id to --vocab-size. */
function dataArgs(s: Scenario): MegatronArg[] {
  return [
    arg("--mock-data", undefined, "smoke test: replace with --data-path and --split"),
    arg("--tokenizer-type", "NullTokenizer", "smoke test: replace with your tokenizer"),
    arg("--vocab-size", s.model.vocabSize - 1, "model.vocabSize − 1"),
  ];
}

function environment(s: Scenario): MegatronLaunch["env"] {
  if (s.parallel.tp === 1 || s.parallel.zero >= 2) return [];
  return [{ name: "CUDA_DEVICE_MAX_CONNECTIONS", value: "1", why: "tp > 1: Megatron-LM's argument check requires it on GPUs before Blackwell" }];
}

function scheduleNotes(s: Scenario): string[] {
  const { schedule, pp } = s.parallel;
  if (pp === 1) return [];
  if (schedule === "gpipe") return ["parasim planned GPipe; Megatron-LM has no GPipe schedule and runs 1F1B: the same bubble, and at most pp micro-batches of activations in flight instead of all of them."];
  if (schedule === "zb-h1") return ["parasim planned ZB-H1 (Qi et al. 2023); Megatron-LM has no zero-bubble schedule for dense models and runs 1F1B: expect the 1F1B bubble (pp − 1)/(m + pp − 1), so a longer step than planned."];
  return [];
}

function zeroNotes(s: Scenario): string[] {
  const zero = s.parallel.zero;
  if (zero < 2) return [];
  return [`ZeRO-${zero} runs as Megatron FSDP (strategy ${zero === 2 ? "optim_grads" : "optim_grads_params"}); leave CUDA_DEVICE_MAX_CONNECTIONS unset or above 1 for it.`];
}

function lossScaleNotes(s: Scenario): string[] {
  const scale = lossScaleOf(s);
  if (s.training.precision !== "fp16" || (scale.growthFactor === 2 && scale.backoffFactor === 0.5)) return [];
  return [`Megatron-LM's dynamic loss scale grows ×2 and backs off ×0.5; the planned ×${scale.growthFactor} and ×${scale.backoffFactor} are not carried.`];
}

/** A bash word for a value: as is when it holds only safe characters, else single-quoted. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9._+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The launch as a bash script (see the header of this file). */
export function megatronScript(s: Scenario): string {
  const launch = megatronLaunch(s);
  const facts = launchFacts(s);
  const lines = [
    "#!/usr/bin/env bash",
    `# Megatron-LM arguments for pretrain_gpt.py, written by parasim plan for scenario "${s.name}".`,
    `# Layout: ${launchSummary(s, facts)}.`,
    "# Flag names as Megatron-LM's megatron/training/arguments.py spells them; each line names the scenario field it comes from.",
    ...launch.notes.map((n) => `# Note: ${n}`),
    "#",
    "# Source this file on every node, then from a Megatron-LM checkout (set the rendezvous for your cluster):",
    `#   torchrun --nnodes ${facts.nodes} --nproc-per-node ${Math.min(s.hardware.devicesPerNode, facts.worldSize)} pretrain_gpt.py "\${MEGATRON_ARGS[@]}"`,
    "# DATA_ARGS train on mock data with a null tokenizer of the planned vocabulary; for real training replace",
    "# them with --data-path, --split, --tokenizer-type and --tokenizer-model (the vocabulary then comes from the tokenizer).",
    "",
    ...launch.env.map((e) => `export ${e.name}=${e.value}  # ${e.why}`),
  ];
  for (const group of launch.groups) {
    lines.push("", `${group.name}=(`);
    for (const a of group.args) lines.push(`  ${a.flag}${a.value === undefined ? "" : " " + shellWord(a.value)}  # ${a.from}`);
    lines.push(")");
  }
  lines.push("", `MEGATRON_ARGS=(${launch.groups.map((g) => `"\${${g.name}[@]}"`).join(" ")})`, "");
  return lines.join("\n");
}
