/**
 * The marks of a timeline lane (src/report/timeline-marks.ts): wide events drawn alone, events
 * under a pixel gathered into marks of about a pixel that cover them, coloured by the kind that
 * fills most of their time.
 */
import { describe, expect, it } from "vitest";
import type { EventKind, TimelineEvent } from "../../src/sim/clock.js";
import { timelineSvg } from "../../src/report/html-timeline.js";
import { MIN_PX, timelineMarks } from "../../src/report/timeline-marks.js";
import { formatBytes, formatSeconds } from "../../src/report/table.js";

/** 1 simulated second per pixel. */
const px = (t: number) => t;

function event(start: number, end: number, kind: EventKind = "compute", extra: Partial<TimelineEvent> = {}): TimelineEvent {
  return { rank: 0, stream: "compute", kind, label: `e${start}`, start, end, wallStart: 0, wallEnd: 0, step: 0, ...extra };
}

describe("timeline marks", () => {
  it("draws an event at least a pixel wide alone, with its label, kind, time and bytes, and leaves out events of no width", () => {
    const marks = timelineMarks([event(0, 3), event(3, 3), event(5, 6, "idle"), event(1, 2.5, "compute", { stream: "comm", bytes: 2048 })], px);
    expect(marks.map((m) => [m.start, m.end, m.kind, m.onComm, m.events])).toEqual([
      [0, 3, "compute", false, 1],
      [5, 6, "idle", false, 1],
      [1, 2.5, "compute", true, 1],
    ]);
    expect(marks[0]!.tip).toBe(`e0 · compute · ${formatSeconds(3)}`);
    expect(marks[2]!.tip).toBe(`e1 · transfer · ${formatSeconds(1.5)} · ${formatBytes(2048)}`);
  });

  it("gathers events under a pixel into marks that span at most a pixel and cover every event once", () => {
    // 1,000 back-to-back events of 0.1 px: about ten to a mark.
    const events = Array.from({ length: 1000 }, (_, i) => event(i * 0.1, (i + 1) * 0.1));
    const marks = timelineMarks(events, px);
    expect(marks.length).toBeGreaterThanOrEqual(100);
    expect(marks.length).toBeLessThanOrEqual(101);
    expect(marks.reduce((n, m) => n + m.events, 0)).toBe(1000);
    let next = 0;
    for (const m of marks) {
      // Round-off of i·0.1 in double: far below a pixel.
      expect(m.end - m.start).toBeLessThanOrEqual(MIN_PX + 1e-9);
      for (const e of events.slice(next, next + m.events)) {
        expect(e.start).toBeGreaterThanOrEqual(m.start);
        expect(e.end).toBeLessThanOrEqual(m.end);
      }
      next += m.events;
    }
  });

  it("colours a lane's first gathered mark by the kind that fills most of its time and sums each kind in its tooltip", () => {
    const marks = timelineMarks([event(0, 0.2), event(0.2, 0.5, "idle"), event(0.5, 0.6, "comm"), event(0.6, 0.9, "idle")], px);
    expect(marks).toHaveLength(1);
    expect(marks[0]!.kind).toBe("idle");
    expect(marks[0]!.events).toBe(4);
    expect(marks[0]!.tip).toMatch(/^4 events from e0 to e0\.6, .*: idle .* · compute .* · exposed communication /);
  });

  it("colours gathered marks so that each kind's drawn time follows its real time along the lane", () => {
    // Every pixel: 0.74 px of compute, then 0.26 px of exposed communication, in slivers of a tenth of that.
    const events: TimelineEvent[] = [];
    for (let p = 0; p < 1000; p++) {
      for (let i = 0; i < 10; i++) events.push(event(p + i * 0.074, p + (i + 1) * 0.074));
      for (let i = 0; i < 10; i++) events.push(event(p + 0.74 + i * 0.026, p + 0.74 + (i + 1) * 0.026, "comm"));
    }
    const marks = timelineMarks(events, px);
    const drawn = (kind: EventKind) => marks.filter((m) => m.kind === kind).reduce((t, m) => t + (m.end - m.start), 0);
    const all = drawn("compute") + drawn("comm");
    // Each kind's share of the drawn width is its share of the time, to within about one mark (a pixel) in 1,000.
    expect(Math.abs(drawn("comm") / all - 0.26)).toBeLessThan(3 / 1000);
    // (Every mark here is mostly compute: colouring each by its largest kind would draw no communication.)
    expect(marks.every((m) => m.end - m.start <= MIN_PX + 1e-9)).toBe(true);
  });

  it("gathers the communication stream apart from the compute stream, summing bytes", () => {
    const comm = (s: number) => event(s, s + 0.25, "compute", { stream: "comm", bytes: 1024 });
    const marks = timelineMarks([comm(0), event(0, 0.5), comm(0.25), event(0.5, 0.75)], px);
    expect(marks.map((m) => [m.onComm, m.events])).toEqual([
      [false, 2],
      [true, 2],
    ]);
    expect(marks[1]!.tip).toContain(`of transfers · ${formatBytes(2048)}`);
  });

  it("keeps a large run's timeline to about a mark per pixel per lane", () => {
    // 40,000 events of one rank over one simulated second: 0.025 px each on the ~1,000 px plot.
    const events = Array.from({ length: 40_000 }, (_, i) => event(i / 40_000, (i + 1) / 40_000, i % 3 === 0 ? "idle" : "compute"));
    const device = { rank: 0, ranks: 1, coords: { dp: 0, pp: 0, tp: 0 } };
    const svg = timelineSvg([device], events, 0);
    const rects = svg.match(/<rect /g)!.length;
    expect(rects).toBeGreaterThan(500);
    expect(rects).toBeLessThan(1_100);
  });
});
