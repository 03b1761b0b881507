/**
 * The scenario: a typed, validated value describing one simulated training run. Every field is
 * documented in README.md ("Scenario format"); keep the two in step.
 */
import { z } from "zod";
import { InputError } from "../errors.js";
import { LIMITS } from "../limits.js";
import { BYTE_VOCAB_SIZE } from "../data/tokenizer.js";
import { MODEL_FAMILIES, modelConfigOf, validateModelConfig } from "../model/config.js";
import { checkPipeline } from "../parallel/pipeline.js";
import { validateTp } from "../model/layout.js";
import { hardwareSchema, resolveHardware } from "../sim/hardware.js";
import type { Dtype } from "../kernels/round.js";
import { checkFaults, faultsSchema } from "./faults.js";

/** An error message that tells a missing field from a wrong one. */
const rule = (text: string) => (issue: { input?: unknown }) => (issue.input === undefined ? "is required" : text);

const positiveInt = () => {
  const e = { error: rule("must be a positive integer") };
  return z.number(e).int(e).positive(e);
};
const nonNegativeInt = () => {
  const e = { error: rule("must be a non-negative integer") };
  return z.number(e).int(e).min(0, e);
};
const positiveNumber = () => {
  const e = { error: rule("must be a positive number") };
  return z.number(e).positive(e);
};
const nonNegativeNumber = () => {
  const e = { error: rule("must be a number ≥ 0") };
  return z.number(e).min(0, e);
};
const fraction = () => {
  const e = { error: rule("must be a number in [0, 1)") };
  return z.number(e).min(0, e).lt(1, e);
};

export const modelSchema = z.strictObject({
  vocabSize: positiveInt().default(BYTE_VOCAB_SIZE),
  hiddenSize: positiveInt(),
  intermediateSize: positiveInt(),
  numLayers: positiveInt().max(LIMITS.numLayers, { error: `must be at most ${LIMITS.numLayers}, parasim's limit on layers` }),
  numHeads: positiveInt(),
  numKvHeads: positiveInt(),
  seqLen: positiveInt(),
  ropeTheta: positiveNumber().default(10000),
  rmsNormEps: positiveNumber().default(1e-5),
  initStd: positiveNumber().default(0.02),
  /** llama (RMSNorm, RoPE, SwiGLU, no biases) or gpt (LayerNorm, learned positions, GELU, biases); absent: llama. */
  family: z.enum(MODEL_FAMILIES, { error: rule("must be llama or gpt") }).optional(),
  /** The LM head shares the input embedding matrix; absent: untied. */
  tieEmbeddings: z.boolean({ error: rule("must be true or false") }).optional(),
  /** naive keeps the s × s attention probabilities for backward; flash (Dao et al. 2022) keeps each row's log-sum-exp and recomputes them. */
  attention: z.enum(["naive", "flash"], { error: rule("must be naive or flash") }).default("naive"),
  /** Block-sparse attention (Child et al. 2019): causal, or { kind: strided | fixed, block, stride } over blocks of `block` positions. */
  attentionPattern: z
    .union(
      [
        z.literal("causal").transform(() => ({ kind: "causal" as const })),
        z.strictObject({ kind: z.enum(["strided", "fixed"]), block: positiveInt(), stride: positiveInt() }),
      ],
      { error: rule("must be causal or { kind: strided | fixed, block: N, stride: N }") },
    )
    .default({ kind: "causal" }),
  /**
   * Dropout probability of Megatron-LM's GPT (its --attention-dropout and --hidden-dropout, 0.1 by
   * default): on the attention probabilities, on each branch before its residual add, on the
   * embedding output. Shapes mode only: it changes what the kernels cost, and real mode refuses it.
   */
  dropout: fraction().default(0),
});

export const optimizerSchema = z.strictObject({
  lr: positiveNumber(),
  beta1: fraction().default(0.9),
  beta2: fraction().default(0.95),
  eps: positiveNumber().default(1e-8),
  weightDecay: nonNegativeNumber().default(0.1),
  warmupSteps: nonNegativeInt().default(0),
  minLr: nonNegativeNumber().default(0),
  /** 0 turns clipping off. */
  clipGradNorm: nonNegativeNumber().default(1.0),
});

export const dataSchema = z.discriminatedUnion(
  "source",
  [
    z.strictObject({ source: z.literal("synthetic") }),
    z.strictObject({ source: z.literal("text"), path: z.string({ error: rule("must be a file path") }).min(1, { error: "must be a file path" }) }),
  ],
  { error: rule('must be { source: "synthetic" } or { source: "text", path: FILE }') },
);

const isPowerOfTwo = (x: number) => x > 0 && Number.isFinite(x) && Number.isInteger(Math.log2(x));
/** A power of two in [min, max]: then scaling by it, and undoing that, is exact in binary floating point. */
const powerOfTwo = (min: number, max: number, text: string) => {
  const e = { error: rule(text) };
  return z.number(e).min(min, e).max(max, e).refine(isPowerOfTwo, e);
};

