/**
 * Checkpoints in Hugging Face Llama form: a folder with `config.json` (LlamaConfig field names)
 * and `model.safetensors` (Llama tensor names and shapes), so `transformers` can load what parasim
 * writes and parasim can start from it. A gpt model is written and read in GPT-2 form instead
 * (src/checkpoint/gpt2.ts).
 */
import { existsSync } from "node:fs";
import { readInputFile } from "../util/inputs.js";
import { join } from "node:path";
import { InputError } from "../errors.js";
import { isGpt, validateModelConfig, type ModelConfig, type ModelNumberField } from "../model/config.js";
import { LIMITS } from "../limits.js";
import { buildLayout, type TensorSpec } from "../model/layout.js";
import { fromGpt2Config, fromGpt2Tensors, GPT2_CONFIG_NAMES, isGpt2Config, toGpt2Config, toGpt2Tensors } from "./gpt2.js";
import { writeFileAtomic, writeFileAtomicAsync, writeFolderAtomic } from "../util/atomic.js";
import { checkOutputFolder } from "../util/outputs.js";
import { readSafetensors, safetensorsPieces, type NamedTensor } from "./safetensors.js";
import { STATE_FILE, STATE_TENSORS_FILE } from "./training-state.js";

export const CONFIG_FILE = "config.json";
export const WEIGHTS_FILE = "model.safetensors";

/** The Hugging Face LlamaConfig name of every ModelConfig field. */
export const HF_CONFIG_NAMES: Readonly<Record<ModelNumberField, string>> = {
  vocabSize: "vocab_size",
  hiddenSize: "hidden_size",
  intermediateSize: "intermediate_size",
  numLayers: "num_hidden_layers",
  numHeads: "num_attention_heads",
  numKvHeads: "num_key_value_heads",
  seqLen: "max_position_embeddings",
  ropeTheta: "rope_theta",
  rmsNormEps: "rms_norm_eps",
};

/**
 * Throws InputError(option, …) unless the model has a checkpoint form: a gpt (tied or not) in
 * GPT-2 form, an untied llama in Llama form; a tied llama is not written or read yet.
 */
export function checkCheckpointable(config: ModelConfig, option: string): void {
  if (!isGpt(config) && config.tieEmbeddings === true) {
    throw new InputError(option, "llama checkpoints hold untied models only; a llama with model.tieEmbeddings cannot be saved or loaded yet");
  }
}

/** The LlamaConfig fields parasim writes, named as transformers names them. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const hf = HF_CONFIG_NAMES;
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    [hf.vocabSize]: config.vocabSize,
    [hf.hiddenSize]: config.hiddenSize,
    [hf.intermediateSize]: config.intermediateSize,
    [hf.numLayers]: config.numLayers,
    [hf.numHeads]: config.numHeads,
    [hf.numKvHeads]: config.numKvHeads,
    head_dim: config.hiddenSize / config.numHeads,
    hidden_act: "silu",
    [hf.rmsNormEps]: config.rmsNormEps,
    [hf.ropeTheta]: config.ropeTheta,
    [hf.seqLen]: config.seqLen,
    tie_word_embeddings: false,
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: "float32",
  };
}

/**
 * The ModelConfig a LlamaConfig describes. Sizes must be positive integers and rope_theta /
 * rms_norm_eps positive numbers; errors name the Hugging Face field (`${where}.num_attention_heads`).
 */
