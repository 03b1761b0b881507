/**
 * `plan --verify`: proves that a planned layout is a correct parallelisation, not only a fast one.
 * It trains a scaled-down copy of the model in real mode under the plan's layout and schedule
 * (src/plan/verify-copy.ts says what is kept and what shrinks) and the same model, data and
 * training on one device, and holds the two to the bounds the equivalence tests hold every layout
 * to (src/run/equivalence.ts): the step-0 gradients of every tensor and the loss of every step.
 * Losses alone would miss bugs: on Llama-3-70B's copy, a rank that keeps its partial
 * tensor-parallel sums moved the losses by 0.94u, within their bound (the residual branches are
 * small at initialisation), while a gradient was 11 times past its bound.
 *
 * What it proves: the parallel code paths the layout takes — tensor-parallel shards and their
 * collectives, sequence parallelism, the pipeline schedule with its stage placement and
 * micro-batching, ZeRO's sharded optimizer, recomputation, the precision's rounding — compute what
 * one device computes on a model of the same structure. What it does not: that the full-size
 * model trains (sizes are shrunk, and past the worker budget the tp and pp group sizes too), nor
 * anything about speed or memory, which the plan's shapes-mode simulation answers.
 */
import { layoutSummary } from "../run/compare.js";
import { equivalence, equivalenceBounds, roundoffOf, type Equivalence } from "../run/equivalence.js";
import { simulateWithTimeline } from "../run/simulate.js";
import type { RunOutput } from "../run/results.js";
import type { Sabotage } from "../runtime/sabotage.js";
import type { Scenario } from "../scenario/schema.js";
import { DEFAULT_VERIFY_WORKERS, scaledCopy } from "./verify-copy.js";

export interface VerifyOptions {
  /** Devices (worker threads) the copy may use; default 16. */
  maxWorkers?: number;
  /** Tests only: a deliberate bug in the copy's run, which verification must catch (src/runtime/sabotage.ts). */
  sabotage?: Sabotage;
  /** How long the workers may take to start (ms); dozens of workers on a busy host need more than the default minute. */
  startupMs?: number;
}

export interface VerifyResult {
  /** True when the copy trained like one device within the bounds. */
  pass: boolean;
  /** The copy as trained (real mode), its layout label and device count. */
  copy: { scenario: Scenario; label: string; workers: number; model: string };
  /** Where the copy's layout differs from the plan's beyond its size. */
  notes: string[];
  losses: { copy: number[]; reference: number[] };
  /** The step whose |L − L_ref| / L_ref is closest to its bound: the difference, its bound and the step. */
  lossError: number;
  lossTolerance: number;
  lossStep: number;
  /** The step-0 gradient closest to its bound: ‖g − g_ref‖ / ‖g_ref‖, the tensor and its bound. */
  gradientError: number;
  worstTensor: string;
  gradientTolerance: number;
  /** Each difference past its bound, one line each. */
  failures: string[];
  /** Host seconds of the runs (they run at once). */
  wallSeconds: number;
}

/** Trains the scaled-down copy of `scenario`'s layout and one device, and compares them. */
export async function verifyLayout(scenario: Scenario, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { copy, reference, fp32Reference, notes } = scaledCopy(scenario, options.maxWorkers ?? DEFAULT_VERIFY_WORKERS);
  const started = performance.now();
  const runOptions = { captureGradients: true, startupMs: options.startupMs };
  const [out, ref, exact] = await Promise.all([
    simulateWithTimeline(copy, { ...runOptions, sabotage: options.sabotage }),
    simulateWithTimeline(reference, runOptions),
    fp32Reference && simulateWithTimeline(fp32Reference, runOptions),
  ]);
  const wallSeconds = (performance.now() - started) / 1000;
  // fp16's gradients are captured loss-scaled.
  const roundoff = exact && roundoffOf(trained(ref), trained(exact), ref.result.lossScale?.[0] ?? 1);
  const measured = equivalence(trained(out), trained(ref), equivalenceBounds(copy.training.precision), roundoff);
  return resultOf(copy, notes, measured, { copy: out.result.losses, reference: ref.result.losses }, wallSeconds);
}

function trained(out: RunOutput) {
  return { losses: out.result.losses, gradients: out.gradients! };
}

function resultOf(copy: Scenario, notes: string[], e: Equivalence, losses: VerifyResult["losses"], wallSeconds: number): VerifyResult {
  const p = copy.parallel;
  const m = copy.model;
  const extras = [p.sequenceParallel && "sp", copy.training.recompute !== "none" && `recompute ${copy.training.recompute}`, p.zero > 0 && `zero${p.zero}`, copy.training.precision];
  const label = [layoutSummary(copy).label, `m${copy.training.microBatches}`, ...extras.filter((x) => x)].join(" ");
  const model = `${m.family ?? "llama"} L${m.numLayers} h${m.hiddenSize} heads ${m.numHeads}/${m.numKvHeads} ffn ${m.intermediateSize} vocab ${m.vocabSize} seq ${m.seqLen}${m.tieEmbeddings ? " tied" : ""}`;
  return {
    pass: e.failures.length === 0,
    copy: { scenario: copy, label, workers: p.dp * p.tp * p.pp, model },
    notes,
    losses,
    lossError: e.loss.error,
    lossTolerance: e.loss.bound,
    lossStep: e.loss.step,
    gradientError: e.gradient.error,
    worstTensor: e.gradient.tensor,
    gradientTolerance: e.gradient.bound,
    failures: e.failures,
    wallSeconds,
  };
}

/** The verdict as the CLI prints it: a headline, the copy, the notes, the numbers against their bounds. */
export function formatVerify(r: VerifyResult): string {
  const lines = [
    `verify: ${r.pass ? "PASS" : "FAIL"} — the layout's scaled-down copy ${r.pass ? "trains" : "does not train"} like one device`,
    `  copy: ${r.copy.label} (${r.copy.workers} workers), ${r.copy.model}, ${r.losses.copy.length} steps, ${r.wallSeconds.toFixed(1)} s`,
    ...r.notes.map((n) => `  note: ${n}`),
    `  losses: closest to its bound step ${r.lossStep}, relative difference ${r.lossError.toExponential(2)} (bound ${r.lossTolerance.toExponential(2)})`,
    `  step-0 gradients: closest to its bound ${r.worstTensor}, relative difference ${r.gradientError.toExponential(2)} (bound ${r.gradientTolerance.toExponential(2)})`,
    ...r.failures.slice(0, 5).map((f) => `  fail: ${f}`),
  ];
  if (r.failures.length > 5) lines.push(`  … and ${r.failures.length - 5} more`);
  return lines.join("\n");
}
