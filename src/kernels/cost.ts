/**
 * The cost of each kernel as a GPU runs it: its launches, each with FLOPs, bytes moved and, for
 * a matmul, its GEMM shape (src/sim/roofline.ts turns a launch into seconds). A pure function of
 * shapes and the element size `e` in bytes (4 for fp32, 2 for bf16/fp16); nothing here looks at
 * data, so a real run and a shapes-only run charge the same.
 *
 * FLOPs come from src/kernels/flops.ts, split over the launches so that their sum is exactly the
 * kernel's count there. Bytes are what each launch reads plus what it writes, every tensor at
 * width e except per-row statistics (RMSNorm's rstd, flash attention's log-sum-exp), which stay
 * fp32 (4 bytes). A gradient that accumulates (+=) is read and written. Fused kernels count their
 * real traffic: flash attention reads q, k, v (and out, dout, lse in backward) once and never
 * writes the T×T probabilities; the naive kernel writes and rereads them ([B,H,T,T], the buffer
 * it keeps), as the unfused GPU kernels (a batched GEMM, a softmax, a batched GEMM) do.
 *
 * Legend as in src/kernels: N rows, K input and O output features, C hidden, B batch, T time,
 * H/G query/kv heads, D head size, F intermediate, V vocabulary.
 */
import type { GemmShape, Launch } from "../sim/roofline.js";
import {
  biasFlops,
  crossEntropyFlops,
  dropoutFlops,
  ELEMENTWISE_FLOPS,
  embeddingFlops,
  flashAttentionFlops,
  geluFlops,
  layernormFlops,
  linearFlops,
  residualFlops,
  rmsnormFlops,
  ropeFlops,
  sparseAttentionPairs,
  swigluFlops,
} from "./flops.js";
import type { SparsePattern } from "./sparse-pattern.js";

/** Launches per pass, split as KernelFlops splits FLOPs. */
export interface KernelCost {
  forward: Launch[];
  backwardInput: Launch[];
  backwardWeight: Launch[];
}

/** Bytes of per-row statistics kept in fp32 whatever the dtype. */
const STAT_BYTES = 4;
/** A dropout mask element: PyTorch's dropout keeps a bool (1 byte) per element for its backward. */
const MASK_BYTES = 1;
/** Bytes per parameter AdamW reads and writes besides the gradient: the fp32 weight (or master weight), m and v, each read and written. */
const ADAMW_STATE_BYTES = 6 * 4;

const gemm = (M: number, N: number, K: number, batch = 1): GemmShape => ({ M, N, K, batch });
const one = (flops: number, bytes: number, shape?: GemmShape): Launch[] => [shape ? { flops, bytes, gemm: shape } : { flops, bytes }];

/**
 * out[N,O] = inp[N,K]·W[O,K]ᵀ; dinp = dout·W; dW += doutᵀ·inp (the weight gradient accumulates:
 * the GEMM reads and writes it at the gradients' width g).
 */
export function linearCost(N: number, K: number, O: number, e: number, g = e): KernelCost {
  const f = linearFlops(N, K, O);
  return {
    forward: one(f.forward, e * (N * K + O * K + N * O), gemm(N, O, K)),
    backwardInput: one(f.backwardInput, e * (N * O + O * K + N * K), gemm(N, K, O)),
    backwardWeight: one(f.backwardWeight, e * (N * O + N * K) + 2 * g * O * K, gemm(O, K, N)),
  };
}

/** RMSNorm over [N,C]: forward reads x and w, writes y and rstd; the gradients reread x, dy and rstd (dw at width g). */
export function rmsnormCost(N: number, C: number, e: number, g = e): KernelCost {
  const f = rmsnormFlops(N, C);
  return {
    forward: one(f.forward, e * (2 * N * C + C) + STAT_BYTES * N),
    backwardInput: one(f.backwardInput, e * (3 * N * C + C) + STAT_BYTES * N),
    backwardWeight: one(f.backwardWeight, e * 2 * N * C + g * 2 * C + STAT_BYTES * N),
  };
}

/** LayerNorm over [N,C]: as RMSNorm, with a bias and a per-row mean (fp32) beside rstd. */
export function layernormCost(N: number, C: number, e: number, g = e): KernelCost {
  const f = layernormFlops(N, C);
  const stats = 2 * STAT_BYTES * N;
  return {
    forward: one(f.forward, e * (2 * N * C + 2 * C) + stats),
    backwardInput: one(f.backwardInput, e * (3 * N * C + C) + stats),
    backwardWeight: one(f.backwardWeight, e * 2 * N * C + g * 4 * C + stats),
  };
}

