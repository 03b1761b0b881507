/**
 * The gpt family's checkpoint form: Hugging Face GPT2LMHeadModel (GPT-2, Radford et al. 2019), so
 * `transformers` loads what parasim writes. Two differences from parasim's own layout: GPT-2's
 * linear layers are Conv1D, whose weight is [in, out] (y = x·W + b), the transpose of parasim's
 * [out, in]; and q, k and v are one fused `attn.c_attn` of 3C outputs (q, then k, then v; head j
 * of each is its features [j·D, (j+1)·D), as parasim's). Tied embeddings are written as GPT-2
 * writes them: no `lm_head.weight`, `tie_word_embeddings: true`.
 *
 * Reading accepts names with or without the `transformer.` prefix (OpenAI's original GPT-2 files
 * on the hub have none) and returns parasim's tensors, so loading, checking and evaluating a
 * checkpoint need no other change.
 */
import { InputError } from "../errors.js";
import type { ModelConfig, ModelNumberField } from "../model/config.js";
import { EMBED_NAME, FINAL_NORM_BIAS_NAME, FINAL_NORM_NAME, layerTensorName, LM_HEAD_NAME, POSITION_NAME } from "../model/layout.js";
import type { NamedTensor } from "./safetensors.js";

/** The GPT2Config name of every ModelConfig number a gpt uses (numKvHeads is numHeads; ropeTheta is unused). */
export const GPT2_CONFIG_NAMES: Readonly<Partial<Record<ModelNumberField, string>>> = {
  vocabSize: "vocab_size",
  hiddenSize: "n_embd",
  intermediateSize: "n_inner",
  numLayers: "n_layer",
  numHeads: "n_head",
  numKvHeads: "n_head",
  seqLen: "n_positions",
  rmsNormEps: "layer_norm_epsilon",
};

export function isGpt2Config(hf: Record<string, unknown>): boolean {
  return hf.model_type === "gpt2";
}

export function toGpt2Config(config: ModelConfig): Record<string, unknown> {
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    vocab_size: config.vocabSize,
    n_positions: config.seqLen,
    n_embd: config.hiddenSize,
    n_layer: config.numLayers,
    n_head: config.numHeads,
    n_inner: config.intermediateSize,
    activation_function: "gelu_new",
    layer_norm_epsilon: config.rmsNormEps,
    tie_word_embeddings: config.tieEmbeddings === true,
    torch_dtype: "float32",
  };
}

/** The ModelConfig a GPT2Config describes; fields it leaves out take GPT2Config's defaults. Errors name `${where}.<field>`. */
export function fromGpt2Config(hf: Record<string, unknown>, where: string): ModelConfig {
  const int = (key: string, fallback?: number): number => {
    const v = hf[key] ?? fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new InputError(`${where}.${key}`, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const act = hf.activation_function ?? "gelu_new";
  if (act !== "gelu_new") throw new InputError(`${where}.activation_function`, `must be "gelu_new" (parasim's GELU is the tanh approximation), got ${JSON.stringify(act)}`);
  const eps = hf.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps > 0)) throw new InputError(`${where}.layer_norm_epsilon`, `must be a positive number, got ${JSON.stringify(eps)}`);
  const hiddenSize = int("n_embd");
  const numHeads = int("n_head");
  return {
    vocabSize: int("vocab_size"), hiddenSize, intermediateSize: int("n_inner", 4 * hiddenSize), numLayers: int("n_layer"),
    numHeads, numKvHeads: numHeads, seqLen: int("n_positions"), ropeTheta: 10000, rmsNormEps: eps,
    family: "gpt", tieEmbeddings: hf.tie_word_embeddings !== false,
  };
}

/** One GPT-2 tensor: parasim's tensors `parts` stacked along dim 0, then transposed if it is a Conv1D weight. */
interface Gpt2Tensor {
  name: string;
  parts: string[];
  conv1d: boolean;
}

