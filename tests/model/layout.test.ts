import { describe, it, expect } from "vitest";
import { buildLayout, tensorView, views } from "../../src/model/layout.js";
import { headDim, type ModelConfig } from "../../src/model/config.js";
import { initParams, initTensor } from "../../src/model/init.js";
import { InputError, InternalError } from "../../src/errors.js";

const config: ModelConfig = {
  vocabSize: 16, hiddenSize: 8, intermediateSize: 12, numLayers: 3, numHeads: 2, numKvHeads: 1,
  seqLen: 5, ropeTheta: 10000, rmsNormEps: 1e-5,
};

describe("layout", () => {
  it("lists Hugging Face Llama names and shapes, contiguous offsets, and the total size", () => {
    const layout = buildLayout(config);
    const D = headDim(config);
    const byName = Object.fromEntries(layout.tensors.map((t) => [t.name, t.shape]));
    expect(byName["model.embed_tokens.weight"]).toEqual([16, 8]);
    expect(byName["model.layers.2.self_attn.q_proj.weight"]).toEqual([2 * D, 8]);
    expect(byName["model.layers.2.self_attn.k_proj.weight"]).toEqual([1 * D, 8]);
    expect(byName["model.layers.0.self_attn.v_proj.weight"]).toEqual([1 * D, 8]);
    expect(byName["model.layers.1.self_attn.o_proj.weight"]).toEqual([8, 2 * D]);
    expect(byName["model.layers.1.mlp.gate_proj.weight"]).toEqual([12, 8]);
    expect(byName["model.layers.1.mlp.up_proj.weight"]).toEqual([12, 8]);
    expect(byName["model.layers.1.mlp.down_proj.weight"]).toEqual([8, 12]);
    expect(byName["model.layers.0.input_layernorm.weight"]).toEqual([8]);
    expect(byName["model.layers.0.post_attention_layernorm.weight"]).toEqual([8]);
    expect(byName["model.norm.weight"]).toEqual([8]);
    expect(byName["lm_head.weight"]).toEqual([16, 8]);
    expect(layout.tensors.length).toBe(1 + 9 * 3 + 2);
    let offset = 0;
    for (const t of layout.tensors) {
      expect(t.offset).toBe(offset);
      expect(t.size).toBe(t.shape.reduce((a, b) => a * b, 1));
      offset += t.size;
    }
    const C = 8, F = 12, V = 16, HD = 2 * D, GD = D;
    const perLayer = 2 * C + HD * C + 2 * GD * C + C * HD + 3 * C * F;
    expect(layout.totalSize).toBe(2 * V * C + C + 3 * perLayer);
  });

  it("a stage keeps global layer indices and only its parts", () => {
    const stage = buildLayout(config, { firstLayer: 1, numLayers: 2, hasEmbedding: false, hasHead: true });
    const names = stage.tensors.map((t) => t.name);
    expect(names[0]).toBe("model.layers.1.input_layernorm.weight");
    expect(names).toContain("model.layers.2.mlp.down_proj.weight");
    expect(names.some((n) => n.startsWith("model.layers.0."))).toBe(false);
    expect(names).not.toContain("model.embed_tokens.weight");
    expect(names.slice(-2)).toEqual(["model.norm.weight", "lm_head.weight"]);
    expect(() => buildLayout(config, { firstLayer: 2, numLayers: 2, hasEmbedding: false, hasHead: false })).toThrow(InternalError);
  });

  it("views are subarrays sharing the buffer", () => {
    const layout = buildLayout(config);
    const buf = new Float32Array(layout.totalSize);
    const v = views(layout, buf);
    v["model.norm.weight"][3] = 42;
    const spec = layout.byName.get("model.norm.weight")!;
    expect(buf[spec.offset + 3]).toBe(42);
    expect(tensorView(layout, buf, "model.norm.weight")[3]).toBe(42);
    expect(() => views(layout, new Float32Array(3))).toThrow(InternalError);
  });

  it("rejects configs that cannot be built", () => {
    expect(() => buildLayout({ ...config, numKvHeads: 3 })).toThrow(InputError);
    expect(() => buildLayout({ ...config, numHeads: 3 })).toThrow(InputError);
    expect(() => buildLayout({ ...config, vocabSize: 0 })).toThrow(InputError);
  });
});

describe("init", () => {
  it("is a pure function of (seed, name, shape), independent of the rest of the layout", () => {
    const full = buildLayout(config);
    const stage = buildLayout(config, { firstLayer: 2, numLayers: 1, hasEmbedding: false, hasHead: false });
    const a = new Float32Array(full.totalSize);
    const b = new Float32Array(stage.totalSize);
    initParams(full, a, 7);
    initParams(stage, b, 7);
    const name = "model.layers.2.mlp.up_proj.weight";
    expect(Array.from(tensorView(stage, b, name))).toEqual(Array.from(tensorView(full, a, name)));
    const other = new Float32Array(full.totalSize);
    initParams(full, other, 8);
    expect(Array.from(tensorView(full, other, name))).not.toEqual(Array.from(tensorView(full, a, name)));
  });

  it("gives norm weights 1 and matrices normal(0, std)", () => {
    expect(Array.from(initTensor("model.layers.0.input_layernorm.weight", [8], 1))).toEqual(new Array(8).fill(1));
    expect(Array.from(initTensor("model.norm.weight", [8], 1))).toEqual(new Array(8).fill(1));
    const w = initTensor("lm_head.weight", [200, 100], 1, 0.02);
    const mean = w.reduce((s, x) => s + x, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, x) => s + (x - mean) ** 2, 0) / w.length);
    // 20000 samples: standard error of the std ≈ 0.02/√(2·20000) = 1e-4, of the mean 1.4e-4.
    expect(Math.abs(std - 0.02)).toBeLessThan(5e-4);
    expect(Math.abs(mean)).toBeLessThan(7e-4);
    const w2 = initTensor("lm_head.weight", [200, 100], 1, 0.1);
    expect(w2[5] / w[5]).toBeCloseTo(5, 12);
  });
});
