import { describe, it, expect } from "vitest";
import { modelFlops } from "../../src/model/flops.js";
import { buildLayout, fullModelPart } from "../../src/model/layout.js";
import type { ModelConfig } from "../../src/model/config.js";

const config: ModelConfig = {
  vocabSize: 100, hiddenSize: 64, intermediateSize: 160, numLayers: 4, numHeads: 8, numKvHeads: 2,
  seqLen: 32, ropeTheta: 10000, rmsNormEps: 1e-5,
};

describe("modelFlops", () => {
  it("matmul FLOPs are 2 · tokens · (matrix parameters except the embedding) per pass", () => {
    const [B, T] = [3, 32];
    const f = modelFlops(config, fullModelPart(config), B, T);
    const layout = buildLayout(config);
    let matrixParams = 0;
    for (const t of layout.tensors) if (t.shape.length === 2 && t.name !== "model.embed_tokens.weight") matrixParams += t.size;
    const tokens = B * T;
    // Backward weight = one matmul per linear (Kaplan et al. 2020: backward is twice the forward) plus
    // the elementwise weight terms: 3 per element per RMSNorm (2 per layer + final), 1 per
    // embedding element.
    const C = config.hiddenSize;
    expect(f.backwardWeight).toBe(2 * tokens * matrixParams + 3 * tokens * C * (2 * config.numLayers + 1) + tokens * C);
    // Forward exceeds the matmul part by attention and elementwise work, but not by much here.
    expect(f.forward).toBeGreaterThan(2 * tokens * matrixParams);
    expect(f.forward).toBeLessThan(1.5 * 2 * tokens * matrixParams);
  });

  it("stages sum to the whole model", () => {
    const [B, T] = [2, 16];
    const whole = modelFlops(config, fullModelPart(config), B, T);
    const a = modelFlops(config, { firstLayer: 0, numLayers: 1, hasEmbedding: true, hasHead: false }, B, T);
    const b = modelFlops(config, { firstLayer: 1, numLayers: 3, hasEmbedding: false, hasHead: true }, B, T);
    expect(a.forward + b.forward).toBe(whole.forward);
    expect(a.backwardInput + b.backwardInput).toBe(whole.backwardInput);
    expect(a.backwardWeight + b.backwardWeight).toBe(whole.backwardWeight);
  });
});
