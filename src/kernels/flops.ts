/**
 * FLOP counts of each kernel, a pure function of shapes. The simulated clock charges
 * flops / (peak × efficiency); the model charges each kernel call with these counts
 * (src/model/kernel-calls.ts), also when it runs without computing, so nothing here may look at
 * data.
 *
 * Legend: B batch, T time, C channels, H query heads, G kv heads, D head size, F intermediate
 * size, V vocabulary, N = B·T rows.
 *
 * Matmul: (M×K)·(K×N) costs 2·M·K·N FLOPs, and a linear layer's backward is twice its forward,
 * one matmul for the input gradient and one for the weight gradient (Kaplan et al. 2020;
 * Chowdhery et al. "PaLM" 2022, appendix B).
 * Elementwise kernels are charged a small documented constant per element (below); they are
 * negligible next to the matmuls for any real model but keep small-model timelines honest.
 */
import { computedBlocks, patternBlock, type SparsePattern } from "./sparse-pattern.js";
import type { KernelFlops } from "./types.js";

/** Per-element constants of the elementwise kernels (FLOPs). */
export const ELEMENTWISE_FLOPS = {
  /** RMSNorm forward: square + add for mean(x²); multiply by rstd and by w. */
  rmsnormForward: 4,
  /** RMSNorm input gradient: w·dy, dot with xhat (mul + add), xhat·mean, subtract, times r. */
  rmsnormBackwardInput: 6,
  /** RMSNorm weight gradient: x·r, times dy, add. */
  rmsnormBackwardWeight: 3,
  /** LayerNorm forward: sum for the mean, subtract and square and add for the variance, normalise (subtract, times rstd), times w, plus b. */
  layernormForward: 7,
  /** LayerNorm input gradient: w·dy, its row sum, xhat (2), dot with xhat (2), two subtractions, times r. */
  layernormBackwardInput: 9,
  /** LayerNorm weight and bias gradients: xhat (2), times dy, add; dy added into the bias. */
  layernormBackwardWeight: 5,
  /** GELU (tanh approximation) forward: x³ (2), fused multiply-add (2), tanh (charged 1), 1 + t, times ½x (2). */
  geluForward: 8,
  /** GELU backward: the forward's tanh again (5), its derivative (6), times dout and accumulate (2). */
  geluBackward: 13,
  /** A bias added per element forward; summed per element into its gradient. */
  bias: 1,
  /** RoPE per element (per pair: 4 mul + 2 add = 6, i.e. 3 per element); same for backward. */
  rope: 3,
  /** Attention softmax per causal pair: scale, subtract max, exp, sum, normalise. */
  softmaxForward: 5,
  /** Softmax backward per causal pair: P·dP (2, row sum), dP − sum, times P, times scale. */
  softmaxBackward: 5,
  /** SwiGLU forward: σ (exp, add, divide), times g, times up. */
  swigluForward: 5,
  /** SwiGLU backward: σ again (3), silu·dout for dup (2), σ(1+g(1−σ))·up·dout for dgate (5). */
  swigluBackward: 10,
  /** Cross-entropy forward per logit: max, subtract, exp, sum, normalise. */
  crossEntropyForward: 5,
  /** Cross-entropy backward per logit: subtract one-hot, scale, accumulate. */
  crossEntropyBackward: 3,
  /** Residual add forward per element; its backward adds the gradient once more. */
  residual: 1,
  /** Embedding backward per element (scatter-add); the forward gather is a copy, 0 FLOPs. */
  embeddingBackward: 1,
  /** Dropout forward per element: compare a random number with p, scale the kept value by 1/(1 − p); backward: mask and scale the gradient. */
  dropout: 2,
} as const;

const E = ELEMENTWISE_FLOPS;

export function linearFlops(N: number, K: number, O: number): KernelFlops {
  const mm = 2 * N * K * O;
  return { forward: mm, backwardInput: mm, backwardWeight: mm };
}

export function embeddingFlops(N: number, C: number): KernelFlops {
  return { forward: 0, backwardInput: 0, backwardWeight: E.embeddingBackward * N * C };
}

export function rmsnormFlops(N: number, C: number): KernelFlops {
  return {
    forward: E.rmsnormForward * N * C,
    backwardInput: E.rmsnormBackwardInput * N * C,
    backwardWeight: E.rmsnormBackwardWeight * N * C,
  };
}

/** RoPE on a tensor [B,T,NH,D]. */
export function ropeFlops(B: number, T: number, NH: number, D: number): KernelFlops {
  const n = B * T * NH * D;
  return { forward: E.rope * n, backwardInput: E.rope * n, backwardWeight: 0 };
}

/**
 * Causal attention: only the T(T+1)/2 pairs (t2 ≤ t) per (batch, head) are computed.
 * Forward: q·k (2D) and P·v (2D) per pair, plus the softmax. Backward: dP = dout·v, dv = P·dout,
 * dq = dS·k, dk = dS·q (2D each, 8D per pair), plus the softmax backward. No weights.
 * This matches the 12·L·h·s training FLOPs per token for QKᵀ and AV of Kaplan et al. 2020
 * up to the causal halving: forward 4·D·H per pair = 4·h per pair, backward twice that.
 */
export function attentionFlops(B: number, T: number, H: number, D: number): KernelFlops {
  return attentionPairFlops((B * H * T * (T + 1)) / 2, D);
}

