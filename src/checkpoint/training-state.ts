/**
 * The training state a checkpoint folder holds beside its Hugging Face files, so a run can resume
 * exactly where it stopped:
 *
 * - `training-state.safetensors`: named full tensors (gathered over every layout, like the weights):
 *   `optimizer.exp_avg.NAME` and `optimizer.exp_avg_sq.NAME` (AdamW's m and v, PyTorch's names)
 *   for every weight NAME, and optionally `master.NAME` (fp32 master weights, for runs that keep
 *   their parameters in a 16-bit type).
 * - `training-state.json`: the scalars, with a format name and version:
 *   `{ format, version, step, steps, optimizerStep, data: { seed, globalBatch, step }, lossScale?, losses }`.
 *   `step` is the number of steps done (the next step to run, 0-based); the learning-rate schedule's
 *   position is (step, steps); the data position is (seed, step), since a step's batch is drawn from
 *   the seed and the step alone; `lossScale` is optional (dynamic fp16 loss scaling).
 *
 * Full tensors by name make the state independent of the layout that wrote it: a run on another
 * dp/tp/pp/ZeRO layout shards them as it shards the weights.
 */
import { existsSync } from "node:fs";
import { readInputFile } from "../util/inputs.js";
import { join } from "node:path";
import { z } from "zod";
import { InputError } from "../errors.js";
import { writeFileAtomic, writeFileAtomicAsync } from "../util/atomic.js";
import { readSafetensors, safetensorsPieces, type NamedTensor } from "./safetensors.js";

export const STATE_FILE = "training-state.json";
export const STATE_TENSORS_FILE = "training-state.safetensors";
export const STATE_FORMAT = "parasim-training-state";
export const STATE_VERSION = 1;

/** The prefixes of the state's tensor names. */
export const STATE_PREFIX = { m: "optimizer.exp_avg.", v: "optimizer.exp_avg_sq.", master: "master." } as const;

const count = z.number().int().nonnegative();
const stateJsonSchema = z.object({
  format: z.literal(STATE_FORMAT),
  version: z.literal(STATE_VERSION),
  step: count,
  steps: z.number().int().positive(),
  optimizerStep: count,
  data: z.object({ seed: count, globalBatch: z.number().int().positive(), step: count }),
  /** Dynamic loss scaling (fp16): the scale and the steps since it last changed. */
  lossScale: z.object({ scale: z.number().positive(), goodSteps: count }).optional(),
  losses: z.array(z.number()),
});

export type TrainingScalars = z.infer<typeof stateJsonSchema>;

/** Everything a run needs to continue: the scalars and the full tensors by weight name. */
export interface TrainingState extends TrainingScalars {
  m: Map<string, NamedTensor>;
  v: Map<string, NamedTensor>;
  /** fp32 master weights, when the run keeps them apart from its parameters. */
  master?: Map<string, NamedTensor>;
}

/** Writes the state's two files into `folder` (a checkpoint folder being written); the tensors without blocking, as they are the bulk of a checkpoint. */
export async function writeTrainingState(folder: string, state: TrainingState): Promise<void> {
  const { m, v, master, ...scalars } = state;
  const json: TrainingScalars = { ...scalars, format: STATE_FORMAT, version: STATE_VERSION };
  writeFileAtomic(join(folder, STATE_FILE), JSON.stringify(json, null, 2) + "\n");
  const prefixed = (prefix: string, tensors: Map<string, NamedTensor>) => [...tensors.values()].map((t) => ({ ...t, name: prefix + t.name }));
  const tensors = [...prefixed(STATE_PREFIX.m, m), ...prefixed(STATE_PREFIX.v, v), ...(master ? prefixed(STATE_PREFIX.master, master) : [])];
  await writeFileAtomicAsync(join(folder, STATE_TENSORS_FILE), safetensorsPieces(tensors, { format: "pt", producer: "parasim", content: STATE_FORMAT }));
}

/** Reads a checkpoint folder's training state; errors name `option` (one line, exit 2). */
export function readTrainingState(dir: string, option = "--resume"): TrainingState {
  const jsonPath = join(dir, STATE_FILE);
  if (!existsSync(jsonPath) || !existsSync(join(dir, STATE_TENSORS_FILE))) {
    throw new InputError(option, `${dir} holds no training state (${STATE_FILE} and ${STATE_TENSORS_FILE}); write one with --save or training.checkpointEvery`);
  }
  const text = readInputFile(option, jsonPath).toString("utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InputError(option, `${jsonPath} is not valid JSON`);
  }
  const parsed = stateJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(option, `${jsonPath}: ${issue.path.join(".") || "(top level)"} ${issue.message}`);
  }
  const tensors = readSafetensors(join(dir, STATE_TENSORS_FILE));
  const byPrefix = (prefix: string) => {
    const out = new Map<string, NamedTensor>();
    for (const [name, t] of tensors) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), { ...t, name: name.slice(prefix.length) });
    return out;
  };
  const known = Object.values(STATE_PREFIX);
  const stray = [...tensors.keys()].find((name) => !known.some((prefix) => name.startsWith(prefix)));
  if (stray !== undefined) throw new InputError(option, `${STATE_TENSORS_FILE} holds ${stray}, which is none of ${known.map((p) => p + "NAME").join(", ")}`);
  const master = byPrefix(STATE_PREFIX.master);
  return { ...parsed.data, m: byPrefix(STATE_PREFIX.m), v: byPrefix(STATE_PREFIX.v), master: master.size > 0 ? master : undefined };
}
