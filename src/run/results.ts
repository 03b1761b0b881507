/**
 * The results of one run: the JSON that `parasim run --json` writes and `simulate()` returns.
 * A contract for users' scripts: extend it, never rename what is here (README, "Results JSON").
 */
import type { Scenario } from "../scenario/schema.js";
import type { TimelineEvent } from "../sim/clock.js";

/** Bytes of the buffers a device allocated, by category (counted from the arrays themselves). */
export interface MemoryReport {
  /** The weights the model computes with (16-bit in bf16/fp16 precision). */
  parameters: number;
  /** fp32 master weights kept beside 16-bit ones (sharded under ZeRO-1); 0 in fp32 precision. */
  masterWeights: number;
  gradients: number;
  /** AdamW's m and v (sharded under ZeRO-1). */
  optimizerState: number;
  /** Buffers saved between forward and backward for the micro-batches in flight. */
  activations: number;
  /** Scratch shared by all micro-batches: projections and gradients in flight. */
  workspace: number;
  total: number;
  /** The hardware profile's device memory, and whether `total` fits in it. */
  capacity: number;
  fits: boolean;
}

export interface DeviceReport {
  rank: number;
  /**
   * How many ranks this row stands for: 1, or in a shapes-only run that simulates one
   * representative per pipeline stage, the stage's dp·tp ranks (they do the same work at the same
   * simulated times; their bytes differ from the representative's only by uneven ring chunks).
   */
  ranks: number;
  coords: { dp: number; pp: number; tp: number };
  /** Simulated seconds, summed over all steps; compute + comm + idle = the device's makespan. */
  computeSeconds: number;
  /** Communication the compute stream waited for (not hidden behind compute). */
  commSeconds: number;
  idleSeconds: number;
  /** The device's simulated time: compute + comm + idle. */
  makespanSeconds: number;
  /** Bytes summed over all steps. */
  bytesSent: number;
  bytesReceived: number;
  /** Bytes sent, by ledger kind (`dp-grad`, `tp-act`, `pp-act`, `pp-grad`, …). */
  bytesByKind: Record<string, number>;
  /** Peak bytes allocated by this device (its buffers are allocated once and kept). */
  memory: MemoryReport;
  /** Peak number of micro-batches whose activations this device held at once. */
  peakStashed: number;
}

export interface RunResult {
  /** The validated scenario, defaults filled in. */
  scenario: Scenario;
  /** Mean next-token loss of each step's global batch, before that step's update; empty in shapes mode. */
  losses: number[];
  /** The last loss; null in shapes mode (nothing is computed). */
  finalLoss: number | null;
  /** finalLoss in bits per byte: tokens are bytes, so this is loss / ln 2; null in shapes mode. */
  bitsPerByte: number | null;
  /** fp16: the loss scale each step's backward used; null without loss scaling (fp32, bf16). */
  lossScale: number[] | null;
  /** Steps whose gradients overflowed (fp16), so that no rank updated its weights. */
  skippedSteps: number[];
  /** Host time of the training loop (not the simulated cluster's). */
  wall: { seconds: number; tokensPerSecond: number };
  worldSize: number;
  /** The simulated cluster: mean step time (slowest device) and tokens per simulated second. */
  simulated: { stepSeconds: number; tokensPerSecond: number };
  devices: DeviceReport[];
  /** `totalBytes` counts bytes sent, by every device over every step. */
  communication: { totalBytes: number; bytesByKind: Record<string, number> };
}

/** A run's results plus the per-device simulated timeline, for traces and reports. */
export interface RunOutput {
  result: RunResult;
  timeline: TimelineEvent[];
  /** With `captureGradients`: the reduced, unclipped gradients of step 0, by tensor name. */
  gradients?: Map<string, Float32Array>;
}

/** How one compared run was laid out: the parallel settings that distinguish it. */
export interface LayoutSummary {
  /** Short label, e.g. `dp2·tp1·pp2 1f1b`, plus any varied non-parallel value. */
  label: string;
  dp: number;
  tp: number;
  pp: number;
  schedule: string;
  virtualStages: number;
  sequenceParallel: boolean;
  zero: number;
  /** The values `--vary` set for this run, by dotted path (empty when comparing files). */
  varied: Record<string, unknown>;
}

/** Figures derived from a run's results for side-by-side comparison. */
export interface RunMetrics {
  /** Model FLOPs utilisation: (6·N + 12·L·h·s) per token × tokens per simulated second / (devices × peak). */
  mfu: number;
  /** Mean over devices of idle / makespan. */
  bubbleFraction: number;
  /** The largest device's allocated bytes. */
  peakMemoryBytes: number;
  /** Whether every device's memory fits in the hardware profile's. */
  fitsInMemory: boolean;
  /** Whether the losses match the first run with the same model and training (relative 1e-4); null if it has no such peer. */
  lossesAgree: boolean | null;
}

export interface CompareRun extends RunResult {
  layout: LayoutSummary;
  metrics: RunMetrics;
}

/** A layout that was run but did not finish: its label, the scenario file it came from, and why. */
export interface FailedRun {
  layout: string;
  file: string;
  reason: string;
}

/** `parasim compare --json`: every run as `parasim run` writes it plus its layout, what was skipped and what failed. */
export interface CompareResult {
  runs: CompareRun[];
  skipped: { layout: string; reason: string }[];
  failed: FailedRun[];
}

/** A comparison plus each run's simulated timeline (same order as `runs`), for traces and reports. */
export interface CompareOutput {
  result: CompareResult;
  timelines: TimelineEvent[][];
}

/** What a run records step by step. */
export type StepTrace = Pick<RunResult, "losses" | "lossScale" | "skippedSteps">;
