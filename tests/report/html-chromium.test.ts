/**
 * Renders the HTML report in headless Chromium (Debian's `chromium`; `.ci/run` installs it):
 * a screenshot, and the rendered DOM's timeline rows. Skipped, with a warning, where Chromium is
 * absent; the test installs nothing itself.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { htmlReport } from "../../src/report/html.js";
import { CHROMIUM, chromium, hasChromium } from "./chromium.js";
import { fakeCompare, rankRowsPerRun } from "./fixture.js";

if (!hasChromium) {
  console.warn(`html-chromium.test.ts: ${CHROMIUM} is absent, so the rendering tests are skipped (install it: apt-get install -y chromium; .ci/run does).`);
}

const layouts = [
  { dp: 2, tp: 1, pp: 2 },
  { dp: 1, tp: 1, pp: 3, schedule: "gpipe" },
  { dp: 8, tp: 1, pp: 1 },
];

describe.skipIf(!hasChromium)(`the HTML report in headless Chromium${hasChromium ? "" : ` (skipped: ${CHROMIUM} is absent)`}`, () => {
  let dir: string;
  let url: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "parasim-html-"));
    const file = join(dir, "report.html");
    writeFileSync(file, htmlReport(fakeCompare(layouts, [{ layout: "dp3", reason: "3 does not divide 8" }])));
    url = pathToFileURL(file).href;
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("renders a screenshot of the page", () => {
    const png = join(dir, "report.png");
    const r = chromium(dir, url, [`--screenshot=${png}`, "--window-size=1400,2400"]);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(png)).toBe(true);
    // A blank 1400×2400 page compresses to a few KiB; the charts and timelines need far more.
    expect(statSync(png).size).toBeGreaterThan(50_000);
  });

  it("has, in the rendered DOM, one timeline row per rank for each run", () => {
    const r = chromium(dir, url, ["--dump-dom"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("parasim · parallel layouts compared");
    const rows = rankRowsPerRun(r.stdout);
    expect(rows.map((ranks) => ranks.length)).toEqual([4, 3, 8]);
    expect(rows[2]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
