/** Small pieces shared by the HTML reports: the page frame, escaping, colours, units and axis ticks. */
import { REPORT_CSS } from "./html-style.js";

/** A whole self-contained page: inline style, no script, no external resource. `body` is HTML; title and footer are text. */
export function htmlPage(title: string, body: string[], footer: string): string {
  return [
    `<!DOCTYPE html>`,
    `<html lang="en"><head><meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${REPORT_CSS}</style></head>`,
    `<body><main>${body.join("\n")}</main>`,
    `<footer>${escapeHtml(footer)}</footer>`,
    `</body></html>`,
    ``,
  ].join("\n");
}

/** A titled section of a report; `content` is HTML. */
export function section(title: string, content: string): string {
  return `<section><h2>${escapeHtml(title)}</h2>${content}</section>`;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string | number): string {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Colours of the timeline and the time bars (colour-blind friendly Tableau 10). */
export const COLORS = {
  compute: "#4c78a8",
  comm: "#f58518",
  idle: "#cfcfcf",
  commStream: "#b279a2",
} as const;

export const MEMORY_CATEGORIES = [
  ["parameters", "parameters", "#4c78a8"],
  ["masterWeights", "master weights (fp32)", "#54a24b"],
  ["gradients", "gradients", "#72b7b2"],
  ["optimizerState", "optimizer state", "#eeca3b"],
  ["activations", "activations", "#e45756"],
  ["workspace", "workspace", "#9d755d"],
] as const;

const KIND_PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#79706e"];

/** A stable colour per ledger kind, given every kind on the page in sorted order. */
export function kindColors(kinds: string[]): Map<string, string> {
  return new Map(kinds.map((k, i) => [k, KIND_PALETTE[i % KIND_PALETTE.length]]));
}

/** A unit for an axis whose largest value is `max`: the value of one unit and its symbol. */
export function timeUnit(max: number): { scale: number; symbol: string } {
  if (max < 1e-6) return { scale: 1e-9, symbol: "ns" };
  if (max < 1e-3) return { scale: 1e-6, symbol: "µs" };
  if (max < 1) return { scale: 1e-3, symbol: "ms" };
  return { scale: 1, symbol: "s" };
}

export function bytesUnit(max: number): { scale: number; symbol: string } {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (i < units.length - 1 && max >= 1024 ** (i + 1)) i++;
  return { scale: 1024 ** i, symbol: units[i] };
}

/**
 * About `count` round tick values (1, 2 or 5 × 10^k apart) from 0: up to `max`, or with `cover`
 * up to the first tick at or beyond `max` (for bar charts, whose longest bar must fit).
 */
export function niceTicks(max: number, count = 8, cover = false): number[] {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let i = 0; i * step <= max * (1 + 1e-9); i++) ticks.push(i * step);
  if (cover && ticks[ticks.length - 1] < max * (1 - 1e-9)) ticks.push(ticks.length * step);
  return ticks;
}

/** A tick label: at most 4 significant digits, no trailing zeros. */
export function tickLabel(value: number): string {
  return String(Number(value.toPrecision(4)));
}

/** A number with 3 significant digits, for labels (avoids 0.30000000000000004). */
export function short(value: number): string {
  if (value === 0) return "0";
  const a = Math.abs(value);
  if (a >= 1e6 || a < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(3)));
}

/** A legend: coloured swatches with names, as HTML. */
export function legend(items: readonly (readonly [string, string])[]): string {
  const parts = items.map(
    ([name, color]) => `<span class="key"><span class="swatch" style="background:${escapeHtml(color)}"></span>${escapeHtml(name)}</span>`,
  );
  return `<div class="legend">${parts.join("")}</div>`;
}
