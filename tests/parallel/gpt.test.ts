/**
 * The gpt family trains like one device in every layout (docs/architecture.md, invariant 1), with
 * tied and untied embeddings: the tensor-parallel plan's biases (column-parallel sharded,
 * row-parallel replicated and added once after the reduction), the replicated LayerNorms and
 * position table, and the tied embedding's gradient summed between the first and last pipeline
 * stage. Bytes of the two gpt-specific collectives match their closed forms.
 */
import { describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import { buildLayout, fullModelPart } from "../../src/model/layout.js";
import { modelConfigOf } from "../../src/model/config.js";
import { tpReplicatedElements } from "../../src/parallel/tensor.js";
import type { RunOutput } from "../../src/run/results.js";
import { expectEquivalent } from "./equivalence.js";

const STEPS = 10;
const [GLOBAL_BATCH, SEQ, HIDDEN, LAYERS, VOCAB] = [8, 8, 16, 4, 256];

function scenario(parallel: object, tieEmbeddings: boolean, microBatches = 2) {
  return validateScenario({
    name: "gpt-test",
    model: { family: "gpt", tieEmbeddings, vocabSize: VOCAB, hiddenSize: HIDDEN, intermediateSize: 4 * HIDDEN, numLayers: LAYERS, numHeads: 4, numKvHeads: 4, seqLen: SEQ },
    training: { steps: STEPS, globalBatch: GLOBAL_BATCH, microBatches, optimizer: { lr: 1e-2, warmupSteps: 2 } },
    parallel,
  });
}

/** A key bias's true gradient is 0 (softmax ignores a constant added to a row's scores); its scale is the same layer's query bias. */
const keyBiasScale = (name: string): string | null => (name.endsWith("k_proj.bias") ? name.replace("k_proj", "q_proj") : null);

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
