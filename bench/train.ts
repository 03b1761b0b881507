/**
 * Training throughput on one core: tokens/s of one device at global batch 8 for the bundled
 * default scenario and for the hidden-256 model, each step timed in this thread (median over the
 * timed steps, after one warm-up step), beside the same model trained by PyTorch on one thread
 * (`../shared/bench/torch_peer.py`, or PARASIM_TORCH_PEER; Python from PARASIM_PEER_PYTHON, default
 * python3; its JSON names the BLAS it loaded, and LD_LIBRARY_PATH passes through to choose one).
 * Without Python and PyTorch the peer is skipped and the bench says so. The default scenario is
 * also run through a device worker (`simulate`), whose messaging costs what the ratio shows.
 *
 * This machine is shared, so beside wall-clock tokens/s (median step) the bench prints tokens per
 * second of CPU time, which other tenants disturb far less: parasim's from process.cpuUsage around
 * the timed steps, PyTorch's as the difference of the CPU time (bash `time`, user + sys) of two peer
 * runs that differ only in their number of steps, so start-up and warm-up cancel.
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

interface Rates {
  /** Tokens per wall-clock second, median step. */
  wall: number;
  /** Tokens per second of CPU time. */
  cpu: number;
}

/** Tokens/s of `steps` steps in this thread, after one warm-up step. */
function parasimTokensPerSecond(scenario: Scenario, steps: number): Rates {
  const trainer = new Trainer(scenario, BATCH);
  const corpus = loadCorpus(scenario);
  const T = scenario.model.seqLen;
  const times: number[] = [];
  let cpu = { user: 0, system: 0 };
  for (let step = 0; step <= steps; step++) {
    const batch = drawBatch(corpus, scenario.training.seed, step, BATCH, T);
    if (step === 1) cpu = process.cpuUsage();
    const t0 = performance.now();
    trainer.step(step, batch);
    if (step > 0) times.push((performance.now() - t0) / 1000);
  }
  const used = process.cpuUsage(cpu);
  return { wall: (BATCH * T) / median(times), cpu: (steps * BATCH * T) / ((used.user + used.system) / 1e6) };
}

interface Peer {
  tokens_per_s: number;
  blas: string;
  cpu_tokens_per_s: number;
}

/** One peer run: its JSON line and its CPU seconds (user + sys of the whole process). */
function peerRun(python: string, script: string, args: string[]): { json: Peer; cpuSeconds: number } {
  const quoted = [python, script, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const out = execFileSync("bash", ["-c", `TIMEFORMAT='%U %S'; { time ${quoted} ; } 2>&1`], { encoding: "utf8" });
  const lines = out.trim().split("\n");
  const [user, sys] = lines.pop()!.split(" ").map(Number);
  return { json: JSON.parse(lines.filter((l) => l.startsWith("{")).pop()!) as Peer, cpuSeconds: user! + sys! };
}

/** PyTorch's tokens/s for the same model on one thread, or the reason it could not run. */
function peerTokensPerSecond(scenario: Scenario, steps: number): Peer | string {
  const script = process.env.PARASIM_TORCH_PEER ?? fileURLToPath(new URL("../../shared/bench/torch_peer.py", import.meta.url));
  if (!existsSync(script)) return `no peer script at ${script}`;
  const python = process.env.PARASIM_PEER_PYTHON ?? "python3";
  try {
    execFileSync(python, ["-c", "import torch"], { stdio: "ignore" });
  } catch {
    return `${python} cannot import torch (see the peer script's docstring for Debian's PyTorch)`;
  }
  const m = scenario.model;
  const args = ["--vocab", m.vocabSize, "--hidden", m.hiddenSize, "--inter", m.intermediateSize, "--layers", m.numLayers, "--heads", m.numHeads,
    "--kv-heads", m.numKvHeads, "--seq", m.seqLen, "--batch", BATCH, "--warmup", 2, "--threads", 1].map(String);
  const long = peerRun(python, script, [...args, "--steps", String(2 * steps)]);
  const short = peerRun(python, script, [...args, "--steps", String(steps)]);
  const cpuPerStep = (long.cpuSeconds - short.cpuSeconds) / steps;
  return { ...long.json, cpu_tokens_per_s: (BATCH * m.seqLen) / cpuPerStep };
}

export async function run(): Promise<void> {
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} on this machine (2 cores, shared)`);
  const models: [string, object | null, number][] = [["default (hidden 64)", null, 20], ["hidden-256", HIDDEN_256, 6]];
  console.log("tokens/s            parasim wall   PyTorch wall   ratio   parasim CPU   PyTorch CPU   ratio");
  const blas = new Set<string>();
  for (const [name, model, steps] of models) {
    const scenario = scenarioFor(model);
    const ours = parasimTokensPerSecond(scenario, steps);
    const peer = peerTokensPerSecond(scenario, steps);
    const w = (x: number, n: number): string => x.toFixed(0).padStart(n);
    if (typeof peer === "string") console.log(`${name.padEnd(19)} ${w(ours.wall, 12)}   peer skipped: ${peer}   (parasim CPU ${w(ours.cpu, 0)})`);
    else {
      blas.add(peer.blas);
      const r = (x: number): string => x.toFixed(2).padStart(5);
      console.log(
        `${name.padEnd(19)} ${w(ours.wall, 12)}   ${w(peer.tokens_per_s, 12)}   ${r(ours.wall / peer.tokens_per_s)}   ${w(ours.cpu, 11)}   ${w(peer.cpu_tokens_per_s, 11)}   ${r(ours.cpu / peer.cpu_tokens_per_s)}`,
      );
    }
  }
  for (const b of blas) console.log(`PyTorch's BLAS: ${b}`);
  console.log("target (issue): parasim ≥ 0.5 × PyTorch on one thread, both models");

  const scenario = scenarioFor(null);
  scenario.training.steps = 20;
  const worker = await simulate(scenario);
  console.log(`default scenario through a device worker (simulate, 20 steps): ${worker.wall.tokensPerSecond.toFixed(0)} tokens/s`);
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
}
