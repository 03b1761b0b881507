/**
 * `parasim validate`: the published iteration times parasim's cost model is checked against,
 * simulated in shapes mode on one hardware profile with no per-case parameter.
 *
 * The cases: Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
 * Models"), Table 5 — GPT models on DGX A100 80 GB nodes, fp16, sequence 2048, vocabulary 51,200,
 * tp 8 inside a node, dp 1, micro-batch 1 sequence (22B: 4). "full" = full recomputation;
 * "sel+sp" = selective recomputation with sequence parallelism. Layers are split evenly over the
 * pipeline stages, as Megatron-LM splits them.
 *
 * The runs are fp16 (`training.precision: fp16`): the matmul peak and every element size follow
 * from it. Dropout is Megatron-LM's default, 0.1 on the attention probabilities and on the hidden
 * states (`--attention-dropout`, `--hidden-dropout`); the paper's activation memory, sbh(34 +
 * 5as/h) per layer, counts its masks (Korthikanti et al. 2022, Table 2). Weight gradients
 * accumulate in fp32 (`training.gradReduceFp32`, Megatron-LM's --accumulate-allreduce-grads-in-fp32):
 * Megatron-LM of 2022 fused the accumulation into the weight-gradient GEMM by default
 * (--no-gradient-accumulation-fusion turned it off), and until September 2022 that fusion wrote
 * only into an fp32 buffer (its commit 07916bf, "Support gradient accumulation fusion in fp16",
 * added the 16-bit one).
 *
 * Pipeline messages move as Megatron-LM's p2p communication of 2022 moved them. Blocking
 * (`parallel.p2p: blocking`): every exchange was a batch_isend_irecv whose requests were all waited
 * for, followed by a device synchronize, so the sender's compute waited for its sends as well as
 * its receives. Scattered and gathered (`parallel.pipelineScatterGather`): without sequence
 * parallelism each tp rank sent 1/tp of a boundary message and the receivers all-gathered it inside
 * their node (Narayanan et al. 2021, §4.1; on by default, --no-scatter-gather-tensors-in-pipeline
 * turned it off, and sequence parallelism's sequence-shard messages skipped it).
 */
import { validateScenario } from "../scenario/load.js";
import type { Scenario } from "../scenario/schema.js";
import { simulate } from "./simulate.js";

export interface PublishedCase {
  model: string;
  /** The model section: the paper's model as a gpt preset (Korthikanti et al. 2022, Table 3). */
  spec: Record<string, unknown>;
  numLayers: number;
  gpus: number;
  tp: number;
  pp: number;
  globalBatch: number;
  /** Sequences per micro-batch. */
  microBatchSize: number;
  interleave: number;
  /** Measured seconds per iteration. */
  full: number;
  selSp: number;
}

export type Variant = "full" | "sel+sp";

/** Korthikanti et al. 2022, Table 5 (seconds per iteration). */
export const TABLE5: readonly PublishedCase[] = [
  { model: "22B", spec: { preset: "megatron-22b" }, numLayers: 48, gpus: 8, tp: 8, pp: 1, globalBatch: 4, microBatchSize: 4, interleave: 1, full: 1.42, selSp: 1.1 },
  { model: "175B", spec: { preset: "gpt3-175b" }, numLayers: 96, gpus: 64, tp: 8, pp: 8, globalBatch: 64, microBatchSize: 1, interleave: 3, full: 18.13, selSp: 13.75 },
  { model: "530B", spec: { preset: "mt-nlg-530b" }, numLayers: 105, gpus: 280, tp: 8, pp: 35, globalBatch: 280, microBatchSize: 1, interleave: 3, full: 49.05, selSp: 37.83 },
  { model: "1T", spec: { preset: "megatron-1t" }, numLayers: 128, gpus: 512, tp: 8, pp: 64, globalBatch: 512, microBatchSize: 1, interleave: 1, full: 94.42, selSp: 71.49 },
];

