import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { generateSchedule } from "../../src/schedule/generators.js";
import { formatSchedule } from "../../src/schedule/printer.js";
import { formatScheduleReport, parseCosts, runSchedule, scheduleCommandOutput, scheduleReport } from "../../src/schedule/report.js";

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).not.toContain("\n");
    return e as InputError;
  }
  throw new Error("expected an InputError");
}

describe("bad input is an InputError naming the field", () => {
  it("schedule kind and dimensions", () => {
    const unknown = inputError(() => generateSchedule("pipedream", { p: 2, m: 2 }));
    expect(unknown.field).toBe("parallel.schedule");
    expect(unknown.message).toBe('parallel.schedule: must be one of gpipe, 1f1b, interleaved, zb-h1, got "pipedream"');
    const notMultiple = inputError(() => generateSchedule("interleaved", { p: 4, m: 6, v: 2 }));
    expect(notMultiple.field).toBe("training.microBatches");
    expect(notMultiple.message).toMatch(/multiple of parallel.pp \(4\).*got 6/);
    expect(inputError(() => generateSchedule("interleaved", { p: 2, m: 4, v: 1 })).field).toBe("parallel.virtualStages");
    expect(inputError(() => generateSchedule("interleaved", { p: 2, m: 4, v: 1.5 })).field).toBe("parallel.virtualStages");
    expect(inputError(() => generateSchedule("1f1b", { p: 2, m: 4, v: 2 })).field).toBe("parallel.virtualStages");
    expect(inputError(() => generateSchedule("1f1b", { p: 0, m: 4 })).field).toBe("parallel.pp");
    expect(inputError(() => generateSchedule("zb-h1", { p: 2, m: 0 })).field).toBe("training.microBatches");
    expect(inputError(() => generateSchedule("gpipe", { p: 2.5, m: 2 })).field).toBe("parallel.pp");
  });

  it("malformed costs", () => {
    for (const text of ["", "F=1,B=x", "F1", "F=1;B=2", "Q=1", "F=1,F=2", "F=0", "W=-1", "B=Infinity", "F=1,,B=2"]) {
      const e = inputError(() => parseCosts(text));
      expect(e.field).toBe("--costs");
      expect(e.message.startsWith("--costs: ")).toBe(true);
    }
    expect(inputError(() => scheduleReport({ kind: "1f1b", p: 2, m: 2, costs: { F: 1, B: Number.NaN, W: 0 } })).field).toBe("--costs");
  });
});

describe("parseCosts", () => {
  it("reads F, B, W in any order; missing ones are 1", () => {
    expect(parseCosts("F=1,B=2,W=1")).toEqual({ F: 1, B: 2, W: 1 });
    expect(parseCosts(" W = 0 , F=0.5 ")).toEqual({ F: 0.5, B: 1, W: 0 });
    expect(parseCosts("B=3")).toEqual({ F: 1, B: 3, W: 1 });
  });
});

describe("scheduleReport", () => {
  it("has the exact JSON shape and the 1F1B numbers (p=4, m=8, F=B=W=1)", () => {
    // Fused backward costs B + W = 2: busy 8·3 = 24, makespan 3(m + p − 1) = 33.
    expect(scheduleReport({ kind: "1f1b", p: 4, m: 8 })).toStrictEqual({
      makespan: 33,
      ranks: [0, 1, 2, 3].map((rank) => ({ rank, busy: 24, idle: 9, bubbleFraction: 9 / 33, peakStashed: 4 - rank })),
    });
    expect(JSON.parse(scheduleCommandOutput({ kind: "1f1b", p: 4, m: 8, json: true }))).toEqual(scheduleReport({ kind: "1f1b", p: 4, m: 8 }));
  });

  it("divides per-rank costs by v for interleaved chunks", () => {
    const r = scheduleReport({ kind: "interleaved", p: 2, m: 4, v: 2, costs: { F: 1, B: 1, W: 1 } });
    expect(r.ranks.map((x) => x.busy)).toEqual([12, 12]);
    expect(r.makespan).toBe(13.5); // 3m + 3(p − 1)/v
  });
});

describe("formatSchedule", () => {
  it("draws 1F1B p=2 m=2 in unit steps", () => {
    // Every compute action lasts one step. Rank 0 runs F0 at 0 and F1 at 1 (one warm-up
    // forward, then 1F1B). Rank 1 gets F0 at 1, so 1F0 at 1 and 1BW0 at 2; rank 0's BW0 needs
    // that gradient, so it idles at 2 and runs 0BW0 at 3. Rank 1 runs 1F1 at 3 (its input
    // arrived at 2) and 1BW1 at 4; rank 0 idles at 4 and runs 0BW1 at 5. Makespan 6.
    expect(formatSchedule(generateSchedule("1f1b", { p: 2, m: 2 }))).toBe(
      ["rank 0: 0F0  0F1  .    0BW0 .    0BW1", "rank 1: .    1F0  1BW0 1F1  1BW1 ."].join("\n"),
    );
  });

  it("draws with costs: a fused backward of B + W = 2 spans two columns", () => {
    // Same order with BW = 2: 1BW0 in [2,4), 0BW0 in [4,6), 1F1 in [4,5), 1BW1 in [5,7),
    // 0BW1 in [7,9).
    expect(formatSchedule(generateSchedule("1f1b", { p: 2, m: 2 }), { F: 1, B: 1, W: 1 })).toBe(
      [
        "rank 0: 0F0  0F1  .    .    0BW0 ~~~~ .    0BW1 ~~~~",
        "rank 1: .    1F0  1BW0 ~~~~ 1F1  1BW1 ~~~~ .    .",
      ].join("\n"),
    );
  });

  it("formatScheduleReport shows the grid, the makespan and the bubble per rank", () => {
    // ZB-H1, F = B = W = 1. Rank 1: F0 at 1, B0 at 2, F1 at 3, B1 at 4, then its postponed
    // W0 and W1 at 5 and 6. Rank 0: F0, F1 at 0, 1; B0 waits for rank 1's B0 (done at 3),
    // W0 at 4, B1 at 5 (rank 1's B1 done at 5), W1 at 6. Makespan 7 = 3m + p − 1.
    const { schedule, costs, report } = runSchedule({ kind: "zb-h1", p: 2, m: 2 });
    expect(formatScheduleReport(report, schedule, costs)).toBe(
      [
        "rank 0: 0F0 0F1 .   0B0 0W0 0B1 0W1",
        "rank 1: .   1F0 1B0 1F1 1B1 1W0 1W1",
        "",
        "makespan: 7",
        "rank  busy  idle  bubble  peak stashed",
        "0     6     1     14.3%   2",
        "1     6     1     14.3%   2",
      ].join("\n"),
    );
  });
});
