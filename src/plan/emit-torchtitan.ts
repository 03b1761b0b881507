/**
 * A planned layout as a torchtitan TOML job file (`--job.config_file`): sections [job], [model],
 * [optimizer], [lr_scheduler], [training], [parallelism] and [activation_checkpoint], each key
 * followed by a comment naming the scenario field it comes from. Keys are those of torchtitan's
 * JobConfig dataclasses (torchtitan/config/job_config.py) in the releases that read TOML job
 * files; torchtitan's main branch has since moved to Python configurations, whose fields carry
 * the same values (the header says so). The test keeps the key list with its source commit.
 *
 * How a parasim scenario maps:
 *   - model: torchtitan's `llama3` model; the flavor whose shape equals the scenario's (8B, 70B,
 *     405B), else "custom" with a note listing the arguments to register it with. The gpt family,
 *     tied embeddings and block-sparse attention have no torchtitan counterpart: refused.
 *   - data parallelism: torchtitan shards with FSDP2 (data_parallel_shard_degree) or replicates
 *     with DDP (data_parallel_replicate_degree, data parallelism alone). ZeRO-3 is FSDP resharding
 *     after forward; ZeRO-2 is FSDP keeping the gathered parameters until backward
 *     (fsdp_reshard_after_forward = "never"). torchtitan has no optimizer-only sharding, so
 *     ZeRO-1 — and ZeRO-0 next to tensor or pipeline parallelism, which its DDP does not combine
 *     with — run as that ZeRO-2 form: less memory than planned, the same bytes per step.
 *   - schedules: GPipe, 1F1B and Interleaved1F1B by those names (torch.distributed.pipelining);
 *     ZB-H1 with one stage per rank has none (its zero-bubble schedules need two or more) and runs
 *     as 1F1B. Stages are placed explicitly (module_fqns_per_model_part), as parasim placed them.
 *   - precision: bf16 or fp32 (training.mixed_precision_param); fp16 has no counterpart: refused.
 */
import { InputError } from "../errors.js";
import { isGpt, modelConfigOf, tiesEmbeddings } from "../model/config.js";
import type { Scenario } from "../scenario/schema.js";
import { launchFacts, launchSummary, type LaunchFacts } from "./emit-layout.js";

/** A TOML value as the job file writes it; `float` marks a float key that must keep its decimal point. */
export type TomlValue = string | number | boolean | { float: number } | string[][];

export interface TorchtitanKey {
  key: string;
  value: TomlValue;
  from: string;
}

export interface TorchtitanJob {
  sections: { name: string; keys: TorchtitanKey[] }[];
  /** Where torchtitan will run something other than what parasim simulated. */
  notes: string[];
}

const key = (k: string, value: TomlValue, from: string): TorchtitanKey => ({ key: k, value, from });

/**
 * torchtitan's llama3 flavors (torchtitan/models/llama3/__init__.py): dim, layers, heads, kv
 * heads and rope_theta as listed there; the FFN width as its formula gives it from
 * ffn_dim_multiplier and multiple_of (8B: 1.3, 1024; 70B: 1.3, 4096; 405B: 1.2, 4096); the
 * vocabulary of the Llama 3 tokenizer; RMSNorm ε 1e-5, its default.
 */
const LLAMA3_FLAVORS = [
  { flavor: "8B", hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, intermediateSize: 14336 },
  { flavor: "70B", hiddenSize: 8192, numLayers: 80, numHeads: 64, numKvHeads: 8, intermediateSize: 28672 },
  { flavor: "405B", hiddenSize: 16384, numLayers: 126, numHeads: 128, numKvHeads: 8, intermediateSize: 53248 },
] as const;
const LLAMA3_SHARED = { vocabSize: 128256, ropeTheta: 500000, rmsNormEps: 1e-5 } as const;

