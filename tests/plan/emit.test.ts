/**
 * `--emit megatron` and `--emit torchtitan`: every Megatron flag is one Megatron-LM's argument
 * parser defines (with a value of its kind and choices), the torchtitan file parses as TOML and
 * every section and key is one of torchtitan's job config, and the values are those the scenario
 * implies — each expectation below is computed from the scenario's fields, re-deriving the
 * engines' own rules (Megatron-LM's vocabulary padding and pipeline layout syntax, torchtitan's
 * micro-batch count and stage placement) rather than reading parasim's emitter back.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { emitLaunch, emitRefusal } from "../../src/plan/emit.js";
import { fileSlug } from "../../src/plan/emit-layout.js";
import { validateScenario } from "../../src/scenario/load.js";
import type { Scenario } from "../../src/scenario/schema.js";
import {
  MEGATRON_FLAGS, TORCH_SCHEDULES, TORCH_SINGLE_STAGE_SCHEDULES, TORCHTITAN_KEYS, TORCHTITAN_LLAMA3_FLAVORS,
} from "./engine-flags.js";

function scenario(name: string, model: object, parallel: object, training: object = {}): Scenario {
  return validateScenario({
    name, mode: "shapes", model, hardware: { profile: "h100-80gb" }, parallel,
    training: { steps: 20, globalBatch: 64, optimizer: { lr: 3e-4, minLr: 3e-5, warmupSteps: 2 }, ...training },
  });
}

/** Layouts that between them use both families, every schedule, SP, each recompute kind, each precision and each ZeRO stage. */
const LAYOUTS = {
  llama3Interleaved: scenario("llama-3-8b interleaved", { preset: "llama-3-8b" },
    { dp: 2, tp: 4, pp: 4, schedule: "interleaved", virtualStages: 2, sequenceParallel: true, zero: 1 },
    { microBatches: 8, recompute: "selective", precision: "bf16" }),
  gptFull: scenario("gpt3 175B 1f1b", { preset: "gpt3-175b" }, { dp: 2, tp: 8, pp: 8, schedule: "1f1b" },
    { microBatches: 16, recompute: "full", precision: "fp16", lossScale: { initial: 4096, growthInterval: 500 } }),
  llama2Fsdp: scenario("llama-2-7b fsdp", { preset: "llama-2-7b", attention: "flash" }, { dp: 8, zero: 3 }, { microBatches: 4, precision: "fp32" }),
  llama3Uneven: scenario("llama-3-70b gpipe", { preset: "llama-3-70b" }, { dp: 1, tp: 8, pp: 6, schedule: "gpipe" },
    { microBatches: 16, recompute: "full", precision: "bf16", gradReduceFp32: true }),
  gptZb: scenario("megatron-22b zb-h1", { preset: "megatron-22b" }, { dp: 4, tp: 8, pp: 2, schedule: "zb-h1", sequenceParallel: true, zero: 1 },
    { microBatches: 8, recompute: "selective", precision: "bf16", gradReduceFp32: true }),
  llama3Zero2: scenario("llama-3-8b zero2", { preset: "llama-3-8b" }, { dp: 16, tp: 2, zero: 2 }, { microBatches: 2, precision: "bf16" }),
  llama2Chunks: scenario("llama-2-7b chunks on one rank", { preset: "llama-2-7b" }, { dp: 2, tp: 2, schedule: "interleaved", virtualStages: 2 },
    { microBatches: 4, precision: "bf16" }),
} satisfies Record<string, Scenario>;

const tmp = mkdtempSync(join(tmpdir(), "parasim-emit-"));

/** The arguments the emitted script hands to pretrain_gpt.py, as bash itself expands them. */
function megatronArgv(s: Scenario): string[] {
  const { text, fileName } = emitLaunch("megatron", s);
  const path = join(tmp, fileName);
  writeFileSync(path, text);
  const out = execFileSync("bash", ["-c", 'source "$1" && printf "%s\\n" "${MEGATRON_ARGS[@]}"', "emit", path], { encoding: "utf8" });
  return out.split("\n").slice(0, -1);
}

