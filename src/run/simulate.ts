/**
 * `simulate()`: one run of a scenario on a cluster of device workers, from a validated scenario
 * to results. The main thread only orchestrates: it draws nothing and computes nothing that a
 * device computes; it calls every rank once per step and gathers reports at the end.
 */
import { checkConfigMatches, checkTensorsMatch, readCheckpoint, writeCheckpoint } from "../checkpoint/hf.js";
import type { NamedTensor } from "../checkpoint/safetensors.js";
import { loadCorpus } from "../data/batches.js";
import { buildLayout, placeShard, type TensorSpec } from "../model/layout.js";
import { buildMesh, type Mesh } from "../parallel/mesh.js";
import { Cluster, workerFile } from "../runtime/cluster.js";
import type { DeviceApi, DeviceData, FlatPiece } from "../runtime/device.js";
import type { Scenario } from "../scenario/schema.js";
import type { TimelineEvent } from "../sim/clock.js";
import { modelConfigOf, type StepOutcome } from "../train/trainer.js";
import { lossScaleSettings } from "../train/loss-scale.js";
import type { DeviceReport, RunOutput, RunResult, StepTrace } from "./results.js";
import { shapesPlan } from "./shapes.js";

export interface SimulateOptions {
  /** Checkpoint folder to start from. */
  init?: string;
  /** Folder to write the final checkpoint to. */
  save?: string;
  /** Called after every step with the step's outcome (loss null in shapes mode). */
  onStep?: (outcome: StepOutcome) => void;
  /** A rank that waits this long for a peer that makes no progress fails the run (ms). */
  watchdogMs?: number;
  /** Return the reduced gradients of step 0 (for equivalence tests against a single device). */
  captureGradients?: boolean;
  /** Bytes of each directed channel between two ranks (default: sized to the world, see comm/shared.ts). */
  channelBytes?: number;
}


/** Reads and checks a checkpoint against the scenario's model before any worker starts. */
function loadInit(scenario: Scenario, dir: string): NamedTensor[] {
  const config = modelConfigOf(scenario);
  const checkpoint = readCheckpoint(dir);
  checkConfigMatches(checkpoint.config, config);
  checkTensorsMatch(checkpoint.tensors, buildLayout(config).tensors);
  return [...checkpoint.tensors.values()];
}

export async function simulate(scenario: Scenario, options: SimulateOptions = {}): Promise<RunResult> {
  return (await execute(scenario, options, false)).result;
}

/** As `simulate`, also returning every device's simulated timeline. */
export function simulateWithTimeline(scenario: Scenario, options: SimulateOptions = {}): Promise<RunOutput> {
  return execute(scenario, options, true);
}

