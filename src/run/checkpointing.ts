/**
 * Saving and resuming a run: the Hugging Face weights (src/checkpoint/hf.ts) and the training
 * state beside them (src/checkpoint/training-state.ts), gathered from the devices into full
 * tensors, so that any layout can resume what any layout saved.
 */
import { checkCheckpointable, checkConfigMatches, checkTensorsMatch, readCheckpoint, writeCheckpoint } from "../checkpoint/hf.js";
import type { NamedTensor } from "../checkpoint/safetensors.js";
import { readTrainingState, writeTrainingState, type TrainingState } from "../checkpoint/training-state.js";
import { InputError } from "../errors.js";
import { buildLayout } from "../model/layout.js";
import type { Mesh } from "../parallel/mesh.js";
import type { Cluster } from "../runtime/cluster.js";
import type { DeviceApi, FlatPiece } from "../runtime/device.js";
import type { Scenario } from "../scenario/schema.js";
import { modelConfigOf } from "../train/trainer.js";
import { assembleTensors } from "./assemble.js";

/** Reads and checks a checkpoint's weights against the scenario's model before any worker starts. */
export function loadInit(scenario: Scenario, dir: string): NamedTensor[] {
  const config = modelConfigOf(scenario);
  checkCheckpointable(config, "--init");
  const checkpoint = readCheckpoint(dir);
  checkConfigMatches(checkpoint.config, config);
  checkTensorsMatch(checkpoint.tensors, buildLayout(config).tensors);
  return [...checkpoint.tensors.values()];
}

/**
 * The weights and training state of a checkpoint folder, checked against the scenario: the same
 * model, moments for exactly its tensors, the same data stream (seed, global batch) and
 * learning-rate schedule (steps), and steps left to train.
 */
export function loadResume(scenario: Scenario, dir: string): { init: NamedTensor[]; state: TrainingState } {
  const state = readTrainingState(dir);
  const init = asResumeError(() => loadInit(scenario, dir));
  const tensors = buildLayout(modelConfigOf(scenario)).tensors;
  asResumeError(() => {
    checkTensorsMatch(state.m, tensors);
    checkTensorsMatch(state.v, tensors);
    if (state.master) checkTensorsMatch(state.master, tensors);
  });
  const t = scenario.training;
  const differs = (what: string, saved: number, field: string, now: number) =>
    new InputError("--resume", `the training state has ${what} ${saved} but the scenario's ${field} is ${now}; resuming would not continue the same run`);
  if (state.data.seed !== t.seed) throw differs("data seed", state.data.seed, "training.seed", t.seed);
  if (state.data.globalBatch !== t.globalBatch) throw differs("global batch", state.data.globalBatch, "training.globalBatch", t.globalBatch);
  if (state.steps !== t.steps) throw differs("a learning-rate schedule of steps", state.steps, "training.steps", t.steps);
  if (state.step >= t.steps) throw new InputError("--resume", `the training state is at step ${state.step}, the end of the scenario's ${t.steps} steps: nothing is left to train`);
  return { init, state };
}

/** Runs a checkpoint check, naming --resume, the option that gave the folder, in its errors. */
function asResumeError<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof InputError && err.field === "checkpoint") throw new InputError("--resume", err.rule);
    throw err;
  }
}

/** What the main thread knows of a run's progress when it saves. */
export interface Progress {
  /** Steps done: the next step to run. */
  step: number;
  /** Losses of every step done, the resumed-from run's included. */
  losses: number[];
}

/**
 * Writes a checkpoint folder of the run's state after `progress.step` steps, atomically. The
 * weights come from one data-parallel replica (dp index 0; every rank under ZeRO-3, each holding
 * its chunks); the moments from every rank that holds a different part of them (all ranks under
 * ZeRO, else one replica).
 */
export async function saveCheckpoint(cluster: Cluster<DeviceApi>, scenario: Scenario, mesh: Mesh, dir: string, progress: Progress): Promise<void> {
  const all = Array.from({ length: mesh.worldSize }, (_, r) => r);
  const replica = all.filter((r) => mesh.coords(r).dp === 0);
  const sharded = scenario.parallel.zero > 0 && mesh.shape.dp > 1;
  const weightsSharded = scenario.parallel.zero === 3 && mesh.shape.dp > 1;
  const weights = await cluster.all("gather weights", (device) => device.parameters(), { ranks: weightsSharded ? all : replica });
  const optimizer = await cluster.all("gather optimizer state", (device) => device.optimizerState(), { ranks: sharded ? all : replica });
  const config = modelConfigOf(scenario);
  const layout = buildLayout(config);
  const named = (full: Map<string, Float32Array>) => new Map(layout.tensors.map((t) => [t.name, { name: t.name, shape: t.shape, data: full.get(t.name)! }]));
  const gather = (pieces: FlatPiece[][]) => named(assembleTensors(scenario, pieces.flat()));
  const params = gather(weights);
  const t = scenario.training;
  const state: TrainingState = {
    format: "parasim-training-state",
    version: 1,
    step: progress.step,
    steps: t.steps,
    optimizerStep: optimizer[0].step,
    data: { seed: t.seed, globalBatch: t.globalBatch, step: progress.step },
    losses: progress.losses,
    m: gather(optimizer.map((o) => o.m)),
    v: gather(optimizer.map((o) => o.v)),
    // A 16-bit run's fp32 master weights (the weights file holds their 16-bit copy), and fp16's loss scale.
    ...(optimizer[0].master ? { master: gather(optimizer.map((o) => o.master!)) } : {}),
    ...(optimizer[0].lossScale ? { lossScale: optimizer[0].lossScale } : {}),
  };
  await writeCheckpoint(dir, config, [...params.values()], "--save", (folder) => writeTrainingState(folder, state));
}