/** argv as flag → value ("" for a switch), checking each flag against Megatron-LM's parser. */
function checkedMegatronArgs(argv: string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const spec = MEGATRON_FLAGS[flag];
    expect(spec, `${flag} is not a flag Megatron-LM's argument parser defines`).toBeDefined();
    expect(args.has(flag), `${flag} given twice`).toBe(false);
    if (spec.kind === "switch") {
      args.set(flag, "");
      continue;
    }
    const value = argv[++i];
    expect(value !== undefined && !value.startsWith("--"), `${flag} needs a value`).toBe(true);
    if (spec.kind === "int") expect(value, flag).toMatch(/^-?\d+$/);
    if (spec.kind === "float") expect(Number.isFinite(Number(value)), `${flag} ${value}`).toBe(true);
    if (spec.kind === "str" && spec.choices) expect(spec.choices, flag).toContain(value);
    args.set(flag, value);
  }
  return args;
}

/** parasim's balancing rule: L layers over S stages, the first L mod S stages one more. */
function balancedStages(L: number, S: number): number[] {
  return Array.from({ length: S }, (_, s) => Math.floor(L / S) + (s < L % S ? 1 : 0));
}

/** Megatron-LM's pipeline layout string unrolled as its parser does (`x*n` → n x's, `|` between stages). */
function parseMegatronLayout(layout: string): string[] {
  return layout.replace(/(.)\*(\d+)/g, (_, c: string, n: string) => c.repeat(Number(n))).split("|");
}

const num = (args: Map<string, string>, flag: string) => Number(args.get(flag));

