/**
 * What simulating one training step of a frontier-sized run costs this host in shapes mode: wall
 * seconds and peak RSS for Llama-3-70B and Llama-3.1-405B on 8 to 16,384 simulated H100s, plus the
 * two layouts the shapes mode was built for (70B on 1,024 under 2 s; 405B on 16,384 under 10 s and
 * 1 GiB; the latter is also the sweep's last 405B row, measured again). With a node-aligned layout only one worker per pipeline stage runs, so the cost should
 * follow the work of those workers, pp × micro-batches, and stay flat as dp grows.
 *
 * Each configuration runs in a fresh `node` child that imports the compiled dist/ (`npm run build`
 * first; without it the suite says so and exits 2), so no run's heap inflates the next one's RSS.
 * Wall = the child's `performance.now()` when `simulate()` returns, which counts from the child's
 * start: Node's boot, loading dist/, validating the scenario, starting the workers, the step, the
 * reports and closing the workers; each row keeps the fastest of ROUNDS children. Peak RSS = the child's `resourceUsage().maxRSS`, worker threads
 * included (they share its process). This machine is shared: read the ratios more than the seconds.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { MODEL_PRESETS } from "../src/model/presets.js";

const DIST_INDEX = fileURLToPath(new URL("../dist/src/index.js", import.meta.url));
const WORLD_SIZES = [8, 64, 512, 4096, 16_384];
const TP = 8; // one tensor-parallel group per H100 node of 8
const SEQ_LEN = 8192;
const ROUNDS = 2;

type ModelName = "llama-3-70b" | "llama-3.1-405b";

interface Layout {
  model: ModelName;
  dp: number;
  pp: number;
  schedule: "1f1b" | "interleaved";
  virtualStages: number;
  layersPerStage?: number[];
  /** Per data-parallel replica, one sequence each: the global batch is dp × this. */
  microBatches: number;
  target?: { wallSeconds: number; rssMiB?: number };
}

interface Measured {
  wallSeconds: number;
  loopSeconds: number;
  rssMiB: number;
  workers: number;
  stepSeconds: number;
}

/**
 * Layers of each of `stages` stages with the first and the last one layer short (Llama 3 paper,
 * §3.3.2: 126 layers over 32 stages), or undefined when the layers do not split that way.
 */
function trimmedEnds(layers: number, stages: number): number[] | undefined {
  if ((layers + 2) % stages !== 0) return undefined;
  const per = (layers + 2) / stages;
  return Array.from({ length: stages }, (_, s) => (s === 0 || s === stages - 1 ? per - 1 : per));
}

/** 70B: pp 8 from 64 devices on, 32 micro-batches per replica, 1F1B. */
function llama70b(world: number): Layout {
  const pp = world >= 64 ? 8 : 1;
  return { model: "llama-3-70b", dp: world / (TP * pp), pp, schedule: "1f1b", virtualStages: 1, microBatches: 32 };
}

/** 405B: pp up to 16, 16 micro-batches per replica, interleaved with 2 chunks where the layers split. */
function llama405b(world: number): Layout {
  const pp = Math.min(16, world / TP);
  const base = { model: "llama-3.1-405b" as const, dp: world / (TP * pp), pp, microBatches: 16 };
  const layersPerStage = pp > 1 ? trimmedEnds(MODEL_PRESETS["llama-3.1-405b"].numLayers, 2 * pp) : undefined;
  if (!layersPerStage) return { ...base, schedule: "1f1b", virtualStages: 1 };
  return { ...base, schedule: "interleaved", virtualStages: 2, layersPerStage };
}

const TARGETS: Layout[] = [
  { ...llama70b(1024), target: { wallSeconds: 2 } },
  { ...llama405b(16_384), target: { wallSeconds: 10, rssMiB: 1024 } },
];

function scenarioOf(l: Layout): unknown {
  return {
    name: `${l.model} on ${l.dp * TP * l.pp} h100`,
    mode: "shapes",
    model: { preset: l.model, seqLen: SEQ_LEN },
    training: { steps: 1, globalBatch: l.dp * l.microBatches, microBatches: l.microBatches, optimizer: { lr: 1e-4 } },
    parallel: {
      dp: l.dp, tp: TP, pp: l.pp, schedule: l.schedule, virtualStages: l.virtualStages,
      layersPerStage: l.layersPerStage, bucketBytes: 26_214_400,
    },
    hardware: { profile: "h100-80gb" },
  };
}

/**
 * The child, written to a temporary .mjs file (not passed with -e: worker threads inherit the
 * parent's execArgv). It validates and simulates the scenario in argv and prints one JSON line.
 */
const CHILD = `
const [index, json] = process.argv.slice(2);
const { simulate, validateScenario } = await import(index);
const r = await simulate(validateScenario(JSON.parse(json)));
console.log(JSON.stringify({
  wallSeconds: performance.now() / 1000, loopSeconds: r.wall.seconds,
  rssMiB: process.resourceUsage().maxRSS / 1024, workers: r.devices.length, stepSeconds: r.simulated.stepSeconds,
}));`;

