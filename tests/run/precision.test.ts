/**
 * Mixed precision across workers: bf16 and fp16 train like fp32 to the format's precision, every
 * parallel layout trains like one device in bf16, 16-bit payloads halve the bytes, memory shows
 * 2 + 4 + 2 (+ 8) bytes per parameter, and fp16 skips the steps whose gradients overflow.
 */
import { describe, expect, it } from "vitest";
import { readScenarioFile, bundledScenarioPath, simulate, simulateWithTimeline, validateScenario } from "../../src/index.js";
import { expectedBytes } from "../../src/comm/ledger.js";
import { buildLayout } from "../../src/model/layout.js";
import { modelConfigOf } from "../../src/model/config.js";
import { UNIT_ROUNDOFF, storeAs } from "../../src/kernels/round.js";
import type { RunOutput } from "../../src/run/results.js";
import { relativeErrors } from "../parallel/equivalence.js";
import { stageParts } from "../../src/parallel/pipeline.js";

const MODEL = { hiddenSize: 32, intermediateSize: 88, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 16 };

function scenario(training: object, parallel: object = {}) {
  return validateScenario({
    model: MODEL,
    training: { steps: 10, globalBatch: 8, microBatches: 4, optimizer: { lr: 1e-2, warmupSteps: 2 }, ...training },
    parallel,
  });
}

const runs = new Map<string, Promise<RunOutput>>();
/** Each run once, shared by the tests that look at it (worker start-up dominates). */
const run = (training: object, parallel: object = {}): Promise<RunOutput> => {
  const key = JSON.stringify([training, parallel]);
  if (!runs.has(key)) runs.set(key, simulateWithTimeline(scenario(training, parallel), { captureGradients: true }));
  return runs.get(key)!;
};

describe("16-bit training of the bundled default scenario", () => {
  /**
   * Bound: |L16 − L32| ≤ u · L32, u the 16-bit format's unit round-off (bf16 2^-8, fp16 2^-11).
   * Every rounding is to nearest, so its error is at most u of the value stored and unbiased; the
   * two runs' weights then differ by rounding noise that the 512 tokens of a batch average, and a
   * token's loss moves by at most 2·max|Δlogit|, itself one rounding of the logits (≤ u·|z|, with
   * |z| < L here). A larger gap needs a systematic error — a lost loss scale, a missing unscale, a
   * truncation instead of a rounding — not round-off.
   */
  it.each(["bf16", "fp16"] as const)("%s trains it to fp32's final loss within one unit round-off", async (precision) => {
    const { raw } = readScenarioFile(bundledScenarioPath("default.yaml"));
    const base = raw as { training: object };
    const [fp32, low] = await Promise.all(
      ["fp32", precision].map((p) => simulate(validateScenario({ ...base, training: { ...base.training, precision: p } }))),
    );
    expect(low.finalLoss!).toBeLessThan(0.6 * low.losses[0]!);
    expect(Math.abs(low.finalLoss! - fp32.finalLoss!)).toBeLessThanOrEqual(UNIT_ROUNDOFF[precision] * fp32.finalLoss!);
    expect(low.skippedSteps).toEqual([]);
  }, 300_000);
});

describe("bf16 equivalence: every layout trains like one bf16 device", () => {
  /**
   * Tolerances from bf16's unit round-off u = 2^-8 and the reductions whose order a layout
   * changes. A weight gradient is a sum over micro-batches and dp replicas of 16-bit partial
   * gradients, stored in bf16 after every add: another order differs by about one rounding of
   * the sum, u norm-wise (measured 1.1u for dp 2). Tensor parallelism adds one rounding of each
   * row-parallel layer's partial sums before the all-reduce adds them, in forward and backward,
   * and the activation gradients carry it through the layers below (measured 2.2u). 4u bounds
   * both with margin; a wrong shard or a missing replica is ≥ 25 % off.
   * Losses: the first differs by the forward's reductions only (measured 1.2e-5); over ten Adam
   * steps those gradient differences change the updates, and the losses stay within u (measured
   * 0.22u), the precision the loss is computed to from bf16 logits.
   */
  const layouts: [string, object][] = [
    ["dp 2", { dp: 2 }],
    ["tp 2", { tp: 2 }],
    ["pp 2", { pp: 2 }],
    ["dp 2 with ZeRO-1", { dp: 2, zero: 1 }],
    ["dp 2 × tp 2 × pp 2 with sequence parallelism", { dp: 2, tp: 2, pp: 2, sequenceParallel: true }],
    ["tp 2 × pp 2 interleaved", { tp: 2, pp: 2, schedule: "interleaved" }],
  ];
  const u = UNIT_ROUNDOFF.bf16;
  it.each(layouts)("%s", async (_name, parallel) => {
    const [out, ref] = await Promise.all([run({ precision: "bf16" }, parallel), run({ precision: "bf16" })]);
    for (const [name, err] of relativeErrors(out.gradients!, ref.gradients!)) expect(err, `step-0 gradient of ${name}`).toBeLessThanOrEqual(4 * u);
    out.result.losses.forEach((loss, step) => {
      const want = ref.result.losses[step]!;
      expect(Math.abs(loss - want) / want, `loss of step ${step}`).toBeLessThanOrEqual(u);
    });
  }, 120_000);

  it("the reduced gradients are bf16 values (the ring rounds after every add); fp32 with gradReduceFp32", async () => {
    const offGrid = (g: Float32Array) => {
      const r = g.slice();
      storeAs("bf16", r);
      return r.filter((x, i) => x !== g[i]).length;
    };
    const [bf16, wide] = await Promise.all([run({ precision: "bf16" }, { dp: 2 }), run({ precision: "bf16", gradReduceFp32: true }, { dp: 2 })]);
    for (const [name, g] of bf16.gradients!) expect(offGrid(g), name).toBe(0);
    const wideOff = [...wide.gradients!.values()].reduce((n, g) => n + offGrid(g), 0);
    expect(wideOff).toBeGreaterThan(0);
  }, 120_000);
});