/** fp16's dynamic loss scaling; defaults as PyTorch's torch.amp.GradScaler. */
export const lossScaleSchema = z.strictObject({
  initial: powerOfTwo(1, 2 ** 64, "must be a power of two from 1 to 2^64").default(2 ** 16),
  growthFactor: powerOfTwo(2, 2 ** 16, "must be a power of two from 2 to 2^16").default(2),
  backoffFactor: powerOfTwo(2 ** -16, 0.5, "must be a power of two from 2^-16 to 0.5").default(0.5),
  growthInterval: positiveInt().default(2000),
});

export const trainingSchema = z.strictObject({
  steps: positiveInt(),
  globalBatch: positiveInt(),
  microBatches: positiveInt().default(1),
  seed: nonNegativeInt().default(1),
  optimizer: optimizerSchema,
  data: dataSchema.default({ source: "synthetic" }),
  /** Activation recomputation (Korthikanti et al. 2022): none, selective (attention core) or full (whole layers). */
  recompute: z.enum(["none", "selective", "full"], { error: rule("must be one of none, selective, full") }).default("none"),
  /** fp32, or 16-bit storage with fp32 master weights and moments (README, "Mixed precision"). */
  precision: z.enum(["fp32", "bf16", "fp16"], { error: rule("must be one of fp32, bf16, fp16") }).default("fp32"),
  /** Keep weight gradients and their data-parallel reduction in fp32 (Megatron-LM's --accumulate-allreduce-grads-in-fp32). */
  gradReduceFp32: z.boolean({ error: rule("must be true or false") }).default(false),
  /** fp16 only: dynamic loss scaling settings (defaults as PyTorch's GradScaler). */
  lossScale: lossScaleSchema.optional(),
  /** Save the checkpoint and training state every N steps into the --save folder (replaced atomically each time). */
  checkpointEvery: positiveInt().optional(),
});

export const parallelSchema = z.strictObject({
  dp: positiveInt().default(1),
  tp: positiveInt().default(1),
  pp: positiveInt().default(1),
  /**
   * Gradient bucket size for the data-parallel all-reduce. PyTorch DDP's default is 25 MiB for
   * models of billions of parameters; parasim's tiny models have about 1 MB of gradients, so
   * 64 KiB gives them a dozen buckets whose reduction can overlap backward.
   */
  bucketBytes: positiveInt().default(65536),
  overlapGradReduce: z.boolean({ error: rule("must be true or false") }).default(true),
  /** Pipeline schedule, used when pp > 1 (and for the order of micro-batches on one stage). */
  schedule: z.enum(["gpipe", "1f1b", "interleaved", "zb-h1"], { error: rule("must be one of gpipe, 1f1b, interleaved, zb-h1") }).default("1f1b"),
  /** Model chunks per pipeline rank: ≥ 2 with the interleaved schedule, else 1. */
  virtualStages: positiveInt().optional(),
  /** Layers of each pipeline stage (pp × virtualStages numbers), instead of the balancing rule. */
  layersPerStage: z.array(positiveInt(), { error: rule("must be a list of positive integers") }).optional(),
  /** Tensor parallelism: norms and residuals work on sequence shards; each all-reduce becomes reduce-scatter + all-gather. */
  sequenceParallel: z.boolean({ error: rule("must be true or false") }).default(false),
  /**
   * Pipeline sends and receives. overlapped (absent): a send occupies the comm stream only, the
   * compute stream goes on. blocking: the compute stream of the sender waits for its sends too, as
   * Megatron-LM's batched isend/irecv followed by wait and a device synchronize did (2022).
   */
  p2p: z.enum(["overlapped", "blocking"], { error: rule("must be overlapped or blocking") }).optional(),
  /**
   * Without sequence parallelism and with tp > 1: each tp rank sends 1/tp of a stage-boundary
   * message and the receivers all-gather it inside their node (Narayanan et al. 2021, §4.1;
   * Megatron-LM's scatter-gather of pipeline tensors). Nothing changes under sequence parallelism,
   * whose boundary messages are already sequence shards.
   */
  pipelineScatterGather: z.boolean({ error: rule("must be true or false") }).optional(),
  /**
   * ZeRO stage (Rajbhandari et al. 2020), over the dp group: 0 off; 1 optimizer state sharded;
   * 2 gradients too (reduce-scattered, each rank keeps its shard); 3 parameters too (each layer
   * gathered before its forward and its backward and freed after: FSDP). src/parallel/zero.ts.
   */
  zero: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)], { error: rule("must be 0, 1, 2 or 3") }).default(0),
});

/**
 * real: every device is a worker that computes on real buffers (sizes must fit this host);
 * shapes: nothing is computed or allocated, only costs are charged (README, "Real model sizes").
 */
export const SCENARIO_MODES = ["real", "shapes"] as const;
export type ScenarioMode = (typeof SCENARIO_MODES)[number];

