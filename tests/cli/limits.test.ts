/**
 * The stated limits (src/limits.ts) through the built CLI: each case below used to crash, abort
 * V8 or run on without end; each must now exit 2 before allocating, with one line naming the
 * field or option that makes the work too large.
 */
import { spawnSync } from "node:child_process";
import { truncateSync, writeFileSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parasim, tempDir, writeTemp, type CliResult } from "./helpers.js";

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
    // The MLPs hold most of them (12·3·C·F = 1.6 G against the attention's 12·4·C² = 0.8 G), so
    // the field named is the MLP's size.
    const big = { hiddenSize: 4096, intermediateSize: 11008, numLayers: 12, numHeads: 32, numKvHeads: 32 };
    expect(expectRefused(runWith({ model: big, training: { globalBatch: 1, microBatches: 1 } }), "model.intermediateSize")).toMatch(/GiB of host memory in real mode/);
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

  it("a run that fits but would take hours: too many steps in either mode, too much arithmetic in real mode", () => {
    for (const extra of [[], ["--shapes"]]) {
      expect(expectRefused(runWith({ training: { steps: 1e9 } }, extra), "training.steps")).toContain("1,000,000,000 steps × 16 layer passes (microBatches·numLayers)");
    }
    // One step of 64 sequences of 2048 tokens through a 100 M-parameter model: about 80 TFLOP.
    const wide = { hiddenSize: 1024, intermediateSize: 2816, numLayers: 8, numHeads: 8, numKvHeads: 8, seqLen: 2048 };
    expect(expectRefused(runWith({ model: wide, training: { globalBatch: 64, microBatches: 64 } }), "training.globalBatch")).toMatch(/ TFLOP of real arithmetic; real mode computes at most 10\.0 TFLOP in a run/);
  });

  it("inputs that are not regular files or are larger than a run can hold, refused without reading them", () => {
    const dir = tempDir();
    const fifo = join(dir, "scenario.yaml");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // A pipe with no writer: reading it would wait for ever, where not even Ctrl-C's handler runs.
    expect(expectRefused(parasim(["run", fifo]), "scenario")).toContain("is not a regular file");
    expect(expectRefused(runWith({ training: { data: { source: "text", path: "/dev/zero" } } }), "training.data.path")).toContain("is not a regular file");
    // A sparse file of 2^31 bytes (no disk space): one byte too many tokens for one typed array.
    const corpus = join(dir, "corpus.txt");
    writeFileSync(corpus, "");
    truncateSync(corpus, 2 ** 31);
    expect(expectRefused(runWith({ training: { data: { source: "text", path: corpus } } }), "training.data.path")).toContain(
      "holds 2,147,483,648 bytes; its tokens (one per byte) are held in one typed array of at most 2,147,483,647",
    );
  });

  it("an evaluation of more tokens than real mode computes in one command, refused by the file's size", () => {
    const dir = tempDir();
    const ckpt = join(dir, "ckpt");
    expect(parasim(["run", writeTemp("s.json", { model, training: { ...training, steps: 1 } }, dir), "--quiet", "--save", ckpt]).status).toBe(0);
    const text = join(dir, "huge.txt");
    writeFileSync(text, "");
    truncateSync(text, 2 ** 30);
    expect(expectRefused(parasim(["eval", ckpt, "--text", text]), "--text")).toMatch(/holds 1,073,741,824 tokens; their forward passes are [\d.]+ [TP]FLOP, more than the 10\.0 TFLOP parasim computes in one command/);
  });

  it("a --vary sweep of 160,000 layouts", () => {
    const file = writeTemp("s.json", { model, training });
    const values = Array.from({ length: 400 }, (_, i) => i + 1).join(",");
    const r = parasim(["compare", file, "--vary", `training.seed=${values}`, "--vary", `training.steps=${values}`]);
    expect(expectRefused(r, "--vary")).toContain("expands to 160,000 layouts (the product of the value counts); at most 10,000");
  });
});