describe("bytes and memory follow the dtype", () => {
  const layout = { dp: 2, tp: 2, pp: 2, bucketBytes: 1 << 30 };

  it("16-bit payloads halve tp-act, pp-act, pp-grad and dp-grad; statistics keep their width; gradReduceFp32 keeps dp-grad", async () => {
    const [fp32, bf16, wide] = await Promise.all([run({}, layout), run({ precision: "bf16" }, layout), run({ precision: "bf16", gradReduceFp32: true }, layout)]);
    const kinds = (o: RunOutput) => o.result.communication.bytesByKind;
    for (const kind of ["tp-act", "tp-embed", "tp-head", "pp-act", "pp-grad", "dp-grad"]) {
      expect(kinds(fp32)[kind], kind).toBeGreaterThan(0);
      expect(kinds(bf16)[kind], kind).toBe(kinds(fp32)[kind]! / 2);
      expect(kinds(wide)[kind], kind).toBe(kind === "dp-grad" ? kinds(fp32)[kind] : kinds(fp32)[kind]! / 2);
    }
    for (const kind of ["tp-loss", "grad-norm"]) expect(kinds(bf16)[kind], kind).toBe(kinds(fp32)[kind]);
    // The closed form per rank and step: one all-reduce of the rank's Ψ gradient elements at 2 bytes (one bucket).
    const steps = 10;
    const config = modelConfigOf(bf16.result.scenario);
    const parts = stageParts(config, { p: 2, v: 1 });
    for (const d of bf16.result.devices) {
      const psi = buildLayout(config, parts[d.coords.pp], { size: 2, index: d.coords.tp }).totalSize;
      expect(d.bytesByKind["dp-grad"], `rank ${d.rank}`).toBe(steps * expectedBytes("all-reduce", psi, 2, 2, d.coords.dp).sent);
    }
  }, 120_000);

  it("bytes per parameter: 2 (weights) + 4 (master) + 2 (gradients) + 8 (moments) = 16; 18 with fp32 gradients; ZeRO-1 shards master and moments", async () => {
    const [bf16, wide, zero] = await Promise.all([run({ precision: "bf16" }), run({ precision: "bf16", gradReduceFp32: true }), run({ precision: "bf16" }, { dp: 2, zero: 1 })]);
    const P = buildLayout(modelConfigOf(bf16.result.scenario)).totalSize;
    const perParam = (m: { parameters: number; masterWeights: number; gradients: number; optimizerState: number }) =>
      (m.parameters + m.masterWeights + m.gradients + m.optimizerState) / P;
    expect(bf16.result.devices[0].memory).toMatchObject({ parameters: 2 * P, masterWeights: 4 * P, gradients: 2 * P, optimizerState: 8 * P });
    expect(perParam(bf16.result.devices[0].memory)).toBe(16);
    expect(perParam(wide.result.devices[0].memory)).toBe(18);
    // ZeRO-1 over dp 2: 2 + 2 + (4 + 8)/2 = 10 bytes per parameter on each rank (Rajbhandari et al. 2020, Ψ(2 + 2 + K/N_d)).
    for (const d of zero.result.devices) expect(perParam(d.memory)).toBe(10);
  }, 120_000);
});

describe("fp16 dynamic loss scaling", () => {
  const training = { precision: "fp16", steps: 14, lossScale: { initial: 2 ** 24, growthInterval: 3 } };

  it("skips the overflowing steps on every rank, backs the scale off, recovers and grows it again, and reports both", async () => {
    const [one, layout] = await Promise.all([run(training), run(training, { dp: 2, pp: 2 })]);
    const r = one.result;
    expect(r.skippedSteps.length).toBeGreaterThan(0);
    expect(r.skippedSteps[0]).toBe(0);
    // The scale follows GradScaler's rule from the skipped steps, step by step.
    const expected = [2 ** 24];
    let clean = 0;
    for (let step = 0; step + 1 < r.lossScale!.length; step++) {
      let next = expected[step]!;
      if (r.skippedSteps.includes(step)) [next, clean] = [next / 2, 0];
      else if (++clean === 3) [next, clean] = [next * 2, 0];
      expected.push(next);
    }
    expect(r.lossScale).toEqual(expected);
    // It recovered: the steps after the first clean one train, and the scale grew at least once.
    const firstClean = expected.findIndex((_, s) => !r.skippedSteps.includes(s));
    expect(firstClean).toBeGreaterThan(0);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[firstClean]!);
    expect(expected.some((s, i) => i > 0 && s > expected[i - 1]!)).toBe(true);
    // Every rank skips together: a dp 2 × pp 2 layout skips the same steps and trains like one device (fp16: u = 2^-11).
    expect(layout.result.skippedSteps).toEqual(r.skippedSteps);
    expect(layout.result.lossScale).toEqual(r.lossScale);
    layout.result.losses.forEach((loss, s) => expect(Math.abs(loss - r.losses[s]!) / r.losses[s]!, `step ${s}`).toBeLessThanOrEqual(UNIT_ROUNDOFF.fp16));
  }, 120_000);

  it("bf16 and fp32 runs carry no loss scale and skip nothing", async () => {
    for (const out of await Promise.all([run({}), run({ precision: "bf16" })])) {
      expect(out.result.lossScale).toBeNull();
      expect(out.result.skippedSteps).toEqual([]);
    }
  }, 120_000);
});
