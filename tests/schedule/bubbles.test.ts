/**
 * Invariant 3 (time) and the memory forms, measured by the schedule simulation with free links.
 * Sources: GPipe (Huang et al. 2019), PipeDream-flush and interleaved 1F1B (Narayanan et al.
 * 2021), ZB-H1 (Qi et al., ICLR 2024); docs/architecture.md lists these sources.
 */
import { describe, expect, it } from "vitest";
import { generateSchedule } from "../../src/schedule/generators.js";
import { scheduleReport } from "../../src/schedule/report.js";
import { simulateSchedule } from "../../src/schedule/simulate.js";

const cases = [2, 4, 8].flatMap((p) => [p, 2 * p, 4 * p].map((m) => ({ p, m })));

describe.each(cases)("p=$p m=$m", ({ p, m }) => {
  it("GPipe and 1F1B (F=1, B=2) leave (p−1)/(m+p−1) idle on every rank", () => {
    for (const kind of ["gpipe", "1f1b"]) {
      const sim = simulateSchedule(generateSchedule(kind, { p, m }), { F: 1, B: 2, W: 0 });
      expect(sim.makespan).toBeCloseTo(3 * (m + p - 1), 12);
      for (const r of sim.ranks) {
        expect(r.busy).toBe(3 * m);
        expect(r.idle).toBeCloseTo(sim.makespan - 3 * m, 12);
        expect(r.bubbleFraction).toBeCloseTo((p - 1) / (m + p - 1), 12);
      }
    }
  });

  it("interleaved v=2 (each chunk F=1/v, B=2/v) leaves (p−1)/(v·m+p−1)", () => {
    const v = 2;
    const sim = simulateSchedule(generateSchedule("interleaved", { p, m, v }), { F: 1 / v, B: 2 / v, W: 0 });
    for (const r of sim.ranks) {
      expect(r.busy).toBeCloseTo(3 * m, 12);
      expect(r.bubbleFraction).toBeCloseTo((p - 1) / (v * m + p - 1), 12);
    }
    // The report takes per-rank costs and divides them by v itself.
    const report = scheduleReport({ kind: "interleaved", p, m, v, costs: { F: 1, B: 2, W: 0 } });
    expect(report.makespan).toBeCloseTo(sim.makespan, 12);
  });

  it("ZB-H1 (F=B=W=1) has makespan 3m+p−1: a third of 1F1B's bubble time", () => {
    const costs = { F: 1, B: 1, W: 1 };
    const zb = simulateSchedule(generateSchedule("zb-h1", { p, m }), costs);
    const ofob = simulateSchedule(generateSchedule("1f1b", { p, m }), costs); // fused B+W = 2
    expect(zb.makespan).toBeCloseTo(3 * m + p - 1, 12);
    for (const r of zb.ranks) expect(r.idle).toBeCloseTo(p - 1, 12);
    for (const r of ofob.ranks) expect(r.idle).toBeCloseTo(3 * (p - 1), 12);
  });
});

describe("peak stashed micro-batches", () => {
  const memoryCases = [2, 4, 8].flatMap((p) => [1, p - 1, p, 2 * p].filter((m) => m >= 1).map((m) => ({ p, m })));
  const unit = { F: 1, B: 1, W: 1 };

  it.each(memoryCases)("1F1B holds min(p − r, m) on rank r, GPipe m (p=$p m=$m)", ({ p, m }) => {
    const ofob = simulateSchedule(generateSchedule("1f1b", { p, m }), unit);
    expect(ofob.ranks.map((r) => r.peakStashed)).toEqual(ofob.ranks.map((r) => Math.min(p - r.rank, m)));
    const gp = simulateSchedule(generateSchedule("gpipe", { p, m }), unit);
    expect(gp.ranks.map((r) => r.peakStashed)).toEqual(gp.ranks.map(() => m));
  });

  it.each(memoryCases)("ZB-H1 matches 1F1B (p=$p m=$m)", ({ p, m }) => {
    const zb = simulateSchedule(generateSchedule("zb-h1", { p, m }), unit);
    const ofob = simulateSchedule(generateSchedule("1f1b", { p, m }), unit);
    // Activations awaiting their B, per rank: exactly 1F1B's min(p − r, m).
    expect(zb.ranks.map((r) => r.peakAwaitingBackward)).toEqual(ofob.ranks.map((r) => r.peakStashed));
    // Held until W (W needs the saved inputs): rank r also keeps the r micro-batches whose W
    // it postponed, so every rank holds min(p, m): the peak across ranks equals 1F1B's.
    expect(zb.ranks.map((r) => r.peakStashed)).toEqual(zb.ranks.map(() => Math.min(p, m)));
    expect(Math.max(...zb.ranks.map((r) => r.peakStashed))).toBe(Math.max(...ofob.ranks.map((r) => r.peakStashed)));
  });

  it("interleaved counts each (chunk, micro-batch): Megatron's warm-up + 1 on each rank", () => {
    const p = 4, m = 8, v = 2;
    const sim = simulateSchedule(generateSchedule("interleaved", { p, m, v }), { F: 0.5, B: 0.5, W: 0.5 });
    expect(sim.ranks.map((r) => r.peakStashed)).toEqual([0, 1, 2, 3].map((r) => (p - r - 1) * 2 + (v - 1) * p + 1));
  });
});
