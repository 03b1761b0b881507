/**
 * Sizes a validated scenario must stay within before anything is allocated (src/limits.ts):
 * in both modes a step's tokens and the pipeline schedule, in real mode also the number of
 * workers and the length of every buffer of the model; then the length of the run. The
 * host-memory check (src/scenario/footprint.ts) runs between the first two functions here: it
 * relies on the first to count bytes safely, and names a model too large for the host before the
 * second would name one buffer of it. checkRunLength comes last: work that cannot be done at all
 * is named before work that would merely take too long.
 */
import { InputError } from "../errors.js";
import { LIMITS, grouped } from "../limits.js";
import { modelConfigOf } from "../model/config.js";
import { modelDims } from "../model/dims.js";
import { formatFlops } from "../report/table.js";
import { modelFlopsPerToken } from "../run/utilisation.js";
import type { Scenario } from "./schema.js";

const MAX_ELEMENTS = LIMITS.typedArrayElements;

/** Throws an InputError naming the field that takes `scenario` past a stated limit. */
export function checkScenarioLimits(scenario: Scenario): void {
  const { model: m, training: t, parallel: p } = scenario;
  const tokens = t.globalBatch * m.seqLen;
  if (tokens > MAX_ELEMENTS) {
    const field = m.seqLen > MAX_ELEMENTS ? "model.seqLen" : "training.globalBatch";
    throw new InputError(field, `globalBatch·seqLen = ${grouped(tokens)} tokens per step; a step's tokens are held in one typed array of at most ${grouped(MAX_ELEMENTS)} elements`);
  }
  const cells = p.pp * t.microBatches * p.virtualStages;
  if (cells > LIMITS.scheduleCells) {
    throw new InputError("training.microBatches", `pp·microBatches·virtualStages = ${grouped(cells)} schedule cells; parasim schedules at most ${grouped(LIMITS.scheduleCells)}`);
  }
  const world = p.dp * p.tp * p.pp;
  if (scenario.mode === "real" && world > LIMITS.realWorldSize) {
    throw new InputError("parallel", `dp·tp·pp = ${grouped(world)} devices; real mode starts a worker per device, at most ${LIMITS.realWorldSize} — use mode: shapes`);
  }
  if (scenario.mode === "shapes" && world > LIMITS.shapesWorldSize) {
    throw new InputError("parallel", `dp·tp·pp = ${world} ranks; shapes mode simulates at most ${LIMITS.shapesWorldSize}`);
  }
}

/**
 * Work a run could do but no one would wait for: more layer passes, or in real mode more model
 * FLOPs, than the stated limits. Names training.steps, or the per-step field when one step alone
 * is past the limit. Runs after the checks of what cannot be done at all, which name the field to
 * change first.
 */
export function checkRunLength(scenario: Scenario): void {
  const { model: m, training: t, parallel: p } = scenario;
  const workersPerPass = scenario.mode === "real" ? p.dp * p.tp : 1;
  const passesPerStep = t.microBatches * m.numLayers * workersPerPass;
  if (t.steps * passesPerStep > LIMITS.layerPasses) {
    throw new InputError(
      passesPerStep > LIMITS.layerPasses ? "training.microBatches" : "training.steps",
      `${grouped(t.steps)} steps × ${grouped(passesPerStep)} layer passes (microBatches·numLayers${workersPerPass > 1 ? "·dp·tp" : ""}) = ${grouped(t.steps * passesPerStep)}; ` +
        `a run does at most ${grouped(LIMITS.layerPasses)} (about half an hour of host time) — simulate fewer steps`,
    );
  }
  if (scenario.mode !== "real") return;
  const flopsPerStep = modelFlopsPerToken(modelConfigOf(scenario)) * t.globalBatch * m.seqLen;
  if (t.steps * flopsPerStep > LIMITS.realModeFlops) {
    throw new InputError(
      flopsPerStep > LIMITS.realModeFlops ? "training.globalBatch" : "training.steps",
      `${grouped(t.steps)} steps × ${formatFlops(flopsPerStep)} = ${formatFlops(t.steps * flopsPerStep)} of real arithmetic; ` +
        `real mode computes at most ${formatFlops(LIMITS.realModeFlops)} in a run (minutes to an hour on a CPU) — use fewer steps or tokens, or mode: shapes`,
    );
  }
}

/**
 * Real mode allocates every buffer of the model: the largest activation buffers of one
 * micro-batch must each fit in a typed array (the parameter buffer is checked with the host's
 * memory, in src/scenario/footprint.ts).
 */
export function checkRealModeBuffers(scenario: Scenario): void {
  const { model: m, training: t, parallel: p } = scenario;
  const B = t.globalBatch / p.dp / t.microBatches;
  const { N, C, Hl, Fl, Vl } = modelDims(modelConfigOf(scenario), B, m.seqLen, p.tp, p.sequenceParallel);
  const buffers: [field: string, what: string, elements: number][] = [
    ["model.seqLen", "attention probabilities B·H·T·T", B * Hl * m.seqLen * m.seqLen],
    ["model.vocabSize", "logits B·T·V", N * Vl],
    ["model.intermediateSize", "MLP activations B·T·F", N * Fl],
    ["model.hiddenSize", "hidden states B·T·C", N * C],
  ];
  for (const [field, what, elements] of buffers) {
    if (elements > MAX_ELEMENTS) {
      throw new InputError(
        field,
        `real mode needs a buffer of ${grouped(elements)} elements (${what} of one micro-batch on one tp rank); a typed array holds at most ${grouped(MAX_ELEMENTS)} — use mode: shapes`,
      );
    }
  }
}
