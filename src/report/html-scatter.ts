/**
 * A scatter plot as inline SVG: one point per item on two linear axes from 0, the Pareto front
 * marked and joined, and a vertical limit line with the region past it shaded. The plan report
 * draws step time against memory per device with it (src/report/plan-report.ts).
 */
import { escapeHtml, niceTicks, tickLabel } from "./html-svg.js";

export interface ScatterPoint {
  x: number;
  y: number;
  /** Hover text (an SVG `<title>`). */
  title: string;
  /** Within the limit: drawn filled; past it: drawn hollow. */
  within: boolean;
  /** A short tag written beside the point (the plan's rank for its top three), or none. */
  tag?: string;
}

export interface ScatterAxis {
  unit: (max: number) => { scale: number; symbol: string };
  title: string;
}

export interface ScatterOptions {
  x: ScatterAxis;
  y: ScatterAxis;
  /** The vertical limit line: its x value (not drawn when not finite) and its label. */
  limit: { x: number; label: string };
  /** What the chart shows, for screen readers. */
  label: string;
}

/**
 * The points no other point beats: i is on the front unless some j has x_j ≤ x_i and y_j ≤ y_i
 * with at least one strict (smaller and at least as fast, or faster and at least as small).
 * Identical points are all on it or all off it. Indices ascending in x (then y), so that joining
 * them in order draws the front. One sort and one sweep: along ascending x, a point is on the
 * front exactly when its y is below every y before it (or ties the front point it duplicates).
 */
export function paretoFront(points: readonly { x: number; y: number }[]): number[] {
  const order = points.map((_, i) => i).sort((a, b) => points[a].x - points[b].x || points[a].y - points[b].y);
  const front: number[] = [];
  let best: { x: number; y: number } | undefined;
  for (const i of order) {
    const p = points[i];
    if (best === undefined || p.y < best.y) {
      front.push(i);
      best = p;
    } else if (p.y === best.y && p.x === best.x) {
      front.push(i);
    }
  }
  return front;
}

const WIDTH = 1160;
const HEIGHT = 480;
const LEFT = 84;
const RIGHT = 32;
const TOP = 24;
const BOTTOM = 52;
const PLOT_W = WIDTH - LEFT - RIGHT;
const PLOT_H = HEIGHT - TOP - BOTTOM;

const COLORS = { within: "#4c78a8", over: "#c62828", front: "#f58518", ink: "#1f2328", shade: "#fdecea" } as const;

interface Scale {
  px: (v: number) => number;
  ticks: number[];
  unit: { scale: number; symbol: string };
}

/** A linear scale from 0 to the first round tick at or past `max`, onto [from, from + length] (reversed for y). */
function scale(max: number, axis: ScatterAxis, from: number, length: number, reversed: boolean): Scale {
  const unit = axis.unit(max);
  const ticks = niceTicks(max / unit.scale, reversed ? 6 : 8, true);
  const top = ticks[ticks.length - 1] * unit.scale || 1;
  const px = (v: number) => (reversed ? from + length - (v / top) * length : from + (v / top) * length);
  return { px, ticks, unit };
}

function axes(sx: Scale, sy: Scale, options: ScatterOptions): string[] {
  const parts: string[] = [];
  for (const v of sx.ticks) {
    const x = sx.px(v * sx.unit.scale).toFixed(2);
    parts.push(`<line x1="${x}" x2="${x}" y1="${TOP}" y2="${TOP + PLOT_H}" class="grid"/>`);
    parts.push(`<text x="${x}" y="${TOP + PLOT_H + 16}" class="tick x-tick" text-anchor="middle">${tickLabel(v)}</text>`);
  }
  for (const v of sy.ticks) {
    const y = sy.px(v * sy.unit.scale).toFixed(2);
    parts.push(`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${y}" y2="${y}" class="grid"/>`);
    parts.push(`<text x="${LEFT - 8}" y="${(Number(y) + 4).toFixed(2)}" class="tick y-tick" text-anchor="end">${tickLabel(v)}</text>`);
  }
  parts.push(
    `<text x="${LEFT + PLOT_W / 2}" y="${HEIGHT - 8}" class="axis-title" text-anchor="middle">${escapeHtml(options.x.title)} (${sx.unit.symbol})</text>`,
    `<text transform="translate(18,${TOP + PLOT_H / 2}) rotate(-90)" class="axis-title" text-anchor="middle">${escapeHtml(options.y.title)} (${sy.unit.symbol})</text>`,
  );
  return parts;
}

