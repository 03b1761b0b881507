/**
 * The bias of a linear layer, kept apart from the matmul (src/kernels/linear.ts) so that a
 * row-parallel layer can add its bias once, after the partial sums are reduced (Megatron-LM).
 * Also the learned absolute position embedding of GPT, which is a bias indexed by position.
 *
 * Legend: N rows (B·T), O features, T time (positions), C channels.
 */
import type { Floats } from "./types.js";

/** out[N,O] += bias[O] on every row. */
export function biasForward(out: Floats, bias: Floats, N: number, O: number): void {
  for (let n = 0; n < N; n++) {
    const base = n * O;
    for (let o = 0; o < O; o++) out[base + o] += bias[o];
  }
}

/** dbias[O] += Σ_n dout[n,O]. */
export function biasBackward(dbias: Floats, dout: Floats, N: number, O: number): void {
  const acc = new Float64Array(O);
  for (let n = 0; n < N; n++) {
    const base = n * O;
    for (let o = 0; o < O; o++) acc[o] += dout[base + o];
  }
  for (let o = 0; o < O; o++) dbias[o] += acc[o];
}

/**
 * out[rows,C] += table[pos,C], pos = (firstRow + r) mod T for row r: rows are consecutive rows of
 * a [B·T, C] activation starting at row firstRow (a sequence-parallel shard starts mid-batch).
 */
export function positionEmbeddingForward(out: Floats, table: Floats, firstRow: number, rows: number, T: number, C: number): void {
  for (let r = 0; r < rows; r++) {
    const src = ((firstRow + r) % T) * C;
    const dst = r * C;
    for (let c = 0; c < C; c++) out[dst + c] += table[src + c];
  }
}

/** dtable[pos,C] += dout[r,C] for each row r at position pos (as in the forward). */
export function positionEmbeddingBackward(dtable: Floats, dout: Floats, firstRow: number, rows: number, T: number, C: number): void {
  const acc = new Float64Array(T * C);
  for (let r = 0; r < rows; r++) {
    const dst = ((firstRow + r) % T) * C;
    const src = r * C;
    for (let c = 0; c < C; c++) acc[dst + c] += dout[src + c];
  }
  for (let i = 0; i < T * C; i++) dtable[i] += acc[i];
}
