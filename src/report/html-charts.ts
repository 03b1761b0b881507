/**
 * Bar charts comparing the runs of a comparison, as inline SVG: time per step split into
 * compute / exposed communication / idle, bytes per step by kind, and peak memory per device by
 * category. Every chart is horizontal stacked bars with a shared x axis.
 */
import type { CompareRun, DeviceReport } from "../run/results.js";
import { formatBytes, formatSeconds } from "./table.js";
import { bytesUnit, COLORS, escapeHtml, kindColors, legend, MEMORY_CATEGORIES, niceTicks, tickLabel, timeUnit } from "./html-svg.js";

export interface Segment {
  name: string;
  value: number;
  color: string;
}

export interface Bar {
  label: string;
  segments: Segment[];
}

export interface Axis {
  unit: (max: number) => { scale: number; symbol: string };
  format: (value: number) => string;
  title: string;
}

const WIDTH = 1160;
const LEFT = 260;
const RIGHT = 110;
const BAR = 18;
const GAP = 8;
const AXIS = 40;

/** Horizontal stacked bars, one per `bars` entry, on one x axis from 0 (each bar's total is written after it). */
export function stackedBars(bars: Bar[], axis: Axis): string {
  const totals = bars.map((b) => b.segments.reduce((s, g) => s + g.value, 0));
  const max = Math.max(0, ...totals);
  const unit = axis.unit(max);
  const ticks = niceTicks(max / unit.scale, 6, true);
  const top = ticks[ticks.length - 1] * unit.scale || 1;
  const plot = WIDTH - LEFT - RIGHT;
  const x = (v: number) => LEFT + (v / top) * plot;
  const height = bars.length * (BAR + GAP) + AXIS;
  const bottom = bars.length * (BAR + GAP);
  const parts: string[] = [];
  for (const v of ticks) {
    const px = x(v * unit.scale).toFixed(2);
    parts.push(`<line x1="${px}" x2="${px}" y1="0" y2="${bottom}" class="grid"/>`);
    parts.push(`<text x="${px}" y="${bottom + 16}" class="tick" text-anchor="middle">${tickLabel(v)}</text>`);
  }
  bars.forEach((bar, i) => {
    const y = i * (BAR + GAP) + GAP / 2;
    parts.push(`<text x="${LEFT - 8}" y="${y + BAR - 5}" class="bar-label" text-anchor="end">${escapeHtml(bar.label)}</text>`);
    let at = 0;
    for (const s of bar.segments) {
      if (!(s.value > 0)) continue;
      const share = totals[i] > 0 ? ` (${((100 * s.value) / totals[i]).toFixed(1)} %)` : "";
      const tip = `${bar.label} · ${s.name}: ${axis.format(s.value)}${share}`;
      parts.push(
        `<rect x="${x(at).toFixed(3)}" y="${y}" width="${(x(at + s.value) - x(at)).toFixed(3)}" height="${BAR}" ` +
          `fill="${escapeHtml(s.color)}"><title>${escapeHtml(tip)}</title></rect>`,
      );
      at += s.value;
    }
    parts.push(`<text x="${(x(at) + 6).toFixed(2)}" y="${y + BAR - 5}" class="bar-value">${escapeHtml(axis.format(totals[i]))}</text>`);
  });
  parts.push(`<text x="${LEFT + plot / 2}" y="${height - 4}" class="axis-title" text-anchor="middle">${escapeHtml(axis.title)} (${unit.symbol})</text>`);
  return `<svg class="chart" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" xmlns="http://www.w3.org/2000/svg">${parts.join("")}</svg>`;
}

const runName = (run: CompareRun, i: number) => `${i + 1} · ${run.layout.label}`;
const stepsOf = (run: CompareRun) => Math.max(1, run.losses.length);

/** Mean over devices of compute, exposed communication and idle seconds, per step. */
export function timeChart(runs: CompareRun[]): string {
  const bars = runs.map((run, i) => {
    const mean = (f: (d: DeviceReport) => number) => run.devices.reduce((s, d) => s + f(d), 0) / Math.max(1, run.devices.length) / stepsOf(run);
    return {
      label: runName(run, i),
      segments: [
        { name: "compute", value: mean((d) => d.computeSeconds), color: COLORS.compute },
        { name: "exposed communication", value: mean((d) => d.commSeconds), color: COLORS.comm },
        { name: "idle", value: mean((d) => d.idleSeconds), color: COLORS.idle },
      ],
    };
  });
  return (
    legend([["compute", COLORS.compute], ["exposed communication", COLORS.comm], ["idle", COLORS.idle]]) +
    stackedBars(bars, { unit: timeUnit, format: formatSeconds, title: "simulated seconds per step, mean over devices" })
  );
}

/** Bytes sent per step by all devices, by ledger kind. */
export function bytesChart(runs: CompareRun[]): string {
  const kinds = [...new Set(runs.flatMap((r) => Object.keys(r.communication.bytesByKind)))].sort();
  const colors = kindColors(kinds);
  const bars = runs.map((run, i) => ({
    label: runName(run, i),
    segments: kinds.map((k) => ({ name: k, value: (run.communication.bytesByKind[k] ?? 0) / stepsOf(run), color: colors.get(k) ?? "#888" })),
  }));
  if (kinds.length === 0) return `<p class="note">No run communicated.</p>`;
  return legend(kinds.map((k) => [k, colors.get(k) ?? "#888"] as const)) + stackedBars(bars, { unit: bytesUnit, format: formatBytes, title: "bytes sent per step, all devices" });
}

/** Ranks as a short list: `0`, `0, 2`, `0–3`, `0, 1, 2, … (8)`. */
function rankList(ranks: number[]): string {
  if (ranks.length > 1 && ranks.every((r, i) => i === 0 || r === ranks[i - 1] + 1)) return `${ranks[0]}–${ranks[ranks.length - 1]}`;
  if (ranks.length <= 4) return ranks.join(", ");
  return `${ranks.slice(0, 3).join(", ")}, … (${ranks.length})`;
}

/** Peak memory of each device by category; devices with identical figures share one bar. */
export function memoryChart(runs: CompareRun[]): string {
  const bars: Bar[] = [];
  runs.forEach((run, i) => {
    const groups = new Map<string, DeviceReport[]>();
    for (const d of run.devices) {
      const key = MEMORY_CATEGORIES.map(([k]) => d.memory[k]).join(",");
      groups.set(key, [...(groups.get(key) ?? []), d]);
    }
    for (const devices of groups.values()) {
      const ranks = devices.map((d) => d.rank).sort((a, b) => a - b);
      const m = devices[0].memory;
      // A row that stands for a whole pipeline stage (shapes mode) is named by its stage.
      const who = devices[0].ranks > 1 ? `stage ${devices[0].coords.pp} ×${devices[0].ranks}` : `rank${ranks.length > 1 ? "s" : ""} ${rankList(ranks)}`;
      bars.push({
        label: `${runName(run, i)} · ${who}`,
        segments: MEMORY_CATEGORIES.map(([k, name, color]) => ({ name, value: m[k], color })),
      });
    }
  });
  return (
    legend(MEMORY_CATEGORIES.map(([, name, color]) => [name, color] as const)) +
    stackedBars(bars, { unit: bytesUnit, format: formatBytes, title: "peak bytes allocated per device" })
  );
}
