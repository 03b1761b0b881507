/**
 * `model.attention: flash` in a model: the same training as naive attention within float32
 * round-off, activation bytes per layer smaller by the probabilities and larger by the rows'
 * log-sum-exp, and the backward charged the recomputed scores (flashAttentionFlops).
 */
import { describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import type { AttentionKernel } from "../../src/model/activations.js";
import type { ModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { buildLayout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import { attentionFlops, flashAttentionFlops } from "../../src/kernels/flops.js";
import { expectEquivalent } from "../parallel/equivalence.js";

const config: ModelConfig = { vocabSize: 32, hiddenSize: 16, intermediateSize: 40, numLayers: 3, numHeads: 4, numKvHeads: 2, seqLen: 8, ropeTheta: 10000, rmsNormEps: 1e-5 };
const [B, T] = [2, 8];

function charged(attention: AttentionKernel) {
  const layout = buildLayout(config);
  const params = new Float32Array(layout.totalSize);
  initParams(layout, params, 5, 0.3);
  const model = new LlamaModel(config, layout, params, new Float32Array(layout.totalSize), B, T, undefined, { attention });
  let flops = 0;
  model.hooks = { compute: (_label, f) => (flops += f), gradsReady() {} };
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % config.vocabSize);
  model.forward(tokens, tokens);
  model.backward(1 / (B * T));
  return { model, flops };
}

describe("flash attention in the model", () => {
  it("keeps the rows' log-sum-exp instead of the probabilities and charges the recomputed scores", () => {
    const naive = charged("naive");
    const flash = charged("flash");
    const H = config.numHeads;
    const D = config.hiddenSize / H;
    const L = config.numLayers;
    expect(naive.model.activationBytes() - flash.model.activationBytes()).toBe(L * 4 * (B * H * T * T - B * H * T));
    const extra = flashAttentionFlops(B, T, H, D).backwardInput - attentionFlops(B, T, H, D).backwardInput;
    expect(extra).toBe(((B * H * T * (T + 1)) / 2) * (2 * D + 5));
    expect(flash.flops - naive.flops).toBe(L * extra);
  });

  it("trains a tp 2 × pp 2 layout like naive attention, within the equivalence tolerances (float32 round-off of another summation order)", async () => {
    const run = (attention: AttentionKernel) =>
      simulateWithTimeline(
        validateScenario({
          model: { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8, attention },
          training: { steps: 10, globalBatch: 8, microBatches: 2, optimizer: { lr: 1e-2 } },
          parallel: { tp: 2, pp: 2 },
        }),
        { captureGradients: true },
      );
    const [naive, flash] = await Promise.all([run("naive"), run("flash")]);
    expectEquivalent(flash, naive);
    expect(flash.result.losses).not.toEqual(naive.result.losses); // a different kernel really ran
  });
});
