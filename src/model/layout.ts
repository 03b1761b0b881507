/**
 * Parameter layout: one flat buffer per rank holds every parameter of its part of the model (and
 * a second buffer with the same layout holds the gradients). Llama tensors carry Hugging Face
 * Llama names and shapes, so a layout maps one-to-one onto a `transformers` state dict. GPT
 * tensors use the same names where the two families share a tensor (q/k/v/o projections, the
 * two norms, the embedding, the final norm, lm_head), with `.bias` beside the weights, the MLP as
 * `mlp.fc_in` / `mlp.fc_out` and the position table as `model.embed_positions.weight`; the
 * checkpoint writer maps them onto GPT-2's names (src/checkpoint/gpt2.ts).
 *
 * Tied embeddings: the LM head is the embedding matrix. A part that holds both uses the one
 * tensor; a last pipeline stage without the embedding holds a copy, `lm_head.weight` with
 * `tiedTo` the embedding's name, initialised from the embedding's values, whose gradient is summed
 * with the embedding's every step (src/parallel/tied.ts), as Megatron-LM does.
 *
 * Legend: V vocab, C hidden, F intermediate, H heads, G kv heads, D head size.
 *
 * Tensor parallelism: `buildLayout(config, part, tp)` lays out rank `tp.index`'s shard of every
 * tensor. Specs keep the Hugging Face name and the **full** shape; `shard` says which slice of it
 * the rank holds (null = replicated) and `localShape` its shape (`size` counts local elements).
 * Which tensor is split how, and which sizes tp must divide, is the tensor-parallel plan of
 * src/parallel/tp-plan.ts. Without `tp` the layout is the single-device one.
 */
import { invariant } from "../errors.js";
import type { Floats } from "../kernels/types.js";
import { shardSliceOf, validateTp, type ShardedStyle } from "../parallel/tp-plan.js";
import { headDim, isGpt, tiesEmbeddings, validateModelConfig, type ModelConfig } from "./config.js";

/** Re-exported: the scenario checks tp against the model through the layout module. */
export { validateTp };

/** Which part of the model a pipeline stage holds. Layer indices are global. */
export interface StagePart {
  firstLayer: number;
  numLayers: number;
  hasEmbedding: boolean;
  hasHead: boolean;
}

export interface TensorSpec {
  /** Hugging Face name, e.g. `model.layers.3.self_attn.q_proj.weight`. */
  name: string;
  /** Full shape ([out, in] for linear weights). */
  shape: number[];
  /** Offset in elements inside the flat buffer. */
  offset: number;
  /** Number of elements (of the local shard under tensor parallelism). */
  size: number;
  /** Tensor-parallel layouts only: the shape of the slice this rank holds. */
  localShape?: number[];
  /** Tensor-parallel layouts only: the slice of the full tensor this rank holds; null = replicated. */
  shard?: ShardSlice | null;
  /** A copy of another tensor (tied embeddings on a last stage): the name of the original. */
  tiedTo?: string;
}

/** This rank's place in its tensor-parallel group. */
export interface TpShard {
  size: number;
  index: number;
}

/**
 * A contiguous range along one dimension of a full 2-D tensor: dim 0 = rows (column-parallel
 * and vocabulary-parallel), dim 1 = columns (row-parallel).
 */
export interface ShardSlice {
  dim: 0 | 1;
  offset: number;
  length: number;
  style: ShardedStyle;
}

export interface Layout {
  config: ModelConfig;
  part: StagePart;
  tensors: TensorSpec[];
  byName: Map<string, TensorSpec>;
  /** Elements in the flat buffer. */
  totalSize: number;
  /** Present on tensor-parallel layouts. */
  tp?: TpShard;
}

/** The per-layer tensors of a llama layer, in order, as name suffixes after `model.layers.{i}.`. */
export const LAYER_TENSORS = [
  "input_layernorm.weight",
  "self_attn.q_proj.weight",
  "self_attn.k_proj.weight",
  "self_attn.v_proj.weight",
  "self_attn.o_proj.weight",
  "post_attention_layernorm.weight",
  "mlp.gate_proj.weight",
  "mlp.up_proj.weight",
  "mlp.down_proj.weight",
] as const;

