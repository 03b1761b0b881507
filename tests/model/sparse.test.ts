/**
 * `model.attentionPattern` in a model: the naive kernel computes only the pattern's blocks
 * (Child et al. 2019), and the clock is charged only for them.
 */
import { describe, expect, it } from "vitest";
import { validateScenario } from "../../src/index.js";
import type { ModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { buildLayout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import { attentionFlops, sparseAttentionFlops } from "../../src/kernels/flops.js";
import type { SparsePattern } from "../../src/kernels/sparse-pattern.js";

const config: ModelConfig = { vocabSize: 32, hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 16, ropeTheta: 10000, rmsNormEps: 1e-5 };
const [B, T] = [2, 16];

function step(attentionPattern?: SparsePattern) {
  const layout = buildLayout(config);
  const params = new Float32Array(layout.totalSize);
  initParams(layout, params, 5, 0.3);
  const grads = new Float32Array(layout.totalSize);
  const model = new LlamaModel(config, layout, params, grads, B, T, undefined, { attentionPattern });
  let flops = 0;
  model.hooks = { compute: (_label, f) => (flops += f), gradsReady() {} };
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % config.vocabSize);
  const loss = model.forward(tokens, tokens);
  model.backward(1 / (B * T));
  return { loss, flops, grads };
}

describe("block-sparse attention in the model", () => {
  const causal = step();
  it.each<SparsePattern>([
    { kind: "strided", block: 4, stride: 2 },
    { kind: "fixed", block: 2, stride: 3 },
  ])("%o: charges only the computed blocks and changes the result", (pattern) => {
    const sparse = step(pattern);
    const [H, D, L] = [config.numHeads, config.hiddenSize / config.numHeads, config.numLayers];
    const dense = attentionFlops(B, T, H, D);
    const kept = sparseAttentionFlops(B, T, H, D, pattern);
    expect(kept.forward).toBeLessThan(dense.forward);
    expect(causal.flops - sparse.flops).toBe(L * (dense.forward - kept.forward + dense.backwardInput - kept.backwardInput));
    expect(Number.isFinite(sparse.loss)).toBe(true);
    expect(sparse.loss).not.toBe(causal.loss);
  });

  it("the causal pattern is the plain model", () => {
    const plain = step({ kind: "causal" });
    expect(plain.loss).toBe(causal.loss);
    expect(Buffer.from(plain.grads.buffer, plain.grads.byteOffset, plain.grads.byteLength).equals(Buffer.from(causal.grads.buffer, causal.grads.byteOffset, causal.grads.byteLength))).toBe(true);
  });

  it("refuses a block that does not divide the sequence, flash with a pattern, and unknown kinds", () => {
    const scenario = (model: object) => () =>
      validateScenario({ model: { hiddenSize: 16, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 16, ...model }, training: { steps: 1, globalBatch: 2, optimizer: { lr: 1e-2 } } });
    expect(scenario({ attentionPattern: { kind: "strided", block: 5, stride: 2 } })).toThrow(/^model\.attentionPattern\.block: must divide model\.seqLen = 16, got 5$/);
    expect(scenario({ attention: "flash", attentionPattern: { kind: "fixed", block: 4, stride: 2 } })).toThrow(/^model\.attentionPattern: sparse patterns run on the naive attention kernel/);
    expect(scenario({ attentionPattern: "diagonal" })).toThrow(/^model\.attentionPattern: must be causal or/);
    expect(scenario({ attentionPattern: { kind: "strided", block: 4, stride: 2 } })).not.toThrow();
  });
});
