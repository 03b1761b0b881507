/**
 * The plan report on a real plan (tests/report/plan-fixture.ts: eleven layouts simulated in
 * shapes mode and ranked): the scatter's points, Pareto front and memory line against independent
 * checks, the table, the timelines and breakdowns of the top three, escaping.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlanOutput } from "../../src/plan/types.js";
import { paretoFront } from "../../src/report/html-scatter.js";
import { laneDevices, planReportHtml } from "../../src/report/plan-report.js";
import { PHASES } from "../../src/sim/breakdown.js";
import type { CompareOutput } from "../../src/run/results.js";
import { formatBytes, formatSeconds } from "../../src/report/table.js";
import { simulatedPlan } from "./plan-fixture.js";
import { rankRowsPerRun } from "./fixture.js";

/** The Pareto front by its definition, in O(n²): i is on it unless some j is ≤ on both axes and < on one. */
function bruteFront(points: { x: number; y: number }[]): number[] {
  return points
    .map((p, i) => ({ p, i }))
    .filter(({ p, i }) => !points.some((q, j) => j !== i && q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y)))
    .map(({ i }) => i);
}

/** A small deterministic generator (mulberry32), so that the random cases are the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Attribute `name` of every element `tag` with class containing `cls`, in document order. */
function attrs(html: string, tag: string, cls: string): Record<string, string>[] {
  const found = [...html.matchAll(new RegExp(`<${tag} class="([^"]*)"([^>]*)>`, "g"))].filter((m) => m[1].split(" ").includes(cls));
  return found.map((m) => Object.fromEntries([["class", m[1]], ...[...m[2].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])]));
}

const scatterOf = (html: string) => html.slice(html.indexOf(`<svg class="scatter"`), html.indexOf("</svg>", html.indexOf(`<svg class="scatter"`)));
const UNITS: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, s: 1, ms: 1e-3, "µs": 1e-6, ns: 1e-9 };

/**
 * The axis a reader sees: each tick's pixel position and value, and the unit in the axis title.
 * Returns value (in base units: bytes, seconds) → pixel, from the first and last tick.
 */
function axisFromTicks(svg: string, which: "x" | "y"): (v: number) => number {
  const ticks = [...svg.matchAll(new RegExp(`<text x="([\\d.]+)" y="([\\d.]+)" class="tick ${which}-tick"[^>]*>([^<]+)</text>`, "g"))].map((m) => ({
    px: Number(which === "x" ? m[1] : m[2]) - (which === "y" ? 4 : 0), // y labels sit 4 px below their grid line
    value: Number(m[3]),
  }));
  const titles = [...svg.matchAll(/class="axis-title"[^>]*>[^<]*\(([^)]+)\)<\/text>/g)].map((m) => m[1]);
  const unit = UNITS[titles[which === "x" ? 0 : 1]];
  expect(unit, `unit of the ${which} axis`).toBeDefined();
  const [a, b] = [ticks[0], ticks[ticks.length - 1]];
  expect(a.value).toBe(0);
  return (v: number) => a.px + ((v / unit - a.value) / (b.value - a.value)) * (b.px - a.px);
}

/**
 * Pixel positions are written with 2 decimals (error ≤ 0.005 px each). A position predicted from
 * two rounded ticks is off by at most 0.005 + 0.005 + 0.005 (the interpolation weight is ≤ 1 past
 * 0, and the last tick covers every value), and the compared position by 0.005 more: 0.02 px.
 */
const PX = 0.02;

