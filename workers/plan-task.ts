// A piscina task: one candidate layout of `parasim plan`. Errors cross back as plain data, since
// their classes do not survive the thread boundary.
import { toPlainError } from "../src/errors.js";
import { runPlanTask, type PlanTask, type PlanTaskResult } from "../src/plan/task.js";

export default async function task(input: PlanTask): Promise<PlanTaskResult> {
  try {
    return await runPlanTask(input);
  } catch (err) {
    return { ok: false, error: toPlainError(err) };
  }
}
