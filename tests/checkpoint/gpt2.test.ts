/**
 * gpt checkpoints in Hugging Face GPT-2 form: GPT2Config names, Conv1D weights stored [in, out],
 * q/k/v fused into c_attn, no lm_head when tied; reading them back gives parasim's tensors bit
 * for bit, and a pipeline run whose last stage holds the tied copy starts from the same weights.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readCheckpoint, writeCheckpoint } from "../../src/checkpoint/hf.js";
import { readSafetensors, writeSafetensors } from "../../src/checkpoint/safetensors.js";
import { drawBatch, loadCorpus } from "../../src/data/batches.js";
import { simulate, validateScenario } from "../../src/index.js";
import { evaluateCheckpoint } from "../../src/run/evaluate.js";
import { Trainer } from "../../src/train/trainer.js";

const [C, F, L, SEQ] = [16, 64, 2, 12];
const scenario = (tieEmbeddings: boolean, parallel: object = {}) =>
  validateScenario({
    model: { family: "gpt", tieEmbeddings, hiddenSize: C, intermediateSize: F, numLayers: L, numHeads: 4, numKvHeads: 4, seqLen: SEQ },
    training: { steps: 2, globalBatch: 4, optimizer: { lr: 1e-2 } },
    parallel,
  });

/** A trainer after 3 steps, so biases and norms are no longer their initial 0 and 1. */
function trained(tie: boolean): Trainer {
  const s = scenario(tie);
  const trainer = new Trainer(s, 4);
  const corpus = loadCorpus(s);
  for (let step = 0; step < 3; step++) trainer.step(step, drawBatch(corpus, 1, step, 4, SEQ));
  return trainer;
}

describe.each([
  ["tied", true],
  ["untied", false],
])("GPT-2 checkpoints (%s)", (_name, tie) => {
  const dir = mkdtempSync(join(tmpdir(), "parasim-gpt2-"));
  const trainer = trained(tie);
  beforeAll(() => writeCheckpoint(dir, trainer.config, trainer.tensors()));
  const param = (name: string) => trainer.tensors().find((t) => t.name === name)!;

  it("writes GPT2Config names and GPT-2's tensors", () => {
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))).toMatchObject({
      model_type: "gpt2", architectures: ["GPT2LMHeadModel"], vocab_size: 256, n_embd: C, n_inner: F, n_layer: L, n_head: 4,
      n_positions: SEQ, activation_function: "gelu_new", layer_norm_epsilon: 1e-5, tie_word_embeddings: tie,
    });
    const stored = readSafetensors(join(dir, "model.safetensors"));
    // wte, wpe, 12 per layer, ln_f weight and bias, and lm_head when untied.
    expect(stored.size).toBe(2 + 12 * L + 2 + (tie ? 0 : 1));
    const cAttn = stored.get("transformer.h.1.attn.c_attn.weight")!;
    expect(cAttn.shape).toEqual([C, 3 * C]);
    // Conv1D: c_attn[i][j] = q_proj[j][i] for the first C outputs, k_proj's next, v_proj's last.
    const q = param("model.layers.1.self_attn.q_proj.weight").data;
    const v = param("model.layers.1.self_attn.v_proj.weight").data;
    expect(cAttn.data[3 * 3 * C + 5]).toBe(q[5 * C + 3]);
    expect(cAttn.data[7 * 3 * C + 2 * C + 9]).toBe(v[9 * C + 7]);
    const bias = stored.get("transformer.h.1.attn.c_attn.bias")!;
    expect(Array.from(bias.data.subarray(C, 2 * C))).toEqual(Array.from(param("model.layers.1.self_attn.k_proj.bias").data));
    expect(stored.get("transformer.h.0.mlp.c_fc.weight")!.shape).toEqual([C, F]);
    expect(stored.get("transformer.h.0.mlp.c_proj.weight")!.shape).toEqual([F, C]);
    expect(stored.get("transformer.wpe.weight")!.shape).toEqual([SEQ, C]);
    expect(stored.has("lm_head.weight")).toBe(!tie);
  });

  it("reads back parasim's tensors bit for bit, and eval gives the trainer's loss", async () => {
    const { config, tensors } = readCheckpoint(dir);
    expect(config).toMatchObject({ family: "gpt", tieEmbeddings: tie, numKvHeads: 4 });
    const restored = new Trainer(scenario(tie), 4, { init: tensors });
    expect(new Uint32Array(restored.params.buffer, restored.params.byteOffset, restored.params.length)).toEqual(new Uint32Array(trainer.params.buffer, trainer.params.byteOffset, trainer.params.length));
    const batch = drawBatch(loadCorpus(scenario(tie)), 1, 0, 4, SEQ);
    const trainingLoss = new Trainer(scenario(tie), 4, { init: tensors }).step(0, batch).loss;
    const sequences = Array.from({ length: 4 }, (_, r) => Int32Array.of(...batch.inputs.subarray(r * SEQ, (r + 1) * SEQ), batch.targets[r * SEQ + SEQ - 1]));
    // Same kernels, same rows: only the order of the final mean differs (double round-off).
    expect(Math.abs((await evaluateCheckpoint(dir, sequences)).loss - trainingLoss) / trainingLoss).toBeLessThan(1e-12);
  });

  it("a pp 2 run started from it has the single device's first loss (the last stage's tied copy loads the embedding)", async () => {
    const single = await simulate(scenario(tie), { init: dir });
    const piped = await simulate(scenario(tie, { pp: 2 }), { init: dir });
    // A pipeline's forward does the single device's arithmetic in the same order: bit-identical.
    expect(piped.losses[0]).toBe(single.losses[0]);
  });
});

it("reads OpenAI's original GPT-2 names (no transformer. prefix) and refuses another activation", async () => {
  const dir = mkdtempSync(join(tmpdir(), "parasim-gpt2-"));
  const trainer = trained(true);
  await writeCheckpoint(dir, trainer.config, trainer.tensors());
  const weights = join(dir, "model.safetensors");
  const unprefixed = [...readSafetensors(weights).values()].map((t) => ({ ...t, name: t.name.replace(/^transformer\./, "") }));
  expect(unprefixed.some((t) => t.name === "h.0.attn.c_attn.weight")).toBe(true);
  writeSafetensors(weights, unprefixed);
  const restored = new Trainer(scenario(true), 4, { init: readCheckpoint(dir).tensors });
  expect(new Uint32Array(restored.params.buffer, restored.params.byteOffset, restored.params.length)).toEqual(new Uint32Array(trainer.params.buffer, trainer.params.byteOffset, trainer.params.length));
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, activation_function: "relu" }));
  expect(() => readCheckpoint(dir)).toThrow('config.json.activation_function: must be "gelu_new" (parasim\'s GELU is the tanh approximation), got "relu"');
});
