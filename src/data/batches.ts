/**
 * Batches are drawn from the seed and the step alone, never from a rank, so every parallel layout
 * sees the same global batch and a data-parallel rank just takes its rows of it.
 */
import { readInputFile } from "../util/inputs.js";
import { InputError } from "../errors.js";
import type { Scenario } from "../scenario/schema.js";
import { Random } from "../util/random.js";
import { syntheticText } from "./synthetic.js";
import { encode } from "./tokenizer.js";

/** Enough synthetic text that random windows rarely repeat in a short run. */
export const SYNTHETIC_BYTES = 1 << 18;

/** B rows of T input tokens and the T next-token targets of each row, row-major. */
export interface Batch {
  rows: number;
  seqLen: number;
  inputs: Int32Array;
  targets: Int32Array;
}

/** The token stream a scenario trains on. */
export function loadCorpus(scenario: Scenario): Int32Array {
  const data = scenario.training.data;
  // A text file's bytes as they are: the tokenizer works on bytes, so nothing is decoded.
  const tokens = data.source === "synthetic" ? encode(syntheticText(scenario.training.seed, SYNTHETIC_BYTES)) : encode(readInputFile("training.data.path", data.path));
  if (tokens.length < scenario.model.seqLen + 1) {
    throw new InputError("training.data.path", `needs at least seqLen + 1 = ${scenario.model.seqLen + 1} bytes of text, got ${tokens.length}`);
  }
  return tokens;
}


/** The global batch of one step: `globalBatch` windows at offsets drawn from (seed, step). */
export function drawBatch(corpus: Int32Array, seed: number, step: number, rows: number, seqLen: number): Batch {
  const rng = new Random(seed, `batch:${step}`);
  const inputs = new Int32Array(rows * seqLen);
  const targets = new Int32Array(rows * seqLen);
  const span = corpus.length - seqLen; // last valid window start + 1
  for (let r = 0; r < rows; r++) {
    const start = rng.int(span);
    inputs.set(corpus.subarray(start, start + seqLen), r * seqLen);
    targets.set(corpus.subarray(start + 1, start + 1 + seqLen), r * seqLen);
  }
  return { rows, seqLen, inputs, targets };
}

/** Rows [first, first + count) of a batch, sharing its memory. */
export function sliceBatch(batch: Batch, first: number, count: number): Batch {
  const a = first * batch.seqLen;
  const b = (first + count) * batch.seqLen;
  return { rows: count, seqLen: batch.seqLen, inputs: batch.inputs.subarray(a, b), targets: batch.targets.subarray(a, b) };
}