function gpt2Tensors(config: ModelConfig): Gpt2Tensor[] {
  const t = (name: string, parts: string[], conv1d = false): Gpt2Tensor => ({ name: `transformer.${name}`, parts, conv1d });
  const out = [t("wte.weight", [EMBED_NAME]), t("wpe.weight", [POSITION_NAME])];
  for (let l = 0; l < config.numLayers; l++) {
    const p = (suffix: Parameters<typeof layerTensorName>[1]) => layerTensorName(l, suffix);
    const h = `h.${l}.`;
    out.push(
      t(`${h}ln_1.weight`, [p("input_layernorm.weight")]),
      t(`${h}ln_1.bias`, [p("input_layernorm.bias")]),
      t(`${h}attn.c_attn.weight`, [p("self_attn.q_proj.weight"), p("self_attn.k_proj.weight"), p("self_attn.v_proj.weight")], true),
      t(`${h}attn.c_attn.bias`, [p("self_attn.q_proj.bias"), p("self_attn.k_proj.bias"), p("self_attn.v_proj.bias")]),
      t(`${h}attn.c_proj.weight`, [p("self_attn.o_proj.weight")], true),
      t(`${h}attn.c_proj.bias`, [p("self_attn.o_proj.bias")]),
      t(`${h}ln_2.weight`, [p("post_attention_layernorm.weight")]),
      t(`${h}ln_2.bias`, [p("post_attention_layernorm.bias")]),
      t(`${h}mlp.c_fc.weight`, [p("mlp.fc_in.weight")], true),
      t(`${h}mlp.c_fc.bias`, [p("mlp.fc_in.bias")]),
      t(`${h}mlp.c_proj.weight`, [p("mlp.fc_out.weight")], true),
      t(`${h}mlp.c_proj.bias`, [p("mlp.fc_out.bias")]),
    );
  }
  out.push(t("ln_f.weight", [FINAL_NORM_NAME]), t("ln_f.bias", [FINAL_NORM_BIAS_NAME]));
  if (config.tieEmbeddings !== true) out.push({ name: LM_HEAD_NAME, parts: [LM_HEAD_NAME], conv1d: false });
  return out;
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** parasim's full tensors (by name) as GPT-2's, in GPT-2's order. */
export function toGpt2Tensors(config: ModelConfig, tensors: ReadonlyMap<string, NamedTensor>): NamedTensor[] {
  return gpt2Tensors(config).map(({ name, parts, conv1d }) => {
    const pieces = parts.map((p) => tensors.get(p)!);
    const rows = pieces.reduce((n, p) => n + p.shape[0], 0);
    const stacked = new Float32Array(pieces.reduce((n, p) => n + p.data.length, 0));
    pieces.reduce((at, p) => (stacked.set(p.data, at), at + p.data.length), 0);
    if (!conv1d) return { name, shape: pieces.length === 1 ? [...pieces[0].shape] : [rows], data: stacked };
    const cols = pieces[0].shape[1];
    return { name, shape: [cols, rows], data: transpose(stacked, rows, cols) };
  });
}

/**
 * GPT-2's tensors as parasim's (shapes from `expected`, parasim's full layout). A missing or
 * misshapen GPT-2 tensor is an InputError naming it.
 */
export function fromGpt2Tensors(config: ModelConfig, tensors: ReadonlyMap<string, NamedTensor>, expected: ReadonlyMap<string, { shape: number[] }>): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const { name, parts, conv1d } of gpt2Tensors(config)) {
    const t = tensors.get(name) ?? tensors.get(name.replace(/^transformer\./, ""));
    if (!t) throw new InputError("checkpoint", `missing tensor ${name}`);
    const shapes = parts.map((p) => expected.get(p)!.shape);
    const rows = shapes.reduce((n, s) => n + s[0], 0);
    const want = conv1d ? [shapes[0][1], rows] : shapes.length === 1 ? shapes[0] : [rows];
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new InputError("checkpoint", `${name} has shape [${t.shape}] but the model needs [${want}]`);
    }
    const stacked = conv1d ? transpose(t.data, want[0], want[1]) : t.data;
    let at = 0;
    parts.forEach((p, k) => {
      const size = shapes[k].reduce((a, b) => a * b, 1);
      out.set(p, { name: p, shape: [...shapes[k]], data: stacked.slice(at, at + size) });
      at += size;
    });
  }
  return out;
}
