import { describe, expect, it } from "vitest";
import { isMeta, MetaArray, metaFloats } from "../../src/kernels/meta.js";
import { buildLayout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import type { ModelConfig } from "../../src/model/config.js";

describe("MetaArray", () => {
  it("subarray and slice give the lengths and byte offsets a Float32Array gives, for every begin and end", () => {
    const real = new Float32Array(7);
    const meta = new MetaArray(7);
    const cuts = [undefined, -9, -7, -3, -1, 0, 2, 5, 7, 9, 2.7];
    for (const begin of cuts) {
      for (const end of cuts) {
        const r = real.subarray(begin, end);
        const m = meta.subarray(begin, end);
        expect([m.length, m.byteOffset, m.byteLength], `${begin}..${end}`).toEqual([r.length, r.byteOffset, r.byteLength]);
        expect(meta.slice(begin, end).length).toBe(real.slice(begin, end).length);
      }
    }
    // Nested views keep counting from the start of the root buffer, as typed arrays do.
    expect(meta.subarray(2).subarray(1, 3).byteOffset).toBe(real.subarray(2).subarray(1, 3).byteOffset);
    expect(new MetaArray(3, 8).subarray(1).byteOffset).toBe(new Float64Array(3).subarray(1).byteOffset);
  });

  it("is told apart from real buffers and refuses impossible lengths", () => {
    expect(isMeta(metaFloats(4))).toBe(true);
    expect(isMeta(new Float32Array(4))).toBe(false);
    expect(() => new MetaArray(-1)).toThrow(RangeError);
    expect(() => new MetaArray(1.5)).toThrow(RangeError);
  });

  it("a model on meta arrays counts the same activation and workspace bytes as a real one and computes nothing", () => {
    const config: ModelConfig = { vocabSize: 32, hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 8, ropeTheta: 10000, rmsNormEps: 1e-5 };
    const layout = buildLayout(config);
    const real = new LlamaModel(config, layout, new Float32Array(layout.totalSize), new Float32Array(layout.totalSize), 2, 8);
    const meta = new LlamaModel(config, layout, metaFloats(layout.totalSize), metaFloats(layout.totalSize), 2, 8);
    expect(meta.activationBytes()).toBe(real.activationBytes());
    expect(meta.workspaceBytes()).toBe(real.workspaceBytes());
    expect(meta.deferredWeightGradBytes()).toBe(real.deferredWeightGradBytes());
    const tokens = new Int32Array(16);
    expect(meta.forward(tokens, tokens)).toBeNaN();
    expect(real.forward(tokens, tokens)).toBeGreaterThan(0);
  });
});
