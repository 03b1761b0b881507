/** Figures for comparing runs side by side, derived from their results. */
import { tiesEmbeddings, type ModelConfig } from "../model/config.js";
import { buildLayout, EMBED_NAME, POSITION_NAME } from "../model/layout.js";
import { modelConfigOf } from "../train/trainer.js";
import type { RunMetrics, RunResult } from "./results.js";

/**
 * Model FLOPs per token of training (Kaplan et al. 2020; Chowdhery et al. 2022, appendix B):
 * 6·N for the matmuls' forward and backward plus 12·L·h·s for attention's QKᵀ and AV. N counts
 * every parameter but the lookups (the input embedding, and gpt's position table); the LM head
 * is a matmul of the same cost as any other, so it counts, also when it is tied to the embedding
 * (then the layout holds it once, as the embedding, and its V·h are added back).
 */
export function modelFlopsPerToken(config: ModelConfig): number {
  const lookups = new Set([EMBED_NAME, POSITION_NAME]);
  const n = buildLayout(config).tensors.filter((t) => !lookups.has(t.name)).reduce((sum, t) => sum + t.size, 0);
  const tiedHead = tiesEmbeddings(config) ? config.vocabSize * config.hiddenSize : 0;
  return 6 * (n + tiedHead) + 12 * config.numLayers * config.hiddenSize * config.seqLen;
}

/** MFU, mean bubble share and peak memory of one run; `lossesAgree` is filled in by the comparison. */
export function runMetrics(r: RunResult): Omit<RunMetrics, "lossesAgree"> {
  const devices = r.devices;
  const peak = r.scenario.hardware.peakFlops;
  const mfu = (modelFlopsPerToken(modelConfigOf(r.scenario)) * r.simulated.tokensPerSecond) / (r.worldSize * peak);
  // A row that stands for several ranks weighs as many.
  const ranks = devices.reduce((sum, d) => sum + d.ranks, 0);
  const bubble = devices.reduce((sum, d) => sum + (d.ranks * d.idleSeconds) / d.makespanSeconds, 0) / ranks;
  const peakMemoryBytes = Math.max(...devices.map((d) => d.memory.total));
  return { mfu, bubbleFraction: bubble, peakMemoryBytes, fitsInMemory: devices.every((d) => d.memory.fits) };
}

/** Relative agreement of two loss curves: the equivalence bound for 10 steps of Adam (docs/architecture.md, invariants). */
export function lossesAgree(a: number[], b: number[], tolerance = 1e-4): boolean {
  return a.length === b.length && a.every((loss, i) => Math.abs(loss - b[i]) <= tolerance * Math.abs(b[i]));
}