/** The per-layer tensors of a gpt layer, in order. */
export const GPT_LAYER_TENSORS = [
  "input_layernorm.weight",
  "input_layernorm.bias",
  "self_attn.q_proj.weight",
  "self_attn.q_proj.bias",
  "self_attn.k_proj.weight",
  "self_attn.k_proj.bias",
  "self_attn.v_proj.weight",
  "self_attn.v_proj.bias",
  "self_attn.o_proj.weight",
  "self_attn.o_proj.bias",
  "post_attention_layernorm.weight",
  "post_attention_layernorm.bias",
  "mlp.fc_in.weight",
  "mlp.fc_in.bias",
  "mlp.fc_out.weight",
  "mlp.fc_out.bias",
] as const;
export type LlamaLayerTensor = (typeof LAYER_TENSORS)[number];
export type GptLayerTensor = (typeof GPT_LAYER_TENSORS)[number];
export type LayerTensor = LlamaLayerTensor | GptLayerTensor;

/** The per-layer tensors of the config's family. */
export function layerTensorsOf(config: ModelConfig): readonly LayerTensor[] {
  return isGpt(config) ? GPT_LAYER_TENSORS : LAYER_TENSORS;
}

export const EMBED_NAME = "model.embed_tokens.weight";
/** Learned absolute position embeddings [seqLen, C] (gpt). */
export const POSITION_NAME = "model.embed_positions.weight";
export const FINAL_NORM_NAME = "model.norm.weight";
/** The final LayerNorm's bias (gpt). */
export const FINAL_NORM_BIAS_NAME = "model.norm.bias";
export const LM_HEAD_NAME = "lm_head.weight";

export function layerTensorName(layer: number, tensor: LayerTensor): string {
  return `model.layers.${layer}.${tensor}`;
}

/** Full Hugging Face shape of a per-layer tensor. */
export function layerTensorShape(config: ModelConfig, tensor: LayerTensor): number[] {
  const C = config.hiddenSize;
  const F = config.intermediateSize;
  const D = headDim(config);
  const HD = config.numHeads * D;
  const GD = config.numKvHeads * D;
  switch (tensor) {
    case "input_layernorm.weight":
    case "input_layernorm.bias":
    case "post_attention_layernorm.weight":
    case "post_attention_layernorm.bias":
    case "self_attn.o_proj.bias":
    case "mlp.fc_out.bias":
      return [C];
    case "self_attn.q_proj.bias":
      return [HD];
    case "self_attn.k_proj.bias":
    case "self_attn.v_proj.bias":
      return [GD];
    case "mlp.fc_in.bias":
      return [F];
    case "self_attn.q_proj.weight":
      return [HD, C];
    case "self_attn.k_proj.weight":
    case "self_attn.v_proj.weight":
      return [GD, C];
    case "self_attn.o_proj.weight":
      return [C, HD];
    case "mlp.gate_proj.weight":
    case "mlp.up_proj.weight":
    case "mlp.fc_in.weight":
      return [F, C];
    case "mlp.down_proj.weight":
    case "mlp.fc_out.weight":
      return [C, F];
  }
}

export function fullModelPart(config: ModelConfig): StagePart {
  return { firstLayer: 0, numLayers: config.numLayers, hasEmbedding: true, hasHead: true };
}

/** Shape of the slice `s` of a tensor with full shape `shape` (1-D tensors: a range of it). */
export function localShapeOf(shape: readonly number[], s: ShardSlice | null): number[] {
  if (!s) return [...shape];
  if (shape.length === 1) return [s.length];
  return s.dim === 0 ? [s.length, shape[1]] : [shape[0], s.length];
}

/** Elements per index of dim 0 (1 for a 1-D tensor). */
function rowLength(shape: readonly number[]): number {
  return shape.length > 1 ? shape[1] : 1;
}

/** Copies the slice `s` of the row-major full tensor into `out` (default: a new array like `full`). */
export function extractShard<A extends Floats>(full: A, shape: readonly number[], s: ShardSlice | null, out?: A): A {
  const local = localShapeOf(shape, s);
  const size = local.reduce((a, b) => a * b, 1);
  const dst = out ?? (new (full.constructor as new (n: number) => A)(size));
  if (!s) {
    dst.set(full);
  } else if (s.dim === 0) {
    const cols = rowLength(shape);
    dst.set(full.subarray(s.offset * cols, (s.offset + s.length) * cols));
  } else {
    const cols = shape[1];
    for (let r = 0; r < shape[0]; r++) dst.set(full.subarray(r * cols + s.offset, r * cols + s.offset + s.length), r * s.length);
  }
  return dst;
}