/** A bias over [N,O] (also the position embedding): forward out += bias (read and write out); its gradient a column sum into dbias. */
export function biasCost(N: number, O: number, e: number, g = e): KernelCost {
  const f = biasFlops(N, O);
  return { forward: one(f.forward, e * (2 * N * O + O)), backwardInput: [], backwardWeight: one(f.backwardWeight, e * N * O + g * 2 * O) };
}

/** GELU over [N,F]: forward reads inp, writes out; backward reads dout and inp, writes dinp. */
export function geluCost(N: number, F: number, e: number): KernelCost {
  const f = geluFlops(N, F);
  return { forward: one(f.forward, 2 * e * N * F), backwardInput: one(f.backwardInput, 3 * e * N * F), backwardWeight: [] };
}

/** out = a + b over n elements; its backward adds the gradient into the stream (read twice, write once). */
export function residualCost(n: number, e: number): KernelCost {
  const f = residualFlops(n);
  return { forward: one(f.forward, 3 * e * n), backwardInput: one(f.backwardInput, 3 * e * n), backwardWeight: [] };
}

/**
 * Dropout over n elements as PyTorch's fused dropout kernel runs it: forward reads x and writes
 * the kept, rescaled values and a 1-byte mask; backward reads the gradient and the mask and writes
 * the masked gradient. Only shapes mode charges it (parasim's real kernels compute no dropout).
 */
export function dropoutCost(n: number, e: number): KernelCost {
  const f = dropoutFlops(n);
  return {
    forward: one(f.forward, e * 2 * n + MASK_BYTES * n),
    backwardInput: one(f.backwardInput, e * 2 * n + MASK_BYTES * n),
    backwardWeight: [],
  };
}

/**
 * Megatron-LM's fused bias-dropout-add over [N,C] (its `bias_dropout_add_fused_train`, one
 * kernel): out = residual + dropout(x + bias), reading x, the bias (when the layer has one) and
 * the residual stream, writing out and the mask. Its backward is the dropout's on the branch's
 * gradient (the stream's gradient passes through the add unchanged, the bias gradient is
 * biasCost's). Shapes mode only, as dropoutCost.
 */
export function biasDropoutAddCost(N: number, C: number, bias: boolean, e: number): KernelCost {
  const n = N * C;
  const drop = dropoutFlops(n);
  const flops = (bias ? biasFlops(N, C).forward : 0) + drop.forward + residualFlops(n).forward;
  return {
    forward: one(flops, e * (3 * n + (bias ? C : 0)) + MASK_BYTES * n),
    backwardInput: dropoutCost(n, e).backwardInput,
    backwardWeight: [],
  };
}

/** RoPE on [B,T,NH,D]: reads and writes each element (the cos/sin tables stay in cache). */
export function ropeCost(B: number, T: number, NH: number, D: number, e: number): KernelCost {
  const f = ropeFlops(B, T, NH, D);
  const n = B * T * NH * D;
  return { forward: one(f.forward, 2 * e * n), backwardInput: one(f.backwardInput, 2 * e * n), backwardWeight: [] };
}

/** SwiGLU over [N,F]: forward reads gate and up, writes out; backward reads dout, gate, up, writes dgate, dup. */
export function swigluCost(N: number, F: number, e: number): KernelCost {
  const f = swigluFlops(N, F);
  return { forward: one(f.forward, 3 * e * N * F), backwardInput: one(f.backwardInput, 5 * e * N * F), backwardWeight: [] };
}

/** Cross-entropy over this rank's [N,V] logits: forward reads logits, writes probabilities; backward reads them, writes dlogits. */
export function crossEntropyCost(N: number, V: number, e: number): KernelCost {
  const f = crossEntropyFlops(N, V);
  return { forward: one(f.forward, 2 * e * N * V), backwardInput: one(f.backwardInput, 2 * e * N * V), backwardWeight: [] };
}

/** Embedding lookup of N rows of C: a gather (read + write); its gradient a scatter-add (read dout, read and write rows at width g). */
export function embeddingCost(N: number, C: number, e: number, g = e): KernelCost {
  const f = embeddingFlops(N, C);
  return { forward: one(f.forward, 2 * e * N * C + 4 * N), backwardInput: [], backwardWeight: one(f.backwardWeight, e * N * C + 2 * g * N * C + 4 * N) };
}

/**
 * Attention over `pairs` computed (query, key) pairs as three unfused launches each way. Forward:
 * S = QKᵀ (batched GEMM [T,T,D]), P = softmax(S), O = PV ([T,D,T]). Backward: dP = dO·Vᵀ,
 * dV = Pᵀ·dO, dS = softmax'(P, dP), dQ = dS·K, dK = dSᵀ·Q. FLOPs per pair as attentionFlops
 * (2D per product, 5 for the softmax each way); each materialised score or probability matrix holds
 * `square` elements ([B,H,T,T] dense, the kept pairs packed).
 */
