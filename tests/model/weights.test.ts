/**
 * The model's weight source (src/model/weights.ts), which ZeRO-3 gathers through: every pass names
 * each unit before reading it and after, in order, and reads no weight outside that window.
 */
import { describe, expect, it } from "vitest";
import { initParams } from "../../src/model/init.js";
import { buildLayout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import type { ModelConfig } from "../../src/model/config.js";
import { zeroUnits } from "../../src/parallel/zero.js";

const config: ModelConfig = { vocabSize: 32, hiddenSize: 8, intermediateSize: 12, numLayers: 3, numHeads: 2, numKvHeads: 1, seqLen: 6, ropeTheta: 10000, rmsNormEps: 1e-5 };
const tokens = Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 32);

function model(): { model: LlamaModel; params: Float32Array; grads: Float32Array } {
  const layout = buildLayout(config);
  const params = new Float32Array(layout.totalSize);
  initParams(layout, params, 1);
  const grads = new Float32Array(layout.totalSize);
  return { model: new LlamaModel(config, layout, params, grads, 2, 6), params, grads };
}

describe("the model's weight units", () => {
  it("forward and backward acquire each unit before reading it, naming the next, and release it after", () => {
    const { model: m } = model();
    const log: string[] = [];
    m.weights = { acquire: (u, next) => log.push(`+${u.join("+")}>${next?.join("+") ?? "end"}`), release: (u) => log.push(`-${u.join("+")}`) };
    m.forward(tokens, tokens);
    expect(log.splice(0)).toEqual(["+embed>L0", "-embed", "+L0>L1", "-L0", "+L1>L2", "-L1", "+L2>head", "-L2", "+head>end", "-head"]);
    m.backward(1 / 12);
    expect(log).toEqual(["+head>L2", "-head", "+L2>L1", "-L2", "+L1>L0", "-L1", "+L0>embed", "-L0", "+embed>end", "-embed"]);
  });

  it("no weight is read outside its unit's window: NaN outside it changes no loss and no gradient bit", () => {
    const resident = model();
    const loss = resident.model.forward(tokens, tokens);
    resident.model.backward(1 / 12);
    const windowed = model();
    const units = new Map(zeroUnits(windowed.model.layout).map((u) => [u.name, u]));
    const saved = windowed.params.slice();
    windowed.params.fill(NaN);
    windowed.model.weights = {
      acquire: (unit) => unit.forEach((n) => windowed.params.set(saved.subarray(units.get(n)!.offset, units.get(n)!.offset + units.get(n)!.size), units.get(n)!.offset)),
      release: (unit) => unit.forEach((n) => windowed.params.fill(NaN, units.get(n)!.offset, units.get(n)!.offset + units.get(n)!.size)),
    };
    expect(windowed.model.forward(tokens, tokens)).toBe(loss);
    windowed.model.backward(1 / 12);
    expect(Buffer.from(windowed.grads.buffer, windowed.grads.byteOffset, windowed.grads.byteLength).equals(Buffer.from(resident.grads.buffer, resident.grads.byteOffset, resident.grads.byteLength))).toBe(true);
  });
});
