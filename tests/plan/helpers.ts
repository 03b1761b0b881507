/** Small models for plan tests, written as Hugging Face config.json files (the same door users take). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlanRequest } from "../../src/plan/types.js";

/** A Llama of 8 layers, hidden 1024 (about 130 M parameters: several 25 MiB gradient buckets per stage), grouped-query attention. */
export const LLAMA = {
  model_type: "llama",
  vocab_size: 32000,
  hidden_size: 1024,
  intermediate_size: 2816,
  num_hidden_layers: 8,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  max_position_embeddings: 512,
};

/** A GPT-2 of 4 layers with tied embeddings (a last pipeline stage holds a copy of the table). */
export const GPT = { model_type: "gpt2", vocab_size: 8192, n_embd: 512, n_layer: 4, n_head: 8, n_positions: 256 };

export function configFile(config: Record<string, unknown>, name = "config.json"): string {
  const path = join(mkdtempSync(join(tmpdir(), "parasim-plan-")), name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

export function request(model: string, overrides: Partial<PlanRequest> = {}): PlanRequest {
  return { model, devices: 16, hardware: "h100-80gb", globalBatch: 16, seqLen: 512, precision: "bf16", top: 3, tpAcrossNodes: false, ...overrides };
}
