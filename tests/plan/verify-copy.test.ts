/**
 * The scaled-down copy `plan --verify` trains: it keeps the model's family and structure and the
 * plan's layout, shrinks sizes to what this host trains in real mode, and shrinks tp and pp only
 * past the worker budget, saying so. Single-thread: nothing is trained here.
 */
import { describe, expect, it } from "vitest";
import { InputError, validateScenario } from "../../src/index.js";
import { copyDegrees, scaledCopy } from "../../src/plan/verify-copy.js";
import type { Scenario } from "../../src/scenario/schema.js";
import { plannedLayout } from "./layouts.js";

/** What a valid copy of `original` must keep, whatever its size. */
function expectSameStructure(original: Scenario, copy: Scenario): void {
  const [m, c] = [original.model, copy.model];
  expect(c.family).toBe(m.family);
  expect(c.tieEmbeddings).toBe(m.tieEmbeddings);
  expect(c.numHeads / c.numKvHeads).toBe(m.numHeads / m.numKvHeads);
  expect(c.attention).toBe(m.attention);
  const p = copy.parallel;
  for (const size of [c.numHeads, c.numKvHeads, c.intermediateSize, c.vocabSize, c.seqLen]) expect(size % p.tp).toBe(0);
  expect(c.vocabSize).toBeGreaterThanOrEqual(256);
  expect(c.numLayers).toBe(Math.max(2, p.pp * p.virtualStages));
  for (const key of ["schedule", "virtualStages", "sequenceParallel", "zero", "overlapGradReduce"] as const) expect(p[key], key).toBe(original.parallel[key]);
  for (const key of ["recompute", "precision", "gradReduceFp32", "seed"] as const) expect(copy.training[key], key).toBe(original.training[key]);
  expect(copy.mode).toBe("real");
  if (p.schedule === "interleaved") expect(copy.training.microBatches % p.pp).toBe(0);
}

describe("the copy of a planned layout", () => {
  it("llama-3-70b dp16·tp8·pp8 interleaved: dp 2, tp and pp halved (the larger first, tp on a tie) into 16 workers, GQA ratio 8 kept", () => {
    const original = plannedLayout("llama-3-70b");
    const { copy, reference, fp32Reference, notes } = scaledCopy(original);
    expectSameStructure(original, copy);
    expect(copy.parallel).toMatchObject({ dp: 2, tp: 2, pp: 4 });
    // Two kv heads (the fewest tp 2 divides, and ≥ 2), 8 query heads each; head size 4 gives hidden 64.
    expect(copy.model).toMatchObject({ numKvHeads: 2, numHeads: 16, hiddenSize: 64, numLayers: 8, seqLen: 16, vocabSize: 256 });
    // Llama 3's 28672 / 8192 = 3.5: 3.5 × 64 = 224.
    expect(copy.model.intermediateSize).toBe(224);
    // min(32, 2·pp) = 8, a multiple of pp 4; one sequence per micro-batch as planned (512 / 16 / 32 = 1).
    expect(copy.training).toMatchObject({ microBatches: 8, globalBatch: 16 });
    expect(notes).toEqual([
      "dp 16 → 2: two replicas exercise the gradient reduction and ZeRO-1's sharding",
      "tp 8 → 2, to fit 16 workers; the group sizes themselves are not proven",
      "pp 8 → 4, to fit 16 workers; the group sizes themselves are not proven",
    ]);
    // The reference: same model and training on one device; the fp32 one differs only in precision.
    expect(reference.model).toEqual(copy.model);
    expect(reference.parallel).toMatchObject({ dp: 1, tp: 1, pp: 1, schedule: "1f1b" });
    expect({ ...reference.training, precision: "bf16" }).toEqual(copy.training);
    expect(fp32Reference!.training.precision).toBe("fp32");
    expect(fp32Reference!.model).toEqual(copy.model);
  });

  it("keeps tp and pp when they fit the budget, and a larger budget keeps more", () => {
    const small = scaledCopy(plannedLayout("llama-3-8b"));
    expect(small.copy.parallel).toMatchObject({ dp: 2, tp: 4, pp: 2 });
    expect(small.notes).toEqual(["dp 8 → 2: two replicas exercise the gradient reduction and ZeRO-1's sharding"]);
    // 64 workers: tp 8 × pp 8 × dp 2 = 128 halves tp (the tie) once.
    const large = scaledCopy(plannedLayout("llama-3-70b"), 64);
    expectSameStructure(plannedLayout("llama-3-70b"), large.copy);
    expect(large.copy.parallel).toMatchObject({ dp: 2, tp: 4, pp: 8 });
    expect(large.copy.model).toMatchObject({ numKvHeads: 4, numHeads: 32, numLayers: 16 });
  });

  it("gpt3-175b: gpt family, tied head, multi-head attention, fp16 with its loss scale, full recomputation", () => {
    const original = plannedLayout("gpt3-175b");
    const { copy, fp32Reference, notes } = scaledCopy(original);
    expectSameStructure(original, copy);
    expect(copy.model).toMatchObject({ family: "gpt", tieEmbeddings: true, numHeads: 2, numKvHeads: 2, numLayers: 12, intermediateSize: 4 * copy.model.hiddenSize });
    expect(copy.training.lossScale).toEqual(original.training.lossScale);
    expect(fp32Reference!.training.lossScale).toBeUndefined();
    // dp is already 2: only tp and pp shrink.
    expect(notes.map((n) => n.split(",")[0])).toEqual(["tp 8 → 2", "pp 8 → 4"]);
  });

  it("an odd tp rounds every size it splits up to a multiple of it; a single kv head stays single; fp32 needs no fp32 reference", () => {
    const input = {
      mode: "shapes",
      model: { hiddenSize: 96, intermediateSize: 240, numLayers: 6, numHeads: 6, numKvHeads: 3, seqLen: 48, vocabSize: 300 },
      training: { steps: 1, globalBatch: 12, microBatches: 3, optimizer: { lr: 1e-3 } },
      parallel: { dp: 2, tp: 3, pp: 3, sequenceParallel: true },
    };
    const original = validateScenario(input);
    // dp 2 × tp 3 × pp 3 = 18 workers: a budget of 18 keeps tp 3.
    const { copy, fp32Reference } = scaledCopy(original, 18);
    expectSameStructure(original, copy);
    expect(copy.parallel).toMatchObject({ tp: 3, pp: 3 });
    expect(copy.model).toMatchObject({ numKvHeads: 3, numHeads: 6, vocabSize: 258, seqLen: 18 });
    expect(fp32Reference).toBeUndefined();
    const mqa = validateScenario({ ...input, model: { ...input.model, numKvHeads: 1 }, parallel: { pp: 2 } });
    expect(scaledCopy(mqa).copy.model).toMatchObject({ numKvHeads: 1, numHeads: 6 });
  });

  it("a worker budget below the smallest copy or above real mode's limit is refused, naming the field", () => {
    const p = plannedLayout("llama-3-70b").parallel;
    expect(() => copyDegrees(p, 7)).toThrow(InputError);
    expect(() => copyDegrees(p, 7)).toThrow(/^verify\.maxWorkers: must be an integer from 8 \(dp 2 × tp 2 × pp 2, the smallest copy of this layout\) to 64/);
    expect(() => copyDegrees(p, 65)).toThrow(/^verify\.maxWorkers: .* to 64 \(real mode's limit\), got 65$/);
    expect(copyDegrees(p, 8)).toMatchObject({ dp: 2, tp: 2, pp: 2 });
  });
});
