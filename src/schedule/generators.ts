/**
 * Pipeline schedule generators: pure functions from (p, m[, v]) to per-rank action lists.
 *
 * - GPipe (Huang et al. 2019): all forwards, then all (fused) backwards, micro-batches in order.
 * - 1F1B / PipeDream-flush (Narayanan et al. 2021): rank r runs min(p − r − 1, m) warm-up
 *   forwards, then alternates one forward and one backward, then drains the remaining backwards.
 * - Interleaved 1F1B (Narayanan et al. 2021 §2.2, Megatron-LM's ordering): v chunks per rank;
 *   forwards go through the micro-batches in groups of p, chunk by chunk; backwards the same
 *   with the chunks reversed.
 * - ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024): the backward is split into
 *   B (input gradient) and W (weight gradient); same warm-up as 1F1B, and W's fill the bubbles.
 */
import { InputError } from "../errors.js";
import { stageOf } from "../parallel/placement.js";
import type { Action, ScheduleDims } from "./actions.js";
import { withComms, type ComputeStep } from "./comms.js";

export const SCHEDULE_KINDS = ["gpipe", "1f1b", "interleaved", "zb-h1"] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

function checkInt(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new InputError(field, `must be an integer ≥ ${min}, got ${value}`);
}

function checkRanksAndMicroBatches(p: number, m: number): void {
  checkInt("parallel.pp", p, 1);
  checkInt("training.microBatches", m, 1);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** GPipe: F0..F(m−1), then BW0..BW(m−1) on every rank. */
export function gpipe(p: number, m: number): Action[][] {
  checkRanksAndMicroBatches(p, m);
  const orders = range(p).map((r) => [
    ...range(m).map((mb): ComputeStep => ({ type: "F", stage: r, mb })),
    ...range(m).map((mb): ComputeStep => ({ type: "BW", stage: r, mb })),
  ]);
  return withComms(orders, { p, v: 1 });
}

/** 1F1B (PipeDream-flush) with fused backwards. */
export function oneFOneB(p: number, m: number): Action[][] {
  checkRanksAndMicroBatches(p, m);
  const orders = range(p).map((r) => {
    const warmup = Math.min(p - r - 1, m);
    const order: ComputeStep[] = [];
    for (let i = 0; i < warmup; i++) order.push({ type: "F", stage: r, mb: i });
    for (let i = 0; i < m - warmup; i++) {
      order.push({ type: "F", stage: r, mb: warmup + i });
      order.push({ type: "BW", stage: r, mb: i });
    }
    for (let i = m - warmup; i < m; i++) order.push({ type: "BW", stage: r, mb: i });
    return order;
  });
  return withComms(orders, { p, v: 1 });
}

/**
 * Megatron's interleaved 1F1B. Each rank runs m·v forward and m·v backward chunk-steps. The k-th
 * forward on rank r is micro-batch ⌊k/(p·v)⌋·p + (k mod p) of chunk ⌊(k mod p·v)/p⌋ (stage
 * chunk·p + r); the k-th backward the same with chunk v−1−that. Rank r runs
 * min((p−r−1)·2 + (v−1)·p, m·v) warm-up forwards (all of them when m = p), then alternates
 * forward k+warmup with backward k, then drains.
 */
export function interleaved(p: number, m: number, v: number): Action[][] {
  checkRanksAndMicroBatches(p, m);
  checkInt("parallel.virtualStages", v, 2);
  if (m % p !== 0) {
    throw new InputError("training.microBatches", `must be a multiple of parallel.pp (${p}) for the interleaved schedule, got ${m}`);
  }
  const total = m * v;
  const step = (r: number, k: number, forward: boolean): ComputeStep => {
    const inGroup = k % (p * v);
    const chunk = Math.floor(inGroup / p);
    const mb = Math.floor(k / (p * v)) * p + (k % p);
    return forward
      ? { type: "F", stage: stageOf(r, chunk, p), mb }
      : { type: "BW", stage: stageOf(r, v - 1 - chunk, p), mb };
  };
  const orders = range(p).map((r) => {
    const warmup = m === p ? total : Math.min((p - r - 1) * 2 + (v - 1) * p, total);
    const order: ComputeStep[] = [];
    for (let k = 0; k < warmup; k++) order.push(step(r, k, true));
    for (let k = 0; k < total - warmup; k++) {
      order.push(step(r, k + warmup, true));
      order.push(step(r, k, false));
    }
    for (let k = total - warmup; k < total; k++) order.push(step(r, k, false));
    return order;
  });
  return withComms(orders, { p, v });
}

/**
 * ZB-H1. For x = 0, 1, …, m + p − 2, rank r runs (when in range 0..m−1):
 * F_x, then B_{x−(p−1−r)}, then W_{x−(p−1)}. So rank r starts with p−1−r lone forwards like
 * 1F1B, then r (F, B) pairs whose W is postponed, then (F, B, W) triples, then (B, W) pairs,
 * and ends with r lone W's that fill the drain bubble. With F = B = W and free links the
 * makespan is 3m + p − 1 (bubble (p−1)(t_F + t_B − t_W) per rank).
 */
export function zbH1(p: number, m: number): Action[][] {
  checkRanksAndMicroBatches(p, m);
  const orders = range(p).map((r) => {
    const order: ComputeStep[] = [];
    const inRange = (i: number) => i >= 0 && i < m;
    for (let x = 0; x < m + p - 1; x++) {
      if (inRange(x)) order.push({ type: "F", stage: r, mb: x });
      if (inRange(x - (p - 1 - r))) order.push({ type: "B", stage: r, mb: x - (p - 1 - r) });
      if (inRange(x - (p - 1))) order.push({ type: "W", stage: r, mb: x - (p - 1) });
    }
    return order;
  });
  return withComms(orders, { p, v: 1 });
}

/** The front door: validates the kind and dimensions, then calls the generator. */
export function generateSchedule(kind: string, dims: { p: number; m: number; v?: number }): Action[][] {
  const { p, m } = dims;
  if (kind !== "interleaved" && (SCHEDULE_KINDS as readonly string[]).includes(kind) && dims.v !== undefined && dims.v !== 1) {
    throw new InputError("parallel.virtualStages", `only the interleaved schedule has virtual stages; ${kind} needs 1, got ${dims.v}`);
  }
  switch (kind) {
    case "gpipe":
      return gpipe(p, m);
    case "1f1b":
      return oneFOneB(p, m);
    case "interleaved":
      return interleaved(p, m, dims.v ?? 2);
    case "zb-h1":
      return zbH1(p, m);
    default:
      throw new InputError("parallel.schedule", `must be one of ${SCHEDULE_KINDS.join(", ")}, got "${kind}"`);
  }
}

/** The dimensions a schedule of `kind` is generated with (v = 1 except interleaved). */
export function scheduleDims(kind: string, dims: { p: number; m: number; v?: number }): ScheduleDims {
  return { p: dims.p, m: dims.m, v: kind === "interleaved" ? (dims.v ?? 2) : 1 };
}