describe("planReportHtml on a simulated plan", () => {
  let output: PlanOutput;
  let compared: CompareOutput;
  let html: string;
  beforeAll(async () => {
    ({ output, compared } = await simulatedPlan(4));
    html = planReportHtml(output);
  }, 240_000);

  it("is one self-contained page: no script, no external resource", () => {
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/(src|href)=/i);
    // The scatter, the breakdown chart and one timeline per top layout.
    expect(html.match(/<svg /g)?.length).toBe(2 + 3);
  });

  it("has a plan whose front is more than one layout and which has layouts past the memory", () => {
    // Guards the fixture: the later assertions would be weak on a plan where every layout fits or one beats all.
    const ranked = output.result.ranked;
    expect(bruteFront(ranked.map((l) => ({ x: l.peakMemoryBytes, y: l.stepSeconds }))).length).toBeGreaterThanOrEqual(3);
    expect(ranked.some((l) => !l.fits)).toBe(true);
    expect(ranked.filter((l) => l.fits).length).toBeGreaterThanOrEqual(3);
  });

  it("draws one point per simulated layout, hollow past the memory, with its layout on hover", () => {
    const ranked = output.result.ranked;
    const svg = scatterOf(html);
    const circles = [...svg.matchAll(/<circle class="([^"]*)" data-point="(\d+)"[^>]*><title>([^<]*)<\/title>/g)];
    expect(circles.map((c) => Number(c[2])).sort((a, b) => a - b)).toEqual(ranked.map((_, i) => i));
    for (const c of circles) {
      const l = ranked[Number(c[2])];
      expect(c[3]).toContain(`#${l.rank} ${l.label}`);
      expect(c[3]).toContain(formatSeconds(l.stepSeconds));
      expect(c[1].split(" ")).toContain(l.fits ? "within" : "over");
    }
  });

  it("marks as the Pareto front exactly the layouts no other beats, and joins them in order of memory", () => {
    const ranked = output.result.ranked;
    const points = ranked.map((l) => ({ x: l.peakMemoryBytes, y: l.stepSeconds }));
    const expected = bruteFront(points);
    const svg = scatterOf(html);
    const marked = attrs(svg, "circle", "front").map((a) => Number(a["data-point"]));
    expect(marked.sort((a, b) => a - b)).toEqual(expected);
    const x = axisFromTicks(svg, "x");
    const y = axisFromTicks(svg, "y");
    const line = attrs(svg, "polyline", "front-line")[0].points.split(" ").map((p) => p.split(",").map(Number));
    const byMemory = [...expected].sort((a, b) => points[a].x - points[b].x);
    expect(line.length).toBe(byMemory.length);
    byMemory.forEach((i, k) => {
      expect(Math.abs(line[k][0] - x(points[i].x))).toBeLessThanOrEqual(PX);
      expect(Math.abs(line[k][1] - y(points[i].y))).toBeLessThanOrEqual(PX);
    });
  });

  it("places every point and the memory line on the axes as their ticks say, the line at the device's memory", () => {
    const svg = scatterOf(html);
    const x = axisFromTicks(svg, "x");
    const y = axisFromTicks(svg, "y");
    for (const c of attrs(svg, "circle", "point")) {
      const l = output.result.ranked[Number(c["data-point"])];
      expect(Math.abs(Number(c.cx) - x(l.peakMemoryBytes))).toBeLessThanOrEqual(PX);
      expect(Math.abs(Number(c.cy) - y(l.stepSeconds))).toBeLessThanOrEqual(PX);
    }
    const capacity = output.result.memoryCapacity;
    expect(capacity).toBe(80e9); // the H100 80 GB profile
    const [limit] = attrs(svg, "line", "limit");
    expect(Math.abs(Number(limit.x1) - x(capacity))).toBeLessThanOrEqual(PX);
    expect(limit.x2).toBe(limit.x1);
    expect(svg).toContain(`device memory ${formatBytes(capacity)}`);
    // Every layout that fits lies left of the line, every other right of it.
    for (const c of attrs(svg, "circle", "point")) {
      expect(Number(c.cx) <= Number(limit.x1)).toBe(output.result.ranked[Number(c["data-point"])].fits);
    }
  });

  it("lists the top K and the Pareto front in the table, with their figures", () => {
    const ranked = output.result.ranked;
    const front = new Set(bruteFront(ranked.map((l) => ({ x: l.peakMemoryBytes, y: l.stepSeconds }))));
    const rows = [...html.matchAll(/<tr class="plan-row" data-rank="(\d+)">(.*?)<\/tr>/g)];
    const expected = ranked.filter((_, i) => i < 4 || front.has(i)).map((l) => l.rank);
    expect(rows.map((r) => Number(r[1]))).toEqual(expected);
    const cells = (row: string) => [...row.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1].replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim());
    for (const r of rows) {
      const l = ranked.find((p) => p.rank === Number(r[1]))!;
      const c = cells(r[2]);
      expect(c[1]).toBe(l.label);
      expect(c[2]).toBe(formatSeconds(l.stepSeconds));
      expect(c[4]).toBe(`${Number((100 * l.mfu).toPrecision(3))} %`);
      expect(c[5]).toBe(`${formatBytes(l.peakMemoryBytes)}${l.fits ? "" : " over"}`);
      expect(c[6]).toBe(`${(100 * l.bubbleFraction).toFixed(1)} %`);
      const kinds = Object.entries(l.bytesByKind).filter(([, b]) => b > 0);
      expect(c[7].split(", ").length).toBe(kinds.length);
      for (const [k, b] of kinds) expect(c[7]).toContain(`${k} ${formatBytes(b)}`);
      expect(c[8]).toBe(front.has(l.rank - 1) ? "yes" : "");
    }
    expect(html).toContain(`The other ${ranked.length - rows.length} simulated layouts`);
  });

  it("draws the timelines of the top three, a row per simulated device row", () => {
    const rows = rankRowsPerRun(html);
    expect(rows.length).toBe(3);
    output.result.ranked.slice(0, 3).forEach((l, i) => {
      expect(rows[i]).toEqual(laneDevices(l.scenario).map((d) => d.rank));
      const events = output.timelines[i].filter((e) => e.stream === "compute" && e.end > e.start);
      expect(events.length).toBeGreaterThan(0);
    });
  });

  it("names the lanes as the run reports its device rows, for every layout of the plan (pipelines too)", () => {
    for (const run of compared.result.runs) {
      expect(laneDevices(run.scenario)).toEqual(run.devices.map((d) => ({ rank: d.rank, ranks: d.ranks, coords: d.coords })));
    }
    expect(compared.result.runs.some((r) => r.scenario.parallel.pp > 1 && r.devices.length === r.scenario.parallel.pp)).toBe(true);
  });

  it("puts the step breakdowns of the top three side by side; each adds up to its step time", () => {
    const top = output.result.ranked.slice(0, 3);
    const table = html.slice(html.indexOf(`<table class="summary breakdown">`), html.indexOf("</table>", html.indexOf(`<table class="summary breakdown">`)));
    const head = [...table.matchAll(/<th[^>]*>([^<]*)<\/th>/g)].map((m) => m[1]);
    expect(head).toEqual(["phase", ...top.map((l) => `#${l.rank} ${l.label}`), "#2 − #1"]);
    for (const p of PHASES) {
      const row = table.match(new RegExp(`data-phase="${p}"><td>[^<]*</td>((?:<td[^>]*>[^<]*</td>)+)</tr>`))![1];
      const cells = [...row.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
      top.forEach((l, i) => expect(cells[i].startsWith(`${formatSeconds(l.breakdown[p])} (`)).toBe(true));
      const d = top[1].breakdown[p] - top[0].breakdown[p];
      expect(cells[3]).toBe(`${d > 0 ? "+" : ""}${formatSeconds(d)}`);
    }
    // The phases of the device that ends last cover its whole step: their sum is the step time up
    // to double round-off of a few thousand additions (relative 1e-12 is far above 1e-16 × 10⁴).
    for (const l of top) {
      const sum = PHASES.reduce((s, p) => s + l.breakdown[p], 0);
      expect(Math.abs(sum - l.stepSeconds)).toBeLessThanOrEqual(1e-12 * l.stepSeconds);
    }
  });

  it("says what was searched and which layout wins by how much", () => {
    const [first, second] = output.result.ranked;
    expect(html).toContain("11 layouts enumerated, none pruned; 11 simulated in shapes mode");
    expect(html).toContain(`Best: <strong class="layout">#1 ${first.label}</strong>, ${formatSeconds(first.stepSeconds)} per step`);
    expect(html).toContain(`takes ${(100 * (second.stepSeconds / first.stepSeconds - 1)).toFixed(1)} % longer`);
  });

  it("escapes every string from the input", () => {
    const hostile = `<script>alert(1)</script>`;
    const ranked = output.result.ranked.map((l, i) => (i === 0 ? { ...l, label: hostile, bytesByKind: { ...l.bytesByKind, [`<b>kind</b>`]: 1 } } : l));
    const result = { ...output.result, ranked, request: { ...output.result.request, model: `<img src=x onerror="alert(2)">` }, counts: { ...output.result.counts, pruned: { [`a & b 'x'`]: 3 } } };
    const page = planReportHtml({ ...output, result });
    expect(page).not.toContain("<script");
    expect(page).not.toContain("<img");
    expect(page).not.toContain("<b>kind");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).toContain("&lt;img src=x onerror=&quot;alert(2)&quot;&gt;");
    expect(page).toContain("3 (a &amp; b &#39;x&#39;)");
    expect(page).toContain("&lt;b&gt;kind&lt;/b&gt; 1 B");
  });

  it("draws no memory line for a device of unlimited memory (the unit profile), and scales the axis to the points", () => {
    const page = planReportHtml({ ...output, result: { ...output.result, memoryCapacity: Infinity } });
    const svg = scatterOf(page);
    expect(attrs(svg, "line", "limit")).toEqual([]);
    expect(page).toContain("device's memory (unlimited)");
    expect(svg).not.toMatch(/NaN|Infinity/);
    // The axis ends at the first round tick at or past the largest memory, not at a capacity.
    const ticks = [...svg.matchAll(/class="tick x-tick"[^>]*>([^<]+)</g)].map((m) => Number(m[1]));
    const largest = Math.max(...output.result.ranked.map((l) => l.peakMemoryBytes)) / 2 ** 30;
    expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(largest);
    expect(ticks[ticks.length - 2]).toBeLessThan(largest);
  });

  it("renders a page for a plan that simulated nothing", () => {
    const page = planReportHtml({ result: { ...output.result, ranked: [] }, timelines: [] });
    expect(page).toContain("No layout was simulated.");
    expect(page).not.toContain("<svg");
    expect(page).not.toContain(`class="plan-row"`);
  });
});

describe("paretoFront", () => {
  it("agrees with the definition on random point sets with ties and duplicates", () => {
    const next = random(7);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(next() * 30);
      // Few distinct values, so that equal memory, equal time and identical points are common.
      const points = Array.from({ length: n }, () => ({ x: Math.floor(next() * 6), y: Math.floor(next() * 6) }));
      expect(paretoFront(points).sort((a, b) => a - b), JSON.stringify(points)).toEqual(bruteFront(points));
    }
  });

  it("orders the front by memory, so that joining it draws a line that only falls", () => {
    const points = [{ x: 5, y: 1 }, { x: 1, y: 5 }, { x: 3, y: 3 }, { x: 4, y: 4 }, { x: 3, y: 3 }];
    expect(paretoFront(points)).toEqual([1, 2, 4, 0]);
  });
});
