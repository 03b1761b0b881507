/**
 * Renders the plan report of a real plan (tests/report/plan-fixture.ts) in headless Chromium: the
 * page loads without a console error, and the rendered geometry is what the plan says: a visible
 * point per layout on linear axes, the memory line where the device's memory falls on them, and
 * the timelines of the top three. The report has no script; to read positions back, the test adds
 * one to a copy of the page (the copy only), which measures the laid-out elements and writes them
 * into the DOM that --dump-dom prints. Skipped, with a warning, where Chromium is absent.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PlanOutput } from "../../src/plan/types.js";
import { laneDevices, planReportHtml } from "../../src/report/plan-report.js";
import { CHROMIUM, chromium, consoleLines, hasChromium } from "./chromium.js";
import { simulatedPlan } from "./plan-fixture.js";

if (!hasChromium) {
  console.warn(`plan-chromium.test.ts: ${CHROMIUM} is absent, so the rendering tests are skipped (install it: apt-get install -y chromium; .ci/run does).`);
}

/** Runs in the copy: centres and sizes of the scatter's points, the memory line and the timelines' rows, as laid out. */
const MEASURE = `<script>
const box = (el) => { const r = el.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height }; };
const measured = {
  points: [...document.querySelectorAll("svg.scatter circle.point")].map((el) => ({ i: Number(el.getAttribute("data-point")), ...box(el) })),
  limit: box(document.querySelector("svg.scatter line.limit")),
  rows: [...document.querySelectorAll("section.run")].map((s) => [...s.querySelectorAll("g.timeline-row")].map((g) => ({ rank: Number(g.getAttribute("data-rank")), ...box(g) }))),
  svgs: document.querySelectorAll("svg").length,
};
const pre = document.createElement("pre");
pre.id = "measured";
pre.textContent = JSON.stringify(measured);
document.body.appendChild(pre);
</script>`;

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface Measured {
  points: (Box & { i: number })[];
  limit: Box;
  rows: (Box & { rank: number })[][];
  svgs: number;
}

/**
 * Markup coordinates carry 2 decimals (≤ 0.005 px each) and Chromium may snap a box to its 1/64 px
 * layout unit (≤ 0.016 px): ≤ 0.021 px per measured centre. A position interpolated between two
 * measured points (weight ≤ 1, as the device's memory lies within the points' range; checked) is off
 * by ≤ 2 × 0.021, and is compared with a third measurement: ≤ 0.063 px. 0.1 px covers it.
 */
const PX = 0.1;

