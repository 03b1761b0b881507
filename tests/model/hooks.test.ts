import { describe, expect, it } from "vitest";
import { buildLayout } from "../../src/model/layout.js";
import { initParams } from "../../src/model/init.js";
import { modelFlops } from "../../src/model/flops.js";
import { LlamaModel } from "../../src/model/model.js";
import type { ModelConfig } from "../../src/model/config.js";

const config: ModelConfig = { vocabSize: 32, hiddenSize: 8, intermediateSize: 12, numLayers: 3, numHeads: 2, numKvHeads: 1, seqLen: 6, ropeTheta: 10000, rmsNormEps: 1e-5 };

function setup() {
  const layout = buildLayout(config);
  const params = new Float32Array(layout.totalSize);
  initParams(layout, params, 1);
  const model = new LlamaModel(config, layout, params, new Float32Array(layout.totalSize), 2, 6);
  const calls: { label: string; flops: number }[] = [];
  const ready: string[] = [];
  model.hooks = { compute: (label, flops) => calls.push({ label, flops }), gradsReady: (names) => ready.push(...names) };
  const tokens = Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 32);
  return { layout, model, calls, ready, tokens };
}

describe("model hooks", () => {
  it("report every unit's FLOPs in execution order, summing to the model's count", () => {
    const { model, calls, tokens } = setup();
    model.forward(tokens, tokens);
    const forward = calls.splice(0);
    // Each layer in two blocks (the work between two tensor-parallel collectives); the embedding
    // lookup is free forward, so it charges nothing.
    expect(forward.map((c) => c.label)).toEqual(["L0:attn", "L0:mlp", "L1:attn", "L1:mlp", "L2:attn", "L2:mlp", "head"]);
    const f = modelFlops(config, undefined, 2, 6);
    expect(forward.reduce((s, c) => s + c.flops, 0)).toBeCloseTo(f.forward, 6);
    model.backward(1 / 12);
    const layer = (l: number) => [`L${l}:mlp`, `L${l}:attn`, `L${l}:W`];
    // Weight gradients are charged as their own `…:W` actions, the same labels the deferred W uses;
    // the embedding's input gradient is free (its backward is only the scatter-add of W).
    expect(calls.map((c) => c.label)).toEqual(["head", "head:W", ...layer(2), ...layer(1), ...layer(0), "embed:W"]);
    expect(calls.reduce((s, c) => s + c.flops, 0)).toBeCloseTo(f.backwardInput + f.backwardWeight, 6);
  });

  it("announce each tensor's gradient exactly once, in backward order", () => {
    const { layout, model, ready, tokens } = setup();
    model.forward(tokens, tokens);
    model.backward(1 / 12);
    expect([...ready].sort()).toEqual(layout.tensors.map((t) => t.name).sort());
    expect(ready[0]).toBe("model.norm.weight");
    expect(ready[ready.length - 1]).toBe("model.embed_tokens.weight");
  });

  it("with deferred weights, announce gradients only when W runs", () => {
    const { layout, model, calls, ready, tokens } = setup();
    model.forward(tokens, tokens);
    calls.length = 0;
    model.stageBackward(model.acts, null, 1 / 12, true);
    expect(ready).toEqual([]);
    const f = modelFlops(config, undefined, 2, 6);
    expect(calls.reduce((s, c) => s + c.flops, 0)).toBeCloseTo(f.backwardInput, 6);
    calls.length = 0;
    model.stageBackwardWeights(model.acts);
    expect(calls.reduce((s, c) => s + c.flops, 0)).toBeCloseTo(f.backwardWeight, 6);
    expect(ready.length).toBe(layout.tensors.length);
  });
});
