/**
 * The stated limits (src/limits.ts) through the built CLI: each case below used to crash, abort
 * V8 or run on without end; each must now exit 2 before allocating, with one line naming the
 * field or option that makes the work too large.
 */
import { totalmem } from "node:os";
import { describe, expect, it } from "vitest";
import { parasim, writeTemp, type CliResult } from "./helpers.js";

const model = { vocabSize: 256, hiddenSize: 64, intermediateSize: 176, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 64 };
const training = { steps: 1, globalBatch: 8, microBatches: 4, optimizer: { lr: 3e-3 } };

function runWith(changes: { model?: object; training?: object }, extra: string[] = []): CliResult {
  const file = writeTemp("s.json", { name: "limits", model: { ...model, ...changes.model }, training: { ...training, ...changes.training } });
  return parasim(["run", file, ...extra]);
}

/** Exit 2, nothing on stdout, and one line on stderr that starts by naming `field`. */
function expectRefused(r: CliResult, field: string): string {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.endsWith("\n")).toBe(true);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr.startsWith(`parasim: ${field}: `), r.stderr).toBe(true);
  return r.stderr;
}

describe("work no run can hold is refused up front", () => {
  it("a hidden size whose parameters do not fit the host (real mode)", () => {
    // 65536² weights per projection: about 770 GiB of state, more than any test host.
    expect(expectRefused(runWith({ model: { hiddenSize: 65536 } }), "model.hiddenSize")).toMatch(/needs about [\d.]+ GiB of host memory in real mode/);
  });

  it("more layers than the stated limit, in either mode", () => {
    for (const extra of [[], ["--shapes"]]) {
      expect(expectRefused(runWith({ model: { numLayers: 10000 } }, extra), "model.numLayers")).toContain("must be at most 1024");
    }
  });

  it.skipIf(totalmem() >= 40 * 2 ** 30)("a 40 GB model on a smaller host", () => {
    // 12 layers of C = 4096, F = 11008: 2.4 G parameters, 16 bytes each with gradients and AdamW.
    const big = { hiddenSize: 4096, intermediateSize: 11008, numLayers: 12, numHeads: 32, numKvHeads: 32 };
    expect(expectRefused(runWith({ model: big, training: { globalBatch: 1, microBatches: 1 } }), "model.hiddenSize")).toMatch(/GiB of host memory in real mode/);
  });

  it("a step's tokens past one typed array, in either mode", () => {
    for (const extra of [[], ["--shapes"]]) {
      const err = expectRefused(runWith({ training: { globalBatch: 1e9 } }, extra), "training.globalBatch");
      expect(err).toContain("globalBatch·seqLen = 64,000,000,000 tokens per step");
      expect(err).toContain("at most 2,147,483,647 elements");
    }
  });

  it("a sequence length whose attention cannot be held (real mode)", () => {
    expectRefused(runWith({ model: { seqLen: 100_000 } }), "model.seqLen");
  });

  it("a schedule grid larger than parasim schedule draws", () => {
    const err = expectRefused(parasim(["schedule", "--kind", "1f1b", "--pp", "100000", "--microbatches", "100000"]), "--microbatches");
    expect(err).toContain("= 10,000,000,000 schedule cells; parasim schedule draws at most 10,000");
    expectRefused(parasim(["schedule", "--kind", "interleaved", "--pp", "4", "--microbatches", "8", "--virtual", "1000"]), "--virtual");
  });

  it("a --vary sweep of 160,000 layouts", () => {
    const file = writeTemp("s.json", { model, training });
    const values = Array.from({ length: 400 }, (_, i) => i + 1).join(",");
    const r = parasim(["compare", file, "--vary", `training.seed=${values}`, "--vary", `training.steps=${values}`]);
    expect(expectRefused(r, "--vary")).toContain("expands to 160,000 layouts (the product of the value counts); at most 10,000");
  });
});
