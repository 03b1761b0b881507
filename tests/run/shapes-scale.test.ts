/**
 * Closed forms at scale: Llama-3-8B on 1,024 devices (tp 8 · pp 4 · dp 32) in shapes mode, one
 * representative per pipeline stage. Bytes follow the published volumes exactly; with the unit
 * profile (free links, one FLOP per second) the pipeline's idle time is what the schedule IR's
 * own simulation gives for the stages' FLOPs, which is the (p−1)/(m+p−1) or (p−1)/(v·m+p−1)
 * bubble when stages cost the same.
 */
import { describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import { modelFlops } from "../../src/model/flops.js";
import { stageParts } from "../../src/parallel/pipeline.js";
import { computeTime } from "../../src/sim/cost.js";
import type { RunOutput } from "../../src/run/results.js";
import { generateSchedule } from "../../src/schedule/generators.js";
import { simulateSchedule } from "../../src/schedule/simulate.js";
import { modelConfigOf } from "../../src/train/trainer.js";

const [DP, TP, PP, M, SEQ] = [32, 8, 4, 8, 4096];
const HIDDEN = 4096; // llama-3-8b

function scenario(parallel: object, hardware: object = { profile: "h100-80gb" }) {
  return validateScenario({
    name: "llama-3-8b at scale",
    mode: "shapes",
    model: { preset: "llama-3-8b", seqLen: SEQ },
    training: { steps: 1, globalBatch: DP * M, microBatches: M, optimizer: { lr: 1e-4 } },
    parallel: { dp: DP, tp: TP, pp: PP, bucketBytes: 25 * 2 ** 20, ...parallel },
    hardware,
  });
}

describe("closed forms on 1,024 devices (Llama-3-8B, tp 8 · pp 4 · dp 32, shapes mode)", () => {
  const bsh = 1 * SEQ * HIDDEN; // micro-batch of one sequence: b·s·h elements
  let out: RunOutput;

  it("simulates one representative per stage for the 1,024 ranks", async () => {
    out = await simulateWithTimeline(scenario({ schedule: "1f1b" }));
    expect(out.result.worldSize).toBe(1024);
    expect(out.result.devices.map((d) => d.ranks)).toEqual([256, 256, 256, 256]);
  });

  it("dp-grad per rank is 2(n−1)/n · S, S the rank's gradient bytes", () => {
    // Every Llama-3-8B shard size is a multiple of 32, so every bucket splits evenly over dp = 32.
    for (const d of out.result.devices) expect(d.bytesByKind["dp-grad"]).toBe(((2 * (DP - 1)) / DP) * d.memory.gradients);
  });

  it("tp-act per rank is 4 all-reduces of b·s·h per layer per micro-batch, 2(t−1)/t of each sent", () => {
    const layersPerStage = 32 / PP;
    const perAllReduce = ((2 * (TP - 1)) / TP) * bsh * 4;
    for (const d of out.result.devices) expect(d.bytesByKind["tp-act"]).toBe(layersPerStage * M * 4 * perAllReduce);
  });

  it("each pipeline boundary carries 2·m·b·s·h elements per step (activations forward, gradients backward)", () => {
    const boundary = M * bsh * 4;
    for (const d of out.result.devices) {
      expect(d.bytesByKind["pp-act"] ?? 0).toBe(d.coords.pp < PP - 1 ? boundary : 0);
      expect(d.bytesByKind["pp-grad"] ?? 0).toBe(d.coords.pp > 0 ? boundary : 0);
    }
    const kinds = out.result.communication.bytesByKind;
    expect(kinds["pp-act"] + kinds["pp-grad"]).toBe(DP * TP * (PP - 1) * 2 * boundary);
  });

  it.each([
    ["1f1b", 1],
    ["interleaved", 2],
  ])("%s with unit costs: each stage's pipeline idle time is the schedule's, (p−1)/(v·m+p−1) for equal stages", async (schedule, v) => {
    const run = await simulateWithTimeline(scenario({ schedule }, { profile: "unit" }));
    const config = modelConfigOf(run.result.scenario);
    const parts = stageParts(config, { p: PP, v });
    // The stages' FLOPs on one tp rank for a micro-batch, as the model charges them: F, and B as BW.
    const hw = run.result.scenario.hardware;
    const seconds = parts.map((part) => modelFlops(config, part, 1, SEQ, TP)).map((f) => ({
      F: computeTime(hw, f.forward),
      BW: computeTime(hw, f.backwardInput + f.backwardWeight),
    }));
    const ir = simulateSchedule(generateSchedule(schedule, { p: PP, m: M, v }), (a) => (a.type === "F" ? seconds[a.stage]!.F : seconds[a.stage]!.BW));
    // A rank's pipeline phase: its forward and backward compute events; its idle there is its end minus its busy time.
    for (const d of run.result.devices) {
      const r = d.coords.pp;
      const work = run.timeline.filter((e) => e.rank === d.rank && e.kind === "compute" && /^[FB]\d+:/.test(e.label));
      const end = Math.max(...work.map((e) => e.end));
      const busy = work.reduce((s, e) => s + e.end - e.start, 0);
      const irEnd = Math.max(...ir.timeline[r]!.map((t) => t.end));
      expect(Math.abs(end - irEnd) / irEnd, `rank ${d.rank}: end of its pipeline phase`).toBeLessThan(1e-12);
      expect(Math.abs(end - busy - (irEnd - ir.ranks[r]!.busy)) / irEnd, `rank ${d.rank}: idle in its pipeline phase`).toBeLessThan(1e-12);
    }
    // With equal stage costs the same simulation gives the published bubble exactly.
    const equal = simulateSchedule(generateSchedule(schedule, { p: PP, m: M, v }), { F: 1 / v, B: 2 / v, W: 0 });
    expect(equal.ranks[0]!.idle / equal.makespan).toBeCloseTo((PP - 1) / (v * M + PP - 1), 12);
  });
});