async function measureOnce(child: string, l: Layout): Promise<Measured> {
  const args = [child, pathToFileURL(DIST_INDEX).href, JSON.stringify(scenarioOf(l))];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").pop()!) as Measured;
}

/** The fastest of ROUNDS children (a slower one mostly measures other tenants), with the largest RSS any of them reached. */
async function measure(child: string, l: Layout): Promise<Measured> {
  const rounds: Measured[] = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await measureOnce(child, l));
  const fastest = rounds.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
  return { ...fastest, rssMiB: Math.max(...rounds.map((r) => r.rssMiB)) };
}

const COLUMNS = ["model", "world", "layout", "workers", "wall s", "loop s", "RSS MiB", "sim step s", "ms/(pp·mb)", "target"];
const WIDTHS = [15, 6, 45, 7, 7, 7, 8, 10, 10, 0];

function row(cells: string[]): string {
  return cells.map((c, i) => (i < 3 ? c.padEnd(WIDTHS[i]!) : c.padStart(WIDTHS[i]!))).join("  ");
}

function verdict(l: Layout, m: Measured): string {
  if (!l.target) return "";
  const pass = m.wallSeconds < l.target.wallSeconds && (l.target.rssMiB === undefined || m.rssMiB < l.target.rssMiB);
  const limits = `< ${l.target.wallSeconds} s` + (l.target.rssMiB === undefined ? "" : `, < ${l.target.rssMiB} MiB`);
  return `${pass ? "PASS" : "MISS"} (${limits})`;
}

function describe(l: Layout, m: Measured): string {
  const world = l.dp * TP * l.pp;
  const chunks = l.virtualStages > 1 ? ` ×${l.virtualStages}` : "";
  const split = l.layersPerStage ? ` [${l.layersPerStage[0]},${l.layersPerStage[1]}…${l.layersPerStage.at(-1)}]` : "";
  const layout = `${l.dp}×${TP}×${l.pp} ${l.schedule}${chunks}${split}, ${l.microBatches} mb`;
  return row([
    l.model, String(world), layout, String(m.workers), m.wallSeconds.toFixed(2), m.loopSeconds.toFixed(2),
    m.rssMiB.toFixed(0), m.stepSeconds.toFixed(2), ((1000 * m.wallSeconds) / (l.pp * l.microBatches)).toFixed(1), verdict(l, m),
  ]);
}

export async function run(): Promise<void> {
  if (!existsSync(DIST_INDEX)) {
    console.error(`bench scale: ${DIST_INDEX} not found; run \`npm run build\` first`);
    process.exit(2);
  }
  const layouts = [...WORLD_SIZES.map(llama70b), ...WORLD_SIZES.map(llama405b), ...TARGETS];
  console.log("one step in shapes mode, each configuration in a fresh child process, on H100 nodes of 8 (h100-80gb), seq 8192");
  console.log("layout: dp×tp×pp, schedule, [layers of the first, second … last stage], mb = micro-batches (1 sequence each) per replica");
  console.log(row(COLUMNS));
  const dir = mkdtempSync(join(tmpdir(), "parasim-scale-"));
  const child = join(dir, "child.mjs");
  writeFileSync(child, CHILD);
  const measured: Measured[] = [];
  try {
    for (const l of layouts) {
      const m = await measure(child, l);
      measured.push(m);
      console.log(describe(l, m));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  summarize(layouts, measured);
}

/** How the wall time grows: across dp at the widest pp (same pp × micro-batches), and from pp 1 to that pp. */
function summarize(layouts: Layout[], measured: Measured[]): void {
  console.log("wall s: the child from its start until simulate() returns (Node's boot, loading dist/, validation,");
  console.log("  starting workers, the step, reports, closing); loop s: the step alone; fastest of " + ROUNDS + " children");
  console.log("ms/(pp·mb): wall per unit of the simulated workers' work; flat down a dp sweep means dp adds no cost");
  console.log("  (tp is 8 in every row; the pp-1 rows spread the fixed boot over fewer units)");
  for (const model of ["llama-3-70b", "llama-3.1-405b"] as const) {
    const rows = layouts.map((l, i) => ({ l, m: measured[i]! })).filter((r) => r.l.model === model && !r.l.target);
    const pp = Math.max(...rows.map((r) => r.l.pp));
    const sweep = rows.filter((r) => r.l.pp === pp);
    const [first, last] = [sweep[0]!, sweep.at(-1)!];
    const single = rows.find((r) => r.l.pp === 1)!;
    const ratio = (a: number, b: number): string => `×${(a / b).toFixed(2)}`;
    console.log(
      `${model}: dp ${first.l.dp} → ${last.l.dp} at pp ${pp} (pp × mb = ${pp * last.l.microBatches} throughout): ` +
        `wall ${first.m.wallSeconds.toFixed(2)} → ${last.m.wallSeconds.toFixed(2)} s (${ratio(last.m.wallSeconds, first.m.wallSeconds)}); ` +
        `pp 1 → ${pp} (pp × mb ×${(pp * last.l.microBatches) / single.l.microBatches}): ` +
        `wall ${ratio(last.m.wallSeconds, single.m.wallSeconds)}, loop ${ratio(last.m.loopSeconds, single.m.loopSeconds)}`,
    );
  }
}
