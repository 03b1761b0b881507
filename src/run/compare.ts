/**
 * `compare()`: several layouts of one model side by side. Each run is independent, so they are
 * spread over a piscina pool (piscina hands each task to whichever thread is free — the right
 * tool for independent jobs, unlike devices, which keep state under a fixed rank), sized to the machine's cores; each run then starts its
 * own device workers.
 */
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { workerFile } from "../runtime/cluster.js";
import { fromPlainError, toPlainError } from "../errors.js";
import type { Scenario } from "../scenario/schema.js";
import type { TimelineEvent } from "../sim/clock.js";
import type { CompareTask, CompareTaskResult } from "./compare-task.js";
import { lossesAgree, runMetrics } from "./metrics.js";
import type { CompareOutput, CompareResult, CompareRun, FailedRun, LayoutSummary } from "./results.js";
import type { Expanded } from "./vary.js";

export interface CompareOptions {
  /** Runs already skipped while expanding variations, reported beside the results. */
  skipped?: { layout: string; reason: string }[];
  /** Layouts that failed before running (a scenario that does not fit), reported with those that fail while running. */
  failed?: FailedRun[];
  /** Called as runs finish (for progress bars). */
  onRunDone?: (done: number, total: number) => void;
  /** Pool threads; default the machine's cores. */
  threads?: number;
}


export function layoutSummary(s: Scenario, varied: Record<string, unknown> = {}): LayoutSummary {
  const p = s.parallel;
  const extras = Object.entries(varied)
    .filter(([path]) => !["parallel.dp", "parallel.tp", "parallel.pp", "parallel.schedule"].includes(path))
    .map(([path, v]) => `${path.split(".").pop()}=${String(v)}`);
  const schedule = p.pp > 1 ? ` ${p.schedule}${p.schedule === "interleaved" ? `×${p.virtualStages}` : ""}` : "";
  const label = [`dp${p.dp}·tp${p.tp}·pp${p.pp}${schedule}`, ...extras].join(" ");
  return { label, dp: p.dp, tp: p.tp, pp: p.pp, schedule: p.schedule, virtualStages: p.virtualStages, sequenceParallel: p.sequenceParallel, zero: p.zero, varied };
}

/** Compares validated scenarios (or expanded variations); returns results and timelines. */
export async function compareWithTimelines(inputs: (Scenario | Expanded)[], options: CompareOptions = {}): Promise<CompareOutput> {
  const runs = inputs.map((i) => ("scenario" in i ? i : { scenario: i, varied: {} }));
  const pool = new Piscina<CompareTask, CompareTaskResult>({
    // From sources, a piscina thread needs tsx registered before it can import the TypeScript task.
    filename: workerFile({ compiled: "compare-task.js", source: "compare-task-tsx.mjs" }).href,
    maxThreads: Math.max(1, Math.min(runs.length, options.threads ?? availableParallelism())),
    minThreads: 0,
  });
  let done = 0;
  try {
    const outcomes = await Promise.all(
      runs.map(async ({ scenario }) => {
        const out = await pool.run({ scenario }).catch((err: unknown): CompareTaskResult => ({ ok: false, error: toPlainError(err) }));
        options.onRunDone?.(++done, runs.length);
        return out;
      }),
    );
    const compared: CompareRun[] = [];
    const timelines: TimelineEvent[][] = [];
    const failed: FailedRun[] = [...(options.failed ?? [])];
    outcomes.forEach((o, i) => {
      const layout = layoutSummary(runs[i].scenario, runs[i].varied);
      const file = ("file" in runs[i] ? runs[i].file : undefined) ?? runs[i].scenario.name;
      if (!o.ok) {
        failed.push({ layout: layout.label, file, reason: fromPlainError(o.error).message });
        return;
      }
      compared.push({ ...o.result, layout, metrics: { ...runMetrics(o.result), lossesAgree: null } });
      timelines.push(o.timeline);
    });
    markLossAgreement(compared);
    return { result: { runs: compared, skipped: options.skipped ?? [], failed }, timelines };
  } finally {
    await pool.destroy();
  }
}

export async function compare(inputs: (Scenario | Expanded)[], options: CompareOptions = {}): Promise<CompareResult> {
  return (await compareWithTimelines(inputs, options)).result;
}

/** Runs that train the same model on the same data must have the same losses: each is checked against the first of its kind. */
function markLossAgreement(runs: CompareRun[]): void {
  const firsts = new Map<string, CompareRun>();
  for (const run of runs) {
    if (run.losses.length === 0) continue; // shapes only: nothing to agree on
    const key = JSON.stringify([run.scenario.model, run.scenario.training]);
    const first = firsts.get(key);
    if (!first) firsts.set(key, run);
    else {
      run.metrics.lossesAgree = lossesAgree(run.losses, first.losses);
      first.metrics.lossesAgree = true; // the reference of its kind, now that it has a peer
    }
  }
}
