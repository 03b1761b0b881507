/**
 * `parasim plan --emit`: a planned layout written as the launch configuration of an engine that
 * trains on real GPUs — Megatron-LM's `pretrain_gpt.py` arguments (emit-megatron.ts) or a
 * torchtitan TOML job file (emit-torchtitan.ts). parasim plans and proves the layout; the engine
 * runs it.
 *
 * Where an engine has no counterpart of a choice that only changes speed (a pipeline schedule),
 * the emitter writes the nearest one it has and says so in a comment; where it has none for a
 * choice that changes the model or what must fit in memory, it refuses with a one-line
 * InputError naming the scenario field (`emitRefusal` tells that in advance). What both read off
 * a scenario is in emit-layout.ts.
 */
import type { InputError } from "../errors.js";
import type { Scenario } from "../scenario/schema.js";
import { megatronRefusal, megatronScript } from "./emit-megatron.js";
import { torchtitanJob, torchtitanRefusal } from "./emit-torchtitan.js";
import { fileSlug } from "./emit-layout.js";

export const EMIT_ENGINES = ["megatron", "torchtitan"] as const;
export type EmitEngine = (typeof EMIT_ENGINES)[number];

export interface EmittedLaunch {
  /** The file's contents: a bash script of arguments (megatron) or a TOML job file (torchtitan). */
  text: string;
  /** A file name for it, from the scenario's name. */
  fileName: string;
}

/** Why `engine` cannot run this scenario as planned, or undefined when it can. */
export function emitRefusal(engine: EmitEngine, scenario: Scenario): InputError | undefined {
  return engine === "megatron" ? megatronRefusal(scenario) : torchtitanRefusal(scenario);
}

/** The launch configuration of `scenario` for `engine`; throws the refusal's InputError when there is one. */
export function emitLaunch(engine: EmitEngine, scenario: Scenario): EmittedLaunch {
  const slug = fileSlug(scenario.name);
  if (engine === "megatron") return { text: megatronScript(scenario), fileName: `${slug}.megatron.sh` };
  return { text: torchtitanJob(scenario), fileName: `${slug}.torchtitan.toml` };
}
