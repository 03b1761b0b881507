/**
 * The robustness probe: tries parasim's built CLI as a hostile new user would — bad numbers, huge
 * sizes, impossible combinations, bad output paths, signals at each phase, corrupted checkpoints,
 * bad token ids, bad usage of every command — and classifies each outcome as clean or not
 * (types.ts, classify.ts). Not part of the test suite: it takes minutes and mounts file systems.
 *
 *   npm run probe                      every case
 *   npm run probe -- --only signals/   the cases whose id matches a regular expression
 *   npm run probe -- --json out.json   also write every verdict as JSON
 *   npm run probe -- --jobs 2          cases without a signal run two at a time (default 1)
 *
 * Exits 0 when every case was clean, 1 otherwise.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fileCases } from "./cases-files.js";
import { inputCases } from "./cases-input.js";
import { signalCases } from "./cases-signals.js";
import { usageCases } from "./cases-usage.js";
import { classify } from "./classify.js";
import { makeFixtures, type Fixtures } from "./fixtures.js";
import { failed, refusedIn, scenarioFile } from "./helpers.js";
import { calibrateThreads, runCase } from "./spawn.js";
import type { Case, Verdict } from "./types.js";

/** compare with one failing layout among good ones. */
function compareCases(fx: Fixtures): Case[] {
  const good = scenarioFile(fx, {});
  const invalid = scenarioFile(fx, { model: { hiddenSize: -1 } });
  const huge = scenarioFile(fx, { model: { hiddenSize: 65536 } });
  const missing = `${fx.dir}/absent.yaml`;
  return [
    { id: "compare/an invalid file among good ones", args: ["compare", good, invalid], expect: refusedIn(invalid, "model.hiddenSize") },
    { id: "compare/a missing file among good ones", args: ["compare", good, missing], expect: refusedIn(missing, "scenario") },
    { id: "compare/a too-large model among good ones", args: ["compare", good, huge], expect: failed(/1 of 2 layout\(s\) failed/), check: (o) => (/FAILED/.test(o.stdout) && /tokens\/s/.test(o.stdout) ? null : "the good layout's row or the FAILED row is missing") },
    { id: "compare/a too-large model alone", args: ["compare", huge], expect: refusedIn(huge, "model.hiddenSize") },
    { id: "compare/a diverging layout among good ones", args: ["compare", good, scenarioFile(fx, { name: "div", training: { optimizer: { lr: 1e308 } } })], expect: failed(/1 of 2 layout\(s\) failed/) },
    { id: "compare/a crashing layout among good ones", args: ["compare", good, scenarioFile(fx, { name: "crash", parallel: { dp: 2 }, faults: { crash: { rank: 1, step: 1 } } })], expect: failed(/1 of 2 layout\(s\) failed/) },
  ];
}

function options(argv: string[]): { only: RegExp | null; json: string | null; jobs: number } {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = value("--only");
  return { only: only ? new RegExp(only) : null, json: value("--json") ?? null, jobs: Number(value("--jobs") ?? 1) };
}

/** Runs `cases` `jobs` at a time, reporting each verdict as it comes. */
async function runAll(cases: Case[], cwd: string, jobs: number, report: (v: Verdict) => void): Promise<Verdict[]> {
  const verdicts: Verdict[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++];
      c.before?.();
      const v = classify(c, await runCase(c, cwd));
      verdicts.push(v);
      report(v);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  return verdicts;
}

function summary(verdicts: Verdict[]): string {
  const groups = new Map<string, { tried: number; clean: number }>();
  for (const v of verdicts) {
    const g = groups.get(v.id.split("/")[0]) ?? { tried: 0, clean: 0 };
    g.tried++;
    if (v.clean) g.clean++;
    groups.set(v.id.split("/")[0], g);
  }
  const rows = [...groups].map(([name, g]) => `  ${name.padEnd(12)} tried ${String(g.tried).padStart(3)}  clean ${String(g.clean).padStart(3)}  not clean ${g.tried - g.clean}`);
  const clean = verdicts.filter((v) => v.clean).length;
  return [...rows, `  ${"all".padEnd(12)} tried ${String(verdicts.length).padStart(3)}  clean ${String(clean).padStart(3)}  not clean ${verdicts.length - clean}`].join("\n");
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  const fx = makeFixtures();
  try {
    const bare = await calibrateThreads(["run", scenarioFile(fx, { training: { steps: 100_000 } }), "--quiet"], fx.dir);
    console.error(`fixtures in ${fx.dir}; a bare CLI has ${bare} threads; read-only folder: ${fx.readOnly !== null}, full file system: ${fx.small !== null}`);
    const all = [...inputCases(fx), ...usageCases(fx), ...fileCases(fx), ...compareCases(fx), ...signalCases(fx)].filter((c) => !opts.only || opts.only.test(c.id));
    const ids = new Set<string>();
    for (const c of all) {
      if (ids.has(c.id)) throw new Error(`two cases are called ${c.id}`);
      ids.add(c.id);
    }
    const print = (v: Verdict) => console.log(`${v.clean ? "clean    " : "NOT CLEAN"} ${v.id} — ${v.why} [${v.observed.seconds.toFixed(1)} s, ${(v.observed.peakRssBytes / 2 ** 20).toFixed(0)} MiB]`);
    const quiet = all.filter((c) => !c.signal);
    const verdicts = [...(await runAll(quiet, fx.dir, opts.jobs, print)), ...(await runAll(all.filter((c) => c.signal), fx.dir, 1, print))];
    console.log(`\n${summary(verdicts)}`);
    if (opts.json) writeFileSync(opts.json, JSON.stringify(verdicts.map(({ id, clean, why, observed }) => ({ id, clean, why, ...observed })), null, 2) + "\n");
    return verdicts.every((v) => v.clean) ? 0 : 1;
  } finally {
    fx.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();
