/**
 * `npm run bench -- table5`: `parasim plan` on the configurations of Korthikanti et al. 2022,
 * Table 5 (src/run/validate.ts: the GPUs, global batch and sequence 2048 of each model, fp16,
 * A100 80 GB, naive attention as in the paper's Megatron-LM), with the two published layouts of
 * each model included (tp 8, dp 1, their pp and interleaving, micro-batch 1 — 22B: 4 — with full
 * recomputation, and with selective recomputation plus sequence parallelism). Prints the plan's
 * best layout and step against each published layout's simulated step and its rank among every
 * candidate (exact: the search goes on until nothing unsimulated can beat it; with
 * PARASIM_TABLE5_EXACT=0 it stops at the top K and prints the range the rank lies in).
 *
 * Slow: the larger models simulate pipelines of up to 64 stages over hundreds of micro-batches;
 * the 1T model takes long. `PARASIM_TABLE5=22B,175B npm run bench -- table5` picks models. Runs the compiled
 * dist/ (`npm run build` first), whose workers start faster than through tsx.
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import type { PlanLayout, PlanResult } from "../src/plan/types.js";
import type { PublishedCase } from "../src/run/validate.js";

const DIST = fileURLToPath(new URL("../dist/src/index.js", import.meta.url));
/** PARASIM_TABLE5_EXACT=0: stop at the top K and print the range a published layout's rank lies in (faster). */
const EXACT = process.env.PARASIM_TABLE5_EXACT !== "0";

function publishedLayouts(c: PublishedCase): { variant: string; layout: PlanLayout }[] {
  const base = {
    dp: c.gpus / (c.tp * c.pp),
    tp: c.tp,
    pp: c.pp,
    schedule: c.interleave > 1 ? ("interleaved" as const) : ("1f1b" as const),
    virtualStages: c.interleave,
    microBatchSize: c.microBatchSize,
    microBatches: c.globalBatch / c.microBatchSize,
    zero: 0 as const,
  };
  return [
    { variant: "full", layout: { ...base, sequenceParallel: false, recompute: "full" } },
    { variant: "sel+sp", layout: { ...base, sequenceParallel: true, recompute: "selective" } },
  ];
}

export async function run(): Promise<void> {
  if (!existsSync(DIST)) {
    console.error(`bench table5: ${DIST} is missing; run \`npm run build\` first`);
    process.exit(2);
  }
  const { plan, TABLE5, MODEL_PRESET_OF } = await loadDist();
  const asked = (process.env.PARASIM_TABLE5 ?? "").split(",").filter((m) => m !== "");
  const cases = TABLE5.filter((c) => asked.length === 0 || asked.includes(c.model));
  console.log(`load average ${loadavg()[0]!.toFixed(1)}`);
  console.log(`model  GPUs  ${"plan's best layout".padEnd(47)}  best step  ${"published layout".padEnd(49)}  its step  its rank   simulated  wall`);
  for (const c of cases) {
    const published = publishedLayouts(c);
    const started = performance.now();
    const request = { model: MODEL_PRESET_OF(c), devices: c.gpus, hardware: "a100-80gb", globalBatch: c.globalBatch, seqLen: 2048, precision: "fp16" as const, top: 5, tpAcrossNodes: false, attention: "naive" as const };
    const { result } = (await plan(request, { include: published.map((p) => p.layout), exactRanks: EXACT })) as { result: PlanResult };
    const wall = (performance.now() - started) / 1000;
    const best = result.ranked[0]!;
    published.forEach((p, i) => {
      const { rank, couldBeatIt } = result.included![i]!;
      const entry = result.ranked[rank - 1]!;
      const ranked = couldBeatIt === 0 ? String(rank) : `${rank}–${rank + couldBeatIt}`;
      console.log(
        `${c.model.padEnd(5)}  ${String(c.gpus).padStart(4)}  ${best.label.padEnd(47)}  ${best.stepSeconds.toFixed(2).padStart(7)} s  ${p.variant.padEnd(7)}  ${entry.label.padEnd(40)}  ${entry.stepSeconds.toFixed(2).padStart(6)} s  ${ranked.padStart(9)}  ${String(result.counts.simulated).padStart(9)}  ${wall.toFixed(0)} s`,
      );
    });
  }
}

/** The compiled plan and Table 5 (imported from dist/ so that pool threads and devices start from compiled JavaScript). */
async function loadDist(): Promise<{ plan: (r: unknown, o: unknown) => Promise<unknown>; TABLE5: readonly PublishedCase[]; MODEL_PRESET_OF: (c: PublishedCase) => string }> {
  const lib = (await import(DIST)) as { plan: (r: unknown, o: unknown) => Promise<unknown>; TABLE5: readonly PublishedCase[] };
  return { plan: lib.plan, TABLE5: lib.TABLE5, MODEL_PRESET_OF: (c) => (c.spec as { preset: string }).preset };
}