/** attentionFlops' per-pair constants times a number of computed (query, key) pairs. */
function attentionPairFlops(pairs: number, D: number): KernelFlops {
  return {
    forward: pairs * (4 * D + E.softmaxForward),
    backwardInput: pairs * (8 * D + E.softmaxBackward),
    backwardWeight: 0,
  };
}

/**
 * The (query, key) pairs per (batch, head) that a dense block-sparse kernel computes under pattern
 * (src/kernels/sparse-pattern.ts), n = T/block blocks: each of the n diagonal blocks as its causal
 * triangle, block(block + 1)/2 pairs, and each allowed off-diagonal block whole, block² pairs.
 * The causal pattern is one block of T: T(T + 1)/2 pairs, attentionFlops' count.
 */
export function sparseAttentionPairs(T: number, pattern: SparsePattern): { diagonal: number; offDiagonal: number } {
  if (pattern.kind === "causal") return { diagonal: (T * (T + 1)) / 2, offDiagonal: 0 };
  const block = patternBlock(pattern, T);
  const n = T / block;
  return { diagonal: (n * block * (block + 1)) / 2, offDiagonal: (computedBlocks(pattern, n) - n) * block * block };
}

/**
 * Block-sparse attention (src/kernels/sparse-attention.ts), charged per computed block pair with
 * attentionFlops' per-pair constants c (4D + 5 forward, 8D + 5 backward): with n = T/block blocks,
 *   sparse = diag + offDiagComputed·block²·c,   diag = n·block(block + 1)/2·c (per batch and head),
 * and the dense causal count at the same block size is the same sum over all n(n − 1)/2
 * off-diagonal blocks, causal = diag + offDiagCausal·block²·c = attentionFlops. Hence exactly
 *   (sparse − diag) / (causal − diag) = offDiagComputed / offDiagCausal,
 * while sparse = causal × computedBlocks / causalBlocks holds only if a diagonal block cost as
 * much as an off-diagonal one (it costs (block + 1)/(2·block) of it). With the causal pattern this
 * equals attentionFlops. The kernels skip no pair inside a computed block (they compute the
 * same pairs), so the count is also what they do. No weights.
 */
export function sparseAttentionFlops(B: number, T: number, H: number, D: number, pattern: SparsePattern): KernelFlops {
  const { diagonal, offDiagonal } = sparseAttentionPairs(T, pattern);
  return attentionPairFlops(B * H * (diagonal + offDiagonal), D);
}

/**
 * Flash attention (src/kernels/flash-attention.ts): the forward does the same per-pair work as
 * attentionFlops' (q·k 2D, P·v 2D, softmax 5; the online rescaling by exp(m − m') happens once
 * per block, not per pair, and is not charged). The backward keeps no probabilities, so per pair
 * it recomputes the score q·k (2D) and P = exp(s·scale − lse) (charged as softmaxForward, 5) on
 * top of attentionFlops' backward (8D + softmaxBackward): pairs·(2D + 5) more. rowDot = Σ dout·out
 * is 2D per row, not per pair; it stands in for the row sum of P ⊙ dP that softmaxBackward
 * already charges per pair, so it is not charged again. No weights.
 */
export function flashAttentionFlops(B: number, T: number, H: number, D: number): KernelFlops {
  const pairs = (B * H * T * (T + 1)) / 2;
  const naive = attentionFlops(B, T, H, D);
  return {
    forward: naive.forward,
    backwardInput: naive.backwardInput + pairs * (2 * D + E.softmaxForward),
    backwardWeight: 0,
  };
}

export function layernormFlops(N: number, C: number): KernelFlops {
  return {
    forward: E.layernormForward * N * C,
    backwardInput: E.layernormBackwardInput * N * C,
    backwardWeight: E.layernormBackwardWeight * N * C,
  };
}

export function geluFlops(N: number, F: number): KernelFlops {
  return { forward: E.geluForward * N * F, backwardInput: E.geluBackward * N * F, backwardWeight: 0 };
}

/** A bias over [N,O] (also the position embedding, a bias indexed by position): its gradient is a weight gradient. */
export function biasFlops(N: number, O: number): KernelFlops {
  return { forward: E.bias * N * O, backwardInput: 0, backwardWeight: E.bias * N * O };
}

export function swigluFlops(N: number, F: number): KernelFlops {
  return { forward: E.swigluForward * N * F, backwardInput: E.swigluBackward * N * F, backwardWeight: 0 };
}

export function crossEntropyFlops(N: number, V: number): KernelFlops {
  return { forward: E.crossEntropyForward * N * V, backwardInput: E.crossEntropyBackward * N * V, backwardWeight: 0 };
}

/** Dropout over n elements (shapes mode only: no real-mode kernel, src/kernels/cost.ts). */
export function dropoutFlops(n: number): KernelFlops {
  return { forward: E.dropout * n, backwardInput: E.dropout * n, backwardWeight: 0 };
}

export function residualFlops(n: number): KernelFlops {
  return { forward: E.residual * n, backwardInput: E.residual * n, backwardWeight: 0 };
}

/** Sum of several kernels' counts. */
export function sumFlops(...parts: KernelFlops[]): KernelFlops {
  const total: KernelFlops = { forward: 0, backwardInput: 0, backwardWeight: 0 };
  for (const p of parts) {
    total.forward += p.forward;
    total.backwardInput += p.backwardInput;
    total.backwardWeight += p.backwardWeight;
  }
  return total;
}