export const scenarioSchema = z
  .strictObject({
    name: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }).default("scenario"),
    description: z.string({ error: "must be a string" }).optional(),
    mode: z.enum(SCENARIO_MODES, { error: rule("must be real or shapes") }).default("real"),
    model: modelSchema,
    training: trainingSchema,
    // prefault: an absent section is parsed as {}, so the fields' own defaults fill it.
    parallel: parallelSchema.prefault({}),
    // Resolved here, so a validated scenario carries the full profile it is simulated on.
    hardware: hardwareSchema.prefault({}).transform((h) => ({ profile: h.profile, ...resolveHardware(h) })),
    /** Injected stragglers, slow links and a crash (src/scenario/faults.ts). */
    faults: faultsSchema.optional(),
  })
  .superRefine((s, ctx) => {
    const fail = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    /** Runs a check that throws InputError and records its error as an issue on the field it names. */
    const check = (run: () => void) => {
      try {
        run();
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        fail(err.field.split("."), err.rule);
      }
    };
    const m = s.model;
    const model = modelConfigOf(s);
    const pattern = m.attentionPattern;
    if (pattern.kind !== "causal") {
      if (m.seqLen % pattern.block !== 0) fail(["model", "attentionPattern", "block"], `must divide model.seqLen = ${m.seqLen}, got ${pattern.block}`);
      if (m.attention === "flash") fail(["model", "attentionPattern"], "sparse patterns run on the naive attention kernel: set model.attention: naive");
    }
    check(() => validateModelConfig(model));
    if (m.dropout > 0 && s.mode === "real") {
      fail(["model", "dropout"], "runs in mode: shapes only (real mode computes no dropout, so every layout can equal one device); use 0 or mode: shapes");
    }
    // Tokens are bytes, so every byte value needs an embedding row (in shapes mode too: one rule for both).
    if (m.vocabSize < BYTE_VOCAB_SIZE) fail(["model", "vocabSize"], `must be at least ${BYTE_VOCAB_SIZE}, the byte tokenizer's vocabulary (got ${m.vocabSize})`);
    const t = s.training;
    const rowsPerReplica = t.globalBatch / s.parallel.dp;
    if (!Number.isInteger(rowsPerReplica)) {
      fail(["training", "globalBatch"], `must be divisible by parallel.dp (${t.globalBatch} % ${s.parallel.dp} ≠ 0)`);
    } else if (rowsPerReplica % t.microBatches !== 0) {
      fail(["training", "microBatches"], `must divide the per-replica batch globalBatch / dp = ${rowsPerReplica}`);
    }
    const p = s.parallel;
    const v = p.virtualStages ?? (p.schedule === "interleaved" ? 2 : 1);
    check(() => {
      checkPipeline(model, { p: p.pp, v, layersPerStage: p.layersPerStage, interleaved: p.schedule === "interleaved" });
      validateTp(model, { size: p.tp, index: 0 });
      const tokensPerMicroBatch = (t.globalBatch / p.dp / t.microBatches) * m.seqLen;
      if (p.sequenceParallel && tokensPerMicroBatch % p.tp !== 0) {
        throw new InputError("parallel.sequenceParallel", `needs parallel.tp = ${p.tp} to divide the tokens of a micro-batch (${tokensPerMicroBatch})`);
      }
      if (t.recompute === "full" && p.schedule === "zb-h1") {
        throw new InputError("training.recompute", "full recomputation needs a fused backward; the zb-h1 schedule defers weight gradients (use selective, or another schedule)");
      }
      if (p.schedule === "interleaved" && t.microBatches % p.pp !== 0) {
        throw new InputError("training.microBatches", `must be a multiple of parallel.pp = ${p.pp} for the interleaved schedule, got ${t.microBatches}`);
      }
    });
    if (t.lossScale && t.precision !== "fp16") fail(["training", "lossScale"], `applies to training.precision: fp16 only (${t.precision} has float32's exponent range and no loss scale)`);
    if (t.optimizer.minLr > t.optimizer.lr) fail(["training", "optimizer", "minLr"], `must not exceed lr (${t.optimizer.minLr} > ${t.optimizer.lr})`);
    if (s.faults) check(() => checkFaults(s.faults!, { worldSize: p.dp * p.tp * p.pp, devicesPerNode: s.hardware.devicesPerNode, steps: t.steps }));
    if (t.optimizer.warmupSteps > t.steps) fail(["training", "optimizer", "warmupSteps"], `must not exceed training.steps (${t.optimizer.warmupSteps} > ${t.steps})`);
  })
  // The interleaved schedule's chunks per rank default to 2; every other schedule has 1.
  .transform((s) => ({ ...s, parallel: { ...s.parallel, virtualStages: s.parallel.virtualStages ?? (s.parallel.schedule === "interleaved" ? 2 : 1) } }));

/** A scenario as written by a user (defaults may be missing). */
export type ScenarioInput = z.input<typeof scenarioSchema>;
/** A validated scenario with every default filled in. */
export type Scenario = z.output<typeof scenarioSchema>;

/**
 * The dtype the cost model charges this scenario's kernels in: element sizes of activations and
 * weights, and the matmul peak (src/sim/roofline.ts): the training precision.
 */
export function costDtypeOf(s: Scenario): Dtype {
  return s.training.precision;
}
export type ModelSection = Scenario["model"];
export type TrainingSection = Scenario["training"];
export type OptimizerSection = TrainingSection["optimizer"];
