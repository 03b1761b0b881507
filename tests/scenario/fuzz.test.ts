/**
 * Property-based test of scenario validation: fast-check generates malformed and extreme
 * scenarios (wrong types, out-of-range and huge numbers, impossible combinations, oversize
 * models, unknown keys) touching every section of the schema, and each one must either validate
 * or be refused with an InputError whose message is one line `FIELD: RULE`, FIELD a path of the
 * schema. Never another error, and never more work than the stated limits allow: validation's
 * work is counted, not timed (schedule actions generated and model tensors laid out, the two
 * things it does in proportion to the input), so the bound does not depend on the machine's load.
 * A wall-clock bound far above any legitimate validation still catches a hang.
 *
 * The seed is fixed (SEED below) so every run tries the same inputs; fast-check prints the seed
 * and the shrunk counterexample when a property fails. Change SEED to explore other inputs.
 */
import { constants as bufferConstants } from "node:buffer";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import type { z } from "zod";
import { InputError } from "../../src/errors.js";
import { LIMITS } from "../../src/limits.js";
import { simulate } from "../../src/run/simulate.js";
import { validateScenario } from "../../src/scenario/load.js";
import { scenarioSchema, type Scenario } from "../../src/scenario/schema.js";
import { GPT_LAYER_TENSORS, LAYER_TENSORS } from "../../src/model/layout.js";
import { parasim } from "../cli/helpers.js";

/** What validation has done since the last reset: the two kinds of work that grow with the input. */
const work = vi.hoisted(() => ({ scheduleActions: 0, layoutTensors: 0 }));

vi.mock("../../src/schedule/generators.js", async (importOriginal) => {
  const mod = await importOriginal<typeof import("../../src/schedule/generators.js")>();
  return {
    ...mod,
    generateSchedule: (...args: Parameters<typeof mod.generateSchedule>) => {
      const schedule = mod.generateSchedule(...args);
      work.scheduleActions += schedule.reduce((n, rank) => n + rank.length, 0);
      return schedule;
    },
  };
});

vi.mock("../../src/model/layout.js", async (importOriginal) => {
  const mod = await importOriginal<typeof import("../../src/model/layout.js")>();
  return {
    ...mod,
    buildLayout: (...args: Parameters<typeof mod.buildLayout>) => {
      const layout = mod.buildLayout(...args);
      work.layoutTensors += layout.tensors.length;
      return layout;
    },
  };
});

const SEED = 1515;
const RUNS = 1200;

/** Every dotted path of a zod schema, through defaults, optionals, pipes, unions and arrays. */
function schemaPaths(schema: z.ZodType, prefix: string, out: Set<string>): Set<string> {
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  if (prefix) out.add(prefix);
  const inner = (def.innerType ?? def.in ?? def.element) as z.ZodType | undefined;
  if (inner) schemaPaths(inner, prefix, out);
  // A pipe (z.preprocess, .transform) validates with its output side too.
  if (def.out) schemaPaths(def.out as z.ZodType, prefix, out);
  for (const option of (def.options as z.ZodType[] | undefined) ?? []) schemaPaths(option, prefix, out);
  const shape = def.shape as Record<string, z.ZodType> | undefined;
  for (const [key, child] of Object.entries(shape ?? {})) schemaPaths(child, prefix ? `${prefix}.${key}` : key, out);
  return out;
}

const FIELDS = schemaPaths(scenarioSchema, "", new Set<string>());
/** Fields named by checks outside the schema: the whole input, a preset or config file, the world size. */
const SPECIAL_FIELDS = ["scenario", "model.preset", "model.hfConfig"];
const KNOWN = new Set([...FIELDS, ...SPECIAL_FIELDS]);
const LEAVES = [...FIELDS].filter((f) => f.includes(".")).concat(["name", "mode", "description"]);

const BASE = {
  name: "fuzz",
  model: { vocabSize: 256, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 16 },
  training: { steps: 2, globalBatch: 8, microBatches: 2, seed: 1, optimizer: { lr: 1e-3 }, data: { source: "synthetic" } },
  parallel: { dp: 1, tp: 1, pp: 1 },
  hardware: { profile: "a100-80gb" },
};

const HUGE = [2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e9, 1e15, 1e300, Number.MAX_VALUE, Number.MIN_VALUE, 65536, 100_000];
const SPECIAL = [undefined, null, true, false, "", "x", "1e9", [], {}, [1, 2], Number.NaN, Infinity, -Infinity, -0, -1, 0.5];
const WORDS = ["real", "shapes", "gpipe", "1f1b", "interleaved", "zb-h1", "synthetic", "text", "h100-80gb", "llama-3-70b", "llama-3.1-405b"];

/** A value of any type, weighted towards the ones validation must tell apart. */
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...SPECIAL, ...HUGE, ...WORDS), weight: 4 },
  { arbitrary: fc.integer({ min: -4, max: 300 }), weight: 4 },
  { arbitrary: fc.constantFrom(1, 2, 4, 8, 16, 64, 128, 1024, 4096), weight: 3 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 },
  { arbitrary: fc.anything({ maxDepth: 2, maxKeys: 3 }), weight: 1 },
);

