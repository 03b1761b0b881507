/**
 * Layouts of the kind `parasim plan` ranks first for three presets (shapes mode, real sizes): tp
 * inside a node, pipelines with the interleaved or zero-bubble schedule, sequence parallelism,
 * recomputation, ZeRO-1 and 16-bit training. Shared by the tests of `plan --verify`.
 */
import { validateScenario, type Scenario } from "../../src/index.js";

const LAYOUTS = {
  // Llama 3 8B on 64 H100: tp 4 × pp 2 zero-bubble, 8 replicas.
  "llama-3-8b": {
    model: { preset: "llama-3-8b" },
    training: { globalBatch: 256, microBatches: 32, precision: "bf16", recompute: "selective" },
    parallel: { dp: 8, tp: 4, pp: 2, schedule: "zb-h1", sequenceParallel: true, zero: 1 },
    hardware: { profile: "h100-80gb" },
  },
  // Llama 3 70B on 1,024 H100: tp 8 × pp 8 interleaved over 2 chunks, 16 replicas.
  "llama-3-70b": {
    model: { preset: "llama-3-70b" },
    training: { globalBatch: 512, microBatches: 32, precision: "bf16", recompute: "selective" },
    parallel: { dp: 16, tp: 8, pp: 8, schedule: "interleaved", virtualStages: 2, sequenceParallel: true, zero: 1 },
    hardware: { profile: "h100-80gb" },
  },
  // GPT-3 175B on 128 A100 as Korthikanti et al. 2022 lay it out (tp 8, pp 8, 3 chunks), fp16, full recomputation, 2 replicas.
  "gpt3-175b": {
    model: { preset: "gpt3-175b" },
    training: { globalBatch: 128, microBatches: 64, precision: "fp16", recompute: "full" },
    parallel: { dp: 2, tp: 8, pp: 8, schedule: "interleaved", virtualStages: 3, sequenceParallel: true, zero: 1 },
    hardware: { profile: "a100-80gb" },
  },
} as const;

export type PlannedPreset = keyof typeof LAYOUTS;
export const PLANNED_PRESETS = Object.keys(LAYOUTS) as PlannedPreset[];

/** The planned layout of `preset`, validated as `plan` hands it to `--verify`; `training` overrides fields of its training section. */
export function plannedLayout(preset: PlannedPreset, training: object = {}): Scenario {
  const l = LAYOUTS[preset];
  return validateScenario({ name: `${preset} plan`, mode: "shapes", ...l, training: { steps: 1, optimizer: { lr: 1.5e-4 }, ...l.training, ...training } });
}