/** Megatron-LM's default attention and hidden dropout, which the published runs used. */
export const MEGATRON_DROPOUT = 0.1;

/** The scenario of one published run: shapes mode, one step, a100-80gb, fp16. */
export function publishedScenario(c: PublishedCase, variant: Variant): Scenario {
  const chunks = c.pp * c.interleave;
  return validateScenario({
    name: `${c.model} ${variant}`,
    mode: "shapes",
    model: { ...c.spec, dropout: MEGATRON_DROPOUT },
    training: {
      steps: 1,
      globalBatch: c.globalBatch,
      microBatches: c.globalBatch / c.microBatchSize,
      optimizer: { lr: 1e-4 },
      recompute: variant === "full" ? "full" : "selective",
      precision: "fp16",
      gradReduceFp32: true,
    },
    parallel: {
      tp: c.tp,
      pp: c.pp,
      schedule: c.interleave > 1 ? "interleaved" : "1f1b",
      ...(c.interleave > 1 ? { virtualStages: c.interleave } : {}),
      ...(c.pp > 1 ? { layersPerStage: new Array(chunks).fill(c.numLayers / chunks) } : {}),
      sequenceParallel: variant === "sel+sp",
      p2p: "blocking",
      pipelineScatterGather: true,
    },
    hardware: { profile: "a100-80gb" },
  });
}

export interface ValidationRow {
  model: string;
  variant: Variant;
  measured: number;
  predicted: number;
  /** (predicted − measured) / measured. */
  error: number;
}

export interface ValidationResult {
  rows: ValidationRow[];
  /** Mean of |error| over the rows. */
  meanAbsoluteError: number;
  /** Per model: sel+sp / full, measured and predicted. */
  ratios: { model: string; measured: number; predicted: number }[];
}

/** Simulates every case of `cases` in both variants (one after another: each run uses a worker per stage). */
export async function runValidation(cases: readonly PublishedCase[] = TABLE5, onRow?: (row: ValidationRow) => void): Promise<ValidationResult> {
  const rows: ValidationRow[] = [];
  for (const c of cases) {
    for (const variant of ["full", "sel+sp"] as const) {
      const result = await simulate(publishedScenario(c, variant), { startupMs: 600_000 });
      const measured = variant === "full" ? c.full : c.selSp;
      const predicted = result.simulated.stepSeconds;
      const row = { model: c.model, variant, measured, predicted, error: (predicted - measured) / measured };
      rows.push(row);
      onRow?.(row);
    }
  }
  const meanAbsoluteError = rows.reduce((s, r) => s + Math.abs(r.error), 0) / rows.length;
  const ratios = cases.map((c) => {
    const of = (v: Variant) => rows.find((r) => r.model === c.model && r.variant === v)!;
    return { model: c.model, measured: c.selSp / c.full, predicted: of("sel+sp").predicted / of("full").predicted };
  });
  return { rows, meanAbsoluteError, ratios };
}

const pct = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)} %`;

/** The validation as a table: predicted vs measured per run, the mean absolute error, and the sel+sp / full ratios. */
export function formatValidation(v: ValidationResult): string {
  const lines = ["Korthikanti et al. 2022, Table 5 (A100 80 GB, fp16): seconds per iteration", ""];
  lines.push("model  variant  measured  predicted  error");
  for (const r of v.rows) {
    lines.push(`${r.model.padEnd(6)} ${r.variant.padEnd(8)} ${r.measured.toFixed(2).padStart(8)}  ${r.predicted.toFixed(2).padStart(9)}  ${pct(r.error).padStart(8)}`);
  }
  lines.push("", `mean absolute error: ${(100 * v.meanAbsoluteError).toFixed(1)} %`, "", "model  sel+sp/full measured  predicted");
  for (const r of v.ratios) lines.push(`${r.model.padEnd(6)} ${r.measured.toFixed(3).padStart(20)}  ${r.predicted.toFixed(3).padStart(9)}`);
  return lines.join("\n");
}
