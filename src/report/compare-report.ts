/** The side-by-side table of `parasim compare`. */
import type { CompareResult } from "../run/results.js";
import { printable } from "./run-report.js";
import { formatBytes, formatCount, formatSeconds, formatTable } from "./table.js";

/** Bytes sent per step over all devices, and the kinds that make up most of it (largest first). */
function bytesPerStep(kinds: Record<string, number>, steps: number): string {
  const sorted = Object.entries(kinds).sort((a, b) => b[1] - a[1]);
  const total = sorted.reduce((sum, [, bytes]) => sum + bytes, 0);
  if (total === 0) return "-";
  // Kinds under 5 % (norm scalars, loss statistics) would only crowd the cell; --json has them all.
  const main = sorted.filter(([, bytes]) => bytes >= 0.05 * total).map(([kind]) => kind);
  return `${formatBytes(total / steps)} (${main.join(", ")})`;
}

export function formatCompareReport(c: CompareResult): string {
  const lines: string[] = [];
  if (c.runs.length === 0 && c.failed.length > 0) lines.push("no layout finished");
  if (c.runs.length > 0) {
    const first = c.runs[0].scenario;
    const m = first.model;
    lines.push(
      `${c.runs.length} run(s); model of ${m.numLayers} layers, hidden ${m.hiddenSize}; global batch ${first.training.globalBatch}×${m.seqLen} tokens; ${first.training.steps} steps (times are simulated per step, bytes over all devices)`,
    );
    lines.push("");
    lines.push(
      formatTable(
        ["scenario", "world", "layout", "hardware", "step", "tokens/s", "MFU", "bubble", "bytes sent/step", "peak mem/device", "final loss", "agrees", "wall"],
        c.runs.map((r) => [
          printable(r.scenario.name),
          r.worldSize,
          r.layout.label,
          printable(r.scenario.hardware.name),
          formatSeconds(r.simulated.stepSeconds),
          formatCount(r.simulated.tokensPerSecond),
          `${(100 * r.metrics.mfu).toFixed(1)}%`,
          `${(100 * r.metrics.bubbleFraction).toFixed(1)}%`,
          bytesPerStep(r.communication.bytesByKind, r.scenario.training.steps),
          `${formatBytes(r.metrics.peakMemoryBytes)}${r.metrics.fitsInMemory ? "" : " (over)"}`,
          r.finalLoss === null ? "-" : r.finalLoss.toFixed(4),
          r.metrics.lossesAgree === null ? "-" : r.metrics.lossesAgree ? "yes" : "NO",
          `${r.wall.seconds.toFixed(1)} s`,
        ]).concat(c.failed.map((f) => [printable(f.file), "-", f.layout, "-", "FAILED", ...Array<string>(8).fill("-")])),
      ),
    );
    const disagree = c.runs.filter((r) => r.metrics.lossesAgree === false);
    lines.push("");
    if (c.runs.some((r) => r.losses.length > 0)) {
      lines.push(
        disagree.length === 0
          ? "losses: every layout of the same model and data agrees with the first within relative 1e-4"
          : `losses: ${disagree.map((r) => r.layout.label).join(", ")} disagree with the first layout of the same model and data`,
      );
    }
    const over = c.runs.filter((r) => !r.metrics.fitsInMemory);
    if (over.length > 0) lines.push(`memory: ${over.map((r) => r.layout.label).join(", ")} need more than a device has (marked "over")`);
  }
  if (c.skipped.length > 0) {
    lines.push("", "skipped:");
    for (const s of c.skipped) lines.push(`  ${s.layout}: ${s.reason}`);
  }
  if (c.failed.length > 0) {
    lines.push("", "failed:");
    for (const f of c.failed) lines.push(`  ${f.layout} (${printable(f.file)}): ${printable(f.reason)}`);
  }
  return lines.join("\n");
}
