/**
 * Published models as ModelConfig values, for `model: { preset: NAME }` in a scenario.
 *
 * GPT presets: the four models of Korthikanti et al. 2022 ("Reducing Activation Recomputation in
 * Large Transformer Models"), Table 3: hidden size, layers and attention heads as listed there;
 * vocabulary 51,200 and sequence 2048 as the paper states for all of them; intermediate size 4h
 * (the GPT MLP); tied input and output embeddings (Megatron-LM's default, and what the paper's
 * parameter formula 12·L·h²(1 + 13/(12h)) + (V + s)·h counts); LayerNorm ε 1e-5 (Megatron-LM's
 * default). ropeTheta is carried but unused by the gpt family.
 *
 * Llama presets: *
 * Every figure is the one in the model's `config.json` on the Hugging Face hub (the repository
 * named above each entry), read field by field: vocab_size, hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads, num_key_value_heads, max_position_embeddings (as
 * seqLen), rope_theta and rms_norm_eps. The Llama 2 files written before transformers stored
 * rope_theta leave it out; LlamaConfig's default, 10000, is what those models were trained with.
 * None of them ties its embeddings, so parasim's untied LM head matches.
 *
 * Not modelled: Llama 3.1's `rope_scaling` (rope_type "llama3": factor 8, low_freq_factor 1,
 * high_freq_factor 4, original_max_position_embeddings 8192), which rescales the low rotary
 * frequencies for long contexts. parasim applies plain RoPE with rope_theta; shapes, parameter
 * counts, FLOPs and bytes do not depend on the scaling, only the values of the rotary tables do.
 */
import type { ModelConfig } from "./config.js";

/** A GPT of Korthikanti et al. 2022, Table 3: hidden size h, L layers, H heads. */
function gpt(h: number, L: number, H: number) {
  return {
    vocabSize: 51200, hiddenSize: h, intermediateSize: 4 * h, numLayers: L, numHeads: H, numKvHeads: H, seqLen: 2048,
    ropeTheta: 10000, rmsNormEps: 1e-5, family: "gpt", tieEmbeddings: true,
  } as const;
}

export const MODEL_PRESETS = {
  // meta-llama/Llama-2-7b-hf config.json
  "llama-2-7b": { vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008, numLayers: 32, numHeads: 32, numKvHeads: 32, seqLen: 4096, ropeTheta: 10000, rmsNormEps: 1e-5 },
  // meta-llama/Llama-2-13b-hf config.json
  "llama-2-13b": { vocabSize: 32000, hiddenSize: 5120, intermediateSize: 13824, numLayers: 40, numHeads: 40, numKvHeads: 40, seqLen: 4096, ropeTheta: 10000, rmsNormEps: 1e-5 },
  // meta-llama/Llama-2-70b-hf config.json (grouped-query attention: 8 kv heads)
  "llama-2-70b": { vocabSize: 32000, hiddenSize: 8192, intermediateSize: 28672, numLayers: 80, numHeads: 64, numKvHeads: 8, seqLen: 4096, ropeTheta: 10000, rmsNormEps: 1e-5 },
  // meta-llama/Meta-Llama-3-8B config.json
  "llama-3-8b": { vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336, numLayers: 32, numHeads: 32, numKvHeads: 8, seqLen: 8192, ropeTheta: 500000, rmsNormEps: 1e-5 },
  // meta-llama/Meta-Llama-3-70B config.json
  "llama-3-70b": { vocabSize: 128256, hiddenSize: 8192, intermediateSize: 28672, numLayers: 80, numHeads: 64, numKvHeads: 8, seqLen: 8192, ropeTheta: 500000, rmsNormEps: 1e-5 },
  // meta-llama/Llama-3.1-405B config.json (its rope_scaling is not modelled, see above)
  "llama-3.1-405b": { vocabSize: 128256, hiddenSize: 16384, intermediateSize: 53248, numLayers: 126, numHeads: 128, numKvHeads: 8, seqLen: 131072, ropeTheta: 500000, rmsNormEps: 1e-5 },
  // Korthikanti et al. 2022, Table 3 (see the header)
  "gpt3-175b": gpt(12288, 96, 96),
  "megatron-22b": gpt(6144, 48, 64),
  "mt-nlg-530b": gpt(20480, 105, 128),
  "megatron-1t": gpt(25600, 128, 160),
} as const satisfies Record<string, ModelConfig>;

export type PresetName = keyof typeof MODEL_PRESETS;

export const PRESET_NAMES = Object.keys(MODEL_PRESETS) as PresetName[];

/** The preset called `name`, or undefined when there is none. */
export function modelPreset(name: string): ModelConfig | undefined {
  return Object.hasOwn(MODEL_PRESETS, name) ? { ...MODEL_PRESETS[name as PresetName] } : undefined;
}
