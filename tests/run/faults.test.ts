/**
 * Injected faults: a crash ends the run and a resume completes it; a straggler or a slow stage
 * costs what the clock's formulas say, derived here from the fault-free run's compute and the
 * closed forms of the schedule and the ring, independently of how the simulator adds them up.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCheckpoint, simulate, simulateWithTimeline, validateScenario } from "../../src/index.js";
import { readTrainingState } from "../../src/checkpoint/training-state.js";
import { buildLayout } from "../../src/model/layout.js";
import { modelConfigOf } from "../../src/model/config.js";

const model = { hiddenSize: 16, intermediateSize: 40, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 12 };
const relClose = (actual: number, expected: number, what: string) =>
  // Sums of a few dozen doubles in another order: round-off of ~1e-15 relative; 1e-12 leaves room.
  expect(Math.abs(actual - expected) / Math.abs(expected), `${what}: ${actual} vs ${expected}`).toBeLessThan(1e-12);

describe("crash and resume", () => {
  const raw = (faults?: object) => ({
    name: "crash-test",
    model,
    training: { steps: 10, globalBatch: 4, checkpointEvery: 5, optimizer: { lr: 1e-2, warmupSteps: 2 } },
    parallel: { dp: 2 },
    faults,
  });

  it("crash { rank 1, step 7 } with checkpointEvery 5 fails naming rank 1 and step 7; --resume from the step-5 checkpoint ends at the fault-free final loss", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "parasim-crash-")), "ckpt");
    const crashing = validateScenario(raw({ crash: { rank: 1, step: 7 } }));
    const steps: number[] = [];
    await expect(simulate(crashing, { save: dir, onStep: (s) => steps.push(s.step) })).rejects.toThrow(
      /^rank 1 failed during step 7: injected crash \(faults.crash\); the last checkpoint, of step 5, is in .*ckpt: continue with --resume/,
    );
    expect(steps).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // The step-5 checkpoint is whole: weights load, the state says step 5.
    expect(readTrainingState(dir).step).toBe(5);
    expect(readCheckpoint(dir).tensors.size).toBe(buildLayout(modelConfigOf(crashing)).tensors.length);

    const resumed = await simulate(crashing, { resume: dir, save: join(dir, "..", "after") });
    const healthy = await simulate(validateScenario(raw()), { save: join(dir, "..", "healthy") });
    expect(resumed.firstStep).toBe(5);
    expect(resumed.finalLoss).toBe(healthy.finalLoss);
    expect(resumed.losses).toEqual(healthy.losses.slice(5));
  }, 120_000);
});

/** A dp-2 scenario whose step is all compute, then one ring all-reduce of the gradients, and its cost figures. */
function dpScenario(steps: number, faults?: object) {
  return validateScenario({
    name: "straggler-dp",
    model,
    training: { steps, globalBatch: 4, optimizer: { lr: 1e-2 } },
    // One gradient bucket, reduced after backward: the step is compute, then one ring all-reduce.
    parallel: { dp: 2, bucketBytes: 1 << 30, overlapGradReduce: false },
    hardware: { profile: "a100-80gb" },
    faults,
  });
}

