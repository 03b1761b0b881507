/**
 * Parameter layout: one flat buffer per rank holds every parameter of its part of the model (and
 * a second buffer with the same layout holds the gradients). Tensors carry Hugging Face Llama
 * names and shapes, so a layout maps one-to-one onto a `transformers` state dict.
 *
 * Legend: V vocab, C hidden, F intermediate, H heads, G kv heads, D head size.
 */
import { InputError } from "../errors.js";
import type { Floats } from "../kernels/types.js";
import { headDim, validateModelConfig, type ModelConfig } from "./config.js";

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
  /** Number of elements. */
  size: number;
}

export interface Layout {
  config: ModelConfig;
  part: StagePart;
  tensors: TensorSpec[];
  byName: Map<string, TensorSpec>;
  /** Elements in the flat buffer. */
  totalSize: number;
}

/** The per-layer tensors, in order, as name suffixes after `model.layers.{i}.`. */
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
export type LayerTensor = (typeof LAYER_TENSORS)[number];

export const EMBED_NAME = "model.embed_tokens.weight";
export const FINAL_NORM_NAME = "model.norm.weight";
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
    case "post_attention_layernorm.weight":
      return [C];
    case "self_attn.q_proj.weight":
      return [HD, C];
    case "self_attn.k_proj.weight":
    case "self_attn.v_proj.weight":
      return [GD, C];
    case "self_attn.o_proj.weight":
      return [C, HD];
    case "mlp.gate_proj.weight":
    case "mlp.up_proj.weight":
      return [F, C];
    case "mlp.down_proj.weight":
      return [C, F];
  }
}

export function fullModelPart(config: ModelConfig): StagePart {
  return { firstLayer: 0, numLayers: config.numLayers, hasEmbedding: true, hasHead: true };
}

/** Layout of `part` (default: the whole model): embedding, layers in order, final norm, LM head. */
export function buildLayout(config: ModelConfig, part: StagePart = fullModelPart(config)): Layout {
  validateModelConfig(config);
  if (
    !Number.isInteger(part.firstLayer) ||
    !Number.isInteger(part.numLayers) ||
    part.firstLayer < 0 ||
    part.numLayers < 0 ||
    part.firstLayer + part.numLayers > config.numLayers
  ) {
    throw new InputError(
      "part",
      `layers [${part.firstLayer}, ${part.firstLayer + part.numLayers}) must lie inside [0, ${config.numLayers})`,
    );
  }
  const tensors: TensorSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: number[]): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    tensors.push({ name, shape, offset, size });
    offset += size;
  };
  const V = config.vocabSize;
  const C = config.hiddenSize;
  if (part.hasEmbedding) add(EMBED_NAME, [V, C]);
  for (let l = part.firstLayer; l < part.firstLayer + part.numLayers; l++) {
    for (const t of LAYER_TENSORS) add(layerTensorName(l, t), layerTensorShape(config, t));
  }
  if (part.hasHead) {
    add(FINAL_NORM_NAME, [C]);
    add(LM_HEAD_NAME, [V, C]);
  }
  return { config, part: { ...part }, tensors, byName: new Map(tensors.map((t) => [t.name, t])), totalSize: offset };
}

/** Name → subarray of `buffer` (no copy) for every tensor of the layout. */
export function views<A extends Floats>(layout: Layout, buffer: A): Record<string, A> {
  if (buffer.length !== layout.totalSize) {
    throw new InputError("buffer", `must hold ${layout.totalSize} elements for this layout, got ${buffer.length}`);
  }
  const out: Record<string, A> = {};
  for (const t of layout.tensors) out[t.name] = buffer.subarray(t.offset, t.offset + t.size) as A;
  return out;
}

/** One tensor's view; throws if the layout lacks it. */
export function tensorView<A extends Floats>(layout: Layout, buffer: A, name: string): A {
  const spec = layout.byName.get(name);
  if (!spec) throw new InputError("tensor", `'${name}' is not in this layout`);
  return buffer.subarray(spec.offset, spec.offset + spec.size) as A;
}