/** A path to overwrite: a schema field, a whole section, or a key the schema does not have. */
const targetPath = fc.oneof(
  { arbitrary: fc.constantFrom(...LEAVES), weight: 8 },
  { arbitrary: fc.constantFrom("model", "training", "parallel", "hardware", "training.optimizer", "training.data", "model.preset", "model.hfConfig"), weight: 1 },
  { arbitrary: fc.constantFrom("bogus", "model.bogus", "training.optimizer.momentum", "parallel.cp", "hardware.intraNode.x"), weight: 1 },
);

function withValue(raw: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = raw;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null || Array.isArray(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  if (value === undefined) delete node[keys[keys.length - 1]!];
  else node[keys[keys.length - 1]!] = value;
}

/** The base scenario with one to four fields overwritten by odd values. */
const mutated = fc.array(fc.tuple(targetPath, weirdValue), { minLength: 1, maxLength: 4 }).map((changes) => {
  const raw = structuredClone(BASE) as Record<string, unknown>;
  for (const [path, value] of changes) withValue(raw, path, value);
  return raw as unknown;
});

const pow2 = (max: number) => fc.integer({ min: 0, max }).map((e) => 2 ** e);

/** Well-formed scenarios of every size, up to far past what any run can hold: the limits decide. */
const oversize = fc
  .record({
    heads: pow2(7),
    kvDivisor: pow2(3),
    headDim: pow2(9).map((d) => Math.max(2, d)),
    ffn: fc.integer({ min: 1, max: 2 ** 14 }).map((k) => 64 * k),
    layers: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 128 }), weight: 9 }, { arbitrary: fc.constantFrom(1024, 1025, 10_000), weight: 1 }),
    seqLen: pow2(20),
    rowsPerMb: pow2(24),
    microBatches: pow2(17),
    dp: pow2(10),
    tp: pow2(4),
    pp: pow2(6),
    vocab: fc.constantFrom(256, 32_000, 128_256, 2 ** 24),
    mode: fc.constantFrom("real", "shapes"),
    schedule: fc.constantFrom("gpipe", "1f1b", "interleaved", "zb-h1"),
  })
  .map((g) => ({
    name: "oversize",
    mode: g.mode,
    model: {
      vocabSize: g.vocab,
      hiddenSize: g.heads * g.headDim,
      intermediateSize: g.ffn,
      numLayers: g.layers,
      numHeads: g.heads,
      numKvHeads: Math.max(1, g.heads / g.kvDivisor),
      seqLen: g.seqLen,
    },
    training: { steps: 1, globalBatch: g.rowsPerMb * g.microBatches * g.dp, microBatches: g.microBatches, optimizer: { lr: 1e-3 } },
    parallel: { dp: g.dp, tp: g.tp, pp: g.pp, schedule: g.schedule },
  }));

/** A published model in either mode: real mode must refuse what this host cannot hold. */
const preset = fc.record({
  model: fc.constantFrom("llama-2-7b", "llama-3-70b", "llama-3.1-405b").map((p) => ({ preset: p })),
  mode: fc.constantFrom("real", "shapes"),
  training: fc.constant({ steps: 1, globalBatch: 8, microBatches: 1, optimizer: { lr: 1e-3 } }),
});

const scenarios = fc.oneof({ arbitrary: mutated, weight: 6 }, { arbitrary: oversize, weight: 3 }, { arbitrary: preset, weight: 1 });

/**
 * The work one validation may do, from the stated limits:
 * - schedule actions: real mode generates one schedule to find each stage's peak stash. A cell
 *   (stage chunk, micro-batch) holds at most F, B, W and the four transfers SEND/RECV_F/B: 7
 *   actions, and a schedule has at most LIMITS.scheduleCells cells.
 * - model tensors: validation lays the model out whole at most four times (its FLOPs for the
 *   run-length limit, its parts for naming the field of a host-memory refusal, its stages for the
 *   host-memory estimate, which together hold each layer once, and its tp shard), each with at
 *   most the gpt layer's tensors per layer plus six outside the layers (embedding, positions,
 *   final norm and bias, head, and one to spare).
 */
const MAX_SCHEDULE_ACTIONS = 7 * LIMITS.scheduleCells;
const MAX_LAYOUT_TENSORS = 4 * (Math.max(LAYER_TENSORS.length, GPT_LAYER_TENSORS.length) * LIMITS.numLayers + 6);
/** Not a speed check: a hang detector. The slowest validation here takes about 0.2 s alone, so 30 s is reached only by a loop that does not end. */
const HANG_MS = 30_000;
/** The most work any generated scenario's validation did, to show the bounds are approached, not vacuous. */
const most = { scheduleActions: 0, layoutTensors: 0 };
const baseDir = mkdtempSync(join(tmpdir(), "parasim-fuzz-"));

