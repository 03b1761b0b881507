/**
 * Data parallelism at dp 3 on buffers that 3 does not divide: the ring's chunks (and so ZeRO-1's
 * optimizer shards) are ⌈N/3⌉ for the first N mod 3 of them and ⌊N/3⌋ for the rest, and tensors
 * straddle the chunk boundaries. Every other test model has buffers that dp divides, where a shard
 * offset that ignores the remainder goes unnoticed; here it moves the straddling tensors'
 * gradients by 8–13 % while the losses move by under 1e-4, so gradients are checked per tensor.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { chunkOffset, chunkSize, expectedBytes } from "../../src/comm/ledger.js";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import { buildLayout, type Layout } from "../../src/model/layout.js";
import { planBuckets } from "../../src/parallel/data.js";
import { zeroUnits } from "../../src/parallel/zero.js";
import { stageParts } from "../../src/parallel/pipeline.js";
import type { RunOutput } from "../../src/run/results.js";
import type { Scenario } from "../../src/scenario/schema.js";
import { modelConfigOf } from "../../src/train/trainer.js";
import { expectEquivalent, relativeErrors } from "./equivalence.js";

const STEPS = 10;
const DP = 3;
const BUCKET_BYTES = 6000;
const Q_PROJ = "model.layers.0.self_attn.q_proj.weight";

/**
 * Chosen (by search) so that every rank's flat buffer is ≢ 0 mod 3 in every layout below: the
 * whole model 12976 ≡ 1, a tp-2 shard 6544 ≡ 1, the pp-2 stages of 1 and 2 layers 5696 ≡ 7280 ≡ 2.
 * With an even layer split one of the two stages is always ≡ 0 mod 3, hence 3 layers split 1 + 2.
 */
const MODEL = { hiddenSize: 16, intermediateSize: 16, vocabSize: 258, numLayers: 3, numHeads: 4, numKvHeads: 2, seqLen: 16 };

function scenario(parallel: object): Scenario {
  return validateScenario({
    name: "zero-uneven-test",
    model: MODEL,
    training: { steps: STEPS, globalBatch: 6, microBatches: 2, optimizer: { lr: 1e-2, warmupSteps: 2 } },
    parallel: { bucketBytes: BUCKET_BYTES, ...parallel },
  });
}

const runs = new Map<string, Promise<RunOutput>>();
/** Each layout is simulated once and shared by the tests that look at it. */
const run = (parallel: object): Promise<RunOutput> => {
  const key = JSON.stringify(parallel);
  if (!runs.has(key)) runs.set(key, simulateWithTimeline(scenario(parallel), { captureGradients: true }));
  return runs.get(key)!;
};

const layouts: [string, object][] = [
  ["dp 3", { dp: DP }],
  ["dp 3 × tp 2", { dp: DP, tp: 2 }],
  ["dp 3 × pp 2", { dp: DP, pp: 2, layersPerStage: [1, 2] }],
];
const cases: [string, number, object][] = layouts.flatMap(([name, parallel]) => [0, 1, 2, 3].map((zero): [string, number, object] => [name, zero, { ...parallel, zero }]));

/** The flat buffer a rank at (pp, tp) holds, as the Trainer lays it out. */
function rankLayout(s: Scenario, coords: { pp: number; tp: number }): Layout {
  const config = modelConfigOf(s);
  const p = s.parallel;
  const parts = stageParts(config, { p: p.pp, v: p.virtualStages, layersPerStage: p.layersPerStage });
  return buildLayout(config, parts[coords.pp], p.tp > 1 ? { size: p.tp, index: coords.tp } : undefined);
}

/** Every (pp, tp) position of a layout: the ranks with equal ones share a buffer layout. */
function positions(s: Scenario): { pp: number; tp: number }[] {
  const out: { pp: number; tp: number }[] = [];
  for (let pp = 0; pp < s.parallel.pp; pp++) for (let tp = 0; tp < s.parallel.tp; tp++) out.push({ pp, tp });
  return out;
}

