/** Reading a scenario file (YAML or JSON) and turning zod's findings into one-line errors. */
import { existsSync } from "node:fs";
import { dirname, extname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { InputError } from "../errors.js";
import { grouped, LIMITS } from "../limits.js";
import { checkHostMemory } from "./footprint.js";
import { checkRealModeBuffers, checkRunLength, checkScenarioLimits } from "./limits.js";
import { resolveModelSource } from "./model-source.js";
import { scenarioSchema, type Scenario } from "./schema.js";
import { checkInputFile, readInputFile } from "../util/inputs.js";

/** Locates scenarios/ both from src/scenario (tsx) and from dist/src/scenario (compiled). */
export function bundledScenarioPath(file: string): string {
  for (const up of ["../../scenarios/", "../../../scenarios/"]) {
    const candidate = fileURLToPath(new URL(up + file, import.meta.url));
    if (existsSync(candidate)) return candidate;
  }
  throw new InputError("scenario", `bundled scenario ${file} not found`);
}

/**
 * Reads and validates a scenario file. Relative data paths are resolved against its folder.
 * `shapes` runs it in shapes mode whatever its `mode` says (the CLI's --shapes).
 */
export function loadScenario(path: string, options: { shapes?: boolean } = {}): Scenario {
  const { raw, baseDir } = readScenarioFile(path);
  return validateScenario(options.shapes ? inShapesMode(raw) : raw, baseDir);
}

/** A scenario as written, set to shapes mode (before validation, so real mode's host-memory check does not apply). */
export function inShapesMode(raw: unknown): unknown {
  return raw !== null && typeof raw === "object" && !Array.isArray(raw) ? { ...raw, mode: "shapes" } : raw;
}

/** A scenario file as written (not yet validated) and the folder its relative paths start from. */
export function readScenarioFile(path: string): { raw: unknown; baseDir: string } {
  const text = readInputFile("scenario", path).toString("utf8");
  return { raw: parseScenarioText(text, path), baseDir: dirname(resolve(path)) };
}

export function parseScenarioText(text: string, path: string): unknown {
  const isJson = extname(path).toLowerCase() === ".json";
  try {
    return isJson ? JSON.parse(text) : parseYamlStrictly(text);
  } catch (err) {
    const detail = (err as Error).message.split("\n")[0].replace(/:$/, "");
    throw new InputError("scenario", `${path} is not valid ${isJson ? "JSON" : "YAML"}: ${detail}`);
  }
}

/**
 * YAML whose every warning (an unknown tag such as `!!python/object`, a bad directive) is an
 * error: the library would otherwise print it to stderr as a process warning and go on.
 */
function parseYamlStrictly(text: string): unknown {
  const doc = parseDocument(text, { logLevel: "silent" });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw problem;
  return doc.toJS();
}

/**
 * Validates a plain value (from a file or a library user) into a Scenario. `baseDir` anchors a
 * relative `training.data.path` and `model.hfConfig`; the files must exist. A `model.preset` or
 * `model.hfConfig` is spelled out into the model's fields first. Sizes must stay within the
 * stated limits (src/limits.ts), and in real mode the run must fit this host's memory
 * (src/scenario/footprint.ts).
 */
export function validateScenario(raw: unknown, baseDir = process.cwd()): Scenario {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new InputError("scenario", "must be a mapping with the sections model, training, parallel, hardware");
  }
  const model = resolveModelSource(raw as Record<string, unknown>, baseDir);
  const result = scenarioSchema.safeParse(model.raw);
  if (!result.success) throw zodToInputError(result.error);
  const scenario = result.data;
  const data = scenario.training.data;
  if (data.source === "text") scenario.training.data = { source: "text", path: checkedCorpus(data.path, baseDir) };
  checkScenarioLimits(scenario);
  if (scenario.mode === "real") {
    checkHostMemory(scenario, model.source);
    checkRealModeBuffers(scenario);
  }
  checkRunLength(scenario);
  return scenario;
}

/** The absolute path of a text corpus: a regular file whose bytes (one token each) fit one typed array. */
function checkedCorpus(path: string, baseDir: string): string {
  const absolute = isAbsolute(path) ? path : resolve(baseDir, path);
  if (!existsSync(absolute)) throw new InputError("training.data.path", `file not found: ${absolute}`);
  const bytes = checkInputFile("training.data.path", absolute);
  if (bytes > LIMITS.typedArrayElements) {
    throw new InputError("training.data.path", `${absolute} holds ${grouped(bytes)} bytes; its tokens (one per byte) are held in one typed array of at most ${grouped(LIMITS.typedArrayElements)}`);
  }
  return absolute;
}

/** The first issue zod found, as `field.path: rule`. One line: the user fixes one thing at a time. */
export function zodToInputError(error: z.ZodError): InputError {
  const issue = error.issues[0];
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const where = path.length > 0 ? path.join(".") + "." : "";
    const keys = issue.keys.map((k) => where + k).join(", ");
    return new InputError(keys, "unknown key");
  }
  return new InputError(path.length > 0 ? path.join(".") : "scenario", issue.message);
}
