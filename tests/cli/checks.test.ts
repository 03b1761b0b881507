import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compareResultSchema } from "../../src/run/results-schema.js";
import { editSafetensorsHeader as editHeader, parasim, tempDir, writeTemp, type CliResult } from "./helpers.js";

const tiny = {
  name: "checks",
  model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
  training: { steps: 3, globalBatch: 4, optimizer: { lr: 1e-2 } },
};

/** Bad input: exit 2 and exactly one stderr line holding every one of `parts`, no stack trace. */
function expectBadInput(r: CliResult, ...parts: string[]): void {
  expect(r.status).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^parasim: /);
  for (const part of parts) expect(lines[0]).toContain(part);
}

describe("every id and number is checked (built CLI)", () => {
  let dir: string;
  let ckpt: string;
  beforeAll(() => {
    dir = tempDir();
    ckpt = join(dir, "ckpt");
    expect(parasim(["run", writeTemp("s.json", tiny, dir), "--save", ckpt, "--quiet"]).status).toBe(0);
  }, 60_000);

  it("refuses token ids that are not integers in [0, vocab), naming the file and the index", () => {
    // 4294967361 = 2^32 + 65 and 2^53 used to wrap to 65 and 0 in an Int32Array.
    for (const bad of [4294967361, 2 ** 53, -1, 1.5]) {
      const file = writeTemp("t.json", `[[1, 2, 3], [4, 5, ${bad}]]`, dir);
      expectBadInput(parasim(["eval", ckpt, "--tokens", file]), "--tokens", file, "sequence 1, token 2");
    }
    // An id that fits the type but not the checkpoint's vocabulary of 256.
    const file = writeTemp("t.json", [[1, 256, 3]], dir);
    expectBadInput(parasim(["eval", ckpt, "--tokens", file]), file, "sequence 0, token 1: id 256 is outside [0, vocab_size = 256)");
  });

  it("refuses safetensors data_offsets that overlap, leave a gap or do not reach the end", () => {
    const copy = join(tempDir(), "ckpt");
    parasim(["run", writeTemp("s.json", tiny, dir), "--save", copy, "--quiet"]);
    const weights = join(copy, "model.safetensors");
    const original = readFileSync(weights);
    // Two norms of the same shape: the second pointed at the first one's bytes.
    editHeader(weights, (h) => (h["model.layers.1.input_layernorm.weight"].data_offsets = [...h["model.layers.0.input_layernorm.weight"].data_offsets]));
    expectBadInput(parasim(["eval", copy, "--tokens", writeTemp("t.json", [[1, 2, 3]], dir)]), "checkpoint", "overlap");
    writeFileSync(weights, original);
    editHeader(weights, (h) => delete (h as Record<string, unknown>)["model.norm.weight"]);
    expectBadInput(parasim(["eval", copy, "--tokens", writeTemp("t.json", [[1, 2, 3]], dir)]), "checkpoint", "gap");
    writeFileSync(weights, Buffer.concat([original, Buffer.alloc(4)]));
    expectBadInput(parasim(["eval", copy, "--tokens", writeTemp("t.json", [[1, 2, 3]], dir)]), "checkpoint", "the data region holds");
  });

  it("refuses a checkpoint holding a NaN or infinite weight, naming the tensor", () => {
    const copy = join(tempDir(), "ckpt");
    parasim(["run", writeTemp("s.json", tiny, dir), "--save", copy, "--quiet"]);
    const weights = join(copy, "model.safetensors");
    const file = readFileSync(weights);
    const length = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.subarray(8, 8 + length).toString("utf8"));
    const [begin] = header["model.norm.weight"].data_offsets;
    for (const value of [NaN, Infinity]) {
      file.writeFloatLE(value, 8 + length + begin + 4);
      writeFileSync(weights, file);
      expectBadInput(parasim(["eval", copy, "--tokens", writeTemp("t.json", [[1, 2, 3]], dir)]), "checkpoint", "model.norm.weight", `holds ${value} at index 1`);
      expectBadInput(parasim(["run", writeTemp("s.json", tiny, dir), "--init", copy, "--quiet"]), "model.norm.weight");
    }
  });

  /** A copy of the checkpoint whose config.json has `patch` merged in, evaluated on one short sequence. */
  function evalWith(patch: Record<string, unknown>): CliResult {
    const copy = join(tempDir(), "ckpt");
    cpSync(ckpt, copy, { recursive: true });
    const config = join(copy, "config.json");
    writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), ...patch }));
    return parasim(["eval", copy, "--tokens", writeTemp("t.json", [[1, 2, 3]], dir)]);
  }

  it("eval names the config.json key in rules between fields, and in the layer limit", () => {
    expectBadInput(evalWith({ num_attention_heads: 3 }), "config.json.hidden_size: must be divisible by config.json.num_attention_heads (16 % 3 ≠ 0)");
    expectBadInput(evalWith({ num_key_value_heads: 3 }), "config.json.num_attention_heads: must be divisible by config.json.num_key_value_heads (4 % 3 ≠ 0)");
    expectBadInput(evalWith({ num_hidden_layers: 1e6 }), "config.json.num_hidden_layers: must be at most 1024, parasim's limit on layers, got 1000000");
  });

  it("eval refuses a config whose model the weights file does not hold before sizing anything from it", () => {
    // 10^15 rows of vocabulary would be a 64 PB allocation; the file holds the 256 rows it was saved with.
    expectBadInput(evalWith({ vocab_size: 1e15 }), "checkpoint: model.embed_tokens.weight has shape [256,16] but the model of its config.json needs [1000000000000000,16]");
  });

  it("stops a run whose loss becomes NaN at that step, with exit 1", () => {
    const diverging = { ...tiny, training: { ...tiny.training, optimizer: { lr: 1e308 } } };
    const r = parasim(["run", writeTemp("d.json", diverging, dir), "--quiet"]);
    expect(r.status).toBe(1);
    // Step 0 runs on the initial weights (a finite loss); the first update then overflows them.
    expect(r.stderr.trim()).toBe("parasim: step 1: the loss is NaN — training diverged (lr 1e+308)");
  });

  it("refuses hardware figures that would make simulated time infinite", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ peakFlops: 1e-300 }, "hardware.peakFlops"],
      [{ efficiency: 1e-300 }, "hardware.efficiency"],
      [{ intraNode: { bandwidth: 0 } }, "hardware.intraNode.bandwidth"],
      [{ interNode: { bandwidth: 1e-320 } }, "hardware.interNode.bandwidth"],
      [{ interNode: { latency: 1e300 } }, "hardware.interNode.latency"],
    ];
    for (const [hardware, field] of cases) expectBadInput(parasim(["run", writeTemp("h.json", { ...tiny, hardware }, dir)]), field);
    // Free links (the unit profile's Infinity bandwidth and 0 latency) stay valid.
    expect(parasim(["run", writeTemp("u.json", { ...tiny, hardware: { profile: "unit" } }, dir), "--quiet"]).status).toBe(0);
  });

  it("refuses unknown precision and recompute names and loss-scale settings out of range, one line each", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ precision: "fp8" }, "training.precision: must be one of fp32, bf16, fp16"],
      [{ recompute: "most" }, "training.recompute: must be one of none, selective, full"],
      [{ precision: "fp16", lossScale: { initial: 3 } }, "training.lossScale.initial: must be a power of two from 1 to 2^64"],
      [{ precision: "fp16", lossScale: { initial: 2 ** 65 } }, "training.lossScale.initial: must be a power of two from 1 to 2^64"],
      [{ precision: "fp16", lossScale: { growthFactor: 1 } }, "training.lossScale.growthFactor: must be a power of two from 2 to 2^16"],
      [{ precision: "fp16", lossScale: { backoffFactor: 1 } }, "training.lossScale.backoffFactor: must be a power of two from 2^-16 to 0.5"],
      [{ precision: "fp16", lossScale: { growthInterval: 0 } }, "training.lossScale.growthInterval: must be a positive integer"],
      [{ precision: "bf16", lossScale: {} }, "training.lossScale: applies to training.precision: fp16 only"],
      [{ precision: "bf16", gradReduceFp32: "yes" }, "training.gradReduceFp32: must be true or false"],
    ];
    for (const [training, message] of cases) {
      expectBadInput(parasim(["run", writeTemp("p.json", { ...tiny, training: { ...tiny.training, ...training } }, dir)]), message);
    }
    const sparse = { ...tiny, model: { ...tiny.model, attentionPattern: { kind: "strided", block: 5, stride: 2 } } };
    expectBadInput(parasim(["run", writeTemp("s.json", sparse, dir)]), "model.attentionPattern.block: must divide model.seqLen = 12, got 5");
  });
});

