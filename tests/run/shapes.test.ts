/**
 * Shapes mode models real mode: the same scenario run with numbers and without gives the same
 * simulated timeline (every event's start and end), the same bytes by kind and memory by category
 * per rank, and the same step time. Where one representative stands for a pipeline stage, every
 * real rank of the stage must also have the representative's timeline: that is the symmetry
 * claim shapes mode rests on.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundledScenarioPath, inShapesMode, readScenarioFile, simulateWithTimeline, validateScenario } from "../../src/index.js";
import type { DeviceReport, RunOutput } from "../../src/run/results.js";
import type { TimelineEvent } from "../../src/sim/clock.js";
import { buildMesh } from "../../src/parallel/mesh.js";
import { classOfRank } from "../../src/parallel/symmetry.js";
import { markedCoords } from "../../src/run/shapes.js";

/** Both modes compute their clocks from the same numbers in the same order, so 1e-12 is round-off-free headroom. */
const RELATIVE = 1e-12;

function close(actual: number, expected: number, what: string): void {
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(RELATIVE * Math.max(Math.abs(actual), Math.abs(expected)));
}

const simulatedOnly = (e: TimelineEvent) => [e.stream, e.kind, e.label, e.step, e.bytes ?? null];

function expectSameEvents(actual: TimelineEvent[], expected: TimelineEvent[], who: string): void {
  expect(actual.map(simulatedOnly), `${who}: events`).toEqual(expected.map(simulatedOnly));
  actual.forEach((e, i) => {
    close(e.start, expected[i]!.start, `${who} event ${i} (${e.label}) start`);
    close(e.end, expected[i]!.end, `${who} event ${i} (${e.label}) end`);
  });
}

function expectSameTimes(actual: DeviceReport, expected: DeviceReport, who: string): void {
  for (const key of ["computeSeconds", "commSeconds", "idleSeconds", "makespanSeconds"] as const) close(actual[key], expected[key], `${who} ${key}`);
}

/** Compares a shapes-only run with the real run of the same scenario. */
function expectSameSimulation(shapes: RunOutput, real: RunOutput): void {
  expect(shapes.result.losses).toEqual([]);
  expect(shapes.result.finalLoss).toBeNull();
  expect(shapes.result.worldSize).toBe(real.result.worldSize);
  close(shapes.result.simulated.stepSeconds, real.result.simulated.stepSeconds, "step time");
  const eventsOf = (out: RunOutput, rank: number) => out.timeline.filter((e) => e.rank === rank);
  for (const row of shapes.result.devices) {
    const same = real.result.devices.find((d) => d.rank === row.rank)!;
    expectSameTimes(row, same, `rank ${row.rank}`);
    expect(row.bytesByKind, `rank ${row.rank} bytes`).toEqual(same.bytesByKind);
    expect(row.memory, `rank ${row.rank} memory`).toEqual(same.memory);
    expect(row.peakStashed).toBe(same.peakStashed);
    expectSameEvents(eventsOf(shapes, row.rank), eventsOf(real, row.rank), `rank ${row.rank}`);
  }
  // Every real rank behaves as the row that stands for it.
  expect(shapes.result.devices.reduce((n, d) => n + d.ranks, 0)).toBe(real.result.worldSize);
  // A row stands for the ranks of its class: its pipeline stage, or with faults part of it (src/parallel/symmetry.ts).
  const s = shapes.result.scenario;
  const mesh = buildMesh(s.parallel);
  const classOf = classOfRank(mesh, true, markedCoords(s, mesh));
  for (const d of real.result.devices) {
    const row = shapes.result.devices.find((r) => r.rank === d.rank) ?? shapes.result.devices.find((r) => r.ranks > 1 && classOf(r.rank) === classOf(d.rank))!;
    expectSameTimes(d, row, `rank ${d.rank} as rank ${row.rank}`);
    expectSameEvents(eventsOf(real, d.rank), eventsOf(shapes, row.rank), `rank ${d.rank} as rank ${row.rank}`);
  }
}

