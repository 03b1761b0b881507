/**
 * The gpt family trains like one device in every layout (docs/architecture.md, invariant 1), with
 * tied and untied embeddings: the tensor-parallel plan's biases (column-parallel sharded,
 * row-parallel replicated and added once after the reduction), the replicated LayerNorms and
 * position table, and the tied embedding's gradient summed between the first and last pipeline
 * stage. Bytes of the two gpt-specific collectives match their closed forms.
 */
import { describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import type { Comm } from "../../src/comm/comm.js";
import { storeAs } from "../../src/kernels/round.js";
import { buildLayout, EMBED_NAME, fullModelPart } from "../../src/model/layout.js";
import { buildMesh } from "../../src/parallel/mesh.js";
import { syncTiedEmbeddingGrads } from "../../src/parallel/tied.js";
import { modelConfigOf } from "../../src/model/config.js";
import { tpReplicatedElements } from "../../src/parallel/tensor.js";
import type { RunOutput } from "../../src/run/results.js";
import { expectEquivalent, relativeErrors } from "./equivalence.js";
// A key bias's true gradient is 0 (softmax ignores a constant added to a row's scores); its scale is the same layer's query bias.
import { keyBiasScale } from "../../src/run/equivalence.js";

const STEPS = 10;
const [GLOBAL_BATCH, SEQ, HIDDEN, LAYERS, VOCAB] = [8, 8, 16, 4, 256];

function scenario(parallel: object, tieEmbeddings: boolean, microBatches = 2, training: object = {}) {
  return validateScenario({
    name: "gpt-test",
    model: { family: "gpt", tieEmbeddings, vocabSize: VOCAB, hiddenSize: HIDDEN, intermediateSize: 4 * HIDDEN, numLayers: LAYERS, numHeads: 4, numKvHeads: 4, seqLen: SEQ },
    training: { steps: STEPS, globalBatch: GLOBAL_BATCH, microBatches, optimizer: { lr: 1e-2, warmupSteps: 2 }, ...training },
    parallel,
  });
}

const runs = new Map<string, Promise<RunOutput>>();
const run = (parallel: object, tie: boolean): Promise<RunOutput> => {
  const key = JSON.stringify([parallel, tie]);
  if (!runs.has(key)) runs.set(key, simulateWithTimeline(scenario(parallel, tie), { captureGradients: true }));
  return runs.get(key)!;
};

describe("gpt in parallel layouts", () => {
  it.each([
    ["tp 2, untied", { tp: 2 }, false],
    ["tp 2 with sequence parallelism, tied", { tp: 2, sequenceParallel: true }, true],
    ["pp 2 1f1b, tied (the embedding's gradient summed with the last stage's copy)", { pp: 2 }, true],
    ["dp 2 × pp 2 with ZeRO-1, tied", { dp: 2, pp: 2, zero: 1 }, true],
    ["dp 2 × pp 2 with ZeRO-2, tied (the copies' gradients summed before the reduce-scatter)", { dp: 2, pp: 2, zero: 2 }, true],
    ["dp 2 × pp 2 with ZeRO-3, tied", { dp: 2, pp: 2, zero: 3 }, true],
    ["dp 2 with ZeRO-3, tied (the head gathers the embedding's unit too)", { dp: 2, zero: 3 }, true],
    ["dp 2 × tp 2 × pp 2 zb-h1, sequence parallel, tied", { dp: 2, tp: 2, pp: 2, schedule: "zb-h1", sequenceParallel: true }, true],
    ["dp 2 × tp 2 × pp 2 interleaved, untied", { dp: 2, tp: 2, pp: 2, schedule: "interleaved" }, false],
    ["pp 1 interleaved, tied (one rank holds the first and the last stage and sums their gradients locally)", { pp: 1, schedule: "interleaved" }, true],
  ])("%s trains like one device", async (_name, parallel, tie) => {
    expectEquivalent(await run(parallel, tie), await run({}, tie), { zeroGradientScale: keyBiasScale });
  });

  it("tied embeddings over pp 2: one all-reduce of the embedding's V·h per step between the first and last stage, nothing elsewhere", async () => {
    const out = await run({ pp: 2 }, true);
    const S = VOCAB * HIDDEN * 4; // float32 bytes of the embedding (tp 1)
    // Ring all-reduce over 2 ranks sends 2(n − 1)/n · S = S per rank and step.
    for (const d of out.result.devices) expect(d.bytesByKind["tied-embed"]).toBe(STEPS * S);
    const single = await run({}, true);
    expect(single.result.devices[0].bytesByKind["tied-embed"]).toBeUndefined();
    // The last stage holds the copy: its parameters are the first stage's embedding's size more than without it.
    const [first, last] = out.result.devices;
    expect(first.memory.parameters + last.memory.parameters).toBe(single.result.devices[0].memory.parameters + S);
  });

  it("tp 2 with sequence parallelism: the replicated LayerNorm, row-parallel bias and position gradients are summed once per step (tp-norm)", async () => {
    const out = await run({ tp: 2, sequenceParallel: true }, true);
    const config = modelConfigOf(scenario({}, true));
    const elements = tpReplicatedElements(fullModelPart(config), HIDDEN, config);
    // By hand: 4 LayerNorm vectors + 2 row-parallel biases per layer, the final LayerNorm's 2, the position table seqLen·h.
    expect(elements).toBe((6 * LAYERS + 2 + SEQ) * HIDDEN);
    // And the same as the layout's replicated tensors counted one by one.
    const layout = buildLayout(config, fullModelPart(config), { size: 2, index: 0 });
    expect(layout.tensors.filter((t) => t.shard === null).reduce((n, t) => n + t.size, 0)).toBe(elements);
    for (const d of out.result.devices) expect(d.bytesByKind["tp-norm"]).toBe(STEPS * ((2 * (2 - 1)) / 2) * elements * 4);
  });
});

describe("tied embeddings on one rank", () => {
  // One rank holding both the first and the last stage (pp 1 with interleaved chunks) sums the
  // two gradients locally; no collective. The function is checked directly here, in each dtype;
  // the layout's run is among the equivalences above.
  it("sums the embedding's and the copy's gradients into both, stored in the gradients' dtype", () => {
    const config = modelConfigOf(scenario({}, true));
    const first = buildLayout(config, { firstLayer: 0, numLayers: 2, hasEmbedding: true, hasHead: false });
    const last = buildLayout(config, { firstLayer: 2, numLayers: 2, hasEmbedding: false, hasHead: true });
    const tensors = [...first.tensors, ...last.tensors.map((t) => ({ ...t, offset: t.offset + first.totalSize }))];
    const [embed, copy] = [tensors.find((t) => t.name === EMBED_NAME)!, tensors.find((t) => t.tiedTo === EMBED_NAME)!];
    expect(copy.name).toBe("lm_head.weight");
    const grads = new Float32Array(first.totalSize + last.totalSize);
    for (let i = 0; i < embed.size; i++) [grads[embed.offset + i], grads[copy.offset + i]] = [1 + i / 7, 2 ** -9 + i / 3];
    const noComm = null as unknown as Comm; // never called on this path
    const mesh = buildMesh({ dp: 1, tp: 1, pp: 1 });
    const expected = Float32Array.from({ length: embed.size }, (_, i) => Math.fround(1 + i / 7) + Math.fround(2 ** -9 + i / 3));
    const bf16 = grads.slice();
    syncTiedEmbeddingGrads(noComm, mesh, tensors, grads, true, "fp32");
    expect(grads.subarray(embed.offset, embed.offset + embed.size)).toEqual(expected);
    expect(grads.subarray(copy.offset, copy.offset + copy.size)).toEqual(expected);
    syncTiedEmbeddingGrads(noComm, mesh, tensors, bf16, true, "bf16");
    storeAs("bf16", expected);
    expect(bf16.subarray(embed.offset, embed.offset + embed.size)).toEqual(expected);
    expect(bf16.subarray(copy.offset, copy.offset + copy.size)).toEqual(expected);
  });
});

describe("gpt in bf16", () => {
  /**
   * As the bf16 equivalence of tests/run/precision.test.ts (u = 2^-8: a layout changes the order
   * of 16-bit sums, each about one rounding, u norm-wise; 4u bounds it with margin, a wrong shard
   * or a missing contribution is ≥ 25 % off): here the tied embedding, whose two halves are now
   * summed in bf16 between the first and last stage. The key bias's exact gradient is 0, so in
   * bf16 it is round-off of its terms, which are of the query bias's gradient's size: at most 4u of it.
   */
  const u = 2 ** -8;
  const bf16 = (parallel: object) =>
    simulateWithTimeline(scenario(parallel, true, 2, { precision: "bf16" }), { captureGradients: true });

  it("tied over pp 2 trains like one bf16 device", async () => {
    const [out, ref] = await Promise.all([bf16({ pp: 2 }), bf16({})]);
    for (const [name, err] of relativeErrors(out.gradients!, ref.gradients!)) {
      const scale = keyBiasScale(name);
      if (scale === null) expect(err, `step-0 gradient of ${name}`).toBeLessThanOrEqual(4 * u);
      else for (const r of [out, ref]) expect(norm(r.gradients!.get(name)!), name).toBeLessThanOrEqual(4 * u * norm(r.gradients!.get(scale)!));
    }
    out.result.losses.forEach((loss, step) => {
      const want = ref.result.losses[step];
      expect(Math.abs(loss - want) / want, `loss of step ${step}`).toBeLessThanOrEqual(u);
    });
    // The tied-embed payload is a weight gradient: 2 bytes per element in bf16.
    expect(out.result.devices[0].bytesByKind["tied-embed"]).toBe(STEPS * VOCAB * HIDDEN * 2);
  }, 120_000);
});

function norm(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
