/**
 * The simulated clock of one device: a compute stream and a communication stream.
 *
 * Model (docs/architecture.md, "The simulated clock"):
 * - `now` is the compute stream. `compute(label, flops, launches)` advances it by the launches'
 *   roofline time (src/sim/roofline.ts) at the clock's dtype.
 * - The comm stream is a FIFO, like a CUDA stream: every send and collective is issued at `now`
 *   and starts at max(now, commFree) ("ready time"); it then occupies the comm stream until it
 *   ends. Receives are not on the receiver's comm stream (the sender's transfer carries them).
 * - A send does not block the compute stream: it only occupies the sender's comm stream from its
 *   start (the message's `sendTime`) to its arrival = sendTime + α + bytes/β. A blocking send
 *   (`waitSent`, scenario `parallel.p2p: blocking`) also holds the compute stream until arrival.
 * - A blocking receive waits on the compute stream from `now` until arrival: **idle** while the
 *   sender has not yet sent (until sendTime), **communication** for the rest.
 * - A collective starts at T = max of the members' ready times and ends at T + what NCCL's
 *   algorithm costs for the group (groupCollectiveTime, src/sim/cost.ts). Waiting for it on the compute stream (immediately when blocking, at `wait()`
 *   when issued with overlap) is split the same way: **idle** until the last *other* member was
 *   ready, **communication** after that (this includes time the device's own comm stream was
 *   still busy with its earlier transfers: that is its own communication, exposed).
 * - Totals count the compute stream only: compute + exposed comm + idle = makespan (= `now`),
 *   up to double round-off of the sums. Comm hidden behind compute shows only as comm-stream events.
 *
 * Events: every compute action gives a compute-stream event; every send/collective a comm-stream
 * event (kind "comm"); every wait with positive duration gives compute-stream events of kind
 * "idle" and/or "comm". Wall times are seconds since `wallOriginMs` (performance.timeOrigin +
 * performance.now(), so workers of one cluster share an origin); never mixed with simulated time.
 */
import { performance } from "node:perf_hooks";
import type { HardwareProfile } from "./hardware.js";
import { computeTime, groupCollectiveTime, linkBetween, transferTime, type CollectiveOp } from "./cost.js";
import { launchesTime, type CostContext, type Dtype, type Launch } from "./roofline.js";
import { emptyBreakdown, phaseOf, type StepBreakdown } from "./breakdown.js";
import { NO_SLOWDOWN, type Slowdown } from "./slowdown.js";

export type StreamName = "compute" | "comm";
export type EventKind = "compute" | "comm" | "idle";

export interface TimelineEvent {
  rank: number;
  stream: StreamName;
  kind: EventKind;
  label: string;
  /** Simulated seconds. */
  start: number;
  end: number;
  /** Wall seconds since the cluster's wall origin. */
  wallStart: number;
  wallEnd: number;
  /** The training step the event belongs to (the one begun last with `beginStep`). */
  step: number;
  /** Comm-stream events: bytes of the message or of the collective's buffer. */
  bytes?: number;
}

/** An issued communication as the clock sees it. */
export interface CommOp {
  label: string;
  /** Simulated start on the comm stream (T) and end. */
  start: number;
  end: number;
  /** Until this time the device waiting for the op counts as idle (peers not ready / not sent). */
  idleUntil: number;
  waited: boolean;
}

export interface ClockTotals {
  computeSeconds: number;
  commSeconds: number;
  idleSeconds: number;
  /** The compute stream's time: compute + comm + idle. */
  makespan: number;
}

export interface ClockOptions {
  recordEvents?: boolean;
  /** The dtype kernels compute in (the roofline's matmul peak); default fp32. */
  dtype?: Dtype;
  /** Epoch in ms (performance.timeOrigin-based) for wall times; default this thread's timeOrigin. */
  wallOriginMs?: number;
  /** Injected slowness (a straggler, slow links): factors on what compute and links cost. */
  slowdown?: Slowdown;
}

export class Clock {
  /** Compute stream time. */
  now = 0;
  /** Time the comm stream becomes free. */
  commFree = 0;
  computeSeconds = 0;
  commSeconds = 0;
  idleSeconds = 0;
  /** FLOPs the device executed (recomputation included). */
  flops = 0;
  private readonly breakdown = emptyBreakdown();
  readonly events: TimelineEvent[] = [];
  /** The training step in progress; stamped on every event so reports can show one step. */
  private step = 0;
  /** Wall time at the end of the last action, where the next compute action's work began. */
  private wallMark: number;
  private readonly pending = new Set<CommOp>();
  private readonly record: boolean;
  private readonly wallOriginMs: number;
  /** What the roofline prices launches with. */
  readonly cost: CostContext;
  private readonly slow: Slowdown;

  constructor(
    readonly rank: number,
    readonly hardware: HardwareProfile,
    options: ClockOptions = {},
  ) {
    this.record = options.recordEvents ?? true;
    this.cost = { hardware, dtype: options.dtype ?? "fp32" };
    this.wallOriginMs = options.wallOriginMs ?? performance.timeOrigin;
    this.slow = options.slowdown ?? NO_SLOWDOWN;
    this.wallMark = this.wallNow();
  }

  /** Wall seconds since the wall origin. */
  wallNow(): number {
    return (performance.timeOrigin + performance.now() - this.wallOriginMs) / 1000;
  }

