/**
 * What a plan pool thread does with one candidate: simulate its scenario (shapes mode, one step)
 * and return the figures the ranked list shows, and its timeline when asked (for the report).
 */
import type { PlainError } from "../errors.js";
import type { RunResult } from "../run/results.js";
import { runMetrics } from "../run/metrics.js";
import { simulate, simulateWithTimeline } from "../run/simulate.js";
import type { Scenario } from "../scenario/schema.js";
import type { TimelineEvent } from "../sim/clock.js";
import type { PlannedLayout } from "./types.js";

export interface PlanTask {
  scenario: Scenario;
  timeline: boolean;
}

/** The simulated figures of a PlannedLayout. */
export type SimulatedFigures = Omit<PlannedLayout, "rank" | "label" | "layout" | "scenario">;

export type PlanTaskResult = { ok: true; figures: SimulatedFigures; timeline: TimelineEvent[] | null } | { ok: false; error: PlainError };

/** A shapes-mode run of a hundred pipeline stages can take minutes to start its workers on a busy host. */
const STARTUP_MS = 600_000;

/** The ranked list's figures of a run: per step, the breakdown of the device that ends last. */
export function simulatedFigures(r: RunResult): SimulatedFigures {
  const metrics = runMetrics(r);
  const last = r.devices.reduce((a, d) => (d.makespanSeconds > a.makespanSeconds ? d : a), r.devices[0]!);
  const steps = r.scenario.training.steps;
  const breakdown = { ...last.breakdown };
  for (const phase of Object.keys(breakdown) as (keyof typeof breakdown)[]) breakdown[phase] /= steps;
  const bytesByKind: Record<string, number> = {};
  for (const [kind, bytes] of Object.entries(r.communication.bytesByKind)) bytesByKind[kind] = bytes / steps;
  return {
    stepSeconds: r.simulated.stepSeconds,
    tokensPerSecond: r.simulated.tokensPerSecond,
    mfu: r.utilisation.mfu,
    hfu: r.utilisation.hfu,
    peakMemoryBytes: metrics.peakMemoryBytes,
    fits: metrics.fitsInMemory,
    bubbleFraction: metrics.bubbleFraction,
    bytesByKind,
    breakdown,
  };
}

export async function runPlanTask(task: PlanTask): Promise<PlanTaskResult> {
  if (!task.timeline) return { ok: true, figures: simulatedFigures(await simulate(task.scenario, { startupMs: STARTUP_MS })), timeline: null };
  const { result, timeline } = await simulateWithTimeline(task.scenario, { startupMs: STARTUP_MS });
  return { ok: true, figures: simulatedFigures(result), timeline };
}
