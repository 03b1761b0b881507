// The tensor-parallel plan: it covers every tensor of a Llama layout, and the slices, the
// replicated set and the divisibility rules derive from it.
import { describe, expect, it } from "vitest";
import { InputError, InternalError } from "../../src/errors.js";
import type { ModelConfig } from "../../src/model/config.js";
import { buildLayout, GPT_LAYER_TENSORS, LAYER_TENSORS } from "../../src/model/layout.js";
import { GPT_LAYER_TP_PLAN, isTpReplicated, LAYER_TP_PLAN, shardSliceOf, tpRuleOf, validateTp } from "../../src/parallel/tp-plan.js";

const config: ModelConfig = {
  vocabSize: 32, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 8, numKvHeads: 4,
  seqLen: 8, ropeTheta: 10000, rmsNormEps: 1e-5,
};

describe("tensor-parallel plan", () => {
  it("has a rule for every tensor of the layout; exactly the norm weights are replicated", () => {
    const layout = buildLayout(config);
    const replicated = layout.tensors.filter((t) => isTpReplicated(t.name)).map((t) => t.name);
    expect(replicated).toEqual([
      "model.layers.0.input_layernorm.weight",
      "model.layers.0.post_attention_layernorm.weight",
      "model.layers.1.input_layernorm.weight",
      "model.layers.1.post_attention_layernorm.weight",
      "model.norm.weight",
    ]);
    expect(Object.keys(LAYER_TP_PLAN)).toEqual([...LAYER_TENSORS]);
    expect(tpRuleOf("model.layers.1.mlp.down_proj.weight")).toEqual({ style: "row", along: "intermediate" });
  });

  it("each row-parallel tensor is split along what a column-parallel tensor of its layer produces", () => {
    const rules = Object.values(LAYER_TP_PLAN);
    const columnSplits = new Set(rules.flatMap((r) => (r.style === "column" ? [r.along] : [])));
    const rowSplits = rules.flatMap((r) => (r.style === "row" ? [r.along] : []));
    expect(rowSplits).toEqual(["query heads", "intermediate"]);
    for (const s of rowSplits) expect(columnSplits.has(s)).toBe(true);
  });

  it("derives the slice from the style: rows for column and vocab, columns for row", () => {
    const tp = { size: 4, index: 3 };
    expect(shardSliceOf("lm_head.weight", [32, 32], tp)).toEqual({ dim: 0, offset: 24, length: 8, style: "vocab" });
    expect(shardSliceOf("model.layers.0.mlp.up_proj.weight", [48, 32], tp)).toEqual({ dim: 0, offset: 36, length: 12, style: "column" });
    expect(shardSliceOf("model.layers.0.self_attn.o_proj.weight", [32, 32], tp)).toEqual({ dim: 1, offset: 24, length: 8, style: "row" });
    expect(shardSliceOf("model.layers.0.input_layernorm.weight", [32], tp)).toBeNull();
  });

  it("an unknown tensor or a rank outside the group is an internal error, a bad tp an input error", () => {
    expect(() => tpRuleOf("model.layers.0.mlp.fc1.weight")).toThrow(InternalError);
    expect(() => tpRuleOf("mlp.up_proj.weight")).toThrow(InternalError);
    expect(() => validateTp(config, { size: 2, index: 2 })).toThrow(InternalError);
    expect(() => validateTp(config, { size: 3, index: 0 })).toThrow(InputError);
    expect(() => validateTp(config, { size: 3, index: 0 })).toThrow(/^parallel\.tp: must divide model\.numKvHeads = 4, got 3$/);
  });
});

describe("tensor-parallel plan of a gpt layout (Megatron-LM)", () => {
  const gpt: ModelConfig = { ...config, numKvHeads: 8, intermediateSize: 128, family: "gpt" };

  it("lists the gpt layer in layout order; the shared tensors keep llama's rules", () => {
    expect(Object.keys(GPT_LAYER_TP_PLAN)).toEqual([...GPT_LAYER_TENSORS]);
    for (const t of LAYER_TENSORS) if (t in GPT_LAYER_TP_PLAN) expect(GPT_LAYER_TP_PLAN[t as keyof typeof GPT_LAYER_TP_PLAN]).toEqual(LAYER_TP_PLAN[t]);
  });

  it("shards column-parallel biases with their outputs; replicates norms, row-parallel biases (added after the reduction) and the position table", () => {
    const layout = buildLayout(gpt, undefined, { size: 4, index: 1 });
    const replicated = layout.tensors.filter((t) => t.shard === null).map((t) => t.name.replace(/^model\.layers\.0\./, ""));
    expect(replicated.filter((n) => !n.startsWith("model.layers.1."))).toEqual([
      "model.embed_positions.weight",
      "input_layernorm.weight",
      "input_layernorm.bias",
      "self_attn.o_proj.bias",
      "post_attention_layernorm.weight",
      "post_attention_layernorm.bias",
      "mlp.fc_out.bias",
      "model.norm.weight",
      "model.norm.bias",
    ]);
    const spec = (name: string) => layout.byName.get(`model.layers.0.${name}`)!;
    // Rank 1 of 4 holds query heads 2–3 (of 8, head size 4): elements [8, 16) of the q bias, rows [8, 16) of its weight.
    expect(spec("self_attn.q_proj.bias").shard).toEqual({ dim: 0, offset: 8, length: 8, style: "column" });
    expect(spec("self_attn.q_proj.bias").localShape).toEqual([8]);
    expect(spec("self_attn.q_proj.weight").shard).toEqual({ dim: 0, offset: 8, length: 8, style: "column" });
    expect(spec("mlp.fc_in.bias").shard).toEqual({ dim: 0, offset: 32, length: 32, style: "column" });
    expect(spec("mlp.fc_out.weight").shard).toEqual({ dim: 1, offset: 32, length: 32, style: "row" });
  });

  it("refuses grouped-query attention for gpt, naming the field", () => {
    expect(() => buildLayout({ ...gpt, numKvHeads: 4 })).toThrow(/^model\.numKvHeads: must equal model\.numHeads = 8 for model\.family gpt/);
  });
});
