/**
 * `simulate()`: one run of a scenario on a cluster of device workers, from a validated scenario
 * to results. The main thread only orchestrates: it draws nothing and computes nothing that a
 * device computes; it calls every rank once per step and gathers reports at the end.
 */
import { loadCorpus } from "../data/batches.js";
import { DeviceError, INJECTED_CRASH, InputError } from "../errors.js";
import { buildLayout } from "../model/layout.js";
import { buildMesh } from "../parallel/mesh.js";
import { Cluster, workerFile } from "../runtime/cluster.js";
import type { DeviceApi, DeviceData, FlatPiece } from "../runtime/device.js";
import type { Scenario } from "../scenario/schema.js";
import type { TimelineEvent } from "../sim/clock.js";
import { modelConfigOf, type StepOutcome } from "../train/trainer.js";
import { assembleTensors } from "./assemble.js";
import { loadInit, loadResume, saveCheckpoint } from "./checkpointing.js";
import { faultFreeScenario, faultReport, hasSlowness } from "./fault-cost.js";
import { lossScaleSettings } from "../train/loss-scale.js";
import { CHECKPOINT_FILES, checkCheckpointable } from "../checkpoint/hf.js";
import { checkOutputFolder } from "../util/outputs.js";
import type { DeviceReport, RunOutput, RunResult, StepTrace } from "./results.js";
import { utilisationOf } from "./utilisation.js";
import { shapesPlan } from "./shapes.js";
import type { Sabotage } from "../runtime/sabotage.js";

export { assembleTensors } from "./assemble.js";

export interface SimulateOptions {
  /** Checkpoint folder to start from (weights only). */
  init?: string;
  /** Folder to write the checkpoint to: weights and training state, at the end and every `training.checkpointEvery` steps. */
  save?: string;
  /** Checkpoint folder with a training state to continue from (src/checkpoint/training-state.ts). */
  resume?: string;
  /** Called after every step with the step's outcome (loss null in shapes mode). */
  onStep?: (outcome: StepOutcome) => void;
  /** A rank that waits this long for a peer that makes no progress fails the run (ms). */
  watchdogMs?: number;
  /** Return the reduced gradients of step 0 (for equivalence tests against a single device). */
  captureGradients?: boolean;
  /** Bytes of each directed channel between two ranks (default: sized to the world, see comm/shared.ts). */
  channelBytes?: number;
  /** How long the workers may take to start (ms, default 60 s); dozens of workers on a busy host need more. */
  startupMs?: number;
  /** Tests only: a deliberate bug that a correctness check must catch (src/runtime/sabotage.ts). */
  sabotage?: Sabotage;
}

export async function simulate(scenario: Scenario, options: SimulateOptions = {}): Promise<RunResult> {
  return (await execute(scenario, options, false)).result;
}

/** As `simulate`, also returning every device's simulated timeline. */
export function simulateWithTimeline(scenario: Scenario, options: SimulateOptions = {}): Promise<RunOutput> {
  return execute(scenario, options, true);
}

/** Where a run starts: weights (from --init or --resume), the resumed optimizer state, the first step and the losses before it. */
function startingPoint(scenario: Scenario, options: SimulateOptions): Pick<DeviceData, "init" | "resume"> & { firstStep: number; pastLosses: number[] } {
  if (options.resume !== undefined && options.init !== undefined) throw new InputError("--resume", "give --resume or --init, not both: --resume loads the weights too");
  // A shapes-only run has no weights to save: there checkpointEvery writes nothing.
  if (scenario.training.checkpointEvery !== undefined && options.save === undefined && scenario.mode === "real") {
    throw new InputError("training.checkpointEvery", "needs a folder to write to: run with --save DIR");
  }
  if (options.resume === undefined) return { init: options.init !== undefined ? loadInit(scenario, options.init) : undefined, firstStep: 0, pastLosses: [] };
  const { init, state } = loadResume(scenario, options.resume);
  const master = state.master && [...state.master.values()];
  const resume = { optimizerStep: state.optimizerStep, m: [...state.m.values()], v: [...state.v.values()], master, lossScale: state.lossScale };
  return { init, resume, firstStep: state.step, pastLosses: state.losses };
}

/** A run, and with injected slowness what it cost against the same run without faults (src/run/fault-cost.ts). */
async function execute(scenario: Scenario, options: SimulateOptions, recordTimeline: boolean): Promise<RunOutput> {
  // Before a run whose end could not be saved: a model without a checkpoint form, a folder that cannot be written.
  if (options.save !== undefined) {
    checkCheckpointable(modelConfigOf(scenario), "--save");
    checkOutputFolder("--save", options.save, CHECKPOINT_FILES);
  }
  const output = await run(scenario, options, recordTimeline);
  if (hasSlowness(scenario)) {
    const stepsRun = scenario.training.steps - (output.result.firstStep ?? 0);
    output.result.faults = faultReport(output.result, await simulate(faultFreeScenario(scenario, stepsRun), { watchdogMs: options.watchdogMs }));
  }
  return output;
}

