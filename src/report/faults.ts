/** How the reports word injected faults and what they cost (src/run/fault-cost.ts). */
import type { FaultReport } from "../run/results.js";
import { escapeHtml } from "./html-svg.js";
import { formatSeconds } from "./table.js";

/** `rank 1 computes 2× slower; links touching ranks 4,5 run 3× slower; rank 1 crashes at step 7`. */
export function describeFaults(f: FaultReport): string {
  return [
    ...f.slowDevice.map((d) => `rank ${d.rank} computes ${d.factor}× slower`),
    ...f.slowLink.map((l) => `links touching rank${l.ranks.length > 1 ? "s" : ""} ${l.ranks.join(",")} run ${l.factor}× slower`),
    ...(f.crash ? [`rank ${f.crash.rank} crashes at step ${f.crash.step}`] : []),
  ].join("; ");
}

/** A signed duration: `+1.2 µs`, `−3 ns`. */
export function signedSeconds(x: number): string {
  return `${x >= 0 ? "+" : "−"}${formatSeconds(Math.abs(x))}`;
}

/** `+16.6 µs, 50.0%`: the step time the faults added, absolute and relative to the fault-free step. */
export function stepAdded(f: FaultReport): string {
  return `${signedSeconds(f.stepSecondsAdded)}, ${((100 * f.stepSecondsAdded) / f.baseline.stepSeconds).toFixed(1)}%`;
}

/** The HTML report's note under a run with faults: what they are, the step time and each row's added idle time. */
export function faultNoteHtml(f: FaultReport | undefined): string {
  if (!f) return "";
  const idle = f.devices.map((d) => `rank ${d.rank}${d.ranks > 1 ? ` (×${d.ranks})` : ""} ${signedSeconds(d.idleSecondsAdded)}`).join(", ");
  return (
    `<p class="note faults">Faults: ${escapeHtml(describeFaults(f))}. Step time ${escapeHtml(stepAdded(f))} against ${escapeHtml(formatSeconds(f.baseline.stepSeconds))} ` +
    `without them; idle time added, summed over the steps: ${escapeHtml(idle)}.</p>`
  );
}