/** Devices record timeline events only when asked: `simulate()` would carry them across threads for nothing. */
async function execute(scenario: Scenario, options: SimulateOptions, recordTimeline: boolean): Promise<RunOutput> {
  const mesh = buildMesh(scenario.parallel);
  const shapes = scenario.mode === "shapes" ? shapesPlan(scenario, mesh, options) : undefined;
  const data: DeviceData = {
    scenario,
    corpus: shapes ? new Int32Array(0) : loadCorpus(scenario),
    init: options.init !== undefined ? loadInit(scenario, options.init) : undefined,
    captureGradientsAt: options.captureGradients ? 0 : undefined,
    recordTimeline,
    shapes,
  };
  // Each rank keeps its parameters and gradients (at most the whole model's) in its shared arena;
  // a shapes-only rank keeps meta arrays, which take no memory.
  const modelBytes = shapes ? 0 : buildLayout(modelConfigOf(scenario)).totalSize * Float32Array.BYTES_PER_ELEMENT;
  const cluster = await Cluster.launch<DeviceApi, DeviceData>({
    entry: workerFile({ compiled: "device.js", source: "device.ts" }),
    worldSize: shapes ? shapes.representatives.length : mesh.worldSize,
    arenaBytes: 2 * modelBytes + (1 << 20),
    channelBytes: options.channelBytes,
    data,
    watchdogMs: options.watchdogMs,
  });
  try {
    const { steps } = scenario.training;
    const losses: number[] = [];
    const precision: Omit<StepTrace, "losses"> = { lossScale: lossScaleSettings(scenario.training) && [], skippedSteps: [] };
    const timeline: TimelineEvent[] = [];
    const started = performance.now();
    for (let step = 0; step < steps; step++) {
      const outcomes = await cluster.all(`step ${step}`, (device) => device.step(step));
      // Every rank holding the loss reports its replica's rows' mean; the global batch's mean is their average.
      const reported = outcomes.map((o) => o.loss).filter((l): l is number => l !== null);
      const loss = reported.reduce((sum, l) => sum + l, 0) / reported.length;
      if (!shapes && !Number.isFinite(loss)) {
        throw new Error(`step ${step}: the loss is ${loss} — training diverged (lr ${scenario.training.optimizer.lr})`);
      }
      if (!shapes) losses.push(loss);
      const { gradNorm, lr, lossScale, skipped } = outcomes[0];
      precision.lossScale?.push(lossScale!);
      if (skipped) precision.skippedSteps.push(step);
      options.onStep?.({ step, loss: shapes ? null : loss, gradNorm, lr, lossScale, skipped });
      for (const o of outcomes) for (const e of o.events) timeline.push(e);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const devices = await cluster.all("report", (device) => device.report());
    if (options.save !== undefined) await saveCheckpoint(cluster, scenario, mesh, options.save);
    const gradients = options.captureGradients ? await gatherGradients(cluster, scenario) : undefined;
    return { result: buildResult(scenario, mesh.worldSize, { losses, ...precision }, wallSeconds, devices), timeline, gradients };
  } finally {
    await cluster.close();
  }
}

/**
 * Full tensors from pieces of ranks' flat buffers. Ranks with the same (pp, tp) share a layout,
 * so their pieces (ZeRO shards of one buffer, or one whole buffer) are first laid into that
 * buffer; then every tensor, or tensor-parallel shard of one, is placed into its full tensor.
 */
export function assembleTensors(scenario: Scenario, pieces: FlatPiece[]): Map<string, Float32Array> {
  const full = new Map(buildLayout(modelConfigOf(scenario)).tensors.map((t) => [t.name, new Float32Array(t.size)]));
  const buffers = new Map<string, { flat: Float32Array; tensors: TensorSpec[] }>();
  for (const piece of pieces) {
    const key = `${piece.coords.pp}:${piece.coords.tp}`;
    if (!buffers.has(key)) buffers.set(key, { flat: new Float32Array(piece.totalSize), tensors: piece.tensors });
    buffers.get(key)!.flat.set(piece.values, piece.offset);
  }
  for (const { flat, tensors } of buffers.values()) {
    for (const t of tensors) placeShard(full.get(t.name)!, t.shape, t.shard ?? null, flat.subarray(t.offset, t.offset + t.size));
  }
  return full;
}

async function gatherGradients(cluster: Cluster<DeviceApi>, scenario: Scenario): Promise<Map<string, Float32Array>> {
  const pieces = await cluster.all("gather gradients", (device) => device.capturedGradients());
  return assembleTensors(scenario, pieces.filter((p): p is FlatPiece => p !== null));
}

/** Writes a Hugging Face checkpoint from the parameters of one data-parallel replica (dp index 0). */
async function saveCheckpoint(cluster: Cluster<DeviceApi>, scenario: Scenario, mesh: Mesh, dir: string): Promise<void> {
  const ranks = Array.from({ length: mesh.worldSize }, (_, r) => r).filter((r) => mesh.coords(r).dp === 0);
  const pieces = await cluster.all("gather weights", (device) => device.parameters(), { ranks });
  const layout = buildLayout(modelConfigOf(scenario));
  const full = assembleTensors(scenario, pieces);
  writeCheckpoint(dir, modelConfigOf(scenario), layout.tensors.map((t) => ({ name: t.name, shape: t.shape, data: full.get(t.name)! })), "--save");
}

function buildResult(scenario: Scenario, worldSize: number, trace: StepTrace, wallSeconds: number, devices: DeviceReport[]): RunResult {
  const { losses } = trace;
  const { steps, globalBatch } = scenario.training;
  const tokensPerStep = globalBatch * scenario.model.seqLen;
  const finalLoss = losses.length > 0 ? losses[losses.length - 1] : null;
  // Every device's compute + comm + idle is its makespan; the step ends when the slowest device does.
  const makespan = Math.max(...devices.map((d) => d.makespanSeconds));
  const stepSeconds = makespan / steps;
  // A row that stands for several ranks counts once for each of them.
  const bytesByKind: Record<string, number> = {};
  for (const d of devices) for (const [kind, bytes] of Object.entries(d.bytesByKind)) bytesByKind[kind] = (bytesByKind[kind] ?? 0) + d.ranks * bytes;
  return {
    scenario,
    ...trace,
    finalLoss,
    bitsPerByte: finalLoss === null ? null : finalLoss / Math.LN2,
    wall: { seconds: wallSeconds, tokensPerSecond: (steps * tokensPerStep) / wallSeconds },
    worldSize,
    simulated: { stepSeconds, tokensPerSecond: tokensPerStep / stepSeconds },
    devices,
    communication: { totalBytes: devices.reduce((sum, d) => sum + d.ranks * d.bytesSent, 0), bytesByKind },
  };
}
