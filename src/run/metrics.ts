/** Figures for comparing runs side by side, derived from their results. */
import type { RunMetrics, RunResult } from "./results.js";

export { modelFlopsPerToken } from "./utilisation.js";

/** MFU, mean bubble share and peak memory of one run; `lossesAgree` is filled in by the comparison. */
export function runMetrics(r: RunResult): Omit<RunMetrics, "lossesAgree"> {
  const devices = r.devices;
  const mfu = r.utilisation.mfu;
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