/** Names of the tensors that straddle a boundary between two of the n chunks of the buffer. */
function straddling(layout: Layout, n: number): string[] {
  const bounds = Array.from({ length: n - 1 }, (_, k) => chunkOffset(layout.totalSize, n, k + 1));
  return layout.tensors.filter((t) => bounds.some((b) => b > t.offset && b < t.offset + t.size)).map((t) => t.name);
}

describe("data parallelism on buffers dp does not divide (dp 3)", () => {
  let reference: RunOutput;

  beforeAll(async () => {
    reference = await run({});
  });

  it.each(layouts)("%s: every rank's buffer and some of its buckets are uneven, and tensors straddle the shard boundaries", (_name, parallel) => {
    const s = scenario(parallel);
    for (const coords of positions(s)) {
      const layout = rankLayout(s, coords);
      expect(layout.totalSize % DP, `buffer of (pp ${coords.pp}, tp ${coords.tp})`).not.toBe(0);
      expect(straddling(layout, DP).length).toBeGreaterThan(0);
      const buckets = planBuckets(layout, BUCKET_BYTES, 4);
      expect(buckets.length).toBeGreaterThan(1);
      expect(buckets.some((b) => b.size % DP !== 0)).toBe(true);
    }
  });

  it.each(cases)("%s with ZeRO-%i trains like one device (step-1 gradients per tensor, 10 losses)", async (_name, _zero, parallel) => {
    expectEquivalent(await run(parallel), reference);
  });

  // A shard offset of c·⌊N/3⌋ (the remainder ignored) shifts ZeRO-1's shards off the reduce-scatter's
  // chunks, so the elements between the two offsets are clipped, updated and captured from partial
  // sums. Measured with that bug: q_proj's gradient off by 7.6 % (dp 3) and 12 % (dp 3 × tp 2), while
  // the 10 losses move by at most 7e-6 and 3e-5 relative, under their 1e-4 tolerance. In the pp-2
  // stages q_proj does not straddle a boundary (layer 0's down_proj does, off by 13 %: the
  // equivalence test above catches it).
  it.each(layouts.slice(0, 2))("%s with ZeRO-1: the step-1 gradient of layer 0's q_proj, which straddles shards 0 and 1, equals one device's", async (_name, parallel) => {
    const s = scenario(parallel);
    for (const coords of positions(s)) expect(straddling(rankLayout(s, coords), DP)).toContain(Q_PROJ);
    const out = await run({ ...parallel, zero: 1 });
    const err = relativeErrors(out.gradients!, reference.gradients!).get(Q_PROJ)!;
    expect(err).toBeLessThanOrEqual(1e-5);
    // Element by element too: none may be off by more than round-off at the tensor's scale.
    const g = out.gradients!.get(Q_PROJ)!;
    const ref = reference.gradients!.get(Q_PROJ)!;
    const scale = ref.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(g[i] - ref[i]), `element ${i}`).toBeLessThanOrEqual(1e-5 * scale);
  });

  it.each(layouts)("%s with ZeRO-1: optimizer state per rank is 8·chunkSize(P, 3, r), summing to the unsharded 8·P", async (_name, parallel) => {
    const s = scenario({ ...parallel, zero: 1 });
    const out = await run({ ...parallel, zero: 1 });
    const plain = await run({ ...parallel, zero: 0 });
    for (const coords of positions(s)) {
      const P = rankLayout(s, coords).totalSize;
      const group = out.result.devices.filter((d) => d.coords.pp === coords.pp && d.coords.tp === coords.tp);
      expect(group).toHaveLength(DP);
      for (const d of group) {
        expect(d.memory.parameters).toBe(4 * P);
        // AdamW's m and v, fp32, over this rank's ring chunk.
        expect(d.memory.optimizerState).toBe(8 * chunkSize(P, DP, d.coords.dp));
      }
      expect(group.reduce((sum, d) => sum + d.memory.optimizerState, 0)).toBe(8 * P);
      for (const d of plain.result.devices.filter((d) => d.coords.pp === coords.pp && d.coords.tp === coords.tp)) {
        expect(d.memory.optimizerState).toBe(8 * P);
      }
    }
  });

  it.each(layouts)("%s with ZeRO-2 and -3: a rank's gradients, moments (and under ZeRO-3 parameters) are its uneven chunks of every bucket or unit", async (_name, parallel) => {
    for (const zero of [2, 3]) {
      const s = scenario({ ...parallel, zero });
      const out = await run({ ...parallel, zero });
      for (const coords of positions(s)) {
        const layout = rankLayout(s, coords);
        const units = zero === 2 ? planBuckets(layout, BUCKET_BYTES, 4) : zeroUnits(layout);
        const group = out.result.devices.filter((d) => d.coords.pp === coords.pp && d.coords.tp === coords.tp);
        const chunks = group.map((d) => units.reduce((n, u) => n + chunkSize(u.size, DP, d.coords.dp), 0));
        expect(new Set(chunks).size, "uneven chunks").toBeGreaterThan(1);
        expect(chunks.reduce((a, b) => a + b, 0)).toBe(layout.totalSize);
        // ZeRO-3 also holds the gathered units: the one computing and the next one's prefetch.
        const sizes = units.map((u) => u.size);
        const gathered = Math.max(...sizes.slice(1).map((u, i) => u + sizes[i]));
        group.forEach((d, k) => {
          expect(d.memory.gradients).toBe(4 * chunks[k]);
          expect(d.memory.optimizerState).toBe(8 * chunks[k]);
          expect(d.memory.parameters).toBe(4 * (zero === 3 ? chunks[k] + gathered : layout.totalSize));
        });
      }
    }
  });

  it.each(cases)("%s with ZeRO-%i: dp-grad and dp-param bytes per rank equal the closed forms for uneven chunks", async (_name, zero, parallel) => {
    const s = scenario(parallel);
    const out = await run(parallel);
    for (const d of out.result.devices) {
      const layout = rankLayout(s, d.coords);
      const p = d.coords.dp; // the rank's position in its dp group
      // ZeRO-2 and -3 reduce-scatter each bucket or unit; ZeRO-2 all-gathers each bucket after the
      // update, ZeRO-3 each unit before every forward and backward of each of the 2 micro-batches.
      const units = zero === 2 ? planBuckets(layout, BUCKET_BYTES, 4) : zeroUnits(layout);
      const sum = (op: "reduce-scatter" | "all-gather") => units.reduce((n, u) => n + expectedBytes(op, u.size, 4, DP, p).sent, 0);
      if (zero === 1) {
        expect(d.bytesByKind["dp-grad"]).toBe(STEPS * expectedBytes("reduce-scatter", layout.totalSize, 4, DP, p).sent);
        expect(d.bytesByKind["dp-param"]).toBe(STEPS * expectedBytes("all-gather", layout.totalSize, 4, DP, p).sent);
      } else if (zero >= 2) {
        expect(d.bytesByKind["dp-grad"]).toBe(STEPS * sum("reduce-scatter"));
        expect(d.bytesByKind[zero === 2 ? "dp-param" : "dp-param-gather"]).toBe(STEPS * (zero === 2 ? 1 : 4) * sum("all-gather"));
        expect(d.bytesByKind[zero === 2 ? "dp-param-gather" : "dp-param"]).toBeUndefined();
      } else {
        const perStep = planBuckets(layout, BUCKET_BYTES, 4).reduce((n, b) => n + expectedBytes("all-reduce", b.size, 4, DP, p).sent, 0);
        expect(d.bytesByKind["dp-grad"]).toBe(STEPS * perStep);
        expect(d.bytesByKind["dp-param"]).toBeUndefined();
      }
    }
    // Uneven chunks: the ranks' bytes differ, and over a dp group they sum to the ring's (n−1)·S per
    // reduce-scatter (ZeRO-1), 2(n−1)·S per all-reduce (plain dp).
    for (const coords of positions(s)) {
      const group = out.result.devices.filter((d) => d.coords.pp === coords.pp && d.coords.tp === coords.tp);
      const grad = group.map((d) => d.bytesByKind["dp-grad"]);
      expect(new Set(grad).size).toBeGreaterThan(1);
      const S = 4 * rankLayout(s, coords).totalSize;
      expect(grad.reduce((a, b) => a + b, 0)).toBe(STEPS * (zero >= 1 ? 1 : 2) * (DP - 1) * S);
    }
  });
});
