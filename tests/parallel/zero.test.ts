/**
 * ZeRO-2 and ZeRO-3 (src/parallel/zero.ts): they train like one device on every layout, move the
 * ZeRO paper's bytes (Rajbhandari et al. 2020, section 7) and keep its per-stage memory. dp 3 with
 * shards of uneven size is in zero-uneven.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { chunkSize } from "../../src/comm/ledger.js";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import { buildLayout } from "../../src/model/layout.js";
import { planBuckets } from "../../src/parallel/data.js";
import type { RunOutput } from "../../src/run/results.js";
import { modelConfigOf } from "../../src/train/trainer.js";
import { expectBadInput, parasim, writeTemp } from "../cli/helpers.js";
import { expectEquivalent } from "./equivalence.js";

const STEPS = 10;
const BUCKET_BYTES = 8192;

/**
 * Every tensor has a multiple of 16 elements, so 2 and 4 divide every bucket and unit: the
 * embedding and the LM head 256·16, a layer 3104, the head 16 + 4096.
 */
const MODEL = { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 16 };

function scenario(parallel: object, training: object = {}, hardware: object = {}) {
  return validateScenario({
    name: "zero-test",
    model: MODEL,
    training: { steps: STEPS, globalBatch: 8, microBatches: 2, optimizer: { lr: 1e-2, warmupSteps: 2 }, ...training },
    parallel: { bucketBytes: BUCKET_BYTES, ...parallel },
    hardware,
  });
}

const run = (parallel: object, training: object = {}, hardware: object = {}) => simulateWithTimeline(scenario(parallel, training, hardware), { captureGradients: true });

const layouts: [string, object][] = [
  ["dp 2", { dp: 2 }],
  ["dp 4", { dp: 4 }],
  ["dp 2 × tp 2 with sequence parallelism", { dp: 2, tp: 2, sequenceParallel: true }],
  ["dp 2 × pp 2, 1f1b", { dp: 2, pp: 2 }],
  ["dp 2 × pp 2, interleaved", { dp: 2, pp: 2, schedule: "interleaved" }],
  ["dp 2 × pp 2, zb-h1", { dp: 2, pp: 2, schedule: "zb-h1" }],
  ["dp 4 × tp 2 × pp 2, 1f1b", { dp: 4, tp: 2, pp: 2 }],
];

describe("ZeRO-2 and ZeRO-3 train like one device", () => {
  let reference: RunOutput;
  beforeAll(async () => {
    reference = await run({});
  });

  it.each(layouts.flatMap(([name, p]) => [2, 3].map((zero): [string, number, object] => [name, zero, { ...p, zero }])))(
    "%s with ZeRO-%i (step-1 gradients per tensor, 10 losses)",
    async (_name, _zero, parallel) => {
      expectEquivalent(await run(parallel), reference);
    },
  );

  it("ZeRO-3 with full recomputation (the rerun forward reads the gathered layer) at dp 2 × pp 2", async () => {
    expectEquivalent(await run({ dp: 2, pp: 2, zero: 3 }, { recompute: "full" }), reference);
  });
});

/** Elements of each FSDP unit of the whole model, in forward order, counted from the layout's names. */
function unitSizes(): number[] {
  const tensors = buildLayout(modelConfigOf(scenario({}))).tensors;
  const sum = (match: (name: string) => boolean) => tensors.filter((t) => match(t.name)).reduce((n, t) => n + t.size, 0);
  const layers = Array.from({ length: MODEL.numLayers }, (_, l) => sum((n) => n.startsWith(`model.layers.${l}.`)));
  return [sum((n) => n.startsWith("model.embed_")), ...layers, sum((n) => n === "model.norm.weight" || n === "lm_head.weight")];
}

