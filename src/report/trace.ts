/**
 * Chrome trace events for the simulated timeline, in the "JSON Object Format" of Google's
 * "Trace Event Format" document (`{ traceEvents: [...], displayTimeUnit }`). The file opens in
 * Perfetto (ui.perfetto.dev) and in chrome://tracing.
 *
 * Layout of the trace:
 * - one process per (run, rank), named `run 2 · dp2·tp1·pp2 1f1b · rank 3`, sorted by run then rank;
 * - two threads per process: the compute stream (tid 1) and the communication stream (tid 2);
 * - a complete event (`ph: "X"`) per compute action and per exposed-communication wait on the
 *   compute thread (cat `compute` / `comm-wait`), and per transfer or collective on the
 *   communication thread (cat `comm`). Idle waits are left as gaps;
 * - a counter (`ph: "C"`) per rank of the bytes its communication stream has carried so far.
 *
 * `ts` and `dur` are microseconds of **simulated** time, as floating-point numbers (the format
 * allows fractions): a tiny model's actions last nanoseconds. Zero-length actions stay, with
 * `dur: 0`. Wall-clock times go into `args`, never into `ts`. Perfetto stores whole nanoseconds
 * (it rounds `ts` and `dur` separately), so sub-nanosecond actions of tiny models show there as
 * zero-length and adjacent slices may overlap by 1 ns; chrome://tracing keeps the fractions.
 */
import { laneName, laneRanks } from "./lanes.js";
import type { RunResult } from "../run/results.js";
import type { TimelineEvent } from "../sim/clock.js";

export interface TraceRun {
  /** Short name of the run's layout, e.g. `dp2·tp1·pp2 1f1b`. */
  label: string;
  result: RunResult;
  timeline: TimelineEvent[];
}

/** One event of the Trace Event Format (the fields parasim writes). */
export interface TraceEvent {
  name: string;
  ph: "X" | "C" | "M";
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ns" | "ms";
  otherData: Record<string, string>;
}

export const COMPUTE_TID = 1;
export const COMM_TID = 2;
/** Name of the per-rank counter of communicated bytes. */
export const BYTES_COUNTER = "bytes communicated";

const MICROS = 1e6;

/** Process ids: runs take consecutive blocks, one pid per lane (src/report/lanes.ts), starting at 1. */

export function chromeTrace(runs: TraceRun[]): ChromeTrace {
  const traceEvents: TraceEvent[] = [];
  let nextPid = 1;
  runs.forEach((run, r) => {
    const lanes = laneRanks(run.result.devices, run.timeline);
    const pidOf = new Map(lanes.map((rank, k) => [rank, nextPid + k]));
    nextPid += lanes.length;
    for (const rank of lanes) traceEvents.push(...metadata(run, r, rank, pidOf.get(rank)!));
    // Appended one by one: spreading a long run's events into push() overflows the call stack.
    for (const e of slices(run.timeline, pidOf)) traceEvents.push(e);
    for (const e of byteCounters(run.timeline, pidOf)) traceEvents.push(e);
  });
  return {
    traceEvents,
    displayTimeUnit: "ns",
    otherData: {
      generator: "parasim",
      clock: "ts and dur are microseconds of simulated time; wall-clock seconds are in args",
    },
  };
}

function metadata(run: TraceRun, runIndex: number, rank: number, pid: number): TraceEvent[] {
  const device = run.result.devices.find((d) => d.rank === rank);
  const coords = device ? `dp ${device.coords.dp} · pp ${device.coords.pp} · tp ${device.coords.tp}` : "";
  const events: TraceEvent[] = [
    { name: "process_name", ph: "M", pid, args: { name: `run ${runIndex + 1} · ${run.label} · ${laneName(rank, device)}` } },
    { name: "process_sort_index", ph: "M", pid, args: { sort_index: pid } },
    { name: "thread_name", ph: "M", pid, tid: COMPUTE_TID, args: { name: "compute" } },
    { name: "thread_sort_index", ph: "M", pid, tid: COMPUTE_TID, args: { sort_index: COMPUTE_TID } },
    { name: "thread_name", ph: "M", pid, tid: COMM_TID, args: { name: "communication" } },
    { name: "thread_sort_index", ph: "M", pid, tid: COMM_TID, args: { sort_index: COMM_TID } },
  ];
  if (coords) events.push({ name: "process_labels", ph: "M", pid, args: { labels: coords } });
  return events;
}

/** Complete events for everything but idle waits, in timeline order. */
function slices(timeline: TimelineEvent[], pidOf: Map<number, number>): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const e of timeline) {
    if (e.kind === "idle") continue;
    const onComm = e.stream === "comm";
    const ts = e.start * MICROS;
    const args: Record<string, unknown> = { step: e.step, wallStartSeconds: e.wallStart, wallEndSeconds: e.wallEnd };
    if (e.bytes !== undefined) args.bytes = e.bytes;
    out.push({
      name: e.label,
      cat: onComm ? "comm" : e.kind === "comm" ? "comm-wait" : "compute",
      ph: "X",
      pid: pidOf.get(e.rank)!,
      tid: onComm ? COMM_TID : COMPUTE_TID,
      ts,
      dur: Math.max(0, e.end * MICROS - ts),
      args,
    });
  }
  return out;
}

/** Per lane: 0 at time 0, then the running sum of comm-stream bytes at the end of each transfer. */
function byteCounters(timeline: TimelineEvent[], pidOf: Map<number, number>): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const [rank, pid] of pidOf) {
    const comm = timeline.filter((e) => e.rank === rank && e.stream === "comm").sort((a, b) => a.end - b.end);
    let total = 0;
    out.push({ name: BYTES_COUNTER, ph: "C", pid, ts: 0, args: { bytes: 0 } });
    for (const e of comm) {
      total += e.bytes ?? 0;
      out.push({ name: BYTES_COUNTER, ph: "C", pid, ts: e.end * MICROS, args: { bytes: total } });
    }
  }
  return out;
}
