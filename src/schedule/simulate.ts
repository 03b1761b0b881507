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

export function simulateSchedule(schedule: Schedule, costs: CostModel): SimulationResult {
  const p = schedule.length;
  const now = new Array<number>(p).fill(0);
  const ptr = new Array<number>(p).fill(0);
  const busy = new Array<number>(p).fill(0);
  const stash = schedule.map(() => new Set<string>());
  const awaiting = schedule.map(() => new Set<string>());
  const peakStashed = new Array<number>(p).fill(0);
  const peakAwaiting = new Array<number>(p).fill(0);
  const timeline: TimedAction[][] = schedule.map(() => []);
  const sent = new Map<string, number>();

  let progress = true;
  while (progress) {
    progress = false;
    for (let r = 0; r < p; r++) {
      const list = schedule[r]!;
      while (ptr[r]! < list.length) {
        const a = list[ptr[r]!]!;
        const start = now[r]!;
        let end = start;
        if (a.type === "RECV_F" || a.type === "RECV_B") {
          const at = sent.get(messageKey(a)!);
          if (at === undefined) break; // blocked: try the other ranks
          end = Math.max(start, at);
        } else if (a.type === "SEND_F" || a.type === "SEND_B") {
          sent.set(messageKey(a)!, start);
        } else {
          const c = costOf(a, costs);
          end = start + c;
          busy[r] = busy[r]! + c;
          const id = `${a.stage}:${a.mb}`;
          if (a.type === "F") {
            stash[r]!.add(id);
            awaiting[r]!.add(id);
          } else if (a.type === "B") {
            awaiting[r]!.delete(id);
          } else {
            stash[r]!.delete(id); // BW or W
            awaiting[r]!.delete(id);
          }
          peakStashed[r] = Math.max(peakStashed[r]!, stash[r]!.size);
          peakAwaiting[r] = Math.max(peakAwaiting[r]!, awaiting[r]!.size);
        }
        timeline[r]!.push({ rank: r, index: ptr[r]!, action: a, start, end });
        now[r] = end;
        ptr[r] = ptr[r]! + 1;
        progress = true;
      }
    }
  }

  const stuck = schedule.map((list, r) => ({ rank: r, index: ptr[r]! })).filter((c) => c.index < schedule[c.rank]!.length);
  if (stuck.length > 0) {
    const waits = stuck.map((c) => `rank ${c.rank} waits at ${formatAction(schedule[c.rank]![c.index]!)}`);
    throw new ScheduleError(
      `deadlock: no rank can progress (${waits.join("; ")}); no rank will ever send what they wait for`,
      formatActionLists(schedule, stuck),
      stuck,
    );
  }

  const makespan = Math.max(0, ...now);
  const ranks = schedule.map((_, r): RankStats => {
    const idle = makespan - busy[r]!;
    return {
      rank: r,
      busy: busy[r]!,
      idle,
      bubbleFraction: makespan > 0 ? idle / makespan : 0,
      peakStashed: peakStashed[r]!,
      peakAwaitingBackward: peakAwaiting[r]!,
    };
  });
  return { makespan, ranks, timeline };
}