/** Why torchtitan cannot run this scenario as planned, or undefined when it can. */
export function torchtitanRefusal(s: Scenario): InputError | undefined {
  const config = modelConfigOf(s);
  if (isGpt(config)) return new InputError("model.family", "torchtitan has no gpt model (LayerNorm, learned positions, biases); use --emit megatron");
  if (tiesEmbeddings(config)) return new InputError("model.tieEmbeddings", "torchtitan's llama3 model has an untied output layer; --emit torchtitan needs tieEmbeddings false");
  if (s.model.attentionPattern.kind !== "causal") {
    return new InputError("model.attentionPattern", "torchtitan has no block-sparse (strided or fixed) attention; --emit torchtitan needs causal");
  }
  if (s.training.precision === "fp16") {
    return new InputError("training.precision", "torchtitan's mixed precision is bfloat16 or float32 (training.mixed_precision_param); fp16 has no counterpart");
  }
  return undefined;
}

/** The job's sections and notes; throws the refusal's InputError when there is one. */
export function torchtitanSections(s: Scenario): TorchtitanJob {
  const refusal = torchtitanRefusal(s);
  if (refusal) throw refusal;
  const facts = launchFacts(s);
  const model = modelSection(s);
  const dp = dataParallelKeys(s);
  const pipe = pipelineKeys(s, facts);
  const o = s.training.optimizer;
  return {
    sections: [
      { name: "job", keys: [key("description", `parasim plan: ${s.name}`, "scenario.name")] },
      { name: "model", keys: model.keys },
      {
        name: "optimizer",
        keys: [
          key("name", "AdamW", "parasim's optimizer"),
          key("lr", { float: o.lr }, "training.optimizer.lr"),
          key("beta1", { float: o.beta1 }, "training.optimizer.beta1"),
          key("beta2", { float: o.beta2 }, "training.optimizer.beta2"),
          key("eps", { float: o.eps }, "training.optimizer.eps"),
          key("weight_decay", { float: o.weightDecay }, "training.optimizer.weightDecay"),
        ],
      },
      {
        name: "lr_scheduler",
        keys: [
          key("warmup_steps", o.warmupSteps, "training.optimizer.warmupSteps"),
          key("decay_type", "cosine", "parasim's schedule: warm-up, then cosine"),
          key("min_lr_factor", { float: o.minLr / o.lr }, "training.optimizer.minLr / lr"),
        ],
      },
      { name: "training", keys: trainingKeys(s, facts) },
      { name: "parallelism", keys: [...dp.keys, key("tensor_parallel_degree", s.parallel.tp, "parallel.tp"), ...pipe.keys] },
      { name: "activation_checkpoint", keys: checkpointKeys(s) },
    ],
    notes: [...model.notes, ...dp.notes, ...pipe.notes, ...precisionNotes(s), ...checkpointNotes(s)],
  };
}

function modelSection(s: Scenario): { keys: TorchtitanKey[]; notes: string[] } {
  const m = s.model;
  const found = LLAMA3_FLAVORS.find(
    (f) =>
      f.hiddenSize === m.hiddenSize && f.numLayers === m.numLayers && f.numHeads === m.numHeads && f.numKvHeads === m.numKvHeads &&
      f.intermediateSize === m.intermediateSize && LLAMA3_SHARED.vocabSize === m.vocabSize && LLAMA3_SHARED.ropeTheta === m.ropeTheta &&
      LLAMA3_SHARED.rmsNormEps === m.rmsNormEps,
  );
  const keys = [key("name", "llama3", "model.family: llama"), key("flavor", found ? found.flavor : "custom", "the llama3 flavor of the model's shape")];
  if (found) return { keys, notes: [] };
  const args =
    `dim=${m.hiddenSize}, n_layers=${m.numLayers}, n_heads=${m.numHeads}, n_kv_heads=${m.numKvHeads}, ` +
    `rope_theta=${m.ropeTheta}, norm_eps=${m.rmsNormEps}, vocab_size=${m.vocabSize} and an FFN width of ${m.intermediateSize}`;
  return { keys, notes: [`torchtitan's llama3 has no flavor of this shape; register one named "custom" with ${args} (torchtitan derives the FFN width from multiple_of and ffn_dim_multiplier).`] };
}

