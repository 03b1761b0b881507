// Single-thread tests of tensor parallelism: sharded layout, divisibility rules, checkpoint
// gather/shard, parameter and activation memory, FLOPs, and the size-1 group's code paths.
import { describe, expect, it } from "vitest";
import { InputError, InternalError } from "../../src/errors.js";
import { layerFlops, modelFlops } from "../../src/model/flops.js";
import type { ModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { buildLayout, type Layout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import { serialTpComm, tpTraffic, type TpComm } from "../../src/parallel/tensor.js";
import { residualFlops, rmsnormFlops } from "../../src/kernels/flops.js";
import { gatherTpTensors, shardTpTensors, tpParamCounts } from "../../src/parallel/tp-layout.js";
import { Random } from "../../src/util/random.js";

const config: ModelConfig = {
  vocabSize: 32, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 8, numKvHeads: 4,
  seqLen: 8, ropeTheta: 10000, rmsNormEps: 1e-5,
};
const bits = (a: Float32Array | Float64Array) =>
  Array.from(a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : new BigUint64Array(a.buffer, a.byteOffset, a.length), String);
const layoutsOf = (tp: number): Layout[] => Array.from({ length: tp }, (_, index) => buildLayout(config, undefined, { size: tp, index }));

describe("tensor-parallel layout", () => {
  it("keeps HF names and full shapes and records each rank's slice", () => {
    const l = buildLayout(config, undefined, { size: 4, index: 1 });
    const t = (name: string) => l.byName.get(name)!;
    const D = 4;
    expect(t("model.embed_tokens.weight")).toMatchObject({ shape: [32, 32], localShape: [8, 32], shard: { dim: 0, offset: 8, length: 8, style: "vocab" } });
    expect(t("lm_head.weight")).toMatchObject({ shape: [32, 32], localShape: [8, 32], shard: { dim: 0, offset: 8, style: "vocab" } });
    expect(t("model.layers.1.self_attn.q_proj.weight")).toMatchObject({ shape: [8 * D, 32], localShape: [2 * D, 32], shard: { dim: 0, offset: 2 * D, style: "column" } });
    expect(t("model.layers.1.self_attn.k_proj.weight")).toMatchObject({ shape: [4 * D, 32], localShape: [D, 32], shard: { dim: 0, offset: D } });
    expect(t("model.layers.0.self_attn.v_proj.weight").localShape).toEqual([D, 32]);
    expect(t("model.layers.0.self_attn.o_proj.weight")).toMatchObject({ shape: [32, 8 * D], localShape: [32, 2 * D], shard: { dim: 1, offset: 2 * D, style: "row" } });
    expect(t("model.layers.0.mlp.gate_proj.weight")).toMatchObject({ localShape: [12, 32], shard: { dim: 0, offset: 12 } });
    expect(t("model.layers.0.mlp.up_proj.weight").localShape).toEqual([12, 32]);
    expect(t("model.layers.0.mlp.down_proj.weight")).toMatchObject({ localShape: [32, 12], shard: { dim: 1, offset: 12, length: 12 } });
    expect(t("model.layers.0.input_layernorm.weight")).toMatchObject({ shape: [32], localShape: [32], shard: null });
    expect(t("model.norm.weight").shard).toBeNull();
    let offset = 0;
    for (const s of l.tensors) {
      expect(s.offset).toBe(offset);
      expect(s.size).toBe(s.localShape!.reduce((a, b) => a * b, 1));
      offset += s.size;
    }
    expect(l.totalSize).toBe(offset);
    expect(buildLayout(config).tensors[0]).not.toHaveProperty("shard"); // tp-less layouts unchanged
  });

  it("per-rank parameter bytes are exactly 1/tp of the unsharded ones apart from the norms", () => {
    const full = buildLayout(config);
    const norms = (2 * config.numLayers + 1) * config.hiddenSize;
    for (const tp of [2, 4]) {
      for (const l of layoutsOf(tp)) {
        expect(tpParamCounts(l)).toEqual({ replicated: norms, sharded: (full.totalSize - norms) / tp });
        expect(l.totalSize * 4).toBe(((full.totalSize - norms) / tp + norms) * 4);
      }
    }
  });

  const bad: [Partial<ModelConfig>, number, RegExp][] = [
    [{ numHeads: 6, numKvHeads: 3, hiddenSize: 24 }, 2, /^parallel\.tp: must divide model\.numKvHeads = 3, got 2$/],
    [{ numHeads: 8, numKvHeads: 2 }, 4, /^parallel\.tp: must divide model\.numKvHeads = 2, got 4 \(tp > numKvHeads/],
    [{ numHeads: 12, numKvHeads: 4, hiddenSize: 48 }, 8, /model\.numKvHeads/],
    [{ intermediateSize: 50 }, 4, /^parallel\.tp: must divide model\.intermediateSize = 50, got 4$/],
    [{ vocabSize: 30 }, 4, /^parallel\.tp: must divide model\.vocabSize = 30, got 4$/],
    [{}, 0, /^parallel\.tp: must be an integer ≥ 1, got 0$/],
  ];
  for (const [patch, tp, message] of bad) {
    it(`refuses tp=${tp} for ${JSON.stringify(patch)} with a one-line InputError`, () => {
      let err: unknown;
      try {
        buildLayout({ ...config, ...patch }, undefined, { size: tp, index: 0 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).field).toBe("parallel.tp");
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain("\n");
    });
  }

  it("initialised shards are slices of the single-device tensors: gathered, they equal it bit for bit", () => {
    const single = buildLayout(config);
    const ref = new Float32Array(single.totalSize);
    initParams(single, ref, 7);
    for (const tp of [2, 4]) {
      const layouts = layoutsOf(tp);
      const bufs = layouts.map((l) => {
        const b = new Float32Array(l.totalSize);
        initParams(l, b, 7);
        return b;
      });
      const full = gatherTpTensors(layouts, bufs, true);
      expect(full.map((t) => t.name)).toEqual(single.tensors.map((t) => t.name));
      for (const t of full) {
        const s = single.byName.get(t.name)!;
        expect(t.shape).toEqual(s.shape);
        expect(bits(t.data)).toEqual(bits(ref.subarray(s.offset, s.offset + s.size)));
      }
    }
  });

  it("gather(shard(x)) = x bit for bit (float32 and float64), and a differing replica is caught", () => {
    const rng = new Random(3, "x");
    for (const ctor of [Float32Array, Float64Array]) {
      const single = buildLayout(config);
      const x = new Map(single.tensors.map((t) => [t.name, { shape: t.shape, data: new ctor(Array.from({ length: t.size }, () => rng.normal())) }]));
      for (const tp of [1, 2, 4]) {
        const layouts = layoutsOf(tp);
        const bufs = layouts.map((l) => {
          const b = new ctor(l.totalSize);
          shardTpTensors(l, x, b);
          return b;
        });
        for (const t of gatherTpTensors(layouts, bufs, true)) expect(bits(t.data)).toEqual(bits(x.get(t.name)!.data));
        if (tp > 1) {
          const norm = layouts[1].byName.get("model.norm.weight")!;
          bufs[1][norm.offset] += 1;
          expect(() => gatherTpTensors(layouts, bufs, true)).toThrow(/model\.norm\.weight/);
        }
      }
    }
    const l = layoutsOf(2)[0];
    expect(() => shardTpTensors(l, new Map(), new Float32Array(l.totalSize))).toThrow(InputError);
    expect(() => shardTpTensors(l, new Map(), new Float32Array(l.totalSize))).toThrow(/^checkpoint: missing tensor model\.embed_tokens\.weight$/);
    // The same wording as checkTensorsMatch (a whole-model load), naming the tensor.
    const full = new Map(buildLayout(config).tensors.map((t) => [t.name, { shape: t.shape, data: new Float32Array(t.size) }]));
    full.set("model.norm.weight", { shape: [16], data: new Float32Array(16) });
    expect(() => shardTpTensors(l, full, new Float32Array(l.totalSize))).toThrow(/^checkpoint: model\.norm\.weight has shape \[16\] but the scenario's model needs \[32\]$/);
    full.set("model.norm.weight", { shape: [32], data: new Float32Array(31) });
    expect(() => shardTpTensors(l, full, new Float32Array(l.totalSize))).toThrow(/^checkpoint: model\.norm\.weight holds 31 values but its shape \[32\] has 32$/);
  });
});

/** A TpComm that must never be used (constructing a model does not communicate). */
const silent = (size: number, index: number): TpComm => ({
  size, index,
  allReduce: () => { throw new Error("unexpected"); },
  reduceScatter: () => { throw new Error("unexpected"); },
  allGather: () => { throw new Error("unexpected"); },
});

describe("tensor-parallel model on one thread", () => {
  const B = 2, T = 4, N = B * T;
  const tokens = Int32Array.from({ length: N }, (_, i) => (i * 13 + 5) % 32);
  const targets = Int32Array.from({ length: N }, (_, i) => (i * 7 + 3) % 32);

  for (const defer of [false, true]) {
    it(`a size-1 group with a tp layout and sequence parallelism trains bit for bit like the default model (deferWeights=${defer})`, () => {
      // With tp = 1 the SP conjugates (all-gather / reduce-scatter) and row chunks are identities.
      const layout = buildLayout(config);
      const params = new Float32Array(layout.totalSize);
      initParams(layout, params, 11);
      const refG = new Float32Array(layout.totalSize);
      const ref = new LlamaModel(config, layout, params, refG, B, T);
      const spG = new Float32Array(layout.totalSize);
      const m = new LlamaModel(config, buildLayout(config, undefined, { size: 1, index: 0 }), params, spG, B, T, serialTpComm(), { sequenceParallel: true });
      expect(m.forward(tokens, targets)).toBe(ref.forward(tokens, targets));
      ref.stageBackward(ref.acts, null, 1 / N, defer);
      m.stageBackward(m.acts, null, 1 / N, defer);
      if (defer) {
        ref.stageBackwardWeights(ref.acts);
        m.stageBackwardWeights(m.acts);
      }
      expect(bits(spG)).toEqual(bits(refG));
      expect(m.activationBytes()).toBe(ref.activationBytes());
    });
  }

  it("FLOPs per rank: sequence parallelism is free at tp = 1; tp = 2 halves the sharded work; hooks charge exactly modelFlops", () => {
    expect(layerFlops(config, 2, 4, 1, true)).toEqual(layerFlops(config, 2, 4));
    expect(modelFlops(config, undefined, 2, 4, 1, true)).toEqual(modelFlops(config, undefined, 2, 4));
    // Without SP every term of a layer is head- or intermediate-sharded except the norms and residual adds.
    const C = config.hiddenSize, rowWise = rmsnormFlops(N, C).forward * 2 + residualFlops(N * C).forward * 2;
    expect(layerFlops(config, B, T, 2).forward).toBeCloseTo((layerFlops(config, B, T).forward - rowWise) / 2 + rowWise, 6);
    expect(layerFlops(config, B, T, 2, true).forward).toBeCloseTo(layerFlops(config, B, T).forward / 2, 6);
    const layout = buildLayout(config);
    const params = new Float32Array(layout.totalSize);
    initParams(layout, params, 1);
    const m = new LlamaModel(config, layout, params, new Float32Array(layout.totalSize), B, T);
    const calls: [string, number][] = [];
    m.hooks = { compute: (l, f) => calls.push([l, f]), gradsReady() {} };
    m.forward(tokens, targets);
    const f = modelFlops(config, undefined, B, T);
    expect(calls.reduce((s, c) => s + c[1], 0)).toBeCloseTo(f.forward, 6);
    expect(calls.map((c) => c[0])).toEqual(["L0:attn", "L0:mlp", "L1:attn", "L1:mlp", "head"]);
    calls.length = 0;
    m.backward(1 / N);
    expect(calls.reduce((s, c) => s + c[1], 0)).toBeCloseTo(f.backwardInput + f.backwardWeight, 6);
  });

  it("sequence parallelism shrinks activation bytes by the residual stream's and the norm outputs' share, exactly", () => {
    const tp = 4;
    const l = buildLayout(config, undefined, { size: tp, index: 2 });
    const p = new Float32Array(l.totalSize);
    const plain = new LlamaModel(config, l, p, new Float32Array(l.totalSize), B, T, silent(tp, 2));
    const sp = new LlamaModel(config, l, p, new Float32Array(l.totalSize), B, T, silent(tp, 2), { sequenceParallel: true });
    const C = config.hiddenSize, L = config.numLayers;
    const saved = N - N / tp; // rows no longer held
    // [rows,C]: hidden states (L+1), res1 (L), and the norm outputs ln1, ln2 (L each) and the
    // head's lnf, which SP keeps as shards (Megatron-LM); [rows]: rstd1, rstd2 (L each) and rstdf
    const expected = 4 * ((4 * L + 2) * saved * C + (2 * L + 1) * saved);
    expect(plain.activationBytes() - sp.activationBytes()).toBe(expected);
    expect(sp.activationBytes()).toBeLessThan(plain.activationBytes());
    expect(() => new LlamaModel(config, l, p, p.slice(), 1, 3, silent(tp, 2), { sequenceParallel: true })).toThrow(/^parallel\.sequenceParallel: needs tp = 4 to divide/);
    expect(() => new LlamaModel(config, l, p, p.slice(), B, T, silent(tp, 1))).toThrow(InternalError);
  });

  it("tpTraffic lists 2 + 2 tp-act all-reduces per layer, or their RS + AG under SP and the backward's 2 re-gathers of the norm outputs", () => {
    const part = { firstLayer: 0, numLayers: 2, hasEmbedding: true, hasHead: true };
    const plain = tpTraffic(part, 32, 2, 4, 2, false, 4);
    const act = plain.filter((c) => c.kind === "tp-act");
    expect(act.length).toBe(4 * 2);
    expect(act.every((c) => c.op === "all-reduce" && c.length === N * 32)).toBe(true);
    expect(act.filter((c) => c.phase === "forward").length).toBe(4);
    const sp = tpTraffic(part, 32, 2, 4, 2, true, 4).filter((c) => c.kind === "tp-act");
    // 2 layers: forward 2 AG per layer, backward 2 AG for the row-parallel exits and 2 for the norm outputs
    const gathers = (phase: string) => sp.filter((c) => c.op === "all-gather" && c.phase === phase).length;
    expect([gathers("forward"), gathers("backward")]).toEqual([2 * 2, 4 * 2]);
    expect(sp.filter((c) => c.op === "all-gather").every((c) => c.length === N * 32)).toBe(true);
    expect(sp.map((c) => c.op).filter((o) => o === "reduce-scatter").length).toBe(8);
    expect(tpTraffic(part, 32, 2, 4, 1, true, 4)).toEqual([]);
  });
});
