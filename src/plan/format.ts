/**
 * `parasim plan` on the terminal: what was searched and pruned, the top K layouts, and why the
 * best beats the runner-up (their step breakdowns side by side, the phases that differ most first).
 */
import { PHASE_NAMES } from "../report/breakdown-report.js";
import { formatBytes, formatCount, formatSeconds, formatTable } from "../report/table.js";
import { PHASES, type Phase } from "../sim/breakdown.js";
import type { PlannedLayout, PlanResult } from "./types.js";

/** The most layouts whose breakdowns are printed side by side (wider tables wrap on a terminal). */
const BREAKDOWN_COLUMNS = 5;

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const grouped = (n: number): string => n.toLocaleString("en-US");

/** Bytes sent per step by every device whose ledger kind starts with `prefix` (`tp-`, `pp-`, `dp-`). */
function bytesOf(r: PlannedLayout, prefix: string): string {
  const total = Object.entries(r.bytesByKind).reduce((sum, [kind, bytes]) => sum + (kind.startsWith(prefix) ? bytes : 0), 0);
  return total === 0 ? "-" : formatBytes(total);
}

/** The header: the question, and how the search went. */
function searchLines(p: PlanResult): string[] {
  const q = p.request;
  const c = p.counts;
  const pruned = Object.values(c.pruned).reduce((a, b) => a + b, 0);
  const lines = [
    `plan: ${q.model} on ${grouped(q.devices)} × ${q.hardware}, global batch ${q.globalBatch} × ${q.seqLen} tokens, ${q.precision}, ${q.attention ?? "flash"} attention`,
    `${grouped(c.enumerated)} layouts enumerated, ${grouped(pruned)} pruned, ${grouped(c.simulated)} simulated${c.cached > 0 ? ` (${c.cached} answered from the cache)` : ""}, in ${p.wallSeconds.toFixed(1)} s:`,
  ];
  const reasons = Object.entries(c.pruned).sort((a, b) => b[1] - a[1]);
  for (const [reason, n] of reasons) lines.push(`  ${grouped(n).padStart(9)}  ${reason}`);
  return lines;
}

/** The top K layouts (times simulated per step, bytes per step over all devices). */
export function topTable(ranked: readonly PlannedLayout[], top: number): string {
  const rows = ranked.slice(0, top).map((r) => [
    r.rank,
    r.label,
    formatSeconds(r.stepSeconds),
    formatCount(r.tokensPerSecond),
    pct(r.mfu),
    `${formatBytes(r.peakMemoryBytes)}${r.fits ? "" : " (over)"}`,
    pct(r.bubbleFraction),
    bytesOf(r, "tp-"),
    bytesOf(r, "pp-"),
    bytesOf(r, "dp-"),
  ]);
  return formatTable(["rank", "layout", "step", "tokens/s", "MFU", "memory/device", "bubble", "TP bytes", "PP bytes", "DP bytes"], rows);
}

/**
 * The step breakdowns of the top layouts side by side (the device that ends last, per step), the
 * phases in which #2 differs most from #1 first, and a one-line summary of why #1 wins.
 */
export function breakdownLines(top: readonly PlannedLayout[]): string[] {
  const [best, runnerUp] = [top[0]!, top[1]!];
  const gap = runnerUp.stepSeconds - best.stepSeconds;
  const change = (p: Phase): number => runnerUp.breakdown[p] - best.breakdown[p];
  const phases = [...PHASES].sort((a, b) => Math.abs(change(b)) - Math.abs(change(a)));
  // Phases summed in another order differ by round-off (≤ 1e-9 of a step): that is no difference.
  const signed = (x: number): string => (Math.abs(x) <= 1e-9 * best.stepSeconds ? "0 s" : `${x > 0 ? "+" : "−"}${formatSeconds(Math.abs(x))}`);
  const rows = phases.map((p) => [PHASE_NAMES[p], ...top.map((r) => formatSeconds(r.breakdown[p])), signed(change(p))]);
  rows.push(["step", ...top.map((r) => formatSeconds(r.stepSeconds)), signed(gap)]);
  const main = phases.slice(0, 2).map((p) => `${PHASE_NAMES[p]} ${signed(change(p))}`);
  const why =
    gap > 1e-9 * best.stepSeconds
      ? `why #1 beats #2: ${formatSeconds(gap)} per step faster (${pct(gap / runnerUp.stepSeconds)}); #2 differs most in ${main.join(" and ")}`
      : `#1 and #2 tie at ${formatSeconds(best.stepSeconds)} per step (#1 needs ${formatBytes(best.peakMemoryBytes)} per device, #2 ${formatBytes(runnerUp.peakMemoryBytes)})`;
  return [
    why,
    formatTable(["phase (device that ends last)", ...top.map((r) => `#${r.rank}`), "#2 − #1"], rows),
  ];
}

/** The whole terminal report of a plan. */
export function formatPlan(p: PlanResult): string {
  const fitting = p.ranked.filter((r) => r.fits);
  const lines = [...searchLines(p), "", `top ${Math.min(p.request.top, fitting.length)} by simulated step time (bytes per step, all devices):`, topTable(fitting, p.request.top)];
  lines.push("");
  if (fitting.length >= 2) lines.push(...breakdownLines(fitting.slice(0, Math.min(p.request.top, BREAKDOWN_COLUMNS))));
  else lines.push("only one simulated layout fits in memory: there is no runner-up to compare with");
  return lines.join("\n");
}
