/**
 * The earliest each pipeline rank can finish its compute actions, given each action's duration
 * and only the data dependencies between them: a forward of stage s waits for the same
 * micro-batch's forward of stage s − 1, a backward (B or BW) of stage s for that of stage s + 1
 * and for its own forward, a W for its B; each rank runs its actions in its schedule's order,
 * one at a time.
 *
 * Optionally, the gradient buckets a rank reduces as backward finishes them: the pass that
 * completes a stage's gradients (BW, or W of a split backward, of the last micro-batch) issues
 * them on the rank's communication stream, a FIFO that also carries its blocking tensor-parallel
 * collectives. A unit's buckets start no earlier than the unit announces its gradients and take
 * their reduction time in turn, so the first tp collective of each later unit of that pass, and
 * of each later action (at its `firstTp` offset), cannot start before they end.
 *
 * The simulator obeys every one of these constraints and adds more (a receive blocks where the
 * schedule places it, transfers take time and share that FIFO, collectives wait for their
 * members), and every start time is a maximum of earlier end times, which only grow when a
 * duration grows or a constraint is added. So when each duration here is at most the simulated
 * one, each rank's end here is at most its simulated end: a lower bound (src/plan/bound.ts).
 */
import { isCompute, type Action } from "../schedule/actions.js";

/** Seconds of each kind of compute action, by stage. BW is a fused backward; B and W the halves of a split one. */
export interface ActionDurations {
  F: readonly number[];
  /** BW, or B of a split backward. */
  B: readonly number[];
  W: readonly number[];
  /** Seconds from an action's start to its first tp collective, by kind and stage (Infinity: none). */
  firstTp?: { F: readonly number[]; B: readonly number[]; W: readonly number[] };
  /** Per stage, the units of the pass that completes its gradients, in pass order, with the reduction their buckets take (header). */
  finishing?: readonly (readonly FinishingUnit[])[];
}

/** One weight unit of a pass that completes gradients: seconds to its first tp collective, in all, to announcing its gradients, and of its buckets' reduction. */
export interface FinishingUnit {
  beforeTp: number;
  total: number;
  gradsAt: number;
  reduce: number;
}

/**
 * When a finishing pass that starts at `start` and lasts at least `duration` ends at the earliest,
 * unit by unit, and when the comm stream has reduced its buckets (header).
 */
function finishingPass(start: number, duration: number, units: readonly FinishingUnit[], commFree: number): { end: number; commFree: number } {
  let t = start;
  let free = commFree;
  for (const u of units) {
    const end = u.beforeTp < u.total ? Math.max(t + u.beforeTp, free) + u.total - u.beforeTp : t + u.total;
    if (u.reduce > 0) free = Math.max(free, t + Math.min(u.gradsAt, u.total)) + u.reduce;
    t = end;
  }
  const outside = duration - units.reduce((sum, u) => sum + u.total, 0);
  return { end: Math.max(t + Math.max(0, outside), start + duration), commFree: free };
}

/** Each rank's compute actions in schedule order (communication actions dropped). */
export function computeOrders(schedule: readonly (readonly Action[])[]): Action[][] {
  return schedule.map((actions) => actions.filter(isCompute));
}

/** Per rank, the earliest start of each of its compute actions (in its order), and when its last one ends. */
export interface EarliestTimes {
  starts: Float64Array[];
  ends: number[];
}

/** Each rank's earliest action starts and end (header); `stages` = p·v, `m` micro-batches. */
export function earliestTimes(orders: readonly (readonly Action[])[], stages: number, m: number, d: ActionDurations): EarliestTimes {
  // End times of each (stage, micro-batch)'s forward and input gradient; NaN until it has run.
  const forwardEnd = new Float64Array(stages * m).fill(NaN);
  const gradEnd = new Float64Array(stages * m).fill(NaN);
  const starts = orders.map((o) => new Float64Array(o.length));
  const next = orders.map(() => 0);
  const now = orders.map(() => 0);
  // When each rank's comm stream has reduced the buckets issued so far.
  const commFree = orders.map(() => 0);
  const finisher = orders.some((o) => o.some((a) => a.type === "W")) ? "W" : "BW";
  let left = orders.reduce((n, o) => n + o.length, 0);
  while (left > 0) {
    let progressed = false;
    for (let r = 0; r < orders.length; r++) {
      const order = orders[r]!;
      while (next[r]! < order.length) {
        const a = order[next[r]!]!;
        const ready = readyTime(a, stages, m, forwardEnd, gradEnd);
        if (Number.isNaN(ready)) break;
        const start = Math.max(now[r]!, ready);
        starts[r]![next[r]!] = start;
        const duration = durationOf(a, d);
        const firstTp = d.firstTp ? durationOf(a, d.firstTp) : Infinity;
        let end = firstTp < duration ? Math.max(start + firstTp, commFree[r]!) + duration - firstTp : start + duration;
        if (d.finishing && a.type === finisher && a.mb === m - 1) {
          const pass = finishingPass(start, duration, d.finishing[a.stage]!, commFree[r]!);
          [end, commFree[r]] = [Math.max(end, pass.end), pass.commFree];
        }
        if (a.type === "F") forwardEnd[a.stage * m + a.mb] = end;
        else if (a.type !== "W") gradEnd[a.stage * m + a.mb] = end;
        now[r] = end;
        next[r]!++;
        left--;
        progressed = true;
      }
    }
    if (!progressed) throw new Error("earliestEnds: the schedule's dependencies form a cycle");
  }
  return { starts, ends: now };
}

/** The duration `d` gives action `a`. */
export function durationOf(a: Action, d: ActionDurations): number {
  return a.type === "F" ? d.F[a.stage]! : a.type === "W" ? d.W[a.stage]! : d.B[a.stage]!;
}

/** When `a`'s inputs are there: NaN while one of them has not run. */
function readyTime(a: Action, stages: number, m: number, forwardEnd: Float64Array, gradEnd: Float64Array): number {
  const at = a.stage * m + a.mb;
  switch (a.type) {
    case "F":
      return a.stage === 0 ? 0 : forwardEnd[at - m]!;
    case "W":
      return gradEnd[at]!;
    default: {
      const own = forwardEnd[at]!;
      return a.stage === stages - 1 ? own : Math.max(own, gradEnd[at + m]!);
    }
  }
}