function dataParallelKeys(s: Scenario): { keys: TorchtitanKey[]; notes: string[] } {
  const { dp, tp, pp, zero } = s.parallel;
  const degrees = (replicate: number, shard: number) => [
    key("data_parallel_replicate_degree", replicate, replicate > 1 ? "parallel.dp (DDP)" : "no replication"),
    key("data_parallel_shard_degree", shard, shard > 1 ? `parallel.dp (FSDP, parallel.zero: ${zero})` : "no sharding"),
  ];
  if (dp === 1) return { keys: degrees(1, 1), notes: [] };
  if (zero === 0 && tp === 1 && pp === 1) return { keys: degrees(dp, 1), notes: [] };
  const reshard = key("fsdp_reshard_after_forward", zero === 3 ? "always" : "never", zero === 3 ? "parallel.zero: 3" : "ZeRO-2 form");
  const notes: string[] = [];
  if (zero === 1) notes.push("torchtitan has no optimizer-only sharding: ZeRO-1 runs as FSDP keeping parameters gathered until backward (ZeRO-2): gradients sharded too, so less memory than planned, the same bytes per step.");
  if (zero === 0) notes.push("torchtitan's DDP does not combine with tensor or pipeline parallelism: ZeRO-0 runs as FSDP keeping parameters gathered until backward (ZeRO-2): less memory than planned, the same bytes per step.");
  return { keys: [...degrees(1, dp), reshard], notes };
}

const SCHEDULE_NAMES = { gpipe: "GPipe", "1f1b": "1F1B", interleaved: "Interleaved1F1B", "zb-h1": "1F1B" } as const;

function pipelineKeys(s: Scenario, facts: LaunchFacts): { keys: TorchtitanKey[]; notes: string[] } {
  const { pp, schedule } = s.parallel;
  const keys = [key("pipeline_parallel_degree", pp, "parallel.pp")];
  if (pp === 1) return { keys, notes: [] };
  keys.push(
    key("pipeline_parallel_schedule", SCHEDULE_NAMES[schedule], "parallel.schedule"),
    key("pipeline_parallel_microbatch_size", facts.microBatchSize, "training.globalBatch / (parallel.dp × training.microBatches)"),
    key("module_fqns_per_model_part", stageModules(facts.stageLayers), "the stages' layers, stage = rank + chunk × pp"),
  );
  const notes =
    schedule === "zb-h1"
      ? ["torch's zero-bubble schedules (InterleavedZeroBubble, ZBVZeroBubble) need two or more stages per rank; the planned ZB-H1 runs as 1F1B, with its bubble (pp − 1)/(m + pp − 1): a longer step than planned."]
      : [];
  return { keys, notes };
}

/** torchtitan's module names of each stage: the embedding on the first, the final norm and the output layer on the last. */
export function stageModules(stageLayers: number[]): string[][] {
  let first = 0;
  return stageLayers.map((n, s) => {
    const layers = Array.from({ length: n }, (_, i) => `layers.${first + i}`);
    first += n;
    return [...(s === 0 ? ["tok_embeddings"] : []), ...layers, ...(s === stageLayers.length - 1 ? ["norm", "output"] : [])];
  });
}

function trainingKeys(s: Scenario, facts: LaunchFacts): TorchtitanKey[] {
  const t = s.training;
  // With pp > 1 a replica's batch is split into pipeline micro-batches; without, torchtitan
  // accumulates global / (local · dp) micro-batches of local_batch_size.
  const local = s.parallel.pp > 1 ? key("local_batch_size", facts.perReplicaBatch, "training.globalBatch / parallel.dp") : key("local_batch_size", facts.microBatchSize, "training.globalBatch / (parallel.dp × training.microBatches)");
  const keys = [local, key("global_batch_size", t.globalBatch, "training.globalBatch"), key("seq_len", s.model.seqLen, "model.seqLen"), key("steps", t.steps, "training.steps")];
  if (t.optimizer.clipGradNorm > 0) keys.push(key("max_norm", { float: t.optimizer.clipGradNorm }, "training.optimizer.clipGradNorm"));
  keys.push(key("mixed_precision_param", t.precision === "bf16" ? "bfloat16" : "float32", "training.precision"), key("seed", t.seed, "training.seed"));
  return keys;
}