describe("stragglers", () => {
  it("a slow link: the all-reduce that crosses it takes factor times the ring's closed form", async () => {
    const g = 5;
    const healthy = await simulate(dpScenario(2));
    const slow = await simulate(dpScenario(2, { slowLink: { ranks: [1], factor: g } }));
    const s = dpScenario(2);
    const P = buildLayout(modelConfigOf(s)).totalSize;
    const A = 2 * s.hardware.intraNode.latency + (4 * P) / s.hardware.intraNode.bandwidth;
    const C = healthy.devices[0].computeSeconds / 2;
    relClose(slow.simulated.stepSeconds, C + g * A, "step time");
    for (const d of slow.devices) relClose(d.commSeconds, 2 * g * A, `rank ${d.rank}'s communication`);
    relClose(slow.faults!.stepSecondsAdded, (g - 1) * A, "step time added");
    expect(slow.faults!.slowLink).toEqual([{ ranks: [1], factor: g }]);
    // node 0 holds both ranks: the same links are slow.
    const byNode = await simulate(dpScenario(2, { slowLink: { node: 0, factor: g } }));
    expect(byNode.simulated.stepSeconds).toBe(slow.simulated.stepSeconds);
  }, 120_000);

  it("one slow rank of a dp group: step time f·C + A, its peer idles (f−1)·C_fb in step 0 and (f−1)·C in each later step", async () => {
    const f = 3;
    const S = 3;
    const { result: healthy, timeline } = await simulateWithTimeline(dpScenario(S));
    const slow = await simulate(dpScenario(S, { slowDevice: { rank: 1, factor: f } }));
    const s = dpScenario(S);
    const hw = s.hardware;
    const P = buildLayout(modelConfigOf(s)).totalSize;
    // Per step: C = all of a rank's compute, C_opt = the AdamW update's (its roofline time, read from
    // the fault-free timeline), C_fb = forward + backward.
    const C = healthy.devices[0].computeSeconds / S;
    const Copt = timeline.filter((e) => e.rank === 0 && e.label === "optimizer").reduce((t, e) => t + e.end - e.start, 0) / S;
    expect(Copt).toBeGreaterThan(0);
    const Cfb = C - Copt;
    // Ring all-reduce of the fp32 gradients in one node: 2(n−1)α + 2(n−1)/n · S/β, n = 2.
    const A = 2 * hw.intraNode.latency + (4 * P) / hw.intraNode.bandwidth;
    relClose(slow.simulated.stepSeconds, f * C + A, "step time");
    relClose(slow.devices[1].computeSeconds, S * f * C, "the straggler's compute");
    // Step 0: the peer waits for the straggler's slower forward and backward; later steps also for its slower update.
    const idle = (f - 1) * Cfb + (S - 1) * (f - 1) * C;
    relClose(slow.devices[0].idleSeconds, idle, "the peer's idle");
    const report = slow.faults!;
    relClose(report.stepSecondsAdded, (f - 1) * C, "step time added");
    relClose(report.baseline.stepSeconds, C + A, "fault-free step time");
    relClose(report.devices[0].idleSecondsAdded, idle, "idle added to the peer");
    expect(report.devices[1].idleSecondsAdded).toBe(0);
    relClose(report.devices[1].computeSecondsAdded, S * (f - 1) * C, "compute added to the straggler");
  }, 120_000);

  it("one slow last stage of a 1F1B pipeline: the other stages' bubble grows by m·(f−1)·(F+B) of that stage", async () => {
    const [p, m, f] = [4, 8, 2];
    const raw = (faults?: object) => ({
      name: "straggler-pp",
      model,
      training: { steps: 1, globalBatch: m, microBatches: m, optimizer: { lr: 1e-2 } },
      parallel: { pp: p, schedule: "1f1b" },
      // Unit costs and free links: only compute and waiting show.
      hardware: { profile: "unit" },
      faults,
    });
    const healthy = await simulateWithTimeline(validateScenario(raw()));
    const slow = await simulate(validateScenario(raw({ slowDevice: { rank: p - 1, factor: f } })));
    // Per stage, one micro-batch's forward F and backward B, and the update, from the fault-free run's compute.
    const sum = (rank: number, phase: RegExp) =>
      healthy.timeline.filter((e) => e.rank === rank && e.kind === "compute" && phase.test(e.label)).reduce((t, e) => t + (e.end - e.start), 0);
    const stage = Array.from({ length: p }, (_, i) => ({ F: sum(i, /^F\d+:/) / m, B: sum(i, /^B\d+:/) / m, opt: sum(i, /^optimizer$/) }));
    stage.forEach((st, i) => relClose(m * (st.F + st.B) + st.opt, healthy.result.devices[i].computeSeconds, `stage ${i}'s compute`));
    const last = stage[p - 1];
    // The last stage holds the head, so it is the bottleneck: once micro-batch 0 has come through the
    // other stages' forwards it never waits, and the last backward then goes back through their backwards.
    expect(stage.every((st) => st.F + st.B <= last.F + last.B)).toBe(true);
    const upstream = stage.slice(0, p - 1).reduce((t, st) => t + st.F + st.B, 0);
    const flush = (factor: number) => upstream + m * factor * (last.F + last.B);
    stage.forEach((st, i) => {
      const factor = i === p - 1 ? f : 1;
      // Idle until the flush (the grad-norm all-reduce waits for the slowest stage), then the update.
      relClose(healthy.result.devices[i].idleSeconds, flush(1) - m * (st.F + st.B), `fault-free stage ${i}'s bubble`);
      relClose(slow.devices[i].idleSeconds, flush(f) - m * factor * (st.F + st.B), `stage ${i}'s bubble`);
      relClose(slow.devices[i].makespanSeconds, flush(f) + factor * st.opt, `stage ${i}'s makespan`);
      if (i < p - 1) relClose(slow.faults!.devices[i].idleSecondsAdded, m * (f - 1) * (last.F + last.B), `bubble added to stage ${i}`);
    });
    expect(slow.faults!.devices[p - 1].idleSecondsAdded).toBe(0);
  }, 120_000);
});
