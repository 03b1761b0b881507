import { beforeAll, describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import { BYTES_COUNTER, chromeTrace, COMM_TID, COMPUTE_TID, type ChromeTrace, type TraceRun } from "../../src/report/trace.js";
import type { TimelineEvent } from "../../src/sim/clock.js";
import { fakeRun } from "./fixture.js";

const fakeRuns = (): TraceRun[] =>
  [{ dp: 2, tp: 1, pp: 2 }, { dp: 1, tp: 1, pp: 3, schedule: "gpipe" }].map((l) => {
    const { run, timeline } = fakeRun(l);
    return { label: run.layout.label, result: run, timeline };
  });

/** Checks everything the trace promises about `runs`; returns the trace for further checks. */
function checkTrace(runs: TraceRun[]): ChromeTrace {
  const trace = chromeTrace(runs);
  const again = JSON.parse(JSON.stringify(trace)) as ChromeTrace;
  expect(again).toEqual(trace);
  const events = again.traceEvents;

  // One pid per (run, rank), named and sorted in run-then-rank order.
  const names = events.filter((e) => e.ph === "M" && e.name === "process_name");
  const expected = runs.flatMap((r, i) => Array.from({ length: r.result.worldSize }, (_, rank) => `run ${i + 1} · ${r.label} · rank ${rank}`));
  expect(names.map((e) => (e.args as { name: string }).name)).toEqual(expected);
  const pids = names.map((e) => e.pid);
  expect(new Set(pids).size).toBe(expected.length);
  const sortIndex = events.filter((e) => e.name === "process_sort_index").map((e) => (e.args as { sort_index: number }).sort_index);
  expect(sortIndex).toEqual([...sortIndex].sort((a, b) => a - b));
  for (const pid of pids) {
    const threads = events.filter((e) => e.pid === pid && e.name === "thread_name").map((e) => [e.tid, (e.args as { name: string }).name]);
    expect(threads).toEqual([[COMPUTE_TID, "compute"], [COMM_TID, "communication"]]);
  }

  // Slices: one per compute action, exposed-comm wait and comm-stream event; none for idle.
  const slices = events.filter((e) => e.ph === "X");
  for (const s of slices) {
    for (const k of ["ts", "dur", "pid", "tid"] as const) expect(typeof s[k]).toBe("number");
    expect(Number.isFinite(s.ts) && Number.isFinite(s.dur)).toBe(true);
    expect(s.dur).toBeGreaterThanOrEqual(0);
    expect(pids).toContain(s.pid);
    expect(typeof s.name).toBe("string");
  }
  const all = runs.flatMap((r) => r.timeline);
  expect(slices.length).toBe(all.filter((e) => e.kind !== "idle").length);
  expect(slices.filter((s) => s.cat === "comm-wait").length).toBe(all.filter((e) => e.stream === "compute" && e.kind === "comm").length);
  expect(slices.filter((s) => s.tid === COMM_TID).every((s) => s.cat === "comm")).toBe(true);
  expect(slices.some((s) => s.cat === "idle")).toBe(false);

  // Byte counters: per rank, monotone, ending at the rank's comm-stream bytes.
  let pid = 0;
  runs.forEach((r) => {
    for (let rank = 0; rank < r.result.worldSize; rank++) {
      const counter = events.filter((e) => e.ph === "C" && e.pid === pids[pid] && e.name === BYTES_COUNTER);
      const values = counter.map((e) => (e.args as { bytes: number }).bytes);
      const times = counter.map((e) => e.ts as number);
      for (let i = 1; i < values.length; i++) {
        expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
        expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]);
      }
      const bytes = r.timeline.filter((e) => e.rank === rank && e.stream === "comm").reduce((s, e) => s + (e.bytes ?? 0), 0);
      expect(values[values.length - 1]).toBe(bytes);
      pid++;
    }
  });
  return again;
}

describe("chromeTrace", () => {
  it("is a valid trace of synthetic runs: processes, threads, slices, byte counters", () => {
    const runs = fakeRuns();
    const trace = checkTrace(runs);
    expect(trace.displayTimeUnit).toBe("ns");
    // 4 + 3 ranks × 2 steps × (4 compute + 1 or 2 waits + 2 transfers), idle excluded.
    const slices = trace.traceEvents.filter((e) => e.ph === "X");
    expect(slices.length).toBe(runs.flatMap((r) => r.timeline).filter((e) => e.kind !== "idle").length);
    expect(slices.length).toBe(7 * 2 * (4 + 2 + 2));
  });

  it("handles a run of 200 000 events (more than a call can take as spread arguments)", () => {
    const [run] = fakeRuns();
    const one = run.timeline.find((e) => e.stream === "compute" && e.kind === "compute")!;
    const timeline: TimelineEvent[] = Array.from({ length: 200_000 }, (_, i) => ({ ...one, start: i, end: i + 0.5, step: 0 }));
    const trace = chromeTrace([{ ...run, timeline }]);
    expect(trace.traceEvents.filter((e) => e.ph === "X")).toHaveLength(200_000);
  });

  it("keeps zero-length actions with dur 0 and puts simulated µs in ts, wall seconds in args", () => {
    const runs = fakeRuns();
    const trace = chromeTrace(runs);
    const embed = trace.traceEvents.filter((e) => e.name === "F0:embed");
    expect(embed.length).toBe(7 * 2);
    expect(embed.every((e) => e.dur === 0)).toBe(true);
    const source = runs[0].timeline.find((e) => e.rank === 1 && e.label === "all-reduce(dp-grad)") as TimelineEvent;
    const slice = trace.traceEvents.find((e) => e.pid === 2 && e.name === "all-reduce(dp-grad)");
    expect(slice?.ts).toBeCloseTo(source.start * 1e6, 9);
    expect(slice?.dur).toBeCloseTo((source.end - source.start) * 1e6, 9);
    expect(slice?.args).toEqual({ step: 0, wallStartSeconds: source.wallStart, wallEndSeconds: source.wallEnd, bytes: 8192 });
  });

  it("gives the second run's ranks pids after the first run's", () => {
    const trace = chromeTrace(fakeRuns());
    const names = trace.traceEvents.filter((e) => e.name === "process_name");
    expect(names.map((e) => e.pid)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(trace.traceEvents.find((e) => e.pid === 6 && e.name === "process_labels")?.args).toEqual({ labels: "dp 0 · pp 1 · tp 0" });
  });

  describe("on a real run (dp 2 × pp 2, 1F1B, 2 steps)", () => {
    let real: TraceRun;
    beforeAll(async () => {
      const { result, timeline } = await simulateWithTimeline(
        validateScenario({
          model: { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 },
          training: { steps: 2, globalBatch: 8, microBatches: 4, optimizer: { lr: 1e-2 } },
          parallel: { pp: 2, dp: 2 },
        }),
      );
      real = { label: "dp2·tp1·pp2 1f1b", result, timeline };
    });

    it("is valid, and its slices cover the compute stream minus idle exactly", () => {
      const trace = checkTrace([real]);
      for (const d of real.result.devices) {
        const compute = trace.traceEvents.filter((e) => e.ph === "X" && e.pid === d.rank + 1 && e.tid === COMPUTE_TID);
        const busy = compute.reduce((s, e) => s + (e.dur as number), 0) / 1e6;
        expect(busy).toBeCloseTo(d.computeSeconds + d.commSeconds, 12);
      }
    });
  });
});
