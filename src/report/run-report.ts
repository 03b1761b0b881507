/** The terminal summary of one run: losses per step, then the simulated cluster per device. */
import { numericFormat } from "../train/precision.js";
import type { DeviceReport, RunResult } from "../run/results.js";
import { buildMesh, type Mesh } from "../parallel/mesh.js";
import { classOfRank } from "../parallel/symmetry.js";
import { markedCoords } from "../run/shapes.js";
import { formatBytes, formatCount, formatSeconds, formatTable } from "./table.js";
import { breakdownLines } from "./breakdown-report.js";
import { describeFaults, signedSeconds, stepAdded } from "./faults.js";

/** Steps shown in the loss table before it is thinned to every k-th step (the JSON has them all). */
const MAX_LOSS_ROWS = 60;

export interface RunReportOptions {
  /** Only the one-line summary. */
  brief?: boolean;
  /** A row for every rank, also where one row stands for a class of identical ranks. */
  perRank?: boolean;
}

function summaryLine(r: RunResult): string {
  const loss = r.finalLoss === null ? "shapes only, no losses" : `final loss ${r.finalLoss.toFixed(4)} (${r.bitsPerByte!.toFixed(3)} bits/byte)`;
  return (
    `${loss} · wall ${r.wall.seconds.toFixed(2)} s, ${formatCount(r.wall.tokensPerSecond)} tokens/s · ` +
    `simulated step ${formatSeconds(r.simulated.stepSeconds)}, ${formatCount(r.simulated.tokensPerSecond)} tokens/s`
  );
}

/** `first`: the step of `losses[0]` (a resumed run's first step). */
function lossTable(losses: number[], first: number): string[] {
  const every = Math.ceil(losses.length / MAX_LOSS_ROWS);
  const rows = losses
    .map((loss, i) => [i, loss] as [number, number])
    .filter(([i]) => i % every === 0 || i === losses.length - 1)
    .map(([i, loss]) => [first + i, loss] as [number, number]);
  const lines = [formatTable(["step", "loss"], rows.map(([step, loss]) => [step, Number(loss.toFixed(4))]))];
  if (every > 1) lines.push(`(every ${every}th step shown; --json has all ${losses.length})`);
  return lines;
}

/** One row per device report, or with `perRank` one per rank it stands for (same figures, the rank's own coordinates). */
function deviceRows(r: RunResult, perRank: boolean): (string | number)[][] {
  const mesh = buildMesh(r.scenario.parallel);
  const marked = markedCoords(r.scenario, mesh);
  const classOf = classOfRank(mesh, true, marked);
  const rows: (string | number)[][] = [];
  for (const d of r.devices) {
    const members = perRank && d.ranks > 1 ? membersOf(mesh, classOf, d.rank) : [d.rank];
    for (const rank of members) {
      const who = d.ranks > 1 && !perRank ? `stage ${d.coords.pp} · ${d.ranks} ranks` : rank;
      const own = mesh.coords(rank);
      // A row for a class: the coordinates its ranks share, * for those they differ in.
      const shared = (dim: "dp" | "tp") => (marked[dim].includes(d.coords[dim]) ? d.coords[dim] : "*");
      const coords = d.ranks > 1 && !perRank ? [shared("dp"), d.coords.pp, shared("tp")] : [own.dp, own.pp, own.tp];
      rows.push([who, ...coords, ...deviceFigures(d)]);
    }
  }
  return rows;
}

/** The ranks of `rank`'s class: ranks of its pipeline stage (src/parallel/symmetry.ts), in rank order. */
function membersOf(mesh: Mesh, classOf: (rank: number) => number, rank: number): number[] {
  const { dp, tp } = mesh.shape;
  const { pp } = mesh.coords(rank);
  const stage = Array.from({ length: dp * tp }, (_, k) => mesh.rankOf({ pp, dp: Math.floor(k / tp), tp: k % tp }));
  return stage.filter((r) => classOf(r) === classOf(rank)).sort((a, b) => a - b);
}

function deviceFigures(d: DeviceReport): (string | number)[] {
  return [
    formatSeconds(d.computeSeconds),
    formatSeconds(d.commSeconds),
    formatSeconds(d.idleSeconds),
    `${((100 * d.idleSeconds) / d.makespanSeconds).toFixed(1)}%`,
    d.peakStashed,
    formatBytes(d.bytesSent),
    formatBytes(d.bytesReceived),
    `${formatBytes(d.memory.total)}${d.memory.fits ? "" : " (over)"}`,
  ];
}