describe("ZeRO bytes per rank per step (dp 4, one micro-batch)", () => {
  const n = 4;
  const P = buildLayout(modelConfigOf(scenario({}))).totalSize;
  const cases: [string, number][] = [
    ["fp32", 4],
    ["bf16", 2],
    ["fp16", 2],
  ];
  it.each(cases)("%s: ZeRO-1 = ZeRO-2 = 2(n−1)/n·Ψ·bytes; ZeRO-3 = 3(n−1)/n·Ψ·bytes", async (precision, bytes) => {
    const training = { steps: 2, microBatches: 1, precision };
    const perStep = (d: RunOutput["result"]["devices"][number], kinds: string[]) => kinds.reduce((s, k) => s + (d.bytesByKind[k] ?? 0), 0) / 2;
    for (const zero of [1, 2, 3]) {
      const out = await run({ dp: n, zero }, training);
      const kinds = ["dp-grad", "dp-param", "dp-param-gather"];
      const closed = ((zero === 3 ? 3 : 2) * (n - 1)) / n * P * bytes;
      for (const d of out.result.devices) expect(perStep(d, kinds), `ZeRO-${zero} rank ${d.rank}`).toBe(closed);
      // Which collective moves them: ZeRO-3 gathers before each pass (2 of 3 parts), never after the step.
      const gather = out.result.devices[0].bytesByKind[zero === 3 ? "dp-param-gather" : "dp-param"] / 2;
      expect(gather).toBe((zero === 3 ? 2 : 1) * ((n - 1) / n) * P * bytes);
    }
  });

  it("ZeRO-3 with m micro-batches gathers before each of their passes: (2m + 1)(n−1)/n·Ψ·4", async () => {
    const m = 2;
    const out = await run({ dp: n, zero: 3 }, { steps: 2, microBatches: m });
    for (const d of out.result.devices) expect((d.bytesByKind["dp-grad"] + d.bytesByKind["dp-param-gather"]) / 2).toBe(((2 * m + 1) * (n - 1)) / n * P * 4);
  });

  it("ZeRO-3's prefetch: the next unit's gather runs on the communication stream while the current unit computes", async () => {
    const out = await run({ dp: 2, zero: 3 }, { steps: 2 }, { profile: "a100-80gb" });
    const prefetch = out.timeline.filter((e) => e.rank === 0 && e.step === 0 && e.stream === "comm" && e.label.includes("(prefetch)"));
    // Per micro-batch and pass, every unit but the first of the pass is prefetched.
    expect(prefetch).toHaveLength(2 * 2 * (unitSizes().length - 1));
    const compute = out.timeline.filter((e) => e.rank === 0 && e.step === 0 && e.stream === "compute");
    const overlapped = prefetch.filter((g) => g.end > g.start && compute.some((c) => c.start < g.end && g.start < c.end));
    expect(overlapped.length).toBe(prefetch.length);
  });
});

describe("ZeRO memory per rank equals the ZeRO paper's per-stage formulas (dp 4, whole model)", () => {
  const n = 4;
  const P = buildLayout(modelConfigOf(scenario({}))).totalSize;
  // Shards are the ring's chunks of each unit (bucket for ZeRO-2): here every unit divides by 4.
  const units = (zero: number) => (zero === 1 ? [P] : zero === 2 ? planBuckets(buildLayout(modelConfigOf(scenario({}))), BUCKET_BYTES, 4).map((b) => b.size) : unitSizes());
  const shard = (zero: number, r: number) => units(zero).reduce((s, u) => s + chunkSize(u, n, r), 0);
  // ZeRO-3 holds the unit being computed and the next one's prefetched gather.
  const sizes = unitSizes();
  const peak = Math.max(...sizes.slice(1).map((u, i) => u + sizes[i]));

  it.each([
    ["fp32", 4, 4, 0],
    ["bf16", 2, 2, 4],
    ["fp16", 2, 2, 4],
  ])("%s: stage 1 (w+g)Ψ + (8+m)Ψ/N, stage 2 wΨ + (g+8+m)Ψ/N, stage 3 (w+g+8+m)Ψ/N + the gathered units", async (precision, w, g, master) => {
    for (const zero of [1, 2, 3]) {
      const out = await run({ dp: n, zero }, { steps: 2, microBatches: 1, precision });
      for (const d of out.result.devices) {
        const s = shard(zero, d.rank);
        expect(s).toBe(P / n);
        const mem = d.memory;
        expect(mem.parameters, `ZeRO-${zero} parameters`).toBe(zero === 3 ? w * (s + peak) : w * P);
        expect(mem.gradients).toBe(zero >= 2 ? g * s : g * P);
        expect(mem.optimizerState).toBe(8 * s);
        expect(mem.masterWeights).toBe(master * s);
        // The paper's totals: fp32 16Ψ = 4 + 4 + 8; mixed precision 16Ψ = 2 + 2 + 12 (K = 12).
        const total = mem.parameters + mem.gradients + mem.optimizerState + mem.masterWeights;
        const K = 8 + master;
        const paper = zero === 1 ? (w + g) * P + (K * P) / n : zero === 2 ? w * P + ((g + K) * P) / n : ((w + g + K) * P) / n + w * peak;
        expect(total).toBe(paper);
      }
    }
  });
});

describe("bad ZeRO input", () => {
  it.each([
    [{ zero: 4 }, "parallel.zero: must be 0, 1, 2 or 3"],
    [{ zero: -1 }, "parallel.zero: must be 0, 1, 2 or 3"],
    [{ zero: "3" }, "parallel.zero: must be 0, 1, 2 or 3"],
  ])("%j: exit 2, one line", (parallel, text) => {
    const file = writeTemp("s.json", { name: "zero-bad", model: MODEL, training: { steps: 1, globalBatch: 8, optimizer: { lr: 1e-2 } }, parallel });
    expectBadInput(parasim(["run", file, "--quiet"]), text);
  });
});
