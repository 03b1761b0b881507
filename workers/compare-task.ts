// A piscina task: one independent run of `parasim compare`. Errors cross back as plain data,
// since their classes do not survive the thread boundary.
import { toPlainError } from "../src/errors.js";
import { runCompareTask, type CompareTask, type CompareTaskResult } from "../src/run/compare-task.js";

export default async function task(input: CompareTask): Promise<CompareTaskResult> {
  try {
    return await runCompareTask(input);
  } catch (err) {
    return { ok: false, error: toPlainError(err) };
  }
}