/** Writes `shard` (the slice `s`) into its place inside the row-major full tensor. */
export function placeShard(full: Floats, shape: readonly number[], s: ShardSlice | null, shard: Floats): void {
  if (!s) {
    full.set(shard);
  } else if (s.dim === 0) {
    full.set(shard, s.offset * rowLength(shape));
  } else {
    const cols = shape[1];
    for (let r = 0; r < shape[0]; r++) full.set(shard.subarray(r * s.length, (r + 1) * s.length), r * cols + s.offset);
  }
}

/**
 * Layout of `part` (default: the whole model): embedding, layers in order, final norm, LM head.
 * With `tp`, the layout of tp rank `tp.index`'s shards (see the header).
 */
export function buildLayout(config: ModelConfig, part: StagePart = fullModelPart(config), tp?: TpShard): Layout {
  validateModelConfig(config);
  if (tp) validateTp(config, tp);
  // Stage parts come from the pipeline partition, which has checked the user's layersPerStage.
  invariant(
    Number.isInteger(part.firstLayer) && Number.isInteger(part.numLayers) && part.firstLayer >= 0 && part.numLayers >= 0 &&
      part.firstLayer + part.numLayers <= config.numLayers,
    `a stage's layers [${part.firstLayer}, ${part.firstLayer + part.numLayers}) must lie inside [0, ${config.numLayers})`,
  );
  const tensors: TensorSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], tiedTo?: string): void => {
    const tied = tiedTo === undefined ? {} : { tiedTo };
    if (!tp) {
      const size = shape.reduce((a, b) => a * b, 1);
      tensors.push({ name, shape, offset, size, ...tied });
      offset += size;
      return;
    }
    const shard = shardSliceOf(name, shape, tp);
    const localShape = localShapeOf(shape, shard);
    const size = localShape.reduce((a, b) => a * b, 1);
    tensors.push({ name, shape, offset, size, localShape, shard, ...tied });
    offset += size;
  };
  const V = config.vocabSize;
  const C = config.hiddenSize;
  const gpt = isGpt(config);
  if (part.hasEmbedding) add(EMBED_NAME, [V, C]);
  if (part.hasEmbedding && gpt) add(POSITION_NAME, [config.seqLen, C]);
  for (let l = part.firstLayer; l < part.firstLayer + part.numLayers; l++) {
    for (const t of layerTensorsOf(config)) add(layerTensorName(l, t), layerTensorShape(config, t));
  }
  if (part.hasHead) {
    add(FINAL_NORM_NAME, [C]);
    if (gpt) add(FINAL_NORM_BIAS_NAME, [C]);
    if (!tiesEmbeddings(config)) add(LM_HEAD_NAME, [V, C]);
    else if (!part.hasEmbedding) add(LM_HEAD_NAME, [V, C], EMBED_NAME);
  }
  const layout: Layout = { config, part: { ...part }, tensors, byName: new Map(tensors.map((t) => [t.name, t])), totalSize: offset };
  if (tp) layout.tp = { size: tp.size, index: tp.index };
  return layout;
}

/** Name → subarray of `buffer` (no copy) for every tensor of the layout. */
export function views<A extends Floats>(layout: Layout, buffer: A): Record<string, A> {
  invariant(buffer.length === layout.totalSize, `a buffer for this layout must hold ${layout.totalSize} elements, got ${buffer.length}`);
  const out: Record<string, A> = {};
  for (const t of layout.tensors) out[t.name] = buffer.subarray(t.offset, t.offset + t.size) as A;
  return out;
}

/** One tensor's view; throws if the layout lacks it. */
export function tensorView<A extends Floats>(layout: Layout, buffer: A, name: string): A {
  const spec = layout.byName.get(name);
  invariant(spec, `tensor '${name}' is not in this layout`);
  return buffer.subarray(spec.offset, spec.offset + spec.size) as A;
}
