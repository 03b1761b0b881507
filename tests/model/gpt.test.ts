import { describe, it, expect } from "vitest";
import { LlamaModel } from "../../src/model/model.js";
import { buildLayout, EMBED_NAME, LM_HEAD_NAME, POSITION_NAME } from "../../src/model/layout.js";
import { initParams } from "../../src/model/init.js";
import type { ModelConfig } from "../../src/model/config.js";
import { MODEL_PRESETS } from "../../src/model/presets.js";
import { modelFlops } from "../../src/model/flops.js";
import { modelFlopsPerToken } from "../../src/run/metrics.js";
import { numericGrad, randInts, randn, relError } from "../kernels/gradcheck.js";

const tiny: ModelConfig = {
  vocabSize: 16, hiddenSize: 8, intermediateSize: 32, numLayers: 2, numHeads: 2, numKvHeads: 2,
  seqLen: 6, ropeTheta: 10000, rmsNormEps: 1e-5, family: "gpt",
};
const [B, T] = [2, 5];

function batch(seed: number): { tokens: Int32Array; targets: Int32Array } {
  return { tokens: randInts(B * T, tiny.vocabSize, seed, "tokens"), targets: randInts(B * T, tiny.vocabSize, seed, "targets") };
}

/** A Float64 gpt with std-0.3 weights and random (not zero) biases and norm parameters, so every path carries an O(1) signal. */
function makeModel(config: ModelConfig) {
  const layout = buildLayout(config);
  const params = new Float64Array(layout.totalSize);
  initParams(layout, params, 3, 0.3);
  for (const t of layout.tensors) {
    if (t.name.endsWith(".bias")) params.set(randn(t.size, 4, t.name, 0.3), t.offset);
    if (t.name.endsWith("norm.weight")) params.set(randn(t.size, 5, t.name, 0.3).map((x) => 1 + x), t.offset);
  }
  const grads = new Float64Array(layout.totalSize);
  return { layout, params, grads, model: new LlamaModel(config, layout, params, grads, B, T) };
}

describe("gpt family", () => {
  it.each([
    ["untied", false],
    ["tied", true],
  ])("%s: the gradient of every tensor matches central finite differences (Float64)", (_name, tie) => {
    const config = { ...tiny, tieEmbeddings: tie };
    const { layout, params, grads, model } = makeModel(config);
    const { tokens, targets } = batch(1);
    model.forward(tokens, targets);
    model.backward(1 / (B * T));
    // As the llama model's check (tests/model/model.test.ts): h = 1e-5 on a smooth loss |L| ≈ 3
    // gives truncation ≲ 1e-10 and round-off ≈ 3e-11 per entry against entries of 1e-3–1e-1, so
    // ‖analytic − numeric‖/‖numeric‖ ≲ 1e-7 per tensor; 1e-6 allowed, a wrong term gives O(1).
    for (const spec of layout.tensors) {
      const numeric = numericGrad(() => model.forward(tokens, targets), params.subarray(spec.offset, spec.offset + spec.size));
      const analytic = grads.subarray(spec.offset, spec.offset + spec.size);
      if (spec.name.endsWith("k_proj.bias")) {
        // A key bias adds q·b to every score of a softmax row, which the softmax ignores: its true
        // gradient is 0. Both sides must be round-off: numeric ≲ ε·|L|/h ≈ 1e-10, analytic a sum
        // of cancelling terms of size ~1e-2 ⇒ ≲ 1e-15; allow 1e-9.
        expect(Math.max(...analytic.map(Math.abs), ...numeric.map(Math.abs)), spec.name).toBeLessThan(1e-9);
        continue;
      }
      const err = relError(analytic, numeric);
      expect(err, `${spec.name}: relative error ${err}`).toBeLessThan(1e-6);
      expect(Math.max(...numeric.map(Math.abs)), spec.name).toBeGreaterThan(1e-6);
    }
    expect(layout.byName.has(LM_HEAD_NAME)).toBe(!tie);
    expect(layout.byName.get(POSITION_NAME)?.shape).toEqual([tiny.seqLen, tiny.hiddenSize]);
  });

  it("positions matter: the same tokens in another order give another loss, unlike a model without positions would", () => {
    const { model } = makeModel(tiny);
    const tokens = new Int32Array(B * T).fill(3);
    tokens[0] = 5;
    const swapped = tokens.slice();
    [swapped[0], swapped[1]] = [swapped[1], swapped[0]];
    const targets = new Int32Array(B * T).fill(1);
    // Causal attention alone already tells position 0 from 1 for distinct tokens; the learned table is what the gradient check above proves.
    expect(model.forward(tokens, targets)).not.toBe(model.forward(swapped, targets));
  });

  it("a tied model's LM head is the embedding: changing the embedding changes the logits of every row", () => {
    const { layout, params, model } = makeModel({ ...tiny, tieEmbeddings: true });
    const { tokens, targets } = batch(2);
    const before = model.forward(tokens, targets);
    const embed = layout.byName.get(EMBED_NAME)!;
    // Row 7 of the table is used by the head for every position even if no input token is 7.
    const row7 = embed.offset + 7 * tiny.hiddenSize;
    const noSeven = !Array.from(tokens).includes(7);
    params[row7] += 0.5;
    const after = model.forward(tokens, targets);
    expect(noSeven).toBe(true);
    expect(after).not.toBe(before);
  });
});