async function bothModes(raw: object, baseDir = process.cwd()): Promise<[RunOutput, RunOutput]> {
  const real = await simulateWithTimeline(validateScenario(raw, baseDir));
  const shapes = await simulateWithTimeline(validateScenario(inShapesMode(raw), baseDir));
  return [shapes, real];
}

describe("shapes mode gives real mode's simulated results", () => {
  const dir = join(bundledScenarioPath("default.yaml"), "..");
  const curated = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

  it.each(curated)("curated scenario %s (its first steps)", async (file) => {
    const { raw, baseDir } = readScenarioFile(join(dir, file));
    // Three steps, or the warm-up's length: every step repeats the first's work, only the learning rate changes.
    const scenario = raw as { training: { steps: number; optimizer: { warmupSteps?: number } } };
    const steps = Math.max(3, scenario.training.optimizer.warmupSteps ?? 0);
    const [shapes, real] = await bothModes({ ...scenario, training: { ...scenario.training, steps } }, baseDir);
    expectSameSimulation(shapes, real);
  });

  const tiny = (parallel: object, microBatches = 4, hardware: object = {}, globalBatch = 8) => {
    const { recompute = "none", attention = "naive", attentionPattern = "causal", precision = "fp32", gradReduceFp32 = false, family, tieEmbeddings, ...layout } = parallel as Record<string, unknown>;
    return {
      model: { hiddenSize: 16, intermediateSize: 48, numLayers: 8, numHeads: 4, numKvHeads: 4, seqLen: 8, attention, attentionPattern, family, tieEmbeddings },
      training: { steps: 2, globalBatch, microBatches, optimizer: { lr: 1e-2 }, recompute, precision, gradReduceFp32 },
      parallel: layout,
      hardware,
    };
  };
  const layouts: [string, object, number?][] = [
    ["dp 4", { dp: 4 }, 2],
    ["dp 2 with ZeRO-1", { dp: 2, zero: 1 }],
    ["tp 4", { tp: 4 }],
    ["tp 2 with sequence parallelism", { tp: 2, sequenceParallel: true }],
    ["pp 4 gpipe", { pp: 4, schedule: "gpipe" }],
    ["pp 4 1f1b", { pp: 4, schedule: "1f1b" }],
    ["pp 2 zb-h1", { pp: 2, schedule: "zb-h1" }],
    ["pp 2 interleaved", { pp: 2, schedule: "interleaved" }],
    ["dp 2 × tp 2 × pp 2, 1f1b, sequence parallel, ZeRO-1", { dp: 2, tp: 2, pp: 2, sequenceParallel: true, zero: 1 }],
    ["dp 2 × tp 2 × pp 2, interleaved", { dp: 2, tp: 2, pp: 2, schedule: "interleaved" }],
    ["dp 2 × tp 2 × pp 2, zb-h1", { dp: 2, tp: 2, pp: 2, schedule: "zb-h1" }],
    ["tp 2 × pp 2 with selective recomputation", { tp: 2, pp: 2, recompute: "selective" }],
    ["dp 2 × tp 2 × pp 2 interleaved with full recomputation", { dp: 2, tp: 2, pp: 2, schedule: "interleaved", recompute: "full" }],
    ["tp 2 × pp 2 zb-h1 with flash attention", { tp: 2, pp: 2, schedule: "zb-h1", attention: "flash" }],
    ["dp 2 × tp 2 × pp 2 in bf16, sequence parallel, ZeRO-1", { dp: 2, tp: 2, pp: 2, sequenceParallel: true, zero: 1, precision: "bf16" }],
    ["dp 2 × pp 2 in fp16 with fp32 gradient reduction", { dp: 2, pp: 2, precision: "fp16", gradReduceFp32: true }],
    ["dp 2 × pp 2 with strided sparse attention and selective recomputation", { dp: 2, pp: 2, recompute: "selective", attentionPattern: { kind: "strided", block: 2, stride: 2 } }],
    ["gpt, tied, dp 2 × tp 2 × pp 2 interleaved, sequence parallel, ZeRO-1", { family: "gpt", tieEmbeddings: true, dp: 2, tp: 2, pp: 2, schedule: "interleaved", sequenceParallel: true, zero: 1 }],
    ["dp 2 × tp 2 × pp 2, 1f1b, ZeRO-2", { dp: 2, tp: 2, pp: 2, zero: 2 }],
    ["dp 2 × tp 2 × pp 2 interleaved, blocking sends, pipeline scatter/gather", { dp: 2, tp: 2, pp: 2, schedule: "interleaved", p2p: "blocking", pipelineScatterGather: true }],
    ["dp 2 × tp 2 × pp 2 interleaved in bf16, sequence parallel, ZeRO-3", { dp: 2, tp: 2, pp: 2, schedule: "interleaved", sequenceParallel: true, zero: 3, precision: "bf16" }],
    ["dp 2 × pp 2 zb-h1, ZeRO-3 (the W pass gathers too)", { dp: 2, pp: 2, schedule: "zb-h1", zero: 3 }],
    ["gpt, tied, dp 2 × pp 2, ZeRO-3", { family: "gpt", tieEmbeddings: true, dp: 2, pp: 2, zero: 3 }],
    ["gpt, tied, pp 2 zb-h1 with selective recomputation", { family: "gpt", tieEmbeddings: true, pp: 2, schedule: "zb-h1", recompute: "selective" }],
    ["gpt, untied, tp 2 × pp 2 with full recomputation and flash attention", { family: "gpt", tp: 2, pp: 2, recompute: "full", attention: "flash" }],
  ];
  it.each(layouts)("%s", async (_name, parallel, microBatches) => {
    const [shapes, real] = await bothModes(tiny(parallel, microBatches));
    expectSameSimulation(shapes, real);
  });

  const faulty: [string, object, object][] = [
    // 16 ranks on 2 nodes: rank 5 (dp 2, tp 1, stage 0) is its own class; its dp and tp peers get classes apart from their stage's.
    ["dp 4 × tp 2 × pp 2 with a straggler", { dp: 4, tp: 2, pp: 2 }, { slowDevice: { rank: 5, factor: 3 } }],
    ["dp 4 × pp 2 ZeRO-1 with a slow link and a straggler", { dp: 4, pp: 2, zero: 1 }, { slowLink: { ranks: [2], factor: 4 }, slowDevice: { rank: 6, factor: 1.5 } }],
  ];
  it.each(faulty)("%s: a class per faulty coordinate, every rank as its class's representative", async (_name, parallel, faults) => {
    const [shapes, real] = await bothModes({ ...tiny(parallel, 2), faults });
    expect(shapes.result.devices.length).toBeLessThan(real.result.worldSize);
    expectSameSimulation(shapes, real);
    // What the faults cost agrees too, row by row.
    close(shapes.result.faults!.stepSecondsAdded, real.result.faults!.stepSecondsAdded, "step time added");
  });

  it("a crash in shapes mode ends the run naming the rank and the step", async () => {
    const raw = inShapesMode({ ...tiny({ dp: 4, tp: 2 }, 2), faults: { crash: { rank: 6, step: 1 } } });
    await expect(simulateWithTimeline(validateScenario(raw))).rejects.toThrow(/^rank 6 failed during step 1: injected crash/);
  });

  it("collapses a node-aligned layout to one worker per stage, and keeps every rank of one that is not", async () => {
    const [aligned] = await bothModes(tiny({ dp: 2, tp: 2, pp: 2 }));
    expect(aligned.result.devices.map((d) => [d.rank, d.ranks])).toEqual([[0, 4], [4, 4]]);
    // dp 3 per stage on nodes of 4: stage 1's ranks 3, 4, 5 sit on two nodes, so none stands for another.
    const [straddling, real] = await bothModes(tiny({ dp: 3, pp: 2, schedule: "1f1b" }, 2, { devicesPerNode: 4 }, 6));
    expect(straddling.result.devices.map((d) => d.ranks)).toEqual([1, 1, 1, 1, 1, 1]);
    expectSameSimulation(straddling, real);
  });
});
