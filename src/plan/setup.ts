/**
 * What a plan is about, checked once before any search: the model (a preset or a Hugging Face
 * `config.json`), the hardware profile, the cluster size, and a validated template scenario
 * that every candidate layout varies. Bad input is a one-line InputError naming the flag.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { InputError } from "../errors.js";
import { grouped, LIMITS } from "../limits.js";
import { modelConfigOf, type ModelConfig } from "../model/config.js";
import { modelPreset, PRESET_NAMES } from "../model/presets.js";
import { validateScenario } from "../scenario/load.js";
import { resolveModelSource } from "../scenario/model-source.js";
import type { Scenario } from "../scenario/schema.js";
import { profileNames, type HardwareProfile } from "../sim/hardware.js";
import type { PlanRequest } from "./types.js";

/**
 * Gradient bucket of every candidate: PyTorch DDP's default for large models (25 MiB). The
 * scenario default (64 KiB) suits parasim's tiny real-mode models, and would split a 70B model's
 * gradients into a million all-reduces.
 */
export const PLAN_BUCKET_BYTES = 25 * 1024 * 1024;

/** A request with its defaults, the model it names and the scenario every candidate starts from. */
export interface PlanSetup {
  request: Required<PlanRequest>;
  /** The model section of every candidate: explicit fields, with the plan's sequence length and attention kernel. */
  model: Record<string, unknown>;
  config: ModelConfig;
  hardware: HardwareProfile;
  /** A validated shapes-mode scenario of one step on one device (dp = tp = pp = 1): the template candidates and probes vary. */
  template: Scenario;
}

/** The model fields a `--model` value stands for: a preset name, or the path of a config.json. */
function planModel(model: string): Record<string, unknown> {
  const isFile = model.toLowerCase().endsWith(".json") || existsSync(model);
  if (!isFile && !modelPreset(model)) {
    throw new InputError("--model", `unknown preset '${model}' (known: ${PRESET_NAMES.join(", ")}), and no config.json of that name`);
  }
  const source = isFile ? { hfConfig: resolve(model) } : { preset: model };
  try {
    return resolveModelSource({ model: source }, process.cwd()).raw.model as Record<string, unknown>;
  } catch (err) {
    if (err instanceof InputError) throw new InputError("--model", err.message);
    throw err;
  }
}

/** Checks the request and builds its setup (header). */
export function planSetup(request: PlanRequest): PlanSetup {
  const full: Required<PlanRequest> = { ...request, attention: request.attention ?? "flash" };
  if (!(profileNames as string[]).includes(full.hardware)) {
    throw new InputError("--hardware", `unknown profile '${full.hardware}' (known: ${profileNames.join(", ")})`);
  }
  for (const [flag, value] of [["--devices", full.devices], ["--global-batch", full.globalBatch], ["--seq", full.seqLen], ["--top", full.top]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InputError(flag, `must be a positive integer, got ${value}`);
  }
  if (full.devices > LIMITS.shapesWorldSize) {
    throw new InputError("--devices", `must be at most ${grouped(LIMITS.shapesWorldSize)}, the most ranks shapes mode simulates, got ${grouped(full.devices)}`);
  }
  const model = { ...planModel(full.model), seqLen: full.seqLen, attention: full.attention };
  const template = validateScenario({
    name: "plan",
    mode: "shapes",
    model,
    training: { steps: 1, globalBatch: full.globalBatch, optimizer: { lr: 1e-4 }, precision: full.precision },
    parallel: { bucketBytes: PLAN_BUCKET_BYTES },
    hardware: { profile: full.hardware },
  });
  const perNode = template.hardware.devicesPerNode;
  if (!full.tpAcrossNodes && full.devices > perNode && full.devices % perNode !== 0) {
    throw new InputError(
      "--devices",
      `must be a multiple of ${perNode}, the devices per node of ${full.hardware}, for tensor parallelism to stay inside a node, got ${full.devices} (or pass --tp-across-nodes)`,
    );
  }
  return { request: full, model, config: modelConfigOf(template), hardware: template.hardware, template };
}