describe("gpt with activation recomputation", () => {
  it.each(["selective", "full"] as const)("%s: the float32 loss and every gradient are bit-identical to keeping everything", (recompute) => {
    const config = { ...tiny, tieEmbeddings: true };
    const layout = buildLayout(config);
    const train = (mode: "none" | "selective" | "full") => {
      const params = new Float32Array(layout.totalSize);
      initParams(layout, params, 5, 0.3);
      const grads = new Float32Array(layout.totalSize);
      const model = new LlamaModel(config, layout, params, grads, B, T, undefined, { recompute: mode });
      const { tokens, targets } = batch(3);
      const loss = model.forward(tokens, targets);
      model.backward(1 / (B * T));
      return { loss, grads };
    };
    const [kept, redone] = [train("none"), train(recompute)];
    expect(redone.loss).toBe(kept.loss);
    expect(Buffer.from(redone.grads.buffer, redone.grads.byteOffset, redone.grads.byteLength).equals(Buffer.from(kept.grads.buffer, kept.grads.byteOffset, kept.grads.byteLength))).toBe(true);
  });
});

describe("gpt presets (Korthikanti et al. 2022, Table 3)", () => {
  // Exact count, derived from the layout: per layer QKV 3h² + 3h, output projection h² + h,
  // fc_in 4h² + 4h, fc_out 4h² + h, two LayerNorms 4h: 12h² + 13h = 12h²(1 + 13/(12h)); the tied
  // embedding V·h, the position table s·h, and the final LayerNorm 2h — the paper's formula
  // 12·L·h²(1 + 13/(12h)) + (V + s)·h plus the final norm's 2h, which it leaves out.
  it.each([
    ["gpt3-175b", 12288, 96],
    ["megatron-22b", 6144, 48],
    ["mt-nlg-530b", 20480, 105],
    ["megatron-1t", 25600, 128],
  ] as const)("%s has 12·L·h²(1 + 13/(12h)) + (V + s)·h + 2h parameters", (name, h, L) => {
    const config = MODEL_PRESETS[name];
    const [V, s] = [51200, 2048];
    expect(config.hiddenSize).toBe(h);
    expect(config.numLayers).toBe(L);
    expect(config.intermediateSize).toBe(4 * h);
    expect(buildLayout(config).totalSize).toBe(L * (12 * h * h + 13 * h) + (V + s) * h + 2 * h);
  });

  it("gpt3-175b's FLOPs per layer and token: the matmuls are 24·h² forward (QKV 6h², out 2h², MLP 16h²), backward twice that", () => {
    const h = 12288;
    const config = { ...MODEL_PRESETS["gpt3-175b"], numLayers: 1 };
    const layer = modelFlops(config, { firstLayer: 0, numLayers: 1, hasEmbedding: false, hasHead: false }, 1, 2048);
    const tokens = 2048;
    const matmuls = 24 * h * h * tokens;
    // Attention core (causal): s(s+1)/2 pairs per head, 4D + 5 FLOPs each forward; elementwise
    // kernels a few FLOPs per element of [s,h] or [s,4h] — under 2 % of the matmuls here.
    const attention = (96 * (tokens * (tokens + 1)) / 2) * (4 * 128 + 5);
    expect(layer.forward).toBeGreaterThan(matmuls + attention);
    expect(layer.forward).toBeLessThan((matmuls + attention) * 1.02);
  });
});

describe("model FLOPs per token of a gpt", () => {
  it("count the LM head once whether tied or not, and leave out the lookups (embedding and position table)", () => {
    const tied = MODEL_PRESETS["gpt3-175b"];
    const untied = { ...tied, tieEmbeddings: false };
    const { vocabSize: V, hiddenSize: h, seqLen: s, numLayers: L } = tied;
    const params = buildLayout(tied).totalSize; // embedding V·h counted once, positions s·h
    // Megatron-LM's convention for causal attention: 6 × (12·L·h² weight-matrix parameters + the V·h head) + 6·L·h·s.
    expect(modelFlopsPerToken(tied)).toBe(6 * (12 * L * h * h + V * h) + 6 * L * h * s);
    expect(modelFlopsPerToken(untied)).toBe(modelFlopsPerToken(tied));
    expect(buildLayout(untied).totalSize).toBe(params + V * h);
  });
});
