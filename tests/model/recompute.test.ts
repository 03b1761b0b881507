/**
 * Activation recomputation (Korthikanti et al. 2022) changes what is kept and what is computed
 * twice, never the numbers: in float32 the loss and every gradient are bit-identical for none,
 * selective and full; the clock is charged exactly the recomputed FLOPs more; activation bytes
 * per layer and micro-batch equal the closed forms of the README.
 */
import { describe, expect, it } from "vitest";
import type { AttentionKernel, Recompute } from "../../src/model/activations.js";
import { metaFloats } from "../../src/kernels/meta.js";
import { blockAllowed } from "../../src/kernels/sparse-pattern.js";
import type { Dtype } from "../../src/kernels/round.js";
import type { ModelConfig } from "../../src/model/config.js";
import { layerFlops } from "../../src/model/flops.js";
import { initParams } from "../../src/model/init.js";
import { buildLayout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import { attentionFlops } from "../../src/kernels/flops.js";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";

const config: ModelConfig = { vocabSize: 32, hiddenSize: 16, intermediateSize: 40, numLayers: 3, numHeads: 4, numKvHeads: 2, seqLen: 8, ropeTheta: 10000, rmsNormEps: 1e-5 };
const [B, T] = [2, 8];
const MODES: Recompute[] = ["none", "selective", "full"];

function train(recompute: Recompute) {
  const layout = buildLayout(config);
  const params = new Float32Array(layout.totalSize);
  initParams(layout, params, 5, 0.3);
  const grads = new Float32Array(layout.totalSize);
  const model = new LlamaModel(config, layout, params, grads, B, T, undefined, { recompute });
  const charged: { label: string; flops: number }[] = [];
  model.hooks = { compute: (label, flops) => charged.push({ label, flops }), gradsReady() {} };
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % config.vocabSize);
  const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % config.vocabSize);
  const loss = model.forward(tokens, targets);
  model.backward(1 / (B * T));
  return { model, loss, grads, charged };
}

const total = (charged: { flops: number }[]) => charged.reduce((s, c) => s + c.flops, 0);

describe("activation recomputation", () => {
  const runs = new Map(MODES.map((mode) => [mode, train(mode)]));
  const none = runs.get("none")!;

  it.each(MODES)("%s: the loss and every gradient are bit-identical to keeping everything", (mode) => {
    const run = runs.get(mode)!;
    expect(run.loss).toBe(none.loss);
    expect(Buffer.from(run.grads.buffer, run.grads.byteOffset, run.grads.byteLength).equals(Buffer.from(none.grads.buffer, none.grads.byteOffset, none.grads.byteLength))).toBe(true);
  });

  it("the clock is charged exactly the recomputed FLOPs more, as their own recompute events", () => {
    const L = config.numLayers;
    const selective = runs.get("selective")!;
    const full = runs.get("full")!;
    const H = config.numHeads;
    const D = config.hiddenSize / H;
    expect(total(selective.charged) - total(none.charged)).toBe(L * attentionFlops(B, T, H, D).forward);
    expect(total(full.charged) - total(none.charged)).toBe(L * layerFlops(config, B, T).forward);
    const recomputeEvents = (c: { label: string }[]) => c.filter((e) => e.label.includes(":recompute")).map((e) => e.label);
    expect(recomputeEvents(selective.charged)).toEqual(["L2:recompute", "L1:recompute", "L0:recompute"]);
    expect(recomputeEvents(full.charged)).toEqual(["L2:recompute:attn", "L2:recompute:mlp", "L1:recompute:attn", "L1:recompute:mlp", "L0:recompute:attn", "L0:recompute:mlp"]);
    expect(recomputeEvents(none.charged)).toEqual([]);
  });

  it("activation bytes per layer and micro-batch equal the closed forms; the shared buffers move to the workspace", () => {
    const N = B * T;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKvHeads: G, vocabSize: V } = config;
    const D = C / H;
    const perLayer = 4 * (2 * N * C + N * C + 2 * N + 2 * N * H * D + 2 * N * G * D + B * H * T * T + 3 * N * F);
    const probabilities = 4 * B * H * T * T;
    const fixed = 4 * (config.numLayers + 1) * N * C + 4 * (N * C + N + 2 * N * V + N) + 4 * 2 * N; // hidden states, head, token ids and targets
    const L = config.numLayers;
    expect(none.model.activationBytes()).toBe(fixed + L * perLayer);
    expect(runs.get("selective")!.model.activationBytes()).toBe(fixed + L * (perLayer - probabilities));
    expect(runs.get("full")!.model.activationBytes()).toBe(fixed);
    expect(runs.get("selective")!.model.workspaceBytes() - none.model.workspaceBytes()).toBe(probabilities);
    // Full: one layer's tensors to refill, plus the rerun's unused output [N, C].
    expect(runs.get("full")!.model.workspaceBytes() - none.model.workspaceBytes()).toBe(perLayer + 4 * N * C);
  });

  it("in a 3D layout, every mode trains to bit-identical losses and gradients; full recompute repeats the forward's tp all-reduces", async () => {
    const run = (recompute: Recompute) =>
      simulateWithTimeline(
        validateScenario({
          model: { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 },
          training: { steps: 3, globalBatch: 8, microBatches: 2, optimizer: { lr: 1e-2 }, recompute },
          parallel: { dp: 2, tp: 2, pp: 2 },
        }),
        { captureGradients: true },
      );
    const [plain, selective, full] = await Promise.all(MODES.map(run));
    for (const other of [selective, full]) {
      expect(other.result.losses).toEqual(plain.result.losses);
      for (const [name, g] of plain.gradients!) expect(Buffer.from(other.gradients!.get(name)!.buffer, other.gradients!.get(name)!.byteOffset, other.gradients!.get(name)!.byteLength).equals(Buffer.from(g.buffer, g.byteOffset, g.byteLength)), name).toBe(true);
    }
    // Forward's 2 all-reduces per layer run again before the backward's 2: tp-act grows by half.
    expect(full.result.communication.bytesByKind["tp-act"]).toBe(1.5 * plain.result.communication.bytesByKind["tp-act"]);
    expect(selective.result.communication.bytesByKind["tp-act"]).toBe(plain.result.communication.bytesByKind["tp-act"]);
  });

  it("refuses full recomputation with a schedule that defers weight gradients, and unknown modes", () => {
    const scenario = (training: object, parallel: object) => () =>
      validateScenario({ model: { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 }, training: { steps: 1, globalBatch: 4, microBatches: 2, optimizer: { lr: 1e-2 }, ...training }, parallel });
    expect(scenario({ recompute: "full" }, { pp: 2, schedule: "zb-h1" })).toThrow(/^training\.recompute: full recomputation needs a fused backward/);
    expect(scenario({ recompute: "selective" }, { pp: 2, schedule: "zb-h1" })).not.toThrow();
    expect(scenario({ recompute: "some" }, {})).toThrow(/^training\.recompute: must be one of none, selective, full$/);
  });
});