  /**
   * Advances the compute stream by the roofline time of `launches` (src/sim/roofline.ts), or,
   * without launches, by flops / (peak × efficiency). The work was just done: its wall span runs
   * from the end of the clock's previous action (or `markWall`) to now, unless given.
   */
  compute(label: string, flops: number, launches?: readonly Launch[], wall?: { start: number; end: number }): void {
    const dt = (launches ? launchesTime(this.cost, launches) : computeTime(this.hardware, flops)) * this.slow.compute;
    const start = this.now;
    this.now += dt;
    this.computeSeconds += dt;
    this.flops += flops;
    this.breakdown[phaseOf("compute", label)] += dt;
    const w = wall ?? { start: this.wallMark, end: this.wallNow() };
    this.push("compute", "compute", label, start, this.now, w.start, w.end);
    this.wallMark = w.end;
  }

  /** Stamps the events from now on with `step`, and starts wall time afresh for it. */
  beginStep(step: number): void {
    this.markWall();
    this.step = step;
  }

  /** Starts wall time afresh, e.g. at a step's start, so time spent outside the device's actions is not charged to its next one. */
  markWall(): void {
    this.wallMark = this.wallNow();
  }

  /** When a communication issued now can start on the comm stream. */
  readyTime(): number {
    return Math.max(this.now, this.commFree);
  }

  /** Issues a send of `bytes` to `dst`; returns its send time (carried in the message) and arrival. */
  send(label: string, dst: number, bytes: number, wallStart: number): { sendTime: number; arrival: number } {
    const sendTime = this.readyTime();
    const arrival = sendTime + this.transfer(this.rank, dst, bytes);
    this.commFree = arrival;
    this.push("comm", "comm", label, sendTime, arrival, wallStart, this.wallNow(), bytes);
    this.markWall();
    return { sendTime, arrival };
  }

  /**
   * The compute stream waits for a send of its own to arrive (a blocking send): all of it is
   * **communication**, since the message left when this device issued it.
   */
  waitSent(label: string, arrival: number, wallStart: number): void {
    this.waitUntil(label, -Infinity, arrival, wallStart);
  }

  /** A blocking receive of `bytes` from `src`, sent at `sendTime`. */
  recv(label: string, src: number, bytes: number, sendTime: number, wallStart: number): void {
    const arrival = sendTime + this.transfer(src, this.rank, bytes);
    this.waitUntil(label, sendTime, arrival, wallStart);
  }

  /**
   * A collective over `ranks` (global ranks, this device among them) with every member's ready
   * time `readyTimes` (same order as `ranks`). Blocking unless `overlap`: then call `wait(op)`.
   */
  collective(
    label: string,
    op: CollectiveOp,
    ranks: readonly number[],
    bytes: number,
    readyTimes: readonly number[],
    overlap: boolean,
    wallStart: number,
  ): CommOp {
    const me = ranks.indexOf(this.rank);
    let start = -Infinity;
    let others = -Infinity;
    for (let i = 0; i < readyTimes.length; i++) {
      const t = readyTimes[i]!;
      if (t > start) start = t;
      if (i !== me && t > others) others = t;
    }
    if (readyTimes.length === 0) start = this.readyTime();
    const end = start + groupCollectiveTime(this.hardware, op, ranks, bytes) * this.slow.link(ranks);
    this.commFree = end;
    const c: CommOp = { label, start, end, idleUntil: others, waited: false };
    this.push("comm", "comm", label, start, end, wallStart, this.wallNow(), bytes);
    this.markWall();
    this.pending.add(c);
    if (!overlap) this.wait(c, wallStart);
    return c;
  }

  /** The compute stream waits for `op` (no-op if already waited or already finished). */
  wait(op: CommOp, wallStart = this.wallNow()): void {
    if (op.waited) return;
    op.waited = true;
    this.pending.delete(op);
    this.waitUntil(op.label, op.idleUntil, op.end, wallStart);
  }

  /** Seconds a message of `bytes` takes from `src` to `dst`: the link's cost, times any slowdown of its ends. */
  private transfer(src: number, dst: number, bytes: number): number {
    return transferTime(linkBetween(this.hardware, src, dst), bytes) * this.slow.link([src, dst]);
  }

  /** Waits for every issued collective, e.g. at the end of a step. Sends are not waited for. */
  waitAll(): void {
    for (const op of [...this.pending]) this.wait(op);
  }

  totals(): ClockTotals {
    return {
      computeSeconds: this.computeSeconds,
      commSeconds: this.commSeconds,
      idleSeconds: this.idleSeconds,
      makespan: this.now,
    };
  }

  /** The compute stream's time by phase (src/sim/breakdown.ts); the phases add up to the makespan. */
  phases(): StepBreakdown {
    return { ...this.breakdown };
  }

  /** Removes and returns the recorded events (to post them to the main thread in batches). */
  drainEvents(): TimelineEvent[] {
    return this.events.splice(0, this.events.length);
  }

  private waitUntil(label: string, idleUntil: number, end: number, wallStart: number): void {
    this.markWall();
    const c = this.now;
    if (end <= c) return;
    const idleEnd = Math.min(end, Math.max(c, idleUntil));
    const wallEnd = this.wallNow();
    if (idleEnd > c) {
      this.idleSeconds += idleEnd - c;
      this.breakdown.bubble += idleEnd - c;
      this.push("compute", "idle", label, c, idleEnd, wallStart, wallEnd);
    }
    if (end > idleEnd) {
      this.commSeconds += end - idleEnd;
      this.breakdown[phaseOf("comm", label)] += end - idleEnd;
      this.push("compute", "comm", label, idleEnd, end, wallStart, wallEnd);
    }
    this.now = end;
  }

  private push(stream: StreamName, kind: EventKind, label: string, start: number, end: number, wallStart: number, wallEnd: number, bytes?: number): void {
    if (!this.record) return;
    const event: TimelineEvent = { rank: this.rank, stream, kind, label, start, end, wallStart, wallEnd, step: this.step };
    if (bytes !== undefined) event.bytes = bytes;
    this.events.push(event);
  }
}
