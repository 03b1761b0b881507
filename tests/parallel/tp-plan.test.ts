// The tensor-parallel plan: it covers every tensor of a Llama layout, and the slices, the
// replicated set and the divisibility rules derive from it.
import { describe, expect, it } from "vitest";
import { InputError, InternalError } from "../../src/errors.js";
import type { ModelConfig } from "../../src/model/config.js";
import { buildLayout, LAYER_TENSORS } from "../../src/model/layout.js";
import { isTpReplicated, LAYER_TP_PLAN, shardSliceOf, tpRuleOf, validateTp } from "../../src/parallel/tp-plan.js";

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
