/**
 * Training throughput on one core: tokens/s of one device at global batch 8 for the bundled
 * default scenario and for the hidden-256 model, each step timed in this thread (median over the
 * timed steps, after one warm-up step), beside the same model trained by PyTorch on one thread
 * (`../shared/bench/torch_peer.py`, or PARASIM_TORCH_PEER; Python from PARASIM_PEER_PYTHON, default
 * python3; its JSON names the BLAS it loaded, and LD_LIBRARY_PATH passes through to choose one).
 * Without Python and PyTorch the peer is skipped and the bench says so. The default scenario is
 * also run through a device worker (`simulate`), whose messaging costs what the ratio shows.
 *
 * This machine is shared, and other tenants slow either side at random. So the two sides take
 * turns, PARASIM_BENCH_ROUNDS times (default 3), each round printing its own ratio; the verdict is
 * the ratio of each side's best round, the one least disturbed.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { drawBatch, loadCorpus } from "../src/data/batches.js";
import { bundledScenarioPath, loadScenario, simulate } from "../src/index.js";
import type { Scenario } from "../src/scenario/schema.js";
import { Trainer } from "../src/train/trainer.js";

const HIDDEN_256 = { vocabSize: 256, hiddenSize: 256, intermediateSize: 704, numLayers: 4, numHeads: 8, numKvHeads: 4, seqLen: 128 };
const BATCH = 8;

function scenarioFor(model: object | null): Scenario {
  const scenario = loadScenario(bundledScenarioPath("default.yaml"));
  if (model) Object.assign(scenario.model, model);
  scenario.training.globalBatch = BATCH;
  return scenario;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Tokens per wall-clock second of `steps` steps in this thread (median step), after one warm-up step. */
function parasimTokensPerSecond(scenario: Scenario, steps: number): number {
  const trainer = new Trainer(scenario, BATCH);
  const corpus = loadCorpus(scenario);
  const T = scenario.model.seqLen;
  const times: number[] = [];
  for (let step = 0; step <= steps; step++) {
    const batch = drawBatch(corpus, scenario.training.seed, step, BATCH, T);
    const t0 = performance.now();
    trainer.step(step, batch);
    if (step > 0) times.push((performance.now() - t0) / 1000);
  }
  return (BATCH * T) / median(times);
}

interface Peer {
  tokens_per_s: number;
  blas: string;
}

interface PeerCommand {
  python: string;
  args: string[];
}

/** The peer's command for this scenario's model on one thread, or the reason it cannot run. */
function peerCommand(scenario: Scenario, steps: number): PeerCommand | string {
  const script = process.env.PARASIM_TORCH_PEER ?? fileURLToPath(new URL("../../shared/bench/torch_peer.py", import.meta.url));
  if (!existsSync(script)) return `no peer script at ${script}`;
  const python = process.env.PARASIM_PEER_PYTHON ?? "python3";
  try {
    execFileSync(python, ["-c", "import torch"], { stdio: "ignore" });
  } catch {
    return `${python} cannot import torch (see the peer script's docstring for Debian's PyTorch)`;
  }
  const m = scenario.model;
  const args = [script, "--vocab", m.vocabSize, "--hidden", m.hiddenSize, "--inter", m.intermediateSize, "--layers", m.numLayers, "--heads", m.numHeads,
    "--kv-heads", m.numKvHeads, "--seq", m.seqLen, "--batch", BATCH, "--warmup", 2, "--steps", steps, "--threads", 1].map(String);
  return { python, args };
}

/** One peer run: its JSON line. */
function peerRun({ python, args }: PeerCommand): Peer {
  const lines = execFileSync(python, args, { encoding: "utf8" }).trim().split("\n");
  return JSON.parse(lines.filter((l) => l.startsWith("{")).pop()!) as Peer;
}

export async function run(): Promise<void> {
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} on this machine (2 cores, shared)`);
  const rounds = Math.max(1, Math.floor(Number(process.env.PARASIM_BENCH_ROUNDS ?? 3)) || 1);
  const models: [string, object | null, number][] = [["default (hidden 64)", null, 20], ["hidden-256", HIDDEN_256, 6]];
  const w = (x: number): string => x.toFixed(0).padStart(6);
  const r = (x: number): string => x.toFixed(2);
  console.log(`tokens/s by wall clock (median step); ${rounds} rounds, the two sides taking turns; verdict: each side's best round`);
  const blas = new Set<string>();
  for (const [name, model, steps] of models) {
    const scenario = scenarioFor(model);
    const peer = peerCommand(scenario, steps);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      ours.push(parasimTokensPerSecond(scenario, steps));
      if (typeof peer === "string") continue;
      const result = peerRun(peer);
      blas.add(result.blas);
      theirs.push(result.tokens_per_s);
    }
    const best = Math.max(...ours);
    if (typeof peer === "string") {
      console.log(`${name}: parasim ${ours.map(w).join(", ")}; best ${w(best)}; peer skipped: ${peer}`);
      continue;
    }
    const perRound = ours.map((x, i) => `${w(x)} / ${w(theirs[i]!)} = ${r(x / theirs[i]!)}`).join(";  ");
    console.log(`${name}: parasim / PyTorch per round: ${perRound}`);
    console.log(`  best rounds: parasim ${w(best)}, PyTorch ${w(Math.max(...theirs))}, ratio ${r(best / Math.max(...theirs))}`);
  }
  for (const b of blas) console.log(`PyTorch's BLAS: ${b}`);
  console.log("target (issue): parasim ≥ 0.5 × PyTorch on one thread, both models");

  const scenario = scenarioFor(null);
  scenario.training.steps = 20;
  const worker = await simulate(scenario);
  console.log(`default scenario through a device worker (simulate, 20 steps): ${worker.wall.tokensPerSecond.toFixed(0)} tokens/s`);
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
}
