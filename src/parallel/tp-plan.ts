/**
 * The tensor-parallel plan (Megatron-LM, Shoeybi et al. 2019) as data: for every tensor of a
 * Llama model, how the ranks of a tp group share it. Whatever depends on a tensor's role is
 * derived from these two tables: the slice a rank holds (`shardSliceOf`, hence buildLayout, the
 * initialisation and the checkpoint gather/shard of src/parallel/tp-layout.ts), the sizes tp must
 * divide (`validateTp`), and the replicated gradients (`isTpReplicated`: counted once over the tp
 * group in the global gradient norm, summed over it under sequence parallelism).
 *
 * Styles, for a linear weight W [out, in] (y = x·Wᵀ):
 *   column      rows of W (output features) split: each rank computes its slice of y from the
 *               whole x. The layer is entered through copyToTp (identity forward, all-reduce of
 *               the input gradient backward); its output stays sharded and feeds the next layer
 *               without communication.
 *   row         columns of W (input features) split: each rank turns the sharded output of a
 *               column-parallel layer into a partial sum of the full y, and the layer is left
 *               through reduceFromTp (all-reduce forward, identity backward).
 *   vocab       rows of the embedding table or of lm_head split by vocabulary id. The embedding's
 *               partial lookups are summed like a row-parallel output (tp-embed); lm_head is
 *               entered like a column-parallel layer (tp-head) and its logits are never gathered
 *               (vocabulary-parallel cross-entropy, src/parallel/tp-vocab.ts).
 *   replicated  every rank holds the whole tensor: the norms' weights (and biases), the bias of a
 *               row-parallel layer (added once, after its partial sums are reduced, as
 *               Megatron-LM does) and the position table. Each works on the rows of the
 *               residual stream: without sequence parallelism every rank sees every row, so
 *               their gradients agree already; with it each rank sees its own rows and the
 *               gradients are summed once per step (tp-norm).
 *               A column-parallel layer's bias is split with its output features.
 * A column layer and the row layer after it make one tp region (q/k/v → attention → o_proj,
 * gate/up → SwiGLU → down_proj), one enter/exit pair each. Under sequence parallelism the pair
 * is gatherFromSp / reduceScatterToSp instead (`tpPairs` in src/parallel/tensor.ts).
 *
 * `along` names the model dimension a sharded tensor is split by. tp must divide its size, so
 * whole heads (and whole kv heads with their query heads) stay on one rank and attention needs
 * no communication.
 */
import { InputError, invariant } from "../errors.js";
import type { ModelConfig, ModelNumberField } from "../model/config.js";
import type {
  EMBED_NAME,
  FINAL_NORM_BIAS_NAME,
  FINAL_NORM_NAME,
  GptLayerTensor,
  LayerTensor,
  LlamaLayerTensor,
  LM_HEAD_NAME,
  POSITION_NAME,
  ShardSlice,
  TpShard,
} from "../model/layout.js";

export type TpStyle = "column" | "row" | "vocab" | "replicated";
export type ShardedStyle = Exclude<TpStyle, "replicated">;
export type TpSplit = "query heads" | "kv heads" | "intermediate" | "vocab";
export type TpRule = { style: ShardedStyle; along: TpSplit } | { style: "replicated" };

/** The per-layer tensors of a llama layer, by name suffix after `model.layers.{i}.`, in layout order. */
export const LAYER_TP_PLAN: Readonly<Record<LlamaLayerTensor, TpRule>> = {
  "input_layernorm.weight": { style: "replicated" },
  "self_attn.q_proj.weight": { style: "column", along: "query heads" },
  "self_attn.k_proj.weight": { style: "column", along: "kv heads" },
  "self_attn.v_proj.weight": { style: "column", along: "kv heads" },
  "self_attn.o_proj.weight": { style: "row", along: "query heads" },
  "post_attention_layernorm.weight": { style: "replicated" },
  "mlp.gate_proj.weight": { style: "column", along: "intermediate" },
  "mlp.up_proj.weight": { style: "column", along: "intermediate" },
  "mlp.down_proj.weight": { style: "row", along: "intermediate" },
};