/** The limit as a dashed vertical line, the region past it shaded; nothing when the limit is infinite. */
function limitLine(sx: Scale, limit: ScatterOptions["limit"]): string[] {
  if (!Number.isFinite(limit.x)) return [];
  const x = sx.px(limit.x);
  const right = LEFT + PLOT_W;
  const shade = x < right ? `<rect x="${x.toFixed(2)}" y="${TOP}" width="${(right - x).toFixed(2)}" height="${PLOT_H}" fill="${COLORS.shade}"/>` : "";
  return [
    shade,
    `<line class="limit" x1="${x.toFixed(2)}" x2="${x.toFixed(2)}" y1="${TOP}" y2="${TOP + PLOT_H}" stroke="${COLORS.over}" stroke-width="2" stroke-dasharray="6 4"><title>${escapeHtml(limit.label)}</title></line>`,
    `<text x="${(x - 6).toFixed(2)}" y="${TOP - 8}" class="tick limit-label" text-anchor="end">${escapeHtml(limit.label)}</text>`,
  ];
}

function pointSvg(p: ScatterPoint, i: number, onFront: boolean, sx: Scale, sy: Scale): string {
  const cx = sx.px(p.x).toFixed(2);
  const cy = sy.px(p.y).toFixed(2);
  const color = onFront ? COLORS.front : p.within ? COLORS.within : COLORS.over;
  const paint = p.within ? `fill="${color}" stroke="${onFront ? COLORS.ink : "none"}"` : `fill="#fff" stroke="${color}" stroke-width="2"`;
  const cls = `point ${p.within ? "within" : "over"}${onFront ? " front" : ""}`;
  const tag = p.tag === undefined ? "" : `<text x="${(Number(cx) + 8).toFixed(2)}" y="${(Number(cy) - 8).toFixed(2)}" class="point-tag">${escapeHtml(p.tag)}</text>`;
  return `<circle class="${cls}" data-point="${i}" cx="${cx}" cy="${cy}" r="${onFront ? 6 : 4.5}" ${paint}><title>${escapeHtml(p.title)}</title></circle>${tag}`;
}

export function scatterSvg(points: readonly ScatterPoint[], options: ScatterOptions): string {
  const maxX = points.reduce((m, p) => Math.max(m, p.x), Number.isFinite(options.limit.x) ? options.limit.x : 0);
  const maxY = points.reduce((m, p) => Math.max(m, p.y), 0);
  const sx = scale(maxX, options.x, LEFT, PLOT_W, false);
  const sy = scale(maxY, options.y, TOP, PLOT_H, true);
  const front = paretoFront(points);
  const onFront = new Set(front);
  const line = front.map((i) => `${sx.px(points[i].x).toFixed(2)},${sy.px(points[i].y).toFixed(2)}`).join(" ");
  // Points off the front first, so that the front's markers lie on top.
  const order = points.map((_, i) => i).sort((a, b) => Number(onFront.has(a)) - Number(onFront.has(b)));
  const parts = [
    ...limitLine(sx, options.limit),
    ...axes(sx, sy, options),
    `<polyline class="front-line" points="${line}" fill="none" stroke="${COLORS.front}" stroke-width="2"/>`,
    ...order.map((i) => pointSvg(points[i], i, onFront.has(i), sx, sy)),
  ];
  return (
    `<svg class="scatter" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" xmlns="http://www.w3.org/2000/svg" ` +
    `role="img" aria-label="${escapeHtml(options.label)}">${parts.join("")}</svg>`
  );
}

/** The scatter's colours, for the legend beside it. */
export const SCATTER_COLORS = COLORS;
