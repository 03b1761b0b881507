/**
 * Deterministic initialisation. A tensor's values are a pure function of (seed, tensor name,
 * full shape): each tensor draws from its own stream `new Random(seed, name)`, so its values do
 * not depend on which other tensors share the layout (a pipeline stage or a tensor-parallel slice
 * sees exactly the values the single-device model has).
 */
import { Random } from "../util/random.js";
import type { Floats } from "../kernels/types.js";
import { extractShard, type TensorSpec } from "./layout.js";

export const DEFAULT_INIT_STD = 0.02;

/** Norm weights (`*norm.weight`, `*_layernorm.weight`) start at 1; everything else is a matrix. */
export function isNormWeight(name: string): boolean {
  return name.endsWith("norm.weight");
}

/** Biases (of linear layers and LayerNorms, `*.bias`) start at 0, as in GPT-2. */
export function isBias(name: string): boolean {
  return name.endsWith(".bias");
}

/**
 * Values of the full tensor `name` with `shape`, row-major: ones for norm weights, zeros for
 * biases, otherwise normal(0, std). Returned in double; callers store into their own dtype.
 */
export function initTensor(name: string, shape: readonly number[], seed: number, std: number = DEFAULT_INIT_STD): Float64Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  if (isNormWeight(name)) {
    out.fill(1);
    return out;
  }
  if (isBias(name)) return out;
  const rng = new Random(seed, name);
  for (let i = 0; i < size; i++) out[i] = std * rng.normal();
  return out;
}

/**
 * Fills every tensor of `layout` inside `params` (a buffer of layout.totalSize elements). A
 * tensor-parallel shard is the slice of the full tensor, so tp runs start from exactly the
 * single-device weights; a tied copy (a last stage's LM head) starts from its original's values.
 */
export function initParams(layout: { tensors: TensorSpec[] }, params: Floats, seed: number, std: number = DEFAULT_INIT_STD): void {
  for (const t of layout.tensors) {
    const full = initTensor(t.tiedTo ?? t.name, t.shape, seed, std);
    params.set(t.shard ? extractShard(full, t.shape, t.shard) : full, t.offset);
  }
}