function precisionNotes(s: Scenario): string[] {
  const { dp, tp, pp } = s.parallel;
  const t = s.training;
  const notes: string[] = [];
  if (t.optimizer.clipGradNorm === 0) notes.push("parasim planned no gradient clipping; torchtitan always clips, at training.max_norm (default 1.0).");
  if (t.precision !== "bf16") return notes;
  if (dp === 1 && tp * pp > 1) notes.push("torchtitan applies bfloat16 mixed precision through FSDP or DDP; with data-parallel degree 1 next to tp or pp it trains in float32.");
  if (dp > 1 && !t.gradReduceFp32) notes.push("torchtitan reduces gradients in float32 (training.mixed_precision_reduce); the plan reduced them in bf16: twice the data-parallel bytes.");
  if (tp > 1 && !s.parallel.sequenceParallel) notes.push("torchtitan's tensor parallelism always splits norms and residuals by sequence (sequence parallelism), which the plan did not: less activation memory, the same bytes.");
  return notes;
}

function checkpointKeys(s: Scenario): TorchtitanKey[] {
  const r = s.training.recompute;
  const mode = key("mode", r, "training.recompute");
  return r === "selective" ? [mode, key("selective_ac_option", "op", "operator-level selective checkpointing")] : [mode];
}

function checkpointNotes(s: Scenario): string[] {
  if (s.training.recompute !== "selective") return [];
  return ["torchtitan's selective checkpointing saves matmul and attention outputs (all but every second matmul) and recomputes the rest; parasim's recomputes the attention core (Korthikanti et al. 2022): activation memory differs from the plan."];
}

/** A TOML value, written as TOML 1.0 spells it. */
export function tomlValue(value: TomlValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "boolean" || typeof value === "number") return String(value);
  if (Array.isArray(value)) return `[\n${value.map((row) => `  [${row.map((v) => JSON.stringify(v)).join(", ")}],`).join("\n")}\n]`;
  return Number.isInteger(value.float) ? `${value.float}.0` : String(value.float);
}

/** The job file as text (see the header of this file). */
export function torchtitanJob(s: Scenario): string {
  const job = torchtitanSections(s);
  const facts = launchFacts(s);
  const lines = [
    `# torchtitan job file written by parasim plan for scenario "${s.name}".`,
    `# Layout: ${launchSummary(s, facts)}.`,
    "# Keys as the JobConfig of torchtitan's TOML releases (torchtitan/config/job_config.py); each names the scenario field it comes from.",
    ...job.notes.map((n) => `# Note: ${n}`),
    "#",
    "# Run on every node from a torchtitan checkout (set the rendezvous, model.tokenizer_path and training.dataset for your run):",
    `#   torchrun --nnodes ${facts.nodes} --nproc-per-node ${Math.min(s.hardware.devicesPerNode, facts.worldSize)} -m torchtitan.train --job.config_file THIS_FILE`,
    "# torchtitan's main branch has since replaced TOML job files with Python configurations (--module, --config):",
    "# there, set the same values on the Trainer.Config fields of the same meaning.",
  ];
  for (const section of job.sections) {
    lines.push("", `[${section.name}]`);
    for (const k of section.keys) {
      if (Array.isArray(k.value)) lines.push(`# ${k.from}`, `${k.key} = ${tomlValue(k.value)}`);
      else lines.push(`${k.key} = ${tomlValue(k.value)}  # ${k.from}`);
    }
  }
  return lines.join("\n") + "\n";
}