/** The per-layer tensors of a gpt layer, in layout order: the llama rules for the shared tensors, plus biases and fc_in/fc_out. */
export const GPT_LAYER_TP_PLAN: Readonly<Record<GptLayerTensor, TpRule>> = {
  "input_layernorm.weight": { style: "replicated" },
  "input_layernorm.bias": { style: "replicated" },
  "self_attn.q_proj.weight": { style: "column", along: "query heads" },
  "self_attn.q_proj.bias": { style: "column", along: "query heads" },
  "self_attn.k_proj.weight": { style: "column", along: "kv heads" },
  "self_attn.k_proj.bias": { style: "column", along: "kv heads" },
  "self_attn.v_proj.weight": { style: "column", along: "kv heads" },
  "self_attn.v_proj.bias": { style: "column", along: "kv heads" },
  "self_attn.o_proj.weight": { style: "row", along: "query heads" },
  "self_attn.o_proj.bias": { style: "replicated" },
  "post_attention_layernorm.weight": { style: "replicated" },
  "post_attention_layernorm.bias": { style: "replicated" },
  "mlp.fc_in.weight": { style: "column", along: "intermediate" },
  "mlp.fc_in.bias": { style: "column", along: "intermediate" },
  "mlp.fc_out.weight": { style: "row", along: "intermediate" },
  "mlp.fc_out.bias": { style: "replicated" },
};

const ANY_LAYER_TP_PLAN: Readonly<Record<LayerTensor, TpRule>> = { ...LAYER_TP_PLAN, ...GPT_LAYER_TP_PLAN };

type ModelTensor = typeof EMBED_NAME | typeof POSITION_NAME | typeof FINAL_NORM_NAME | typeof FINAL_NORM_BIAS_NAME | typeof LM_HEAD_NAME;

/** The tensors outside the layers, by full name. */
export const MODEL_TP_PLAN: Readonly<Record<ModelTensor, TpRule>> = {
  "model.embed_tokens.weight": { style: "vocab", along: "vocab" },
  "model.embed_positions.weight": { style: "replicated" },
  "model.norm.weight": { style: "replicated" },
  "model.norm.bias": { style: "replicated" },
  "lm_head.weight": { style: "vocab", along: "vocab" },
};

/**
 * The ModelConfig field each split divides, in the order validateTp checks them: kv heads first,
 * since tp > numKvHeads is the likely mistake and its message says why.
 */
const SPLIT_SIZE: Readonly<Record<TpSplit, ModelNumberField>> = {
  "kv heads": "numKvHeads",
  "query heads": "numHeads",
  intermediate: "intermediateSize",
  vocab: "vocabSize",
};

const LAYER_PREFIX = /^model\.layers\.\d+\./;

/** The plan's rule for a tensor of a layout, by its name (the two families agree on the tensors they share). */
export function tpRuleOf(name: string): TpRule {
  if (Object.hasOwn(MODEL_TP_PLAN, name)) return MODEL_TP_PLAN[name as ModelTensor];
  const prefix = LAYER_PREFIX.exec(name)?.[0] ?? "";
  const suffix = name.slice(prefix.length);
  invariant(prefix !== "" && Object.hasOwn(ANY_LAYER_TP_PLAN, suffix), `no tensor-parallel rule for '${name}'`);
  return ANY_LAYER_TP_PLAN[suffix as LayerTensor];
}

/**
 * Whether every tp rank holds tensor `name` whole. Its gradient counts once in the global
 * gradient norm (on tp index 0) and is summed over the group under sequence parallelism; a
 * sharded tensor's gradient counts on every rank.
 */
export function isTpReplicated(name: string): boolean {
  return tpRuleOf(name).style === "replicated";
}

/**
 * The slice of tensor `name` (full shape `shape`) that tp rank `tp.index` holds; null =
 * replicated. Column- and vocabulary-parallel tensors split dim 0 (rows of [out, in]),
 * row-parallel ones dim 1.
 */
export function shardSliceOf(name: string, shape: readonly number[], tp: TpShard): ShardSlice | null {
  const rule = tpRuleOf(name);
  if (rule.style === "replicated") return null;
  const dim = rule.style === "row" ? 1 : 0;
  invariant(dim < shape.length, `a row-parallel tensor must be 2-D, '${name}' has shape [${shape.join(", ")}]`);
  const length = shape[dim] / tp.size;
  return { dim, offset: length * tp.index, length, style: rule.style };
}

/**
 * Throws InputError("parallel.tp", …) unless tp can shard `config`: tp must divide the size of
 * every split of the plan. tp > numKvHeads is refused (it would need replicated kv heads, which
 * parasim does not do).
 */
export function validateTp(config: ModelConfig, tp: TpShard): void {
  const n = tp.size;
  if (!Number.isInteger(n) || n < 1) throw new InputError("parallel.tp", `must be an integer ≥ 1, got ${n}`);
  invariant(Number.isInteger(tp.index) && tp.index >= 0 && tp.index < n, `tp rank index must lie in [0, ${n}), got ${tp.index}`);
  for (const [split, field] of Object.entries(SPLIT_SIZE) as [TpSplit, ModelNumberField][]) {
    const size = config[field];
    if (size % n === 0) continue;
    const why = split === "kv heads" && n > size ? " (tp > numKvHeads would need replicated kv heads, not supported)" : "";
    throw new InputError("parallel.tp", `must divide model.${field} = ${size}, got ${n}${why}`);
  }
}
