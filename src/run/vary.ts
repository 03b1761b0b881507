/**
 * `--vary path=v1,v2,…`: the cross product of scenario variations. A path must name a field of
 * the scenario format and every value must be valid for that field on its own (else bad input,
 * exit 2); a combination that is valid field by field but does not fit the model or the world
 * size (tp not dividing the heads, dp not dividing the batch, too many devices) is skipped with
 * the reason, so one sweep can cover layouts of which only some apply.
 */
import { parse as parseYaml } from "yaml";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ZodError, type z } from "zod";
import { InputError } from "../errors.js";
import { grouped, LIMITS } from "../limits.js";
import { validateScenario, zodToInputError } from "../scenario/load.js";
import { resolveModelSource } from "../scenario/model-source.js";
import { modelSchema, parallelSchema, scenarioSchema, trainingSchema, type Scenario } from "../scenario/schema.js";
import { hardwareSchema } from "../sim/hardware.js";

export interface Variation {
  path: string;
  values: unknown[];
}

const SECTIONS: Record<string, z.ZodType> = { model: modelSchema, training: trainingSchema, parallel: parallelSchema, hardware: hardwareSchema };

/** The zod schema of a dotted scenario path, or null when the format has no such field. */
function fieldSchema(path: string): z.ZodType | null {
  const [section, ...rest] = path.split(".");
  let schema: z.ZodType | undefined = SECTIONS[section];
  for (const key of rest) {
    const shape: Record<string, z.ZodType> | undefined = (schema as unknown as { shape?: Record<string, z.ZodType> } | undefined)?.shape;
    schema = shape?.[key];
    if (!schema) return null;
  }
  return rest.length > 0 && schema ? schema : null;
}

/** Parses one `--vary` argument: values are YAML scalars (numbers, true/false, strings). */
export function parseVariation(spec: string): Variation {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) throw new InputError("--vary", `must look like path=value1,value2 (e.g. parallel.dp=1,2,4), got "${spec}"`);
  const path = spec.slice(0, eq).trim();
  const schema = fieldSchema(path);
  if (!schema) throw new InputError("--vary", `unknown scenario field "${path}" (vary a field of model, training, parallel or hardware, e.g. parallel.dp)`);
  const values = spec
    .slice(eq + 1)
    .split(",")
    .map((text) => {
      const value = parseYaml(text.trim(), { logLevel: "silent" }) as unknown;
      const check = schema.safeParse(value);
      if (!check.success) throw new InputError("--vary", `${path}=${text.trim()}: ${zodToInputError(check.error).rule}`);
      return value;
    });
  return { path, values };
}

/** A copy of `raw` with the dotted `path` set to `value`. */
function withValue(raw: unknown, path: string, value: unknown): unknown {
  const copy = structuredClone(raw) as Record<string, unknown>;
  const keys = path.split(".");
  let node = copy;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
  return copy;
}

export interface Expanded {
  scenario: Scenario;
  varied: Record<string, unknown>;
  /** The scenario file it was expanded from, when there is one. */
  file?: string;
}

export interface Expansion {
  runs: Expanded[];
  skipped: { layout: string; reason: string }[];
  /** The scenario as written, when it varies nothing and does not fit (the layout's label from its parallel section). */
  failed: { layout: string; reason: string }[];
}

/** `dp1·tp2·pp1` from a scenario's parallel section as written (absent sizes are 1). */
function writtenLayout(raw: unknown): string {
  const p = ((raw as { parallel?: unknown } | null)?.parallel ?? {}) as Record<string, unknown>;
  const size = (key: string) => (typeof p[key] === "number" ? p[key] : 1);
  return `dp${size("dp")}·tp${size("tp")}·pp${size("pp")}`;
}

/**
 * Every combination of the variations applied to `base` — the scenario as written, before
 * defaults, so a varied field's dependants (the interleaved schedule's virtual stages) still take
 * their own defaults — validated whole; combinations that do not fit are skipped with the
 * validator's one-line reason. A field that is wrong on its own (or a missing data file) is the
 * file's fault, not the combination's: that is an InputError naming `file`. With no variations,
 * a scenario that does not fit (too large for the host, tp not dividing the heads) is not a
 * combination to skip but a layout that fails: it is returned in `failed`. `baseDir` anchors a
 * relative data path.
 */
export function expandVariations(base: unknown, baseDir: string, variations: Variation[], maxWorldSize: number, file?: string): Expansion {
  const layouts = variations.reduce((n, v) => n * v.values.length, 1);
  if (layouts > LIMITS.varyLayouts) {
    throw new InputError("--vary", `expands to ${grouped(layouts)} layouts (the product of the value counts); at most ${grouped(LIMITS.varyLayouts)}`);
  }
  let combos: Record<string, unknown>[] = [{}];
  for (const v of variations) combos = combos.flatMap((c) => v.values.map((value) => ({ ...c, [v.path]: value })));
  const out: Expansion = { runs: [], skipped: [], failed: [] };
  for (const varied of combos) {
    let raw: unknown = base;
    for (const [path, value] of Object.entries(varied)) raw = withValue(raw, path, value);
    const layout = Object.entries(varied).map(([k, v]) => `${k}=${String(v)}`).join(" ") || "base";
    try {
      const scenario = validateScenario(raw, baseDir);
      const world = scenario.parallel.dp * scenario.parallel.tp * scenario.parallel.pp;
      if (world > maxWorldSize) {
        out.skipped.push({ layout, reason: `world size ${world} exceeds the limit of ${maxWorldSize} devices (--max-world-size)` });
        continue;
      }
      out.runs.push(file === undefined ? { scenario, varied } : { scenario, varied, file });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      const own = fieldProblem(raw, baseDir);
      if (own && file !== undefined) throw new InputError(file, own.message);
      if (own) throw own;
      if (variations.length === 0) out.failed.push({ layout: writtenLayout(raw), reason: err.message });
      else out.skipped.push({ layout, reason: err.message });
    }
  }
  return out;
}

/**
 * What is wrong with a scenario field by field — a value of the wrong type or range, an unknown
 * key, a preset or data file that does not exist — or null when only cross-field rules fail
 * (custom issues: a layout that does not fit the model, the batch or the memory).
 */
function fieldProblem(raw: unknown, baseDir: string): InputError | null {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return new InputError("scenario", "must be a mapping with the sections model, training, parallel, hardware");
  }
  try {
    const parsed = scenarioSchema.safeParse(resolveModelSource(raw as Record<string, unknown>, baseDir).raw);
    const own = parsed.success ? [] : parsed.error.issues.filter((i) => i.code !== "custom");
    if (own.length > 0) return zodToInputError(new ZodError(own));
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  const data = (raw as { training?: { data?: { source?: unknown; path?: unknown } } }).training?.data;
  if (data?.source === "text" && typeof data.path === "string" && !existsSync(resolve(baseDir, data.path))) {
    return new InputError("training.data.path", `file not found: ${resolve(baseDir, data.path)}`);
  }
  return null;
}