describe.skipIf(!hasChromium)(`the plan report in headless Chromium${hasChromium ? "" : ` (skipped: ${CHROMIUM} is absent)`}`, () => {
  let dir: string;
  let output: PlanOutput;
  let page: string;
  beforeAll(async () => {
    ({ output } = await simulatedPlan(4));
    dir = mkdtempSync(join(tmpdir(), "parasim-plan-html-"));
    page = join(dir, "plan.html");
    writeFileSync(page, planReportHtml(output));
  }, 240_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("renders a screenshot of the page without a console error", () => {
    const png = join(dir, "plan.png");
    const r = chromium(dir, pathToFileURL(page).href, [`--screenshot=${png}`, "--window-size=1400,3200"], { console: true });
    expect(r.status, r.stderr).toBe(0);
    expect(consoleLines(r.stderr)).toEqual([]);
    expect(existsSync(png)).toBe(true);
    // A blank 1400×3200 page compresses to a few KiB; the scatter, tables and timelines need far more.
    expect(statSync(png).size).toBeGreaterThan(50_000);
  });

  describe("as laid out", () => {
    let m: Measured;
    beforeAll(() => {
      const copy = join(dir, "measured.html");
      writeFileSync(copy, planReportHtml(output).replace("</body>", `${MEASURE}</body>`));
      const r = chromium(dir, pathToFileURL(copy).href, ["--dump-dom", "--window-size=1400,3200"], { console: true });
      expect(r.status, r.stderr).toBe(0);
      expect(consoleLines(r.stderr)).toEqual([]);
      expect(r.stdout).toContain("parasim · plan");
      const json = r.stdout.match(/<pre id="measured">(.*?)<\/pre>/s);
      expect(json, "the measuring script ran").not.toBeNull();
      m = JSON.parse(json![1].replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as Measured;
    });

    it("shows a visible point per simulated layout, on linear axes", () => {
      const ranked = output.result.ranked;
      expect(m.svgs).toBe(2 + 3);
      expect(m.points.map((p) => p.i).sort((a, b) => a - b)).toEqual(ranked.map((_, i) => i));
      for (const p of m.points) expect(p.w > 0 && p.h > 0).toBe(true);
      // Through the points of least and most memory, every other point lies on the same line (x) and
      // the points of least and most time fix y the same way: a true scatter, not a rank plot.
      const at = (i: number) => m.points.find((p) => p.i === i)!;
      const along = (value: (i: number) => number, pos: (b: Box) => number) => {
        const order = ranked.map((_, i) => i).sort((a, b) => value(a) - value(b));
        const [lo, hi] = [order[0], order[order.length - 1]];
        return (v: number) => pos(at(lo)) + ((v - value(lo)) / (value(hi) - value(lo))) * (pos(at(hi)) - pos(at(lo)));
      };
      const x = along((i) => ranked[i].peakMemoryBytes, (b) => b.x);
      const y = along((i) => ranked[i].stepSeconds, (b) => b.y);
      ranked.forEach((l, i) => {
        expect(Math.abs(at(i).x - x(l.peakMemoryBytes))).toBeLessThanOrEqual(PX);
        expect(Math.abs(at(i).y - y(l.stepSeconds))).toBeLessThanOrEqual(PX);
      });
      // Time grows upwards from the axis at the bottom (screen y grows downwards), memory to the right.
      const by = (f: (a: number, b: number) => boolean, value: (i: number) => number) => ranked.map((_, i) => i).reduce((a, i) => (f(value(i), value(a)) ? i : a));
      const time = (i: number) => ranked[i].stepSeconds;
      const mem = (i: number) => ranked[i].peakMemoryBytes;
      expect(at(by((a, b) => a < b, time)).y).toBeGreaterThan(at(by((a, b) => a > b, time)).y);
      expect(at(by((a, b) => a < b, mem)).x).toBeLessThan(at(by((a, b) => a > b, mem)).x);
    });

    it("draws the memory line where the device's memory falls on the memory axis", () => {
      const ranked = output.result.ranked;
      const capacity = output.result.memoryCapacity;
      const memory = ranked.map((l) => l.peakMemoryBytes);
      const [lo, hi] = [memory.indexOf(Math.min(...memory)), memory.indexOf(Math.max(...memory))];
      expect(capacity > memory[lo] && capacity < memory[hi]).toBe(true); // within the points' range, as PX assumes
      const at = (i: number) => m.points.find((p) => p.i === i)!;
      const expected = at(lo).x + ((capacity - memory[lo]) / (memory[hi] - memory[lo])) * (at(hi).x - at(lo).x);
      expect(Math.abs(m.limit.x - expected)).toBeLessThanOrEqual(PX);
      expect(m.limit.h).toBeGreaterThan(100); // a line across the plot, not a dot
      ranked.forEach((l, i) => expect(at(i).x < m.limit.x).toBe(l.fits));
    });

    it("shows the timelines of the top three, a visible row per simulated device row", () => {
      expect(m.rows.length).toBe(3);
      output.result.ranked.slice(0, 3).forEach((l, i) => {
        expect(m.rows[i].map((r) => r.rank)).toEqual(laneDevices(l.scenario).map((d) => d.rank));
        for (const row of m.rows[i]) expect(row.w > 500 && row.h > 10).toBe(true);
      });
    });
  });
});
