/**
 * A pure timing simulation of a schedule with free links (no workers, no tensors).
 *
 * Every rank walks its list in order. A compute action takes its cost; a fused backward `BW`
 * costs B + W. A SEND takes no time and makes its data available at the sender's current time;
 * a RECV blocks until the matching SEND has run, and then the receiver's time becomes
 * max(own time, send time). Sends never block (unbounded buffers). When no rank can progress
 * and some have actions left, the schedule deadlocks: a `ScheduleError` marks where each
 * stuck rank waits.
 *
 * Definitions (the ones the published bubble formulas measure):
 * - makespan = the time the last rank finishes its last action (all ranks start at 0);
 * - busy = the sum of a rank's compute costs; idle = makespan − busy, which counts the wait
 *   before its first action, the waits in between and the drain after its last action;
 * - bubbleFraction = idle / makespan.
 * - peakStashed = the most micro-batches whose forward activations a rank holds at once:
 *   stashed at F, freed at BW, or at W for a split backward (W needs the saved inputs). With
 *   interleaving each (stage, micro-batch) counts once, so a rank holding micro-batch 0 for two
 *   of its chunks holds 2.
 * - peakAwaitingBackward = the most (stage, micro-batch) pairs whose F has run and whose B or BW
 *   has not: the activation count in Qi et al.'s memory model, where B frees most activations.
 *
 * Costs: `{ F, B, W }` apply to every action as given (per stage chunk). For interleaved
 * schedules, where each chunk is 1/v of a rank's layers, pass costs already divided by v, or
 * a function of the action for arbitrary per-action costs.
 */
import { formatAction, isCompute, type Action, type Schedule } from "./actions.js";
import { ScheduleError } from "./error.js";
import { formatActionLists } from "./grid.js";

export interface Costs {
  F: number;
  B: number;
  W: number;
}

export type CostModel = Costs | ((a: Action) => number);

export interface RankStats {
  rank: number;
  busy: number;
  idle: number;
  bubbleFraction: number;
  peakStashed: number;
  peakAwaitingBackward: number;
}

export interface TimedAction {
  rank: number;
  /** Index in the rank's action list. */
  index: number;
  action: Action;
  start: number;
  end: number;
}

export interface SimulationResult {
  makespan: number;
  ranks: RankStats[];
  /** Per rank, every action with its start and end time, in list order. */
  timeline: TimedAction[][];
}

export function costOf(a: Action, costs: CostModel): number {
  if (!isCompute(a)) return 0;
  if (typeof costs === "function") return costs(a);
  switch (a.type) {
    case "F":
      return costs.F;
    case "B":
      return costs.B;
    case "W":
      return costs.W;
    default:
      return costs.B + costs.W; // BW
  }
}

/** The key of the message a SEND produces, equal to the key the matching RECV waits for. */
export function messageKey(a: Action): string | undefined {
  switch (a.type) {
    case "SEND_F":
      return `F:${a.stage + 1}:${a.mb}`;
    case "RECV_F":
      return `F:${a.stage}:${a.mb}`;
    case "SEND_B":
      return `B:${a.stage - 1}:${a.mb}`;
    case "RECV_B":
      return `B:${a.stage}:${a.mb}`;
    default:
      return undefined;
  }
}

/** One rank's progress through its list. */
interface RankRun {
  rank: number;
  list: readonly Action[];
  /** Index of the next action to run. */
  next: number;
  /** The rank's time: when its last action ended. */
  now: number;
  busy: number;
  /** (stage, micro-batch) pairs whose activations the rank holds, and those still awaiting B or BW. */
  stashed: Set<string>;
  awaitingBackward: Set<string>;
  peakStashed: number;
  peakAwaitingBackward: number;
  timeline: TimedAction[];
}

export function simulateSchedule(schedule: Schedule, costs: CostModel): SimulationResult {
  const runs = schedule.map((list, rank): RankRun => ({
    rank,
    list,
    next: 0,
    now: 0,
    busy: 0,
    stashed: new Set(),
    awaitingBackward: new Set(),
    peakStashed: 0,
    peakAwaitingBackward: 0,
    timeline: [],
  }));
  /** The time each message was sent, by `messageKey`. */
  const sent = new Map<string, number>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const run of runs) progress = advance(run, sent, costs) || progress;
  }
  throwIfDeadlocked(schedule, runs);
  const makespan = Math.max(0, ...runs.map((run) => run.now));
  return { makespan, ranks: runs.map((run) => rankStats(run, makespan)), timeline: runs.map((run) => run.timeline) };
}

/** Runs a rank's actions until it blocks on a receive or finishes; whether it ran any. */
function advance(run: RankRun, sent: Map<string, number>, costs: CostModel): boolean {
  let progress = false;
  while (run.next < run.list.length) {
    const a = run.list[run.next]!;
    const start = run.now;
    let end = start;
    if (a.type === "RECV_F" || a.type === "RECV_B") {
      const sendTime = sent.get(messageKey(a)!);
      if (sendTime === undefined) break; // blocked: try the other ranks
      end = Math.max(start, sendTime);
    } else if (a.type === "SEND_F" || a.type === "SEND_B") {
      sent.set(messageKey(a)!, start);
    } else {
      const cost = costOf(a, costs);
      end = start + cost;
      run.busy += cost;
      trackActivations(run, a);
    }
    run.timeline.push({ rank: run.rank, index: run.next, action: a, start, end });
    run.now = end;
    run.next++;
    progress = true;
  }
  return progress;
}

/** Stashed at F, awaiting backward until B or BW, freed at BW or W. */
function trackActivations(run: RankRun, a: Action): void {
  const id = `${a.stage}:${a.mb}`;
  if (a.type === "F") {
    run.stashed.add(id);
    run.awaitingBackward.add(id);
  } else if (a.type === "B") {
    run.awaitingBackward.delete(id);
  } else {
    run.stashed.delete(id); // BW or W
    run.awaitingBackward.delete(id);
  }
  run.peakStashed = Math.max(run.peakStashed, run.stashed.size);
  run.peakAwaitingBackward = Math.max(run.peakAwaitingBackward, run.awaitingBackward.size);
}

function throwIfDeadlocked(schedule: Schedule, runs: readonly RankRun[]): void {
  const stuck = runs.filter((run) => run.next < run.list.length).map((run) => ({ rank: run.rank, index: run.next }));
  if (stuck.length === 0) return;
  const waits = stuck.map((c) => `rank ${c.rank} waits at ${formatAction(schedule[c.rank]![c.index]!)}`);
  throw new ScheduleError(
    `deadlock: no rank can progress (${waits.join("; ")}); no rank will ever send what they wait for`,
    formatActionLists(schedule, stuck),
    stuck,
  );
}

function rankStats(run: RankRun, makespan: number): RankStats {
  const idle = makespan - run.busy;
  return {
    rank: run.rank,
    busy: run.busy,
    idle,
    bubbleFraction: makespan > 0 ? idle / makespan : 0,
    peakStashed: run.peakStashed,
    peakAwaitingBackward: run.peakAwaitingBackward,
  };
}
