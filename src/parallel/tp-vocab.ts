/**
 * Vocabulary-parallel kernels (Megatron-LM, Shoeybi et al. 2019, §3): the embedding table and
 * lm_head are split by vocabulary rows; rank r holds rows [vStart, vStart + Vl), Vl = V/tp.
 *
 * Embedding: each rank looks up the tokens of its range and writes zeros for the others; the sum
 * over ranks (an all-reduce, or a reduce-scatter under sequence parallelism) is the full lookup,
 * exactly (x + 0 = x), so it equals the single-device embedding bit for bit.
 *
 * Cross-entropy without gathering the logits [N,V]: each rank computes, per row, its local max
 * m_r, s_r = Σ_local exp(logit − m_r) (in double) and its target logit (0 if the target is not in
 * its range); one all-gather of these 3·N values per rank (float64) gives every rank
 * M = max_r m_r, S = Σ_r s_r·exp(m_r − M), the target logit, hence loss = M + log S − target and
 * the local softmax slice exp(logit − M − log S). The backward, scale·(p − onehot) on the local
 * slice, needs no communication.
 *
 * Legend: N rows (B·T), C channels, V vocabulary, Vl = V/tp, vStart = r·Vl.
 */
import { InputError } from "../errors.js";
import { embeddingBackward } from "../kernels/embedding.js";
import type { Floats } from "../kernels/types.js";

/** out[N,C] = table[tokens[n] − vStart] for tokens in [vStart, vStart+Vl), else 0. Tokens must lie in [0, V). */
export function vocabEmbeddingForward(
  out: Floats,
  tokens: Int32Array,
  table: Floats,
  N: number,
  C: number,
  V: number,
  vStart: number,
  Vl: number,
): void {
  for (let n = 0; n < N; n++) {
    const t = tokens[n];
    if (!(t >= 0 && t < V)) throw new InputError(`tokens[${n}]`, `must be an integer in [0, ${V}), got ${t}`);
    const l = t - vStart;
    if (l >= 0 && l < Vl) out.set(table.subarray(l * C, l * C + C), n * C);
    else out.fill(0, n * C, n * C + C);
  }
}

/**
 * dtable[tokens[n] − vStart] += dout[n] for the rows whose token is in this rank's range, summed
 * in the same order as the single-device kernel (so the shard of the gradient is bit-identical).
 */
export function vocabEmbeddingBackward(
  dtable: Floats,
  dout: Floats,
  tokens: Int32Array,
  N: number,
  C: number,
  vStart: number,
  Vl: number,
): void {
  const rows: number[] = [];
  for (let n = 0; n < N; n++) if (tokens[n] >= vStart && tokens[n] < vStart + Vl) rows.push(n);
  const sub = new (dout.constructor as new (n: number) => Floats)(rows.length * C);
  const local = new Int32Array(rows.length);
  rows.forEach((n, i) => {
    sub.set(dout.subarray(n * C, n * C + C), i * C);
    local[i] = tokens[n] - vStart;
  });
  embeddingBackward(dtable, sub, local, rows.length, C);
}

/**
 * Writes this rank's statistics of every row into `mine` (3N float64): [0,N) local max,
 * [N,2N) Σ exp(logit − local max), [2N,3N) the target logit if the target is in range, else 0.
 */
export function vocabCrossEntropyStats(
  mine: Float64Array,
  logits: Floats,
  targets: Int32Array,
  N: number,
  V: number,
  vStart: number,
  Vl: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * Vl;
    const target = targets[n];
    if (!(target >= 0 && target < V)) throw new InputError(`targets[${n}]`, `must be an integer in [0, ${V}), got ${target}`);
    let max = -Infinity;
    for (let i = 0; i < Vl; i++) if (logits[base + i] > max) max = logits[base + i];
    let sum = 0;
    for (let i = 0; i < Vl; i++) sum += Math.exp(logits[base + i] - max);
    const l = target - vStart;
    mine[n] = max;
    mine[N + n] = sum;
    mine[2 * N + n] = l >= 0 && l < Vl ? logits[base + l] : 0;
  }
}

/**
 * From the gathered statistics of all tp ranks (`all`: tp chunks of 3N, chunk r from rank r):
 * losses[n] = M + log S − target logit and probs[N,Vl] = the local slice of softmax(logits).
 */
export function vocabCrossEntropyFinish(losses: Floats, probs: Floats, logits: Floats, all: Float64Array, N: number, Vl: number, tp: number): void {
  for (let n = 0; n < N; n++) {
    let max = -Infinity;
    for (let r = 0; r < tp; r++) if (all[r * 3 * N + n] > max) max = all[r * 3 * N + n];
    let sum = 0;
    let targetLogit = 0;
    for (let r = 0; r < tp; r++) {
      const o = r * 3 * N;
      sum += all[o + N + n] * Math.exp(all[o + n] - max);
      targetLogit += all[o + 2 * N + n];
    }
    const logSum = Math.log(sum);
    const base = n * Vl;
    for (let i = 0; i < Vl; i++) probs[base + i] = Math.exp(logits[base + i] - max - logSum);
    losses[n] = max + logSum - targetLogit;
  }
}

/** dlogits[N,Vl] += scale · (probs − onehot(targets − vStart)) on this rank's vocabulary slice. */
export function vocabCrossEntropyBackward(
  dlogits: Floats,
  probs: Floats,
  targets: Int32Array,
  scale: number,
  N: number,
  vStart: number,
  Vl: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * Vl;
    const l = targets[n] - vStart;
    for (let i = 0; i < Vl; i++) dlogits[base + i] += scale * (probs[base + i] - (i === l ? 1 : 0));
  }
}