export function fromHfConfig(hf: Record<string, unknown>, where: string): ModelConfig {
  const read = (key: ModelNumberField, fallback?: number): unknown => hf[HF_CONFIG_NAMES[key]] ?? fallback;
  const size = (key: ModelNumberField, fallback?: number): number => {
    const v = read(key, fallback);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
      throw new InputError(`${where}.${HF_CONFIG_NAMES[key]}`, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const positive = (key: ModelNumberField, fallback: number): number => {
    const v = read(key, fallback);
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new InputError(`${where}.${HF_CONFIG_NAMES[key]}`, `must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  if (hf.tie_word_embeddings === true) throw new InputError(`${where}.tie_word_embeddings`, "must be false: parasim's LM head is untied");
  const numHeads = size("numHeads");
  return {
    vocabSize: size("vocabSize"),
    hiddenSize: size("hiddenSize"),
    intermediateSize: size("intermediateSize"),
    numLayers: size("numLayers"),
    numHeads,
    numKvHeads: size("numKvHeads", numHeads),
    seqLen: size("seqLen"),
    ropeTheta: positive("ropeTheta", 10000),
    rmsNormEps: positive("rmsNormEps", 1e-6),
  };
}

/** The files a checkpoint folder may hold: the Hugging Face pair and the training state (training-state.ts). */
export const CHECKPOINT_FILES = [CONFIG_FILE, WEIGHTS_FILE, STATE_FILE, STATE_TENSORS_FILE] as const;

/**
 * Writes a checkpoint folder, complete or not at all: into a temporary sibling, renamed into place.
 * An existing `dir` is replaced, so it may hold only a checkpoint's files (errors name `option`).
 * `more` writes further files (the training state) into the folder before it takes its place.
 * The weights are written without blocking the event loop, so Ctrl-C stops a large save at once.
 */
export async function writeCheckpoint(dir: string, config: ModelConfig, tensors: NamedTensor[], option = "checkpoint", more?: (folder: string) => Promise<void>): Promise<void> {
  checkCheckpointable(config, option);
  checkOutputFolder(option, dir, CHECKPOINT_FILES);
  await writeFolderAtomic(dir, async (folder) => {
    const gpt = isGpt(config);
    const hfConfig = gpt ? toGpt2Config(config) : toHfConfig(config);
    writeFileAtomic(join(folder, CONFIG_FILE), JSON.stringify(hfConfig, null, 2) + "\n");
    const written = gpt ? toGpt2Tensors(config, new Map(tensors.map((t) => [t.name, t]))) : tensors;
    await writeFileAtomicAsync(join(folder, WEIGHTS_FILE), safetensorsPieces(written, { format: "pt", producer: "parasim" }));
    await more?.(folder);
  }).catch((err: unknown) => {
    // A full disk or a folder gone since the check: the option and the reason, not a raw system error.
    const code = (err as NodeJS.ErrnoException).code;
    throw code === undefined ? err : new InputError(option, `cannot write ${dir}: ${code}`);
  });
}

export interface Checkpoint {
  config: ModelConfig;
  tensors: Map<string, NamedTensor>;
}

export function readCheckpoint(dir: string): Checkpoint {
  const configPath = join(dir, CONFIG_FILE);
  if (!existsSync(configPath)) throw new InputError("checkpoint", `${dir} has no ${CONFIG_FILE}`);
  const text = readInputFile("checkpoint", configPath).toString("utf8");
  let hf: unknown;
  try {
    hf = JSON.parse(text);
  } catch {
    throw new InputError("checkpoint", `${configPath} is not valid JSON`);
  }
  if (typeof hf !== "object" || hf === null || Array.isArray(hf)) throw new InputError("checkpoint", `${configPath} is not a JSON object`);
  const gpt2 = isGpt2Config(hf as Record<string, unknown>);
  const config = gpt2 ? fromGpt2Config(hf as Record<string, unknown>, CONFIG_FILE) : fromHfConfig(hf as Record<string, unknown>, CONFIG_FILE);
  checkCheckpointConfig(config, gpt2 ? GPT2_CONFIG_NAMES : HF_CONFIG_NAMES);
  const stored = readSafetensors(join(dir, WEIGHTS_FILE));
  for (const t of stored.values()) checkFinite(t);
  const tensors = gpt2 ? fromGpt2Tensors(config, stored, buildLayout(config).byName) : stored;
  return { config, tensors };
}

/**
 * A checkpoint's config checked as a scenario's model is (validateModelConfig, and the limit on
 * layers), its errors naming the config.json keys (`config.json.num_attention_heads`), the names
 * the user edits.
 */
function checkCheckpointConfig(config: ModelConfig, names: Partial<Record<ModelNumberField, string>>): void {
  const key = (field: string) => `${CONFIG_FILE}.${names[field as ModelNumberField] ?? field}`;
  if (config.numLayers > LIMITS.numLayers) throw new InputError(key("numLayers"), `must be at most ${LIMITS.numLayers}, parasim's limit on layers, got ${config.numLayers}`);
  try {
    validateModelConfig(config);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const renamed = (text: string) => text.replace(/model\.(\w+)/g, (_whole, field: string) => key(field));
    throw new InputError(renamed(err.field), renamed(err.rule));
  }
}

/** A weight that is NaN or infinite would make every loss NaN: refused, naming the tensor and the value's index. */
function checkFinite(t: NamedTensor): void {
  const at = t.data.findIndex((x) => !Number.isFinite(x));
  if (at >= 0) throw new InputError("checkpoint", `${t.name} holds ${t.data[at]} at index ${at}; weights must be finite numbers`);
}

/**
 * Checks that a checkpoint holds the tensors `expected` lists, with the same shapes (and, where
 * a tensor carries its data, as many values as its shape has), and names the first one that
 * differs; with `exact`, also that it holds no others. `model` names what the tensors must fit,
 * in the messages.
 */
export function checkTensorsMatch(
  tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data?: { readonly length: number } }>,
  expected: readonly { readonly name: string; readonly shape: readonly number[] }[],
  exact = true,
  model = "the scenario's model",
): void {
  for (const e of expected) {
    const t = tensors.get(e.name);
    if (!t) throw new InputError("checkpoint", `missing tensor ${e.name}`);
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new InputError("checkpoint", `${e.name} has shape [${t.shape}] but ${model} needs [${e.shape}]`);
    }
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (t.data && t.data.length !== size) throw new InputError("checkpoint", `${e.name} holds ${t.data.length} values but its shape [${e.shape}] has ${size}`);
  }
  if (!exact) return;
  const known = new Set(expected.map((e) => e.name));
  for (const name of tensors.keys()) {
    if (!known.has(name)) throw new InputError("checkpoint", `unexpected tensor ${name} for ${model}`);
  }
}

/** Checks that a checkpoint's config describes the scenario's model, naming the first field that differs. */
export function checkConfigMatches(checkpoint: ModelConfig, scenario: ModelConfig): void {
  const [family, scenarioFamily] = [isGpt(checkpoint) ? "gpt" : "llama", isGpt(scenario) ? "gpt" : "llama"];
  if (family !== scenarioFamily) throw new InputError("checkpoint", `${CONFIG_FILE} holds a ${family} model but the scenario's model.family is ${scenarioFamily}`);
  const names: Partial<Record<ModelNumberField, string>> = family === "gpt" ? GPT2_CONFIG_NAMES : HF_CONFIG_NAMES;
  for (const key of Object.keys(names) as ModelNumberField[]) {
    if (checkpoint[key] !== scenario[key]) {
      throw new InputError("checkpoint", `${CONFIG_FILE} has ${names[key]} = ${checkpoint[key]} but the scenario's model.${key} is ${scenario[key]}`);
    }
  }
  if ((checkpoint.tieEmbeddings === true) !== (scenario.tieEmbeddings === true)) {
    throw new InputError("checkpoint", `${CONFIG_FILE} has tie_word_embeddings = ${checkpoint.tieEmbeddings === true} but the scenario's model.tieEmbeddings is ${scenario.tieEmbeddings === true}`);
  }
}

/**
 * Copies checkpoint tensors into `params`, after checking names and shapes match the layout.
 * `exact`: the checkpoint must hold no other tensors (off for a pipeline stage, which holds a part).
 */
export function loadTensors(layout: { tensors: TensorSpec[] }, params: Float32Array, tensors: Map<string, NamedTensor>, exact = true): void {
  checkTensorsMatch(tensors, layout.tensors, exact);
  for (const t of layout.tensors) params.set(tensors.get(t.name)!.data, t.offset);
}
