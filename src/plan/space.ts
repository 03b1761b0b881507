/**
 * The space `parasim plan` searches: every dp × tp × pp = devices, every schedule (interleaved
 * with each chunk count that splits the layers evenly), every micro-batch size that divides the
 * global batch, sequence parallelism (with tp > 1), recomputation none / selective / full and
 * ZeRO 0–3; and the rules that reject a candidate before anything is simulated. The rules mirror
 * the scenario schema (src/scenario/schema.ts), which still validates every layout simulated.
 */
import { InputError } from "../errors.js";
import { LIMITS } from "../limits.js";
import { buildMesh } from "../parallel/mesh.js";
import { checkPipeline } from "../parallel/pipeline.js";
import { rankClasses } from "../parallel/symmetry.js";
import { validateTp } from "../parallel/tp-plan.js";
import type { PlanSetup } from "./setup.js";
import type { PlanLayout } from "./types.js";

/** Why a candidate was dropped before simulation (the keys of PlanCounts.pruned). */
export const PRUNE = {
  tpAcrossNodes: "tp group spans nodes",
  tpDivides: "tp does not divide the model",
  pipelineDivides: "pipeline does not divide the layers",
  batchDivides: "global batch does not divide",
  interleavedMicroBatches: "interleaved needs micro-batches a multiple of pp",
  spTokens: "sp needs tp to divide a micro-batch's tokens",
  fullRecomputeZbH1: "full recompute with zb-h1",
  gpipeOneMicroBatch: "GPipe with one micro-batch (same as 1F1B)",
  zeroWithoutDp: "ZeRO without data parallelism (same as ZeRO 0)",
  selectiveWithFlash: "selective recompute with flash attention (same as none)",
  scheduleCells: "schedule larger than parasim simulates",
  shapesWorkers: "more workers than shapes mode starts",
  memory: "memory",
  cannotWin: "cannot beat the top K",
} as const;

const SCHEDULES = ["1f1b", "zb-h1", "gpipe"] as const;
const RECOMPUTES = ["none", "selective", "full"] as const;
const ZERO_STAGES = [0, 1, 2, 3] as const;

export function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

/**
 * The schedules of a pipeline of `pp` ranks: GPipe, 1F1B, ZB-H1, and interleaved 1F1B with each
 * chunk count v ≥ 2 that divides the layers per rank. With one pipeline rank there is no bubble
 * for interleaving to shrink, so it is not offered.
 */
function scheduleVariants(pp: number, layers: number): { schedule: PlanLayout["schedule"]; virtualStages: number }[] {
  const plain = SCHEDULES.map((schedule) => ({ schedule, virtualStages: 1 }));
  if (pp < 2 || layers % pp !== 0) return plain;
  const chunks = divisors(layers / pp).filter((v) => v >= 2);
  return [...plain, ...chunks.map((v) => ({ schedule: "interleaved" as const, virtualStages: v }))];
}

/** Every candidate layout of the setup, in a fixed order. */
export function* enumerateLayouts(setup: PlanSetup): Generator<PlanLayout> {
  const { devices, globalBatch } = setup.request;
  for (const tp of divisors(devices)) {
    for (const pp of divisors(devices / tp)) {
      const dp = devices / tp / pp;
      for (const { schedule, virtualStages } of scheduleVariants(pp, setup.config.numLayers)) {
        for (const microBatchSize of divisors(globalBatch)) {
          const microBatches = globalBatch / (dp * microBatchSize);
          for (const sequenceParallel of tp > 1 ? [false, true] : [false]) {
            for (const recompute of RECOMPUTES) {
              for (const zero of ZERO_STAGES) {
                yield { dp, tp, pp, schedule, virtualStages, microBatchSize, microBatches, sequenceParallel, recompute, zero };
              }
            }
          }
        }
      }
    }
  }
}

/** True when `check` throws an InputError (the model's own rules: tp shards, stage split). */
function refuses(check: () => void): boolean {
  try {
    check();
    return false;
  } catch (err) {
    if (err instanceof InputError) return true;
    throw err;
  }
}

/** Whether every tp group (consecutive ranks) sits inside one node. */
export function tpInsideNode(tp: number, devices: number, perNode: number): boolean {
  return devices <= perNode || perNode % tp === 0;
}

/** The checks that depend on the mesh and model only, cached: thousands of candidates share each (dp, tp, pp, v). */
export class Rules {
  private readonly structural = new Map<string, string | null>();
  /** Workers a shapes-mode run of each mesh starts. */
  private readonly workers = new Map<string, number>();

  constructor(private readonly setup: PlanSetup) {}

  /** The first rule `layout` breaks (a PRUNE reason), or null. */
  broken(l: PlanLayout): string | null {
    const { config } = this.setup;
    const key = `${l.dp},${l.tp},${l.pp},${l.virtualStages},${l.schedule === "interleaved"}`;
    if (!this.structural.has(key)) this.structural.set(key, this.structuralReason(l));
    const reason = this.structural.get(key)!;
    if (reason) return reason;
    if (!Number.isInteger(l.microBatches)) return PRUNE.batchDivides;
    if (l.schedule === "interleaved" && l.microBatches % l.pp !== 0) return PRUNE.interleavedMicroBatches;
    if (l.sequenceParallel && (l.microBatchSize * config.seqLen) % l.tp !== 0) return PRUNE.spTokens;
    if (l.recompute === "full" && l.schedule === "zb-h1") return PRUNE.fullRecomputeZbH1;
    // With one micro-batch both run F then BW on every rank: the same action lists.
    if (l.schedule === "gpipe" && l.microBatches === 1) return PRUNE.gpipeOneMicroBatch;
    if (l.zero > 0 && l.dp === 1) return PRUNE.zeroWithoutDp;
    // Flash attention keeps no probabilities, so the model has nothing to recompute selectively (src/model/activations.ts).
    if (l.recompute === "selective" && this.setup.request.attention === "flash") return PRUNE.selectiveWithFlash;
    if (l.pp * l.microBatches * l.virtualStages > LIMITS.scheduleCells) return PRUNE.scheduleCells;
    return null;
  }

  private structuralReason(l: PlanLayout): string | null {
    const { request, config, hardware } = this.setup;
    if (!request.tpAcrossNodes && !tpInsideNode(l.tp, request.devices, hardware.devicesPerNode)) return PRUNE.tpAcrossNodes;
    if (refuses(() => validateTp(config, { size: l.tp, index: 0 }))) return PRUNE.tpDivides;
    const interleaved = l.schedule === "interleaved";
    if (refuses(() => checkPipeline(config, { p: l.pp, v: l.virtualStages, interleaved }))) return PRUNE.pipelineDivides;
    // Shapes mode runs one worker per pipeline stage when nodes align with the mesh, else one per rank.
    if (l.pp > LIMITS.shapesWorkers) return PRUNE.shapesWorkers;
    const mesh = `${l.dp},${l.tp},${l.pp}`;
    if (!this.workers.has(mesh)) this.workers.set(mesh, rankClasses(buildMesh(l), hardware, { dp: [], tp: [] }).representatives.length);
    return this.workers.get(mesh)! > LIMITS.shapesWorkers ? PRUNE.shapesWorkers : null;
  }
}