/** Asserts that `err` is a one-line InputError naming a field of the schema (or one the input added). */
function expectNamedError(err: unknown): InputError {
  expect(err, String((err as Error)?.stack ?? err)).toBeInstanceOf(InputError);
  const e = err as InputError;
  expect(e.message).not.toContain("\n");
  expect(e.message).toBe(`${e.field}: ${e.rule}`);
  expect(e.rule.length).toBeGreaterThan(0);
  const fields = e.field.split(", ").map((f) => f.replace(/\.\d+(?=\.|$)/g, ""));
  for (const field of fields) {
    // An unknown key is named as written: the key may be outside the schema, its section may not.
    const parent = field.split(".").slice(0, -1).join(".");
    if (e.rule === "unknown key") expect(parent === "" || KNOWN.has(parent), `${e.message}: no such section`).toBe(true);
    else expect(KNOWN.has(field) || field.startsWith("model.hfConfig."), `${e.message}: no such field`).toBe(true);
  }
  return e;
}

/** Validates `raw`; returns the scenario or the error, after checking the error's form and the work done. */
function validateCounted(raw: unknown): Scenario | InputError {
  work.scheduleActions = 0;
  work.layoutTensors = 0;
  const start = performance.now();
  let outcome: Scenario | InputError;
  try {
    outcome = validateScenario(structuredClone(raw), baseDir);
  } catch (err) {
    outcome = expectNamedError(err);
  }
  const what = `validating ${JSON.stringify(raw)}`;
  expect(work.scheduleActions, what).toBeLessThanOrEqual(MAX_SCHEDULE_ACTIONS);
  expect(work.layoutTensors, what).toBeLessThanOrEqual(MAX_LAYOUT_TENSORS);
  expect(performance.now() - start, what).toBeLessThan(HANG_MS);
  most.scheduleActions = Math.max(most.scheduleActions, work.scheduleActions);
  most.layoutTensors = Math.max(most.layoutTensors, work.layoutTensors);
  return outcome;
}

describe("scenario validation under generated input", () => {
  const valid: Scenario[] = [];
  let refused = 0;

  it(`refuses with one named line, or accepts, each of ${RUNS} generated scenarios`, () => {
    fc.assert(
      fc.property(scenarios, (raw) => {
        const outcome = validateCounted(raw);
        if (outcome instanceof InputError) refused++;
        else valid.push(outcome);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // Both outcomes must occur, or the generator has drifted to one side and tests half the rule.
    expect(refused).toBeGreaterThan(RUNS / 4);
    expect(valid.length).toBeGreaterThan(20);
    // The counters see the work: some scenario laid out a model and generated a schedule of thousands of actions.
    expect(most.scheduleActions).toBeGreaterThan(1000);
    expect(most.layoutTensors).toBeGreaterThan(1000);
    // Validation counts buffers but must not allocate them: the process stays small.
    expect(process.memoryUsage().rss).toBeLessThan(2 * 2 ** 30);
  }, 300_000); // a bound on a hang of the whole property, far above its seconds of work

  it("runs a sample of the accepted scenarios for one step in shapes mode", async () => {
    const small = valid.filter((s) => s.parallel.dp * s.parallel.tp * s.parallel.pp <= 8).slice(0, 5);
    expect(small.length).toBe(5);
    for (const s of small) {
      const scenario: Scenario = { ...s, mode: "shapes", training: { ...s.training, steps: 1, optimizer: { ...s.training.optimizer, warmupSteps: 0 } } };
      const result = await simulate(scenario);
      expect(result.worldSize).toBe(s.parallel.dp * s.parallel.tp * s.parallel.pp);
      expect(result.simulated.stepSeconds).toBeGreaterThan(0);
      expect(Number.isFinite(result.simulated.stepSeconds)).toBe(true);
    }
  });

  it("the built CLI refuses a sample of the rejected ones with exit 2 and the same one line", () => {
    // JSON cannot hold NaN, Infinity or undefined: the CLI sees the input after a JSON round trip.
    const rejected = fc
      .sample(scenarios, { seed: SEED + 1, numRuns: 200 })
      .map((raw) => JSON.parse(JSON.stringify(raw)) as unknown)
      .map((raw) => ({ raw, outcome: validateCounted(raw) }))
      .filter((c): c is { raw: unknown; outcome: InputError } => c.outcome instanceof InputError)
      .slice(0, 20);
    expect(rejected.length).toBe(20);
    rejected.forEach(({ raw, outcome }, i) => {
      // In the folder validation resolved relative paths against, so messages naming them match.
      const file = join(baseDir, `s${i}.json`);
      writeFileSync(file, JSON.stringify(raw));
      const r = parasim(["run", file], baseDir);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toBe(`parasim: ${outcome.message}\n`);
      expect(r.stdout).toBe("");
    });
  });

  it("states a typed-array limit this Node accepts", () => {
    // Buffer's maximum length is V8's maximum typed-array length on this build.
    expect(LIMITS.typedArrayElements).toBeLessThanOrEqual(bufferConstants.MAX_LENGTH);
  });
});
