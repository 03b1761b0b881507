/**
 * Dropout (model.dropout, Megatron-LM's GPT): a model on meta arrays charges, per layer, the
 * attention dropout on the probabilities and a fused bias-dropout-add closing each branch, and
 * one dropout on the embedding output; nothing else changes. Real mode refuses it. The expected
 * differences are written out from src/kernels/cost.ts' closed forms.
 */
import { describe, expect, it } from "vitest";
import { biasCost, biasDropoutAddCost, dropoutCost, residualCost } from "../../src/kernels/cost.js";
import { metaFloats } from "../../src/kernels/meta.js";
import type { Launch } from "../../src/sim/roofline.js";
import type { Recompute } from "../../src/model/activations.js";
import type { ModelConfig } from "../../src/model/config.js";
import { buildLayout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import { InputError, InternalError } from "../../src/errors.js";
import { validateScenario } from "../../src/index.js";

const gpt: ModelConfig = {
  vocabSize: 300, hiddenSize: 32, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 4,
  seqLen: 16, ropeTheta: 10000, rmsNormEps: 1e-5, family: "gpt",
};
const [B, T] = [2, 16];
const [N, C, H, L, e] = [B * T, gpt.hiddenSize, gpt.numHeads, gpt.numLayers, 4];

/** Bytes and FLOPs a meta model charges in forward, backward (input) and weight passes. */
function charges(dropout: number, recompute: Recompute = "none") {
  const layout = buildLayout(gpt);
  const meta = metaFloats(layout.totalSize);
  const model = new LlamaModel(gpt, layout, meta, meta, B, T, undefined, { dropout, recompute });
  let launches: Launch[] = [];
  model.hooks = { compute: (_label, _flops, ls) => void launches.push(...ls), gradsReady() {} };
  const take = () => {
    const sum = { bytes: launches.reduce((s, l) => s + l.bytes, 0), flops: launches.reduce((s, l) => s + l.flops, 0) };
    launches = [];
    return sum;
  };
  model.stageForward(model.acts, new Int32Array(N), new Int32Array(N));
  const forward = take();
  model.stageBackward(model.acts, null, 1, recompute !== "full");
  const backward = take();
  if (recompute !== "full") model.stageBackwardWeights(model.acts);
  return { forward, backward, weight: take() };
}

const sum = (ls: readonly Launch[]) => ({ bytes: ls.reduce((s, l) => s + l.bytes, 0), flops: ls.reduce((s, l) => s + l.flops, 0) });
const minus = (a: { bytes: number; flops: number }, b: { bytes: number; flops: number }) => ({ bytes: a.bytes - b.bytes, flops: a.flops - b.flops });

describe("dropout on a gpt (shapes mode)", () => {
  const probs = B * H * T * T;
  const n = N * C;
  // A fused bias-dropout-add instead of the bias and the residual add, per branch.
  const branch = minus(sum(biasDropoutAddCost(N, C, true, e).forward), sum([...biasCost(N, C, e).forward, ...residualCost(n, e).forward]));
  const attention = sum(dropoutCost(probs, e).forward);

  it("forward: per layer the probabilities' dropout and two fused branch closings; the embedding's dropout once", () => {
    const diff = minus(charges(0.1).forward, charges(0).forward);
    const embed = sum(dropoutCost(n, e).forward);
    expect(diff).toEqual({ bytes: L * (attention.bytes + 2 * branch.bytes) + embed.bytes, flops: L * (attention.flops + 2 * branch.flops) + embed.flops });
  });

  it("backward: each dropout's backward once (probabilities, two branches per layer, the embedding); weight gradients unchanged", () => {
    const [on, off] = [charges(0.1), charges(0)];
    const back = (k: number) => sum(dropoutCost(k, e).backwardInput);
    const expected = { bytes: L * (back(probs).bytes + 2 * back(n).bytes) + back(n).bytes, flops: L * (back(probs).flops + 2 * back(n).flops) + back(n).flops };
    expect(minus(on.backward, off.backward)).toEqual(expected);
    expect(on.weight).toEqual(off.weight);
  });

  it("selective recomputation reruns the probabilities' dropout; full recomputation reruns every layer's dropouts", () => {
    const selective = minus(charges(0.1, "selective").backward, charges(0, "selective").backward);
    const none = minus(charges(0.1).backward, charges(0).backward);
    expect(minus(selective, none)).toEqual({ bytes: L * attention.bytes, flops: L * attention.flops });
    const full = minus(charges(0.1, "full").backward, charges(0, "full").backward);
    // full's backward includes the weight gradients (its backward is fused), which dropout leaves alone
    expect(minus(full, none)).toEqual({ bytes: L * (attention.bytes + 2 * branch.bytes), flops: L * (attention.flops + 2 * branch.flops) });
  });

  it("a model that computes refuses it: parasim's kernels compute no dropout", () => {
    const layout = buildLayout(gpt);
    const real = () => new LlamaModel(gpt, layout, new Float32Array(layout.totalSize), new Float32Array(layout.totalSize), B, T, undefined, { dropout: 0.1 });
    expect(real).toThrow(InternalError);
  });

  it("the scenario refuses it in real mode with one line naming the field, and accepts it in shapes mode", () => {
    const scenario = (mode: "real" | "shapes") => ({ mode, model: { ...gpt, dropout: 0.1 }, training: { steps: 1, globalBatch: 2, optimizer: { lr: 1e-3 } } });
    expect(() => validateScenario(scenario("real"))).toThrow(InputError);
    expect(() => validateScenario(scenario("real"))).toThrow(/^model\.dropout: runs in mode: shapes only [^\n]*$/);
    expect(validateScenario(scenario("shapes")).model.dropout).toBe(0.1);
    expect(validateScenario({ ...scenario("real"), model: gpt }).model.dropout).toBe(0);
  });
});
