/**
 * The contract of `parasim plan`: what it is asked, what it counts while it searches, and the
 * ranked layouts it returns (the JSON that `plan --json` writes). Extend it, never rename what is
 * here: the report, the emitters and users' scripts read it.
 */
import type { Scenario } from "../scenario/schema.js";
import type { StepBreakdown } from "../sim/breakdown.js";
import type { TimelineEvent } from "../sim/clock.js";

/** What the user asked for (CLI flags, defaults filled in). */
export interface PlanRequest {
  /** A preset name, or the path of a Hugging Face `config.json`. */
  model: string;
  devices: number;
  /** A hardware profile name (src/sim/hardware.ts). */
  hardware: string;
  globalBatch: number;
  seqLen: number;
  precision: "fp32" | "bf16" | "fp16";
  /** How many layouts to print (the JSON keeps every simulated one). */
  top: number;
  /** Allow tensor-parallel groups to span nodes (off: tp ≤ devices per node). */
  tpAcrossNodes: boolean;
  /** The attention kernel every candidate uses (model.attention); absent: flash. */
  attention?: "naive" | "flash";
}

/** The choices that tell one candidate layout from another. */
export interface PlanLayout {
  dp: number;
  tp: number;
  pp: number;
  schedule: "gpipe" | "1f1b" | "interleaved" | "zb-h1";
  /** Model chunks per pipeline rank (interleaved: ≥ 2; otherwise 1). */
  virtualStages: number;
  /** Sequences per micro-batch. */
  microBatchSize: number;
  /** Micro-batches per replica per step: globalBatch / (dp · microBatchSize). */
  microBatches: number;
  sequenceParallel: boolean;
  recompute: "none" | "selective" | "full";
  zero: 0 | 1 | 2 | 3;
}

/** One simulated layout, as the table, the JSON and the report show it. */
export interface PlannedLayout {
  /** 1 for the fastest layout that fits; layouts that do not fit come after all that do. */
  rank: number;
  /** Short label, e.g. `dp16·tp8·pp8 1f1b mbs1 sp sel zero1`. */
  label: string;
  layout: PlanLayout;
  /** The full scenario simulated (shapes mode), for `run`, `--verify` and `--emit`. */
  scenario: Scenario;
  stepSeconds: number;
  tokensPerSecond: number;
  mfu: number;
  hfu: number;
  /** The largest device's peak bytes, and whether every device fits in the profile's memory. */
  peakMemoryBytes: number;
  fits: boolean;
  /** Mean over devices of idle / makespan. */
  bubbleFraction: number;
  /** Bytes sent per step by all devices, by ledger kind (`dp-grad`, `tp-act`, `pp-act`, …). */
  bytesByKind: Record<string, number>;
  /** The step breakdown of the device that ends last, per step. */
  breakdown: StepBreakdown;
}

/** How the search went: every candidate is enumerated once and either pruned (by one reason) or simulated. */
export interface PlanCounts {
  enumerated: number;
  /** Candidates dropped before simulation, by reason (e.g. `does not divide`, `memory`, `cannot beat the top K`). */
  pruned: Record<string, number>;
  simulated: number;
  /** Simulations answered from the cache (identical scenarios). */
  cached: number;
}

export interface PlanResult {
  request: PlanRequest;
  counts: PlanCounts;
  /** Every simulated layout, fitting ones first, each group fastest first. */
  ranked: PlannedLayout[];
  /** The profile's device memory in bytes (the limit the report draws). */
  memoryCapacity: number;
  /** Host seconds the search took. */
  wallSeconds: number;
  /**
   * Layouts the caller asked to rank (`plan(…, { include })`, e.g. a published layout): each one's
   * rank in `ranked`, and how many unsimulated candidates have a step bound under its step (0:
   * the rank is exact among all candidates; else the true rank is at most that many places lower).
   */
  included?: { label: string; rank: number; couldBeatIt: number }[];
}

/** A plan plus the simulated timelines of its top layouts (same order as `ranked`, at most three), for the report. */
export interface PlanOutput {
  result: PlanResult;
  timelines: TimelineEvent[][];
}
