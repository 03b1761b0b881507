/** `parasim eval`: the mean next-token loss of a checkpoint on given token sequences. */
import { readFileSync } from "node:fs";
import { readCheckpoint, type Checkpoint } from "../checkpoint/hf.js";
import { encode } from "../data/tokenizer.js";
import { InputError } from "../errors.js";
import { buildLayout } from "../model/layout.js";
import { LlamaModel } from "../model/model.js";
import { loadTensors } from "../train/trainer.js";

export interface EvalResult {
  /** Mean next-token loss (nats) over every predicted token. */
  loss: number;
  /** How many tokens were predicted: rows × (sequence length − 1). */
  tokens: number;
}

/** Sequences evaluated together; bounds the activation memory of one forward. */
const ROWS_PER_FORWARD = 8;

/** `checkpoint`: a folder, or a checkpoint already read. */
export function evaluateCheckpoint(checkpoint: string | Checkpoint, sequences: Int32Array[]): EvalResult {
  const { config, tensors } = typeof checkpoint === "string" ? readCheckpoint(checkpoint) : checkpoint;
  checkSequences(sequences, config.vocabSize, config.seqLen);
  const layout = buildLayout(config);
  const params = new Float32Array(layout.totalSize);
  loadTensors(layout, params, tensors);
  const T = sequences[0].length - 1;
  const models = new Map<number, LlamaModel>();
  let lossSum = 0;
  for (let first = 0; first < sequences.length; first += ROWS_PER_FORWARD) {
    const rows = sequences.slice(first, first + ROWS_PER_FORWARD);
    let model = models.get(rows.length);
    if (!model) {
      // Gradients are never computed here; the buffer only satisfies the model's constructor.
      model = new LlamaModel(config, layout, params, new Float32Array(layout.totalSize), rows.length, T);
      models.set(rows.length, model);
    }
    const inputs = new Int32Array(rows.length * T);
    const targets = new Int32Array(rows.length * T);
    rows.forEach((seq, r) => {
      inputs.set(seq.subarray(0, T), r * T);
      targets.set(seq.subarray(1), r * T);
    });
    lossSum += model.forward(inputs, targets) * rows.length * T;
  }
  const tokens = sequences.length * T;
  return { loss: lossSum / tokens, tokens };
}

function checkSequences(sequences: Int32Array[], vocabSize: number, maxLen: number): void {
  if (sequences.length === 0) throw new InputError("--tokens", "must hold at least one sequence");
  const length = sequences[0].length;
  if (length < 2) throw new InputError("--tokens", "sequences need at least 2 tokens (an input and its next-token target)");
  if (length - 1 > maxLen) throw new InputError("--tokens", `sequences may have at most max_position_embeddings + 1 = ${maxLen + 1} tokens, got ${length}`);
  sequences.forEach((seq, i) => {
    if (seq.length !== length) throw new InputError("--tokens", `sequence ${i} has ${seq.length} tokens; all must have ${length}`);
    for (const tok of seq) {
      if (!(tok >= 0 && tok < vocabSize)) throw new InputError("--tokens", `sequence ${i} has token ${tok} outside [0, ${vocabSize})`);
    }
  });
}

/**
 * Reads the sequences of `--tokens FILE` (JSON list of lists) or `--text FILE` (cut into windows
 * of `contextLength` + 1 tokens: each window predicts contextLength tokens).
 */
export function loadEvalSequences(source: { tokens?: string; text?: string }, contextLength: number): Int32Array[] {
  if (source.tokens !== undefined) {
    const raw = parseJsonFile(source.tokens, "--tokens");
    if (!Array.isArray(raw) || !raw.every((s) => Array.isArray(s) && s.every((t) => Number.isInteger(t)))) {
      throw new InputError("--tokens", "must be a JSON list of lists of integer token ids");
    }
    return raw.map((s: number[]) => Int32Array.from(s));
  }
  const text = readText(source.text!, "--text");
  const window = contextLength + 1;
  const tokens = encode(text);
  const count = Math.floor(tokens.length / window);
  if (count === 0) {
    // Shorter than one context: evaluate the whole text as a single sequence.
    if (tokens.length < 2) throw new InputError("--text", "must hold at least 2 bytes");
    return [tokens];
  }
  return Array.from({ length: count }, (_, i) => tokens.slice(i * window, (i + 1) * window));
}

function readText(path: string, field: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new InputError(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function parseJsonFile(path: string, field: string): unknown {
  const text = readText(path, field);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(field, `${path} is not valid JSON: ${(err as Error).message.split("\n")[0]}`);
  }
}