/**
 * The README's table of saved bytes per layer and micro-batch, for every recompute mode,
 * attention kernel and precision, in real mode and on meta arrays (shapes mode). Tensors count e
 * bytes per element (4 in fp32, 2 in bf16); the statistics (the norms' rstd, flash's log-sum-exp,
 * the cross-entropy's probabilities and losses) stay fp32, 4 bytes; token ids and targets are int32.
 */
describe("saved bytes: {none, selective, full} × {naive, flash} × {fp32, bf16}, real and shapes mode", () => {
  const cases: [Recompute, AttentionKernel, Dtype][] = [];
  for (const recompute of MODES) for (const attention of ["naive", "flash"] as const) for (const dtype of ["fp32", "bf16"] as const) cases.push([recompute, attention, dtype]);

  it.each(cases)("%s recomputation, %s attention, %s", (recompute, attention, dtype) => {
    const N = B * T;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKvHeads: G, vocabSize: V, numLayers: L } = config;
    const D = C / H;
    const e = dtype === "fp32" ? 4 : 2;
    const input = e * N * C;
    const kept = e * (2 * N * C + N * C + 2 * N * H * D + 2 * N * G * D + 3 * N * F) + 4 * 2 * N;
    const probabilities = e * B * H * T * T;
    const lse = 4 * B * H * T;
    const attentionKept = attention === "flash" ? lse : recompute === "selective" ? 0 : probabilities;
    const perLayer = recompute === "full" ? input : input + kept + attentionKept;
    const fixed = e * N * C + e * (N * C + N * V) + 4 * (N + N * V + N) + 4 * 2 * N; // last hidden state, head, token ids and targets
    const layout = buildLayout(config);
    for (const meta of [false, true]) {
      const [params, grads] = meta ? [metaFloats(layout.totalSize), metaFloats(layout.totalSize)] : [new Float32Array(layout.totalSize), new Float32Array(layout.totalSize)];
      const store = { activations: dtype, grads: dtype };
      const model = new LlamaModel(config, layout, params, grads, B, T, undefined, { recompute, attention, store });
      expect(model.activationBytes(), meta ? "shapes mode" : "real mode").toBe(fixed + L * perLayer);
    }
  });

  it("a sparse pattern keeps only its allowed probabilities: per head, one per causal pair the pattern allows", () => {
    const pattern = { kind: "strided", block: 2, stride: 2 } as const;
    // Counted from the definition: key t2 ≤ t is kept when its block pair is allowed.
    let pairs = 0;
    for (let t = 0; t < T; t++) for (let t2 = 0; t2 <= t; t2++) if (blockAllowed(pattern, Math.floor(t / 2), Math.floor(t2 / 2))) pairs++;
    expect(pairs).toBeLessThan((T * (T + 1)) / 2);
    const layout = buildLayout(config);
    const { numHeads: H, numLayers: L } = config;
    for (const meta of [false, true]) {
      const make = () => (meta ? metaFloats(layout.totalSize) : new Float32Array(layout.totalSize));
      const dense = new LlamaModel(config, layout, make(), make(), B, T);
      const sparse = new LlamaModel(config, layout, make(), make(), B, T, undefined, { attentionPattern: pattern });
      expect(dense.activationBytes() - sparse.activationBytes(), meta ? "shapes mode" : "real mode").toBe(L * 4 * B * H * (T * T - pairs));
    }
  });
});