function unfusedAttention(B: number, T: number, H: number, G: number, D: number, pairs: number, square: number, e: number): KernelCost {
  const [q, kv] = [B * H * T * D, B * G * T * D];
  const mm = 2 * D * pairs;
  const soft = ELEMENTWISE_FLOPS.softmaxForward * pairs;
  const softBack = ELEMENTWISE_FLOPS.softmaxBackward * pairs;
  const scores = gemm(T, T, D, B * H);
  const mix = gemm(T, D, T, B * H);
  return {
    forward: [
      { flops: mm, bytes: e * (q + kv + square), gemm: scores },
      { flops: soft, bytes: 2 * e * square },
      { flops: mm, bytes: e * (square + kv + q), gemm: mix },
    ],
    backwardInput: [
      { flops: mm, bytes: e * (q + kv + square), gemm: scores },
      { flops: mm, bytes: e * (square + q + kv), gemm: mix },
      { flops: softBack, bytes: 3 * e * square },
      { flops: mm, bytes: e * (square + kv + q), gemm: mix },
      { flops: mm, bytes: e * (square + q + kv), gemm: mix },
    ],
    backwardWeight: [],
  };
}

/** The naive causal kernel (attentionFlops' pairs), keeping [B,H,T,T] probabilities. */
export function attentionCost(B: number, T: number, H: number, G: number, D: number, e: number): KernelCost {
  return unfusedAttention(B, T, H, G, D, (B * H * T * (T + 1)) / 2, B * H * T * T, e);
}

/**
 * The block-sparse kernel: the pattern's computed pairs, and a probabilities buffer of just those
 * pairs (the kernel keeps them packed, src/kernels/sparse-attention.ts).
 */
export function sparseAttentionCost(B: number, T: number, H: number, G: number, D: number, pattern: SparsePattern, e: number): KernelCost {
  const { diagonal, offDiagonal } = sparseAttentionPairs(T, pattern);
  const pairs = B * H * (diagonal + offDiagonal);
  return unfusedAttention(B, T, H, G, D, pairs, pairs, e);
}

/**
 * Flash attention, one fused launch each way (Dao et al. 2022): forward reads q, k, v and writes
 * out and the log-sum-exp; backward reads q, k, v, out, dout and lse and writes dq, dk, dv. Its
 * matmuls run as [T,T,D] tiles per (batch, head).
 */
export function flashAttentionCost(B: number, T: number, H: number, G: number, D: number, e: number): KernelCost {
  const f = flashAttentionFlops(B, T, H, D);
  const [q, kv, lse] = [B * H * T * D, B * G * T * D, STAT_BYTES * B * H * T];
  const shape = gemm(T, T, D, B * H);
  return {
    forward: one(f.forward, e * (2 * q + 2 * kv) + lse, shape),
    backwardInput: one(f.backwardInput, e * (4 * q + 4 * kv) + lse, shape),
    backwardWeight: [],
  };
}

/**
 * The optimizer step on `size` parameters as parasim's update runs it, every pass memory-bound:
 * the squared gradient norm (reads the gradients, at width g), the clip and loss-scale factor
 * (reads and writes them), AdamW (`adamwFlops` per parameter; fp32 weights or master weights and
 * moments read and written, the gradient read), in 16-bit precision the rounded copy of the master
 * weights (reads fp32, writes `copyBytes`; 0: no master weights), and the zeroing of the gradients
 * for the next step's accumulation.
 */
export function optimizerLaunches(size: number, adamwFlops: number, g: number, copyBytes: number): Launch[] {
  const launches: Launch[] = [
    { flops: 2 * size, bytes: g * size },
    { flops: size, bytes: 2 * g * size },
    { flops: adamwFlops * size, bytes: (ADAMW_STATE_BYTES + g) * size },
  ];
  if (copyBytes > 0) launches.push({ flops: 0, bytes: (4 + copyBytes) * size });
  launches.push({ flops: 0, bytes: g * size });
  return launches;
}

/** The FLOPs of a cost's launches per pass. */
export function costFlops(cost: KernelCost): { forward: number; backwardInput: number; backwardWeight: number } {
  const sum = (ls: Launch[]) => ls.reduce((s, l) => s + l.flops, 0);
  return { forward: sum(cost.forward), backwardInput: sum(cost.backwardInput), backwardWeight: sum(cost.backwardWeight) };
}