describe("compare survives a failing layout (built CLI)", () => {
  it("reports a layout that fails as failed, still writes the others, and exits 1", () => {
    const dir = tempDir();
    const good = writeTemp("good.json", tiny, dir);
    const bad = writeTemp("diverges.json", { ...tiny, name: "diverges", training: { ...tiny.training, optimizer: { lr: 1e308 } } }, dir);
    const out = join(dir, "c.json");
    const r = parasim(["compare", good, bad, "--json", out]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\s+-\\s+dp1·tp1·pp1\\s+-\\s+FAILED`));
    expect(r.stdout).toContain("failed:");
    expect(r.stderr).toContain("1 of 2 layout(s) failed");
    const json = compareResultSchema.parse(JSON.parse(readFileSync(out, "utf8")));
    expect(json.runs.map((run) => run.scenario.name)).toEqual(["checks"]);
    expect(json.failed).toEqual([{ layout: "dp1·tp1·pp1", file: bad, reason: "step 1: the loss is NaN — training diverged (lr 1e+308)" }]);
  });

  it("reports a layout too large for the host as failed beside the others, and refuses it alone naming its file", () => {
    const dir = tempDir();
    const good = writeTemp("good.json", tiny, dir);
    const huge = writeTemp("huge.json", { ...tiny, name: "huge", model: { ...tiny.model, hiddenSize: 65536 } }, dir);
    const out = join(dir, "c.json");
    const r = parasim(["compare", good, huge, "--json", out]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`parasim: 1 of 2 layout(s) failed: dp1·tp1·pp1 (${huge}) (see the table)`);
    const json = compareResultSchema.parse(JSON.parse(readFileSync(out, "utf8")));
    expect(json.runs.map((run) => run.scenario.name)).toEqual(["checks"]);
    expect(json.failed).toHaveLength(1);
    expect(json.failed[0]).toMatchObject({ layout: "dp1·tp1·pp1", file: huge });
    expect(json.failed[0].reason).toMatch(/^model\.hiddenSize: needs about [\d.]+ GiB of host memory in real mode/);
    expectBadInput(parasim(["compare", huge]), `${huge}: model.hiddenSize: needs about`);
  });

  it("refuses an unreadable or invalid scenario file among several, naming it", () => {
    const dir = tempDir();
    const good = writeTemp("good.json", tiny, dir);
    const invalid = writeTemp("invalid.json", { ...tiny, model: { ...tiny.model, hiddenSize: -1 } }, dir);
    expectBadInput(parasim(["compare", good, invalid]), invalid, "model.hiddenSize");
    expectBadInput(parasim(["compare", good, invalid, "--vary", "parallel.dp=1,2"]), invalid, "model.hiddenSize");
    const missing = join(dir, "missing.json");
    expectBadInput(parasim(["compare", good, missing]), missing);
    const noData = writeTemp("nodata.json", { ...tiny, training: { ...tiny.training, data: { source: "text", path: "absent.txt" } } }, dir);
    expectBadInput(parasim(["compare", good, noData]), noData, "training.data.path");
  });
});

describe("messages name what the user typed (built CLI)", () => {
  it("schedule errors name the command's options", () => {
    expectBadInput(parasim(["schedule", "--kind", "zigzag", "--pp", "2", "--microbatches", "4"]), "--kind: must be one of");
    expectBadInput(parasim(["schedule", "--kind", "interleaved", "--pp", "4", "--microbatches", "6"]), "--microbatches: must be a multiple of --pp (4)");
    expectBadInput(parasim(["schedule", "--kind", "interleaved", "--pp", "2", "--microbatches", "4", "--virtual", "1"]), "--virtual: must be an integer ≥ 2");
    const r = parasim(["schedule", "--kind", "gpipe", "--pp", "2", "--microbatches", "4", "--virtual", "3"]);
    expectBadInput(r, "--virtual: only the interleaved schedule");
    expect(r.stderr).not.toMatch(/parallel\.|training\./);
  });

  it("prints a scenario name with control characters escaped", () => {
    const dir = tempDir();
    const named = writeTemp("n.json", { ...tiny, name: "evil\u001b[2J\u0007name\u007f" }, dir);
    for (const command of ["run", "compare"]) {
      const r = parasim([command, named]);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("evil\\x1b[2J\\x07name\\x7f");
      expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    }
  });

  it("a YAML file with an unknown tag gives the one-line error only", () => {
    const file = writeTemp("tag.yaml", "name: !!python/object:os.system x\nmodel: {}\n");
    expectBadInput(parasim(["run", file]), file, "is not valid YAML: Unresolved tag");
  });
});