describe("--emit megatron", () => {
  it("runs every layout above", () => {
    for (const s of Object.values(LAYOUTS)) expect(emitRefusal("megatron", s)).toBeUndefined();
  });

  it.each(Object.entries(LAYOUTS))("%s: every flag is Megatron-LM's, and the layout is the plan's", (_, s) => {
    const args = checkedMegatronArgs(megatronArgv(s));
    const { dp, tp, pp, schedule, virtualStages } = s.parallel;
    const t = s.training;
    expect(num(args, "--tensor-model-parallel-size")).toBe(tp);
    expect(num(args, "--pipeline-model-parallel-size")).toBe(pp);
    // Megatron-LM's micro-batches per replica = global / (micro-batch size · dp), with dp = world / (tp · pp).
    expect(num(args, "--global-batch-size")).toBe(t.globalBatch);
    expect(t.globalBatch / (num(args, "--micro-batch-size") * dp)).toBe(t.microBatches);
    expect(num(args, "--train-iters")).toBe(t.steps);
    // Stages: an even split is Megatron-LM's default (plus virtual stages); an uneven one is spelled out.
    const expected = s.parallel.layersPerStage ?? balancedStages(s.model.numLayers, pp * virtualStages);
    if (pp === 1) {
      // No pipeline: a rank's chunks (interleaved with pp 1) are plain consecutive layers to Megatron-LM.
      expect(args.has("--pipeline-model-parallel-layout") || args.has("--num-virtual-stages-per-pipeline-rank")).toBe(false);
    } else if (args.has("--pipeline-model-parallel-layout")) {
      const stages = parseMegatronLayout(args.get("--pipeline-model-parallel-layout")!);
      expect(stages.map((st) => [...st].filter((c) => c === "t").length)).toEqual(expected);
      expect(stages[0].startsWith("E") && stages[stages.length - 1].endsWith("L")).toBe(true);
    } else {
      expect(expected.every((n) => n === expected[0])).toBe(true);
      const v = args.has("--num-virtual-stages-per-pipeline-rank") ? num(args, "--num-virtual-stages-per-pipeline-rank") : 1;
      expect(v).toBe(schedule === "interleaved" ? virtualStages : 1);
    }
    expect(args.has("--sequence-parallel")).toBe(s.parallel.sequenceParallel && tp > 1);
  });

  it.each(Object.entries(LAYOUTS))("%s: model shape, recomputation, precision and ZeRO flags follow the scenario", (_, s) => {
    const args = checkedMegatronArgs(megatronArgv(s));
    const m = s.model;
    const llama = (m.family ?? "llama") === "llama";
    expect([num(args, "--num-layers"), num(args, "--hidden-size"), num(args, "--ffn-hidden-size"), num(args, "--num-attention-heads")]).toEqual([
      m.numLayers, m.hiddenSize, m.intermediateSize, m.numHeads,
    ]);
    expect(args.has("--group-query-attention")).toBe(m.numKvHeads < m.numHeads);
    if (m.numKvHeads < m.numHeads) expect(num(args, "--num-query-groups")).toBe(m.numKvHeads);
    expect(num(args, "--seq-length")).toBe(m.seqLen);
    expect(args.get("--normalization")).toBe(llama ? "RMSNorm" : "LayerNorm");
    expect(args.get("--position-embedding-type")).toBe(llama ? "rope" : "learned_absolute");
    expect([args.has("--swiglu"), args.has("--disable-bias-linear")]).toEqual([llama, llama]);
    if (llama) expect(num(args, "--rotary-base")).toBe(m.ropeTheta);
    expect(args.has("--untie-embeddings-and-output-weights")).toBe(m.tieEmbeddings !== true);
    // NullTokenizer's vocabulary is --vocab-size + 1 (end of document); Megatron-LM pads it up to a
    // multiple of make-vocab-size-divisible-by × tp. The padded size must be the planned one.
    const multiple = num(args, "--make-vocab-size-divisible-by") * s.parallel.tp;
    expect(Math.ceil((num(args, "--vocab-size") + 1) / multiple) * multiple).toBe(m.vocabSize);
    expect(args.get("--attention-backend")).toBe(m.attention === "flash" ? "flash" : "unfused");

    const recompute = s.training.recompute;
    expect(args.get("--recompute-granularity")).toBe(recompute === "none" ? undefined : recompute);
    if (recompute === "full") expect([args.get("--recompute-method"), num(args, "--recompute-num-layers")]).toEqual(["uniform", 1]);
    else expect(args.has("--recompute-method")).toBe(false);

    const precision = s.training.precision;
    expect([args.has("--bf16"), args.has("--fp16")]).toEqual([precision === "bf16", precision === "fp16"]);
    expect(args.has("--grad-reduce-in-bf16")).toBe(precision === "bf16" && !s.training.gradReduceFp32);
    expect(args.has("--accumulate-allreduce-grads-in-fp32")).toBe(precision !== "fp32" && s.training.gradReduceFp32);
    if (precision === "fp16") {
      expect(num(args, "--initial-loss-scale")).toBe(s.training.lossScale?.initial ?? 2 ** 16);
      expect(num(args, "--loss-scale-window")).toBe(s.training.lossScale?.growthInterval ?? 2000);
    }

    const zero = s.parallel.zero;
    expect(args.has("--use-distributed-optimizer")).toBe(zero >= 1);
    expect(args.has("--use-megatron-fsdp")).toBe(zero >= 2);
    expect(args.get("--data-parallel-sharding-strategy")).toBe(zero === 2 ? "optim_grads" : zero === 3 ? "optim_grads_params" : undefined);
    expect(args.get("--ckpt-format")).toBe(zero >= 2 ? "fsdp_dtensor" : undefined);
  });

  it("says when Megatron-LM runs another schedule than the plan's, and exports what tp needs", () => {
    const gpipe = emitLaunch("megatron", LAYOUTS.llama3Uneven).text;
    expect(gpipe).toMatch(/^# Note: parasim planned GPipe;.*runs 1F1B/m);
    expect(gpipe).toMatch(/^export CUDA_DEVICE_MAX_CONNECTIONS=1 /m);
    expect(emitLaunch("megatron", LAYOUTS.gptZb).text).toMatch(/^# Note: parasim planned ZB-H1.*runs 1F1B/m);
    expect(emitLaunch("megatron", LAYOUTS.llama3Interleaved).text).not.toMatch(/^# Note:/m);
    // Megatron FSDP (ZeRO-2/3) wants the variable unset; tp = 1 needs none.
    expect(emitLaunch("megatron", LAYOUTS.llama3Zero2).text).not.toMatch(/^export /m);
    expect(emitLaunch("megatron", LAYOUTS.llama2Fsdp).text).not.toMatch(/^export /m);
  });

  it("refuses, naming the field, what Megatron-LM cannot run as planned", () => {
    const sparse = scenario("sparse", { preset: "llama-2-7b", attentionPattern: { kind: "strided", block: 64, stride: 4 } }, { dp: 1 });
    const fsdpPipe = scenario("fsdp pp", { preset: "llama-2-7b" }, { dp: 2, pp: 2, zero: 3 }, { microBatches: 2 });
    for (const [s, field] of [[sparse, "model.attentionPattern"], [fsdpPipe, "parallel.zero"]] as const) {
      expect(emitRefusal("megatron", s)?.field).toBe(field);
      expect(() => emitLaunch("megatron", s)).toThrow(InputError);
      expect(() => emitLaunch("megatron", s)).toThrow(new RegExp(`^${field.replace(".", "\\.")}: .*Megatron-LM`));
    }
  });
});

describe("--emit torchtitan", () => {
  const torchtitan = (s: Scenario) => parseToml(emitLaunch("torchtitan", s).text) as Record<string, Record<string, unknown>>;
  const emittable = Object.entries(LAYOUTS).filter(([, s]) => !emitRefusal("torchtitan", s));

  it("covers the layouts it can run: llama with each recompute kind, schedule, precision it has, and ZeRO stage", () => {
    expect(emittable.map(([k]) => k).sort()).toEqual(["llama2Chunks", "llama2Fsdp", "llama3Interleaved", "llama3Uneven", "llama3Zero2"]);
  });

  it.each(emittable)("%s: parses as TOML, and every section and key is torchtitan's", (_, s) => {
    const job = torchtitan(s);
    for (const [section, keys] of Object.entries(job)) {
      const known = TORCHTITAN_KEYS[section];
      expect(known, `[${section}] is not a torchtitan job section`).toBeDefined();
      for (const [k, value] of Object.entries(keys)) {
        const spec = known[k];
        expect(spec, `${section}.${k} is not a torchtitan job key`).toBeDefined();
        if (spec.type === "int") expect(Number.isInteger(value), `${section}.${k}`).toBe(true);
        if (spec.type === "float") expect(typeof value, `${section}.${k}`).toBe("number");
        if (spec.type === "str") expect(typeof value, `${section}.${k}`).toBe("string");
        if (spec.type === "list") expect(Array.isArray(value), `${section}.${k}`).toBe(true);
        if (spec.choices) expect(spec.choices, `${section}.${k}`).toContain(value);
      }
    }
  });

  it.each(emittable)("%s: degrees, batch, stages and schedule are the plan's", (_, s) => {
    const { parallelism: p, training: t } = torchtitan(s);
    const { dp, tp, pp, zero, schedule, virtualStages } = s.parallel;
    expect([p.tensor_parallel_degree, p.pipeline_parallel_degree]).toEqual([tp, pp]);
    expect((p.data_parallel_replicate_degree as number) * (p.data_parallel_shard_degree as number)).toBe(dp);
    // DDP only where torchtitan's DDP runs (data parallelism alone, no sharding planned); else FSDP.
    const ddp = dp > 1 && zero === 0 && tp === 1 && pp === 1;
    expect(p.data_parallel_replicate_degree).toBe(ddp ? dp : 1);
    if (dp > 1 && !ddp) expect(p.fsdp_reshard_after_forward).toBe(zero === 3 ? "always" : "never");
    expect(t.global_batch_size).toBe(s.training.globalBatch);
    expect(t.seq_len).toBe(s.model.seqLen);
    const local = t.local_batch_size as number;
    if (pp === 1) {
      // torchtitan accumulates global / (local · dp) micro-batches.
      expect(s.training.globalBatch / (local * dp)).toBe(s.training.microBatches);
      return;
    }
    // torchtitan splits a replica's batch into local / microbatch_size pipeline micro-batches, once per step.
    expect(local * dp).toBe(s.training.globalBatch);
    expect(local / (p.pipeline_parallel_microbatch_size as number)).toBe(s.training.microBatches);
    const parts = p.module_fqns_per_model_part as string[][];
    expect(parts.length).toBe(pp * virtualStages);
    expect(parts.flat()).toEqual(["tok_embeddings", ...Array.from({ length: s.model.numLayers }, (_, i) => `layers.${i}`), "norm", "output"]);
    expect(parts.map((part) => part.filter((m) => m.startsWith("layers.")).length)).toEqual(balancedStages(s.model.numLayers, pp * virtualStages));
    const name = p.pipeline_parallel_schedule as string;
    expect(TORCH_SCHEDULES).toContain(name);
    expect(TORCH_SINGLE_STAGE_SCHEDULES.includes(name)).toBe(virtualStages === 1);
    expect(name).toBe({ gpipe: "GPipe", "1f1b": "1F1B", interleaved: "Interleaved1F1B", "zb-h1": "1F1B" }[schedule]);
  });

  it.each(emittable)("%s: model flavor, recomputation and precision follow the scenario", (_, s) => {
    const { model, activation_checkpoint: ac, training: t } = torchtitan(s);
    // torchtitan's FFN width: int(2·4·dim/3), times ffn_dim_multiplier, rounded up to multiple_of.
    const ffn = (f: { dim: number; ffn_dim_multiplier: number; multiple_of: number }) => Math.ceil(Math.floor(f.ffn_dim_multiplier * Math.floor((8 * f.dim) / 3)) / f.multiple_of) * f.multiple_of;
    const m = s.model;
    const flavor = Object.entries(TORCHTITAN_LLAMA3_FLAVORS).find(
      ([, f]) => f.dim === m.hiddenSize && f.n_layers === m.numLayers && f.n_heads === m.numHeads && f.n_kv_heads === m.numKvHeads &&
        ffn(f) === m.intermediateSize && f.rope_theta === m.ropeTheta && m.vocabSize === 128256,
    );
    expect(model).toEqual({ name: "llama3", flavor: flavor ? flavor[0] : "custom" });
    expect(ac.mode).toBe(s.training.recompute);
    expect(ac.selective_ac_option).toBe(s.training.recompute === "selective" ? "op" : undefined);
    expect(t.mixed_precision_param).toBe(s.training.precision === "bf16" ? "bfloat16" : "float32");
  });

  it("maps the presets torchtitan has to its flavors, and says how to register the others", () => {
    const flavorOf = (s: Scenario) => torchtitan(s).model.flavor;
    expect([flavorOf(LAYOUTS.llama3Interleaved), flavorOf(LAYOUTS.llama3Uneven), flavorOf(LAYOUTS.llama2Fsdp)]).toEqual(["8B", "70B", "custom"]);
    expect(emitLaunch("torchtitan", LAYOUTS.llama2Fsdp).text).toMatch(/^# Note: torchtitan's llama3 has no flavor of this shape; register one named "custom" with dim=4096, n_layers=32/m);
  });

  it("says where torchtitan runs something other than the plan", () => {
    const text = (s: Scenario) => emitLaunch("torchtitan", s).text;
    expect(text(LAYOUTS.llama3Interleaved)).toMatch(/^# Note: torchtitan has no optimizer-only sharding: ZeRO-1 runs as FSDP/m);
    expect(text(LAYOUTS.llama3Uneven)).toMatch(/^# Note: torchtitan applies bfloat16 mixed precision through FSDP or DDP; with data-parallel degree 1/m);
    const zb = scenario("zb", { preset: "llama-3-8b" }, { dp: 2, pp: 4, schedule: "zb-h1" }, { microBatches: 8 });
    expect(text(zb)).toMatch(/^# Note: torch's zero-bubble schedules .* runs as 1F1B/m);
    expect(text(LAYOUTS.llama2Fsdp)).not.toMatch(/ZeRO-|bfloat16 mixed|zero-bubble/);
  });

  it("refuses, naming the field, what torchtitan cannot run as planned", () => {
    const tied = scenario("tied", { preset: "llama-2-7b", tieEmbeddings: true }, { dp: 1 });
    const fp16 = scenario("fp16", { preset: "llama-2-7b" }, { dp: 1 }, { precision: "fp16" });
    const cases = [[LAYOUTS.gptFull, "model.family"], [tied, "model.tieEmbeddings"], [fp16, "training.precision"]] as const;
    for (const [s, field] of cases) {
      expect(emitRefusal("torchtitan", s)?.field).toBe(field);
      expect(() => emitLaunch("torchtitan", s)).toThrow(new RegExp(`^${field.replace(".", "\\.")}: .*torchtitan`));
    }
  });
});

describe("emitted file names", () => {
  it("come from the scenario name, safe for a file system", () => {
    expect(emitLaunch("megatron", LAYOUTS.gptFull).fileName).toBe("gpt3-175b-1f1b.megatron.sh");
    expect(emitLaunch("torchtitan", LAYOUTS.llama2Fsdp).fileName).toBe("llama-2-7b-fsdp.torchtitan.toml");
    expect([fileSlug("../x y"), fileSlug("***")]).toEqual(["x-y", "plan"]);
  });
});
