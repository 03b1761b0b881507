/** `parasim eval`: the mean next-token loss of a checkpoint on given token sequences. */
import { checkInputFile, readInputFile } from "../util/inputs.js";
import { grouped, LIMITS } from "../limits.js";
import type { ModelConfig } from "../model/config.js";
import { formatFlops } from "../report/table.js";
import { modelFlopsPerToken } from "./utilisation.js";
import { checkTensorsMatch, CONFIG_FILE, loadTensors, readCheckpoint, type Checkpoint } from "../checkpoint/hf.js";
import { encode } from "../data/tokenizer.js";
import { InputError } from "../errors.js";
import { buildLayout } from "../model/layout.js";
import { LlamaModel } from "../model/model.js";

export interface EvalResult {
  /** Mean next-token loss (nats) over every predicted token. */
  loss: number;
  /** How many tokens were predicted: rows × (sequence length − 1). */
  tokens: number;
}

/** Sequences evaluated together; bounds the activation memory of one forward. */
const ROWS_PER_FORWARD = 8;

/**
 * Reads a checkpoint folder for evaluation: its tensors must be those of its config's model
 * before the config sizes any allocation or work, so a config.json claiming 10^15 tokens of
 * vocabulary is refused, not allocated.
 */
export function readEvalCheckpoint(dir: string): Checkpoint {
  return evaluable(readCheckpoint(dir));
}

function evaluable(checkpoint: Checkpoint): Checkpoint {
  checkTensorsMatch(checkpoint.tensors, buildLayout(checkpoint.config).tensors, true, `the model of its ${CONFIG_FILE}`);
  return checkpoint;
}

/**
 * `checkpoint`: a folder, or a checkpoint already read. Asynchronous: it yields to the event loop
 * after every forward pass, so Ctrl-C stops a long evaluation at once.
 */
export async function evaluateCheckpoint(checkpoint: string | Checkpoint, sequences: Int32Array[]): Promise<EvalResult> {
  const { config, tensors } = typeof checkpoint === "string" ? readEvalCheckpoint(checkpoint) : evaluable(checkpoint);
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
    await new Promise((resolve) => setImmediate(resolve));
  }
  const tokens = sequences.length * T;
  return { loss: lossSum / tokens, tokens };
}

/** Where each loaded list of sequences came from, so a bad token names its option and file. */
const sourceOf = new WeakMap<Int32Array[], { field: string; path: string }>();

function checkSequences(sequences: Int32Array[], vocabSize: number, maxLen: number): void {
  const { field, path } = sourceOf.get(sequences) ?? { field: "--tokens", path: "the sequences" };
  if (sequences.length === 0) throw new InputError(field, "must hold at least one sequence");
  const length = sequences[0].length;
  if (length < 2) throw new InputError(field, "sequences need at least 2 tokens (an input and its next-token target)");
  if (length - 1 > maxLen) throw new InputError(field, `sequences may have at most max_position_embeddings + 1 = ${maxLen + 1} tokens, got ${length}`);
  sequences.forEach((seq, i) => {
    if (seq.length !== length) throw new InputError(field, `sequence ${i} has ${seq.length} tokens; all must have ${length}`);
    const at = seq.findIndex((tok) => !(tok >= 0 && tok < vocabSize));
    if (at >= 0) throw new InputError(field, `${path}: sequence ${i}, token ${at}: id ${seq[at]} is outside [0, vocab_size = ${vocabSize})`);
  });
}

/** Token ids as JSON numbers: integers that fit an Int32Array without wrapping (a vocabulary is far smaller). */
const MAX_TOKEN_ID = 2 ** 31 - 1;

function tokenLists(raw: unknown, path: string): Int32Array[] {
  const field = "--tokens";
  if (!Array.isArray(raw)) throw new InputError(field, "must be a JSON list of lists of integer token ids");
  return raw.map((seq: unknown, i) => {
    if (!Array.isArray(seq)) throw new InputError(field, `${path}: sequence ${i} is not a list of integer token ids`);
    const at = seq.findIndex((t) => !(Number.isInteger(t) && t >= 0 && t <= MAX_TOKEN_ID));
    if (at >= 0) throw new InputError(field, `${path}: sequence ${i}, token ${at}: ${JSON.stringify(seq[at])} is not a token id (an integer in [0, vocab_size))`);
    return Int32Array.from(seq as number[]);
  });
}

/** Forward FLOPs per token of a checkpoint's model: a third of training's 6·N + 6·L·h·s (src/run/utilisation.ts). */
export function forwardFlopsPerToken(config: ModelConfig): number {
  return modelFlopsPerToken(config) / 3;
}

/** Refuses `tokens` tokens whose forward passes are more arithmetic than real mode does in one command (LIMITS.realModeFlops). */
function checkEvalWork(field: string, path: string, tokens: number, flopsPerToken: number): void {
  const flops = tokens * flopsPerToken;
  if (flops > LIMITS.realModeFlops) {
    throw new InputError(field, `${path} holds ${grouped(tokens)} tokens; their forward passes are ${formatFlops(flops)}, more than the ${formatFlops(LIMITS.realModeFlops)} parasim computes in one command — evaluate fewer tokens`);
  }
}

/**
 * Reads the sequences of `--tokens FILE` (JSON list of lists) or `--text FILE` (cut into windows
 * of `contextLength` + 1 tokens: each window predicts contextLength tokens). With
 * `flopsPerToken` (forwardFlopsPerToken of the checkpoint), more tokens than real mode evaluates
 * in one command are refused — a text file by its size, before it is read.
 */
export function loadEvalSequences(source: { tokens?: string; text?: string }, contextLength: number, flopsPerToken = 0): Int32Array[] {
  if (source.tokens !== undefined) {
    const sequences = tokenLists(parseJsonFile(source.tokens, "--tokens"), source.tokens);
    checkEvalWork("--tokens", source.tokens, sequences.reduce((n, s) => n + s.length, 0), flopsPerToken);
    sourceOf.set(sequences, { field: "--tokens", path: source.tokens });
    return sequences;
  }
  checkEvalWork("--text", source.text!, checkInputFile("--text", source.text!), flopsPerToken);
  const tokens = encode(readBytes(source.text!, "--text"));
  const window = contextLength + 1;
  const count = Math.floor(tokens.length / window);
  if (count === 0 && tokens.length < 2) throw new InputError("--text", "must hold at least 2 bytes");
  // Shorter than one context: evaluate the whole text as a single sequence.
  const sequences = count === 0 ? [tokens] : Array.from({ length: count }, (_, i) => tokens.slice(i * window, (i + 1) * window));
  sourceOf.set(sequences, { field: "--text", path: source.text! });
  return sequences;
}

/** A file's bytes as they are: the byte tokenizer needs no decoding, and invalid UTF-8 is still bytes. */
function readBytes(path: string, field: string): Uint8Array {
  return readInputFile(field, path);
}

function parseJsonFile(path: string, field: string): unknown {
  const text = new TextDecoder().decode(readBytes(path, field));
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(field, `${path} is not valid JSON: ${(err as Error).message.split("\n")[0]}`);
  }
}
