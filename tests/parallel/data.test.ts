import { beforeAll, describe, expect, it } from "vitest";
import { chunkSize } from "../../src/comm/ledger.js";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import type { RunOutput } from "../../src/run/results.js";
import type { TimelineEvent } from "../../src/sim/clock.js";
import { expectEquivalent } from "./equivalence.js";

const STEPS = 10;

/** A tiny model whose every tensor has a multiple of 16 elements, so 2 and 4 divide every bucket. */
function scenario(parallel: object, training: object = {}, hardware: object = {}) {
  return validateScenario({
    name: "dp-test",
    model: { hiddenSize: 16, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 16 },
    training: { steps: STEPS, globalBatch: 8, microBatches: 2, optimizer: { lr: 1e-2, warmupSteps: 2 }, ...training },
    parallel: { bucketBytes: 8192, ...parallel },
    hardware,
  });
}

const run = (parallel: object, training: object = {}, hardware: object = {}) =>
  simulateWithTimeline(scenario(parallel, training, hardware), { captureGradients: true });

describe("data parallelism", () => {
  let reference: RunOutput;
  const gradientBytes = () => [...reference.gradients!.values()].reduce((n, g) => n + g.byteLength, 0);

  beforeAll(async () => {
    reference = await run({ dp: 1 });
  });

  it.each([
    ["dp 2", { dp: 2 }],
    ["dp 4", { dp: 4 }],
    ["dp 2 with ZeRO-1", { dp: 2, zero: 1 }],
    ["dp 4 with ZeRO-1", { dp: 4, zero: 1 }],
  ])("%s with gradient accumulation trains like one device", async (_name, parallel) => {
    expectEquivalent(await run(parallel), reference);
  });

  it.each([2, 4])("dp %i: dp-grad bytes per rank per step are exactly 2(n−1)/n × gradient bytes", async (n) => {
    const out = await run({ dp: n });
    const S = gradientBytes();
    for (const d of out.result.devices) {
      expect(d.bytesByKind["dp-grad"]).toBe(((2 * (n - 1)) / n) * S * STEPS);
      expect(d.bytesSent).toBe(d.bytesByKind["dp-grad"]);
    }
  });

  it.each([2, 4])("dp %i with ZeRO-1: reduce-scatter plus all-gather move the same bytes, optimizer state is sharded", async (n) => {
    const out = await run({ dp: n, zero: 1 });
    const S = gradientBytes();
    const elements = S / 4;
    const unsharded = reference.result.devices[0].memory.optimizerState;
    expect(unsharded).toBe(2 * S); // AdamW keeps m and v in fp32
    out.result.devices.forEach((d, rank) => {
      // Reduce-scatter and all-gather each send (n−1)/n·S per rank.
      expect(d.bytesByKind["dp-grad"]).toBe(((n - 1) / n) * S * STEPS);
      expect(d.bytesByKind["dp-param"]).toBe(((n - 1) / n) * S * STEPS);
      // Shards are the ring's chunks: ⌈E/n⌉ or ⌊E/n⌋ elements, m and v each.
      expect(d.memory.optimizerState).toBe(2 * 4 * chunkSize(elements, n, rank));
      expect(d.memory.optimizerState).toBeCloseTo(unsharded / n, -1);
    });
    expect(out.result.devices.reduce((sum, d) => sum + d.memory.optimizerState, 0)).toBe(unsharded);
  });

  it("overlapping bucket all-reduces with backward hides exactly the communication the timeline shows under compute", async () => {
    // Slow links and a slow device, so communication and compute are of the same order.
    const hardware = { profile: "a100-80gb", peakFlops: 1e9, efficiency: 1, intraNode: { bandwidth: 1e8, latency: 1e-6 } };
    const on = await run({ dp: 2, overlapGradReduce: true }, {}, hardware);
    const off = await run({ dp: 2, overlapGradReduce: false }, {}, hardware);
    for (let rank = 0; rank < 2; rank++) {
      const exposedOn = on.result.devices[rank].commSeconds;
      const exposedOff = off.result.devices[rank].commSeconds;
      const hidden = hiddenCommSeconds(on.timeline.filter((e) => e.rank === rank));
      expect(hidden).toBeGreaterThan(0);
      expect(exposedOn).toBeLessThan(exposedOff);
      // Without overlap every byte's time is exposed; with it, exactly the part under compute is not.
      expect(exposedOff - exposedOn).toBeCloseTo(hidden, 12);
      expect(on.result.devices[rank].computeSeconds).toBe(off.result.devices[rank].computeSeconds);
    }
  });
});

/** Seconds of comm-stream activity that overlap compute-stream compute events. */
function hiddenCommSeconds(events: TimelineEvent[]): number {
  const compute = events.filter((e) => e.stream === "compute" && e.kind === "compute");
  let hidden = 0;
  for (const c of events.filter((e) => e.stream === "comm")) {
    for (const k of compute) hidden += Math.max(0, Math.min(c.end, k.end) - Math.max(c.start, k.start));
  }
  return hidden;
}
