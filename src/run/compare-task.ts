/** What a compare pool thread does with one scenario: simulate it and return results and timeline. */
import type { PlainError } from "../errors.js";
import type { Scenario } from "../scenario/schema.js";
import type { TimelineEvent } from "../sim/clock.js";
import type { RunResult } from "./results.js";
import { simulateWithTimeline } from "./simulate.js";

export interface CompareTask {
  scenario: Scenario;
}

export type CompareTaskResult = { ok: true; result: RunResult; timeline: TimelineEvent[] } | { ok: false; error: PlainError };

export async function runCompareTask(task: CompareTask): Promise<CompareTaskResult> {
  const { result, timeline } = await simulateWithTimeline(task.scenario);
  return { ok: true, result, timeline };
}
