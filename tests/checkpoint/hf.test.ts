import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readCheckpoint, writeCheckpoint } from "../../src/checkpoint/hf.js";
import { readSafetensors, writeSafetensors } from "../../src/checkpoint/safetensors.js";
import { drawBatch, loadCorpus } from "../../src/data/batches.js";
import { InputError } from "../../src/errors.js";
import { validateScenario } from "../../src/scenario/load.js";
import { evaluateCheckpoint } from "../../src/run/evaluate.js";
import { Trainer } from "../../src/train/trainer.js";
import { ticksDuring } from "../util/event-loop.js";

const scenario = validateScenario({
  model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
  training: { steps: 3, globalBatch: 4, optimizer: { lr: 1e-2 } },
});

function trained(): Trainer {
  const trainer = new Trainer(scenario, 4);
  const corpus = loadCorpus(scenario);
  for (let s = 0; s < 3; s++) trainer.step(s, drawBatch(corpus, 1, s, 4, 12));
  return trainer;
}

describe("Hugging Face checkpoints", () => {
  const dir = mkdtempSync(join(tmpdir(), "parasim-ckpt-"));
  const trainer = trained();
  beforeAll(() => writeCheckpoint(dir, trainer.config, trainer.tensors()));

  it("uses LlamaConfig field names", () => {
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(config).toMatchObject({
      vocab_size: 256, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000,
      max_position_embeddings: 12, tie_word_embeddings: false, model_type: "llama",
    });
  });

  it("uses Hugging Face Llama tensor names and shapes", () => {
    const tensors = readSafetensors(join(dir, "model.safetensors"));
    const shapes = Object.fromEntries([...tensors.values()].map((t) => [t.name, t.shape]));
    expect(shapes["model.embed_tokens.weight"]).toEqual([256, 16]);
    expect(shapes["model.layers.1.self_attn.q_proj.weight"]).toEqual([16, 16]);
    expect(shapes["model.layers.1.self_attn.k_proj.weight"]).toEqual([8, 16]);
    expect(shapes["model.layers.1.self_attn.v_proj.weight"]).toEqual([8, 16]);
    expect(shapes["model.layers.1.self_attn.o_proj.weight"]).toEqual([16, 16]);
    expect(shapes["model.layers.0.mlp.gate_proj.weight"]).toEqual([40, 16]);
    expect(shapes["model.layers.0.mlp.up_proj.weight"]).toEqual([40, 16]);
    expect(shapes["model.layers.0.mlp.down_proj.weight"]).toEqual([16, 40]);
    expect(shapes["model.layers.0.input_layernorm.weight"]).toEqual([16]);
    expect(shapes["model.layers.0.post_attention_layernorm.weight"]).toEqual([16]);
    expect(shapes["model.norm.weight"]).toEqual([16]);
    expect(shapes["lm_head.weight"]).toEqual([256, 16]);
    expect(tensors.size).toBe(2 + 2 * 9 + 1);
  });

  it("round-trips the weights bit-exactly into a new trainer", () => {
    const { tensors } = readCheckpoint(dir);
    const restored = new Trainer(scenario, 4, { init: tensors });
    expect(new Uint32Array(restored.params.buffer, restored.params.byteOffset, restored.params.length)).toEqual(new Uint32Array(trainer.params.buffer, trainer.params.byteOffset, trainer.params.length));
  });

  it("eval reproduces the training loss on the batch it was trained on", async () => {
    // The loss a fresh trainer reports for a batch is computed before its update, so load the
    // checkpoint, take step 0 on batch 0, and compare with eval of the same checkpoint on batch 0.
    const { tensors } = readCheckpoint(dir);
    const batch = drawBatch(loadCorpus(scenario), 1, 0, 4, 12);
    const trainingLoss = new Trainer(scenario, 4, { init: tensors }).step(0, batch).loss;
    const sequences = Array.from({ length: 4 }, (_, r) => {
      const seq = new Int32Array(13);
      seq.set(batch.inputs.subarray(r * 12, r * 12 + 12));
      seq[12] = batch.targets[r * 12 + 11];
      return seq;
    });
    const result = await evaluateCheckpoint(dir, sequences);
    expect(result.tokens).toBe(48);
    // Same kernels, same batch split: only the order of the final mean differs (double round-off).
    expect(Math.abs(result.loss - trainingLoss) / trainingLoss).toBeLessThan(1e-12);
  });

  it("eval lets the event loop turn after every forward pass, so Ctrl-C's handler can run during it", async () => {
    // 20 sequences of 13 tokens, 8 per forward pass: 3 passes.
    const sequences = Array.from({ length: 20 }, (_, r) => Int32Array.from({ length: 13 }, (_, i) => (7 * r + i) % 256));
    let tokens = 0;
    expect(await ticksDuring(async () => (tokens = (await evaluateCheckpoint(dir, sequences)).tokens))).toBeGreaterThanOrEqual(3);
    expect(tokens).toBe(20 * 12);
  });

  it("rejects a checkpoint whose shapes do not match the scenario", async () => {
    const other = mkdtempSync(join(tmpdir(), "parasim-ckpt-"));
    const tensors = trainer.tensors().map((t) =>
      t.name === "model.layers.0.mlp.up_proj.weight" ? { ...t, shape: [20, 32] } : t,
    );
    await writeCheckpoint(other, trainer.config, tensors);
    const { tensors: back } = readCheckpoint(other);
    expect(() => new Trainer(scenario, 4, { init: back })).toThrow(InputError);
    expect(() => new Trainer(scenario, 4, { init: back })).toThrow(/model\.layers\.0\.mlp\.up_proj\.weight has shape \[20,32\] but the scenario's model needs \[40,16\]/);
  });

  it("rejects a checkpoint with a missing tensor", async () => {
    const other = mkdtempSync(join(tmpdir(), "parasim-ckpt-"));
    await writeCheckpoint(other, trainer.config, trainer.tensors().filter((t) => t.name !== "lm_head.weight"));
    expect(() => new Trainer(scenario, 4, { init: readCheckpoint(other).tensors })).toThrow(/checkpoint: missing tensor lm_head\.weight/);
    writeSafetensors(join(other, "model.safetensors"), []);
    writeFileSync(join(other, "config.json"), "{ not json");
    expect(() => readCheckpoint(other)).toThrow(/checkpoint: .*config\.json is not valid JSON/);
  });

  it.each([
    ["a fractional size", { num_attention_heads: 2.5 }, "config.json.num_attention_heads: must be a positive integer, got 2.5"],
    ["a zero size", { hidden_size: 0 }, "config.json.hidden_size: must be a positive integer, got 0"],
    ["a negative size", { num_hidden_layers: -2 }, "config.json.num_hidden_layers: must be a positive integer, got -2"],
    ["a string size", { vocab_size: "256" }, 'config.json.vocab_size: must be a positive integer, got "256"'],
    ["a missing size", { max_position_embeddings: undefined }, "config.json.max_position_embeddings: must be a positive integer, got undefined"],
    ["a fractional kv head count", { num_key_value_heads: 1.5 }, "config.json.num_key_value_heads: must be a positive integer, got 1.5"],
    ["a zero rope_theta", { rope_theta: 0 }, "config.json.rope_theta: must be a positive number, got 0"],
    ["a negative rms_norm_eps", { rms_norm_eps: -1e-6 }, "config.json.rms_norm_eps: must be a positive number, got -0.000001"],
  ])("rejects a config.json with %s, naming the Hugging Face field", async (_what, patch, expected) => {
    const other = mkdtempSync(join(tmpdir(), "parasim-ckpt-"));
    await writeCheckpoint(other, trainer.config, trainer.tensors());
    const config = { ...JSON.parse(readFileSync(join(other, "config.json"), "utf8")), ...patch };
    writeFileSync(join(other, "config.json"), JSON.stringify(config));
    expect(() => readCheckpoint(other)).toThrow(InputError);
    expect(() => readCheckpoint(other)).toThrow(expected);
  });

  it("reads the defaults of optional config.json fields", async () => {
    const other = mkdtempSync(join(tmpdir(), "parasim-ckpt-"));
    await writeCheckpoint(other, trainer.config, trainer.tensors());
    const { num_key_value_heads: _kv, rope_theta: _theta, rms_norm_eps: _eps, ...config } = JSON.parse(readFileSync(join(other, "config.json"), "utf8"));
    writeFileSync(join(other, "config.json"), JSON.stringify(config));
    expect(readCheckpoint(other).config).toMatchObject({ numHeads: 4, numKvHeads: 4, ropeTheta: 10000, rmsNormEps: 1e-6 });
    writeFileSync(join(other, "config.json"), "[1, 2]");
    expect(() => readCheckpoint(other)).toThrow(/checkpoint: .*config\.json is not a JSON object/);
  });
});