function memoryLines(r: RunResult): string[] {
  const m = r.devices[0].memory;
  const lines = [
    `memory of rank ${r.devices[0].rank}: parameters ${formatBytes(m.parameters)}` +
      (m.masterWeights > 0 ? `, master weights ${formatBytes(m.masterWeights)}` : "") +
      `, gradients ${formatBytes(m.gradients)}, ` +
      `optimizer state ${formatBytes(m.optimizerState)}, activations ${formatBytes(m.activations)}, workspace ${formatBytes(m.workspace)}`,
  ];
  const over = r.devices.filter((d) => !d.memory.fits);
  if (over.length > 0) {
    const worst = Math.max(...over.map((d) => d.memory.total));
    lines.push(`over memory: ${over.length} of ${r.devices.length} device rows need more than the ${formatBytes(m.capacity)} of a ${printable(r.scenario.hardware.name)} (at most ${formatBytes(worst)})`);
  }
  return lines;
}

/** 16-bit runs: what was stored in which dtype; fp16: the loss scale's course and the skipped steps. */
function precisionLines(r: RunResult): string[] {
  const t = r.scenario.training;
  if (t.precision === "fp32") return [];
  const { grads } = numericFormat(t);
  const lines = [`precision ${t.precision}: ${t.precision} weights, activations and payloads; fp32 master weights and moments; ${grads} gradients`];
  if (r.lossScale && r.lossScale.length > 0) {
    const skipped = r.skippedSteps.length > 0 ? `skipped steps (gradient overflow): ${r.skippedSteps.join(", ")}` : "no step skipped";
    lines.push(`loss scale ${r.lossScale[0]} at step 0, ${r.lossScale[r.lossScale.length - 1]} at the last step; ${skipped}`);
  }
  return [...lines, ""];
}

/** A name the user wrote, safe to print on a terminal: control characters (C0 and DEL) become `\xNN`. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** The faults and what they cost: the step time against the fault-free run, and the time each device row lost, by kind. */
function faultLines(r: RunResult): string[] {
  const f = r.faults;
  if (!f) return [];
  const added = signedSeconds;
  const rows = f.devices.map((d) => [d.ranks > 1 ? `${d.rank} (class of ${d.ranks})` : d.rank, added(d.computeSecondsAdded), added(d.commSecondsAdded), added(d.idleSecondsAdded)]);
  return [
    "",
    `faults: ${describeFaults(f)}`,
    `simulated step ${formatSeconds(r.simulated.stepSeconds)} against ${formatSeconds(f.baseline.stepSeconds)} without the faults (${stepAdded(f)}); time the faults added per device, summed over the steps run:`,
    formatTable(["rank", "compute", "comm", "idle"], rows),
  ];
}

export function formatRunReport(r: RunResult, options: RunReportOptions = {}): string {
  const s = r.scenario;
  const p = s.parallel;
  const summary = summaryLine(r);
  const name = printable(s.name);
  if (options.brief) return `${name}: ${summary}`;
  const lines: string[] = [`${name}: ${r.worldSize} device(s), dp ${p.dp} × tp ${p.tp} × pp ${p.pp}, hardware ${printable(s.hardware.name)}`, ""];
  lines.push(...precisionLines(r));
  const first = r.firstStep ?? 0;
  if (first > 0) lines.push(`resumed at step ${first} of ${s.training.steps}`, "");
  if (r.losses.length > 0) lines.push(...lossTable(r.losses, first), "");
  lines.push(summary, "");
  lines.push("simulated time and traffic per device, summed over all steps (bubble = idle share of the device's time; stashed = peak micro-batches held):");
  lines.push(formatTable(["rank", "dp", "pp", "tp", "compute", "comm", "idle", "bubble", "stashed", "sent", "received", "memory"], deviceRows(r, options.perRank === true)));
  const kinds = Object.entries(r.communication.bytesByKind);
  if (kinds.length > 0) lines.push("", "bytes sent by kind: " + kinds.map(([k, b]) => `${k} ${formatBytes(b)}`).join(", "));
  lines.push(...memoryLines(r));
  lines.push("", ...breakdownLines(r));
  lines.push(...faultLines(r));
  return lines.join("\n");
}
