/**
 * The marks a timeline lane draws for its events. An event at least `MIN_PX` wide is a mark of
 * its own, with its own tooltip. Narrower events are gathered, in time order, into marks of about
 * one pixel: a large run's lane holds tens of thousands of events a few hundredths of a pixel
 * wide, which a reader can neither see nor point at one by one, and as separate rects they made a
 * report tens of megabytes. A gathered mark spans its events (the gaps between them are below a
 * pixel) and its tooltip counts them and sums the time of each kind (and the bytes of transfers).
 *
 * Its colour is one kind, chosen by error diffusion along the lane so that each kind's drawn time
 * follows its real time: every gathered mark adds its kinds' times to what the lane owes each
 * kind, takes the kind owed most, and pays that kind its time. A kind that fills a quarter of
 * every pixel (a step's exposed tensor-parallel collectives between its GEMMs) so colours about a
 * quarter of the marks, where the colour of each mark's largest kind would hide it altogether;
 * over a lane each kind's drawn time is off by at most about one mark's.
 */
import type { EventKind, TimelineEvent } from "../sim/clock.js";
import { formatBytes, formatSeconds } from "./table.js";

/** Events narrower than this (in pixels) are gathered into marks of about this width. */
export const MIN_PX = 1;

export interface TimelineMark {
  start: number;
  end: number;
  /** The event's kind; for events under a pixel, the kind error diffusion gives the mark (header). */
  kind: EventKind;
  /** Drawn on the communication stream's lane. */
  onComm: boolean;
  /** The tooltip: an event's label, kind, time (and bytes); a gathered mark's count and sums. */
  tip: string;
  /** Events the mark stands for. */
  events: number;
}

const KIND_NAMES: Record<EventKind, string> = { compute: "compute", comm: "exposed communication", idle: "idle" };

/** The display name of an event's kind on its lane (the communication stream's events are transfers). */
function kindName(kind: EventKind, onComm: boolean): string {
  return onComm ? "transfer" : KIND_NAMES[kind];
}

/** One event as a mark of its own. */
function single(e: TimelineEvent): TimelineMark {
  const onComm = e.stream === "comm";
  const bytes = e.bytes !== undefined ? ` · ${formatBytes(e.bytes)}` : "";
  return { start: e.start, end: e.end, kind: e.kind, onComm, tip: `${e.label} · ${kindName(e.kind, onComm)} · ${formatSeconds(e.end - e.start)}${bytes}`, events: 1 };
}

/** What the lane owes each kind in drawn time (header: error diffusion). */
type Owed = Map<EventKind, number>;

/** Events (of one stream, in time order) gathered into one mark, its kind the one `owed` most once their times are added. */
function gathered(group: TimelineEvent[], owed: Owed): TimelineMark {
  // A lone event keeps its kind: what it adds to the debts it pays back at once.
  if (group.length === 1) return single(group[0]!);
  const time = new Map<EventKind, number>();
  let bytes = 0;
  for (const e of group) {
    time.set(e.kind, (time.get(e.kind) ?? 0) + (e.end - e.start));
    bytes += e.bytes ?? 0;
  }
  for (const [k, t] of time) owed.set(k, (owed.get(k) ?? 0) + t);
  const kind = [...owed.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const total = [...time.values()].reduce((a, b) => a + b, 0);
  owed.set(kind, owed.get(kind)! - total);
  const onComm = group[0]!.stream === "comm";
  const start = group[0]!.start;
  const end = group.reduce((t, e) => Math.max(t, e.end), start);
  const kinds = [...time.entries()].sort((a, b) => b[1] - a[1]);
  const sums = onComm ? `${formatSeconds(total)} of transfers · ${formatBytes(bytes)}` : kinds.map(([k, t]) => `${KIND_NAMES[k]} ${formatSeconds(t)}`).join(" · ");
  const tip = `${group.length} events from ${group[0]!.label} to ${group[group.length - 1]!.label}, ${formatSeconds(end - start)}: ${sums}`;
  return { start, end, kind, onComm, tip, events: group.length };
}

/**
 * The marks of one lane's events (any order; both streams), `px(t)` placing simulated time on the
 * page. Events of no width on the page are left out.
 */
export function timelineMarks(events: readonly TimelineEvent[], px: (t: number) => number): TimelineMark[] {
  const marks: TimelineMark[] = [];
  for (const stream of ["compute", "comm"] as const) {
    const mine = events.filter((e) => e.stream === stream && px(e.end) - px(e.start) > 0).sort((a, b) => a.start - b.start);
    let group: TimelineEvent[] = [];
    const owed: Owed = new Map();
    const flush = () => {
      if (group.length > 0) marks.push(gathered(group, owed));
      group = [];
    };
    for (const e of mine) {
      if (px(e.end) - px(e.start) >= MIN_PX) {
        flush();
        marks.push(single(e));
        continue;
      }
      if (group.length > 0 && px(e.end) - px(group[0]!.start) > MIN_PX) flush();
      group.push(e);
    }
    flush();
  }
  return marks;
}
