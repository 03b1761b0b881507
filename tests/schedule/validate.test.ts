import { describe, expect, it } from "vitest";
import { parseActions, type Action } from "../../src/schedule/actions.js";
import { ScheduleError } from "../../src/schedule/error.js";
import { generateSchedule, SCHEDULE_KINDS } from "../../src/schedule/generators.js";
import { simulateSchedule } from "../../src/schedule/simulate.js";
import { validateSchedule } from "../../src/schedule/validate.js";

const fromText = (...rows: string[]): Action[][] => rows.map(parseActions);

/** The validator's error for `schedule`, or a failure if it does not throw a ScheduleError. */
function rejection(schedule: Action[][], dims = { p: 2, m: 2, v: 1 }): ScheduleError {
  try {
    validateSchedule(schedule, dims);
  } catch (e) {
    expect(e).toBeInstanceOf(ScheduleError);
    expect((e as Error).name).toBe("ScheduleError");
    return e as ScheduleError;
  }
  throw new Error("validateSchedule accepted a broken schedule");
}

describe("validateSchedule accepts every generated schedule", () => {
  const dimsList = [1, 2, 3, 4, 8].flatMap((p) => [1, 2, 3, p, 2 * p, 4 * p].map((m) => ({ p, m })));
  it.each(SCHEDULE_KINDS.flatMap((kind) => dimsList.map((d) => ({ kind, ...d }))))("$kind p=$p m=$m", ({ kind, p, m }) => {
    if (kind === "interleaved") {
      if (m % p !== 0) return;
      for (const v of [2, 3]) expect(() => validateSchedule(generateSchedule(kind, { p, m, v }), { p, m, v })).not.toThrow();
    } else {
      expect(() => validateSchedule(generateSchedule(kind, { p, m }), { p, m, v: 1 })).not.toThrow();
    }
  });
});

describe("validateSchedule rejects, with the grid and the faulty cell marked", () => {
  it("a backward before its forward", () => {
    const e = rejection(fromText(
      "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1BW0 1F0 1SEND_B0 1RECV_F1 1F1 1BW1 1SEND_B1",
    ));
    expect(e.summary).toBe("1BW0 runs before its forward 1F0");
    expect(e.cells).toEqual([{ rank: 1, index: 1 }]);
    // The whole grid in list order: every cell is 12 wide (the longest label, 8, plus 4), a
    // label starts after two spaces, or after ">>" when marked.
    expect(e.message).toBe(
      "1BW0 runs before its forward 1F0\n" +
        "rank 0:   0F0         0SEND_F0    0F1         0SEND_F1    0RECV_B0    0BW0        0RECV_B1    0BW1\n" +
        "rank 1:   1RECV_F0  >>1BW0<<      1F0         1SEND_B0    1RECV_F1    1F1         1BW1        1SEND_B1",
    );
  });

  it("a missing SEND", () => {
    const e = rejection(fromText(
      "0F0 0SEND_F0 0F1 0RECV_B0 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1F0 1BW0 1SEND_B0 1RECV_F1 1F1 1BW1 1SEND_B1",
    ));
    expect(e.summary).toBe("1RECV_F1 has no matching 0SEND_F1 on rank 0");
    expect(e.message).toContain(">>1RECV_F1<<");
    expect(e.message.split("\n")).toHaveLength(3);
  });

  it("sends and receives crossed so that both ranks wait: a deadlock", () => {
    // Rank 0 waits for the gradient of micro-batch 0 before sending micro-batch 1's
    // activations; GPipe's rank 1 needs those activations before it computes that gradient.
    const e = rejection(fromText(
      "0F0 0SEND_F0 0F1 0RECV_B0 0SEND_F1 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1F0 1RECV_F1 1F1 1BW0 1SEND_B0 1BW1 1SEND_B1",
    ));
    expect(e.summary).toMatch(/^deadlock: no rank can progress \(rank 0 waits at 0RECV_B0; rank 1 waits at 1RECV_F1\)/);
    expect(e.message).toContain(">>0RECV_B0<<");
    expect(e.message).toContain(">>1RECV_F1<<");
    expect(() => simulateSchedule(fromText(
      "0F0 0SEND_F0 0F1 0RECV_B0 0SEND_F1 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1F0 1RECV_F1 1F1 1BW0 1SEND_B0 1BW1 1SEND_B1",
    ), { F: 1, B: 1, W: 1 })).toThrow(/deadlock/);
  });

  it("receives taken out of send order on a channel", () => {
    const e = rejection(fromText(
      "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0BW0 0RECV_B1 0BW1",
      "1RECV_F1 1RECV_F0 1F0 1F1 1BW0 1SEND_B0 1BW1 1SEND_B1",
    ));
    expect(e.summary).toMatch(/^rank 1 receives 1RECV_F1 as message 0 from rank 0, but message 0 is 0SEND_F0/);
    expect(e.message).toContain(">>0SEND_F0<<");
    expect(e.message).toContain(">>1RECV_F1<<");
  });

  it("a duplicate action", () => {
    const e = rejection(fromText(
      "0F0 0SEND_F0 0F1 0SEND_F1 0F1 0RECV_B0 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1F0 1BW0 1SEND_B0 1RECV_F1 1F1 1BW1 1SEND_B1",
    ));
    expect(e.summary).toBe("duplicate action 0F1");
    expect(e.cells).toEqual([{ rank: 0, index: 2 }, { rank: 0, index: 4 }]);
    expect(e.message).toContain(">>0F1<<       0SEND_F1  >>0F1<<");
  });

  it("an action on the wrong rank, a missing W, a stage out of range", () => {
    expect(rejection(fromText("0F0 1F0 0F1 0BW0 0BW1", "1F1 1BW0 1BW1")).summary).toBe("1F0 is on rank 0, but stage 1 lives on rank 1");
    const zb = generateSchedule("zb-h1", { p: 2, m: 2 }).map((l) => l.filter((a) => !(a.type === "W" && a.stage === 1 && a.mb === 1)));
    const e = rejection(zb);
    expect(e.summary).toBe("missing 1W1: a split backward needs its weight-gradient half");
    expect(e.message).toContain(">>1B1<<");
    expect(rejection(fromText("2F0", ""), { p: 2, m: 1, v: 1 }).summary).toBe("2F0: stage must be 0..1");
  });
});
