import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { htmlReport } from "../../src/report/html.js";
import { fakeCompare, rankRowsPerRun } from "./fixture.js";

const layouts = [
  { dp: 2, tp: 1, pp: 2 },
  { dp: 1, tp: 1, pp: 3, schedule: "gpipe" },
  { dp: 4, tp: 1, pp: 1 },
];

describe("htmlReport", () => {
  it("is one self-contained page: no script, no external resource", () => {
    const html = htmlReport(fakeCompare(layouts));
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/(src|href)=/i);
    expect(html.match(/<svg /g)?.length).toBe(3 + layouts.length); // 3 charts + one timeline per run
  });

  it("draws one timeline row per rank for each run, ranks in order", () => {
    const rows = rankRowsPerRun(htmlReport(fakeCompare(layouts)));
    expect(rows).toEqual([[0, 1, 2, 3], [0, 1, 2], [0, 1, 2, 3]]);
  });

  it("draws the last step by default and the chosen step on request", () => {
    const output = fakeCompare(layouts);
    expect(htmlReport(output)).toContain("simulated time since the start of step 1 (µs)");
    const first = htmlReport(output, { step: 0 });
    expect(first).toContain("simulated time since the start of step 0 (µs)");
    // Only step-0 actions appear: rank 1's idle wait of step 0 is drawn once per run with odd ranks.
    expect(first.match(/recv\(pp-grad\) · idle/g)?.length).toBe(2 + 1 + 2);
    expect(() => htmlReport(output, { step: 7 })).toThrow(InputError);
  });

  it("has a table row per run with its figures, and the skipped layouts with reasons", () => {
    const output = fakeCompare(layouts, [{ layout: "dp1·tp8·pp1", reason: "tp 8 does not divide numHeads 4" }]);
    const html = htmlReport(output);
    const rows = [...html.matchAll(/<tr class="run-row" data-run="(\d+)">(.*?)<\/tr>/g)];
    expect(rows.map((m) => Number(m[1]))).toEqual([0, 1, 2]);
    const cells = (row: string) => [...row.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1].replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim());
    const first = cells(rows[0][2]);
    const run = output.result.runs[0];
    expect(first[1]).toBe("dp2·tp1·pp2 1f1b");
    expect(first[2]).toBe("4");
    expect(first[3]).toBe("1f1b");
    expect(first[5]).toBe(Math.round(run.simulated.tokensPerSecond).toLocaleString("en-US"));
    expect(first).toContain("1.23 %"); // MFU
    expect(first).toContain("25.0 %"); // bubble
    expect(first).toContain("5.4000");
    expect(first).toContain("1.25 s");
    expect(first[8]).toBe(`dp-grad ${((run.communication.bytesByKind["dp-grad"] as number) / 1024).toFixed(2)} KiB pp-act 4.00 KiB`);
    expect(cells(rows[2][2])[3]).toBe("—"); // no pipeline: no schedule
    expect(html).toContain(`<li class="skipped"><strong>dp1·tp8·pp1</strong>: tp 8 does not divide numHeads 4</li>`);
  });

  it("escapes every string from the input", () => {
    const hostile = "<script>alert(1)</script>";
    const output = fakeCompare([{ dp: 2, tp: 1, pp: 1, label: hostile, actionLabel: `<img src=x onerror="alert(2)">` }], [
      { layout: `<b>x</b>`, reason: `a & b "quoted" 'single'` },
    ]);
    const html = htmlReport(output);
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>x</b>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(2)&quot;&gt;");
    expect(html).toContain("a &amp; b &quot;quoted&quot; &#39;single&#39;");
    expect(rankRowsPerRun(html)).toEqual([[0, 1]]);
  });

  it("renders a page for a comparison where every layout was skipped", () => {
    const html = htmlReport({ result: { runs: [], skipped: [{ layout: "dp3", reason: "3 does not divide 8" }], failed: [] }, timelines: [] });
    expect(html).toContain("No layout ran.");
    expect(html).toContain("3 does not divide 8");
    expect(rankRowsPerRun(html)).toEqual([]);
  });
});
