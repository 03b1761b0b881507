import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { simulate } from "../../src/index.js";
import { Activations, arrayMaker } from "../../src/model/activations.js";
import { modelConfigOf } from "../../src/model/config.js";
import { buildLayout, fullModelPart } from "../../src/model/layout.js";
import { checkHostMemory, hostFootprint } from "../../src/scenario/footprint.js";
import { validateScenario } from "../../src/scenario/load.js";
import { inputErrorOf } from "./helpers.js";

const model = { hiddenSize: 32, intermediateSize: 64, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 16 };
const scenario = (parallel: Record<string, unknown>, microBatches = 4) =>
  validateScenario({ model, training: { steps: 1, globalBatch: 8, microBatches, optimizer: { lr: 1e-3 } }, parallel });

describe("host footprint of a real-mode run", () => {
  it("is 16 bytes per parameter plus one activation set on a single device with one micro-batch in flight, plus the token stream", () => {
    const s = scenario({}, 2);
    const config = modelConfigOf(s);
    const P = buildLayout(config).totalSize;
    const acts = new Activations(config, fullModelPart(config), 4, 16, arrayMaker(Float32Array)).bytes;
    // The synthetic corpus: 2^18 byte tokens as an Int32Array, the main thread's copy and the worker's.
    const data = 4 * 2 ** 18 * 2;
    expect(hostFootprint(s)).toEqual({ stateBytes: 16 * P, activationBytes: acts, dataBytes: data, totalBytes: 16 * P + acts + data, devices: 1, largestBuffer: P });
  });

  it("counts a text corpus's bytes as tokens, once per worker and once on the main thread", () => {
    const dir = mkdtempSync(join(tmpdir(), "parasim-footprint-"));
    writeFileSync(join(dir, "corpus.txt"), Buffer.alloc(1000, "a"));
    const s = validateScenario({ model, training: { steps: 1, globalBatch: 8, microBatches: 2, optimizer: { lr: 1e-3 }, data: { source: "text", path: "corpus.txt" } }, parallel: { dp: 2 } }, dir);
    expect(hostFootprint(s).dataBytes).toBe(4 * 1000 * 3);
  });

  it("adds the fp32 master weights in 16-bit precision, whose 16-bit buffers are float32 on the host", () => {
    const bf16 = (parallel: Record<string, unknown>) =>
      validateScenario({ model, training: { steps: 1, globalBatch: 8, microBatches: 2, precision: "bf16", optimizer: { lr: 1e-3 } }, parallel });
    const P = buildLayout(modelConfigOf(scenario({}))).totalSize;
    expect(hostFootprint(bf16({})).stateBytes).toBe(20 * P);
    expect(hostFootprint(bf16({})).activationBytes).toBe(hostFootprint(scenario({}, 2)).activationBytes);
    // ZeRO-1 over dp 2: each replica 4·P + 4·P, and one copy of master weights and moments, 12·P, between them.
    expect(hostFootprint(bf16({ dp: 2, zero: 1 })).stateBytes).toBe(2 * 8 * P + 12 * P);
  });

  it("holds every micro-batch under GPipe and shards the moments under ZeRO-1", () => {
    const single = hostFootprint(scenario({}, 4));
    const gpipe = hostFootprint(scenario({ schedule: "gpipe" }, 4));
    expect(gpipe.activationBytes).toBe(4 * single.activationBytes);
    const dp = hostFootprint(scenario({ dp: 2 }, 2));
    const zero = hostFootprint(scenario({ dp: 2, zero: 1 }, 2));
    // Two replicas hold 2·(params + grads) and, without ZeRO, 2·(m + v); with it one copy of m + v.
    expect(zero.stateBytes).toBe(dp.stateBytes * 0.75);
  });

  it.each([
    ["dp 2 × pp 2, ZeRO-1, zero-bubble", { dp: 2, pp: 2, zero: 1, schedule: "zb-h1" }, {}],
    ["tp 2 × pp 2, interleaved, sequence parallel", { tp: 2, pp: 2, schedule: "interleaved", sequenceParallel: true }, {}],
    // What the model does not keep is not counted: each of these keeps less than the case above it would.
    ["pp 2, full recomputation", { pp: 2 }, { recompute: "full" }],
    ["tp 2 × pp 2, selective recomputation", { tp: 2, pp: 2 }, { recompute: "selective" }],
    ["pp 2, flash attention", { pp: 2 }, { attention: "flash" }],
    ["pp 2, strided sparse attention", { pp: 2 }, { attentionPattern: { kind: "strided", block: 4, stride: 2 } }],
  ])("matches the buffers a run allocates (%s)", async (_what, parallel, variant: Record<string, unknown>) => {
    const { recompute, ...modelVariant } = variant;
    const s = validateScenario({
      model: { ...model, ...modelVariant },
      training: { steps: 1, globalBatch: 8, microBatches: 4, optimizer: { lr: 1e-3 }, ...(recompute ? { recompute } : {}) },
      parallel,
    });
    const estimate = hostFootprint(s);
    const result = await simulate(s);
    const sum = (key: "parameters" | "gradients" | "optimizerState" | "activations") => result.devices.reduce((n, d) => n + d.memory[key], 0);
    expect(estimate.devices).toBe(result.worldSize);
    expect(estimate.stateBytes).toBe(sum("parameters") + sum("gradients") + sum("optimizerState"));
    // A run's activations also count the stage-boundary gradient buffers: at most m per device, [B·T, C] float32 each.
    const activations = sum("activations");
    expect(activations).toBeGreaterThanOrEqual(estimate.activationBytes);
    expect(activations - estimate.activationBytes).toBeLessThanOrEqual(result.worldSize * 4 * (2 * 16 * 32) * 4);
  });

  it("names the model's source when its state alone does not fit, and model.seqLen when the activations do not", () => {
    const s = scenario({});
    const f = hostFootprint(s);
    expect(() => checkHostMemory(s, "model.preset", f.totalBytes)).not.toThrow();
    expect(() => checkHostMemory(s, "model.preset", f.stateBytes - 1)).toThrow(/^model\.preset: needs about .* of host memory in real mode on 1 device\(s\) .* — use mode: shapes$/);
    expect(() => checkHostMemory(s, "model.preset", f.totalBytes - 1)).toThrow(/^model\.seqLen: needs about/);
    // The state and the token stream alone overflow: the corpus is what to shrink.
    expect(() => checkHostMemory(s, "model.preset", f.stateBytes + f.dataBytes - 1)).toThrow(/^training\.data\.path: needs about/);
  });

  it("names the model field whose part of the parameters is largest when the fields are given one by one", () => {
    const sized = (m: Record<string, number>) => validateScenario({ model: { ...model, ...m }, training: { steps: 1, globalBatch: 8, optimizer: { lr: 1e-3 } } });
    const refusal = (s: ReturnType<typeof sized>) => inputErrorOf(() => checkHostMemory(s, "model.hiddenSize", hostFootprint(s).stateBytes - 1));
    // Embedding and head 2·V·C = 2·2^16·32 = 4.2 M against the layers' 4·(2·32² + 2·32·16 + 3·32·64) = 37 k.
    expect(refusal(sized({ vocabSize: 2 ** 16 }))).toMatch(/^model\.vocabSize: /);
    // MLP 4·3·32·8192 = 3.1 M against embedding and head 2·256·32 = 16 k and attention 4·(2·32² + 2·32·16) = 12 k.
    expect(refusal(sized({ intermediateSize: 8192 }))).toMatch(/^model\.intermediateSize: /);
    // Attention (q, o: C², k, v: C·C/2 with half the heads as kv heads) 4·3·512² = 3.1 M, MLP 4·3·512·64 = 393 k, vocab 2·256·512 = 262 k.
    expect(refusal(sized({ hiddenSize: 512, numHeads: 8, numKvHeads: 4 }))).toMatch(/^model\.hiddenSize: /);
  });

  it("refuses a preset in real mode with one line naming it, and accepts it in shapes mode", () => {
    const raw = (mode: string) => ({ mode, model: { preset: "llama-3.1-405b", seqLen: 128 }, training: { steps: 1, globalBatch: 1, optimizer: { lr: 1e-4 } } });
    const message = inputErrorOf(() => validateScenario(raw("real")));
    expect(message).toMatch(/^model\.preset: needs about /);
    expect(message).not.toContain("\n");
    // 405.85 B parameters × 16 bytes = 5.91 TiB of state: more than any host this runs on.
    expect(message).toContain("parameters, gradients and optimizer state 5.91 TiB");
    const shapes = validateScenario(raw("shapes"));
    expect(shapes.model.hiddenSize).toBe(16384);
    expect(hostFootprint(shapes).stateBytes).toBe(16 * 405_853_388_800);
  });
});