/** Devices record timeline events only when asked: `simulate()` would carry them across threads for nothing. */
async function run(scenario: Scenario, options: SimulateOptions, recordTimeline: boolean): Promise<RunOutput> {
  const mesh = buildMesh(scenario.parallel);
  const shapes = scenario.mode === "shapes" ? shapesPlan(scenario, mesh, options) : undefined;
  const { init, resume, firstStep, pastLosses } = startingPoint(scenario, options);
  const data: DeviceData = {
    scenario,
    corpus: shapes ? new Int32Array(0) : loadCorpus(scenario),
    init,
    resume,
    captureGradientsAt: options.captureGradients ? firstStep : undefined,
    recordTimeline,
    shapes,
    sabotage: options.sabotage,
  };
  const cluster = await launchDevices(data, mesh.worldSize, options);
  try {
    const { steps, checkpointEvery } = scenario.training;
    const losses: number[] = [];
    const precision: Omit<StepTrace, "losses" | "firstStep"> = { lossScale: lossScaleSettings(scenario.training) && [], skippedSteps: [] };
    const timeline: TimelineEvent[] = [];
    // The last checkpoint this run can be resumed from, for the message of a crash.
    let last = options.resume !== undefined ? { step: firstStep, dir: options.resume } : null;
    const save = async (done: number) => {
      await saveCheckpoint(cluster, scenario, mesh, options.save!, { step: done, losses: [...pastLosses, ...losses] });
      last = { step: done, dir: options.save! };
    };
    const started = performance.now();
    for (let step = firstStep; step < steps; step++) {
      const outcomes = await cluster.all(`step ${step}`, (device) => device.step(step)).catch((err: unknown) => {
        throw asInjectedCrash(err, scenario, step, last);
      });
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
      // A periodic save replaces the folder atomically: a crash later leaves this one whole.
      if (checkpointEvery !== undefined && options.save !== undefined && (step + 1) % checkpointEvery === 0 && step + 1 < steps) await save(step + 1);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const devices = await cluster.all("report", (device) => device.report());
    if (options.save !== undefined) await save(steps);
    const gradients = options.captureGradients ? await gatherGradients(cluster, scenario) : undefined;
    return { result: buildResult(scenario, mesh.worldSize, { firstStep, losses, ...precision }, wallSeconds, devices), timeline, gradients };
  } finally {
    await cluster.close();
  }
}

/** One worker per device, or per simulated representative in shapes mode. */
function launchDevices(data: DeviceData, worldSize: number, options: SimulateOptions): Promise<Cluster<DeviceApi>> {
  const { scenario, shapes } = data;
  // Each rank keeps its parameters and gradients (at most the whole model's) in its shared arena;
  // a shapes-only rank keeps meta arrays, which take no memory.
  const modelBytes = shapes ? 0 : buildLayout(modelConfigOf(scenario)).totalSize * Float32Array.BYTES_PER_ELEMENT;
  return Cluster.launch<DeviceApi, DeviceData>({
    entry: workerFile({ compiled: "device.js", source: "device.ts" }),
    worldSize: shapes ? shapes.representatives.length : worldSize,
    arenaBytes: 2 * modelBytes + (1 << 20),
    // Real-mode devices keep weights and gradients where their kernels address them.
    kernelMemory: !shapes,
    channelBytes: options.channelBytes,
    data,
    watchdogMs: options.watchdogMs,
    startupMs: options.startupMs,
  });
}

/**
 * A device's failure from `faults.crash` as the fault it is: exit 1, naming the rank and the step,
 * and where the last checkpoint is. Any other error passes unchanged.
 */
function asInjectedCrash(err: unknown, scenario: Scenario, step: number, last: { step: number; dir: string } | null): unknown {
  const crash = scenario.faults?.crash;
  if (!(err instanceof DeviceError) || !crash || !err.causeMessage.startsWith(`${INJECTED_CRASH}:`)) return err;
  const resume = last === null ? "no checkpoint was written (set training.checkpointEvery and --save)" : `the last checkpoint, of step ${last.step}, is in ${last.dir}: continue with --resume ${last.dir}`;
  return new DeviceError(crash.rank, `step ${step}`, `injected crash (faults.crash); ${resume}`);
}

async function gatherGradients(cluster: Cluster<DeviceApi>, scenario: Scenario): Promise<Map<string, Float32Array>> {
  const pieces = await cluster.all("gather gradients", (device) => device.capturedGradients());
  return assembleTensors(scenario, pieces.filter((p): p is FlatPiece[] => p !== null).flat());
}

function buildResult(scenario: Scenario, worldSize: number, trace: StepTrace, wallSeconds: number, devices: DeviceReport[]): RunResult {
  const { globalBatch } = scenario.training;
  const { firstStep, losses } = trace;
  const steps = scenario.training.steps - firstStep;
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
    utilisation: utilisationOf(scenario, worldSize, devices, tokensPerStep / stepSeconds),
    devices,
    communication: { totalBytes: devices.reduce((sum, d) => sum + d.ranks * d.bytesSent, 0), bytesByKind },
  };
}
