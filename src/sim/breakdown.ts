/**
 * Where a device's simulated time goes, by phase: the step breakdown of results and reports.
 * Every second of the compute stream falls in exactly one phase, so the phases add up to the
 * makespan (up to double round-off of the sums):
 * - compute events by label: `optimizer`; a label with `:recompute` (selective or full
 *   recomputation); forward `F<mb>:…`; backward `B<mb>:…`, `W<mb>:…` and anything else;
 * - exposed communication (the compute stream waited for it) by the ledger kind in its label:
 *   `(tp-…)` tensor parallel, `(pp-…)` pipeline, `(dp-…)` data parallel;
 * - idle (waiting for a peer that had not yet sent or arrived): the bubble.
 */
import type { EventKind } from "./clock.js";

export interface StepBreakdown {
  forward: number;
  backward: number;
  recompute: number;
  optimizer: number;
  tpComm: number;
  ppComm: number;
  dpComm: number;
  bubble: number;
}

export type Phase = keyof StepBreakdown;

export const PHASES: readonly Phase[] = ["forward", "backward", "recompute", "optimizer", "tpComm", "ppComm", "dpComm", "bubble"];

export function emptyBreakdown(): StepBreakdown {
  return { forward: 0, backward: 0, recompute: 0, optimizer: 0, tpComm: 0, ppComm: 0, dpComm: 0, bubble: 0 };
}

/** The phase of a compute-stream interval of `kind` labelled `label` (header). */
export function phaseOf(kind: EventKind, label: string): Phase {
  if (kind === "idle") return "bubble";
  if (kind === "comm") {
    if (label.includes("(pp-")) return "ppComm";
    if (label.includes("(dp-")) return "dpComm";
    return "tpComm";
  }
  if (label === "optimizer") return "optimizer";
  if (label.includes(":recompute")) return "recompute";
  return /^F\d/.test(label) ? "forward" : "backward";
}
