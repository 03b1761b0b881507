/**
 * The linear layer's three products on the WebAssembly GEMM (assembly/gemm.ts), float32 throughout.
 * Legend as in src/kernels/linear.ts: N rows, K input features, O output features; weight [O,K].
 */
import { wasmHeap } from "./heap.js";

/** An operand: its array, its element count, and its row and column strides in op(X). */
type Operand = [x: Float32Array, n: number, rowStride: number, colStride: number];

/** c[M,N] = beta·c + op(A)[M,K]·op(B)[K,N] with c row-major, in the instance's memory. */
function gemm(M: number, N: number, K: number, [a, an, ars, acs]: Operand, [b, bn, brs, bcs]: Operand, c: Float32Array, beta: 0 | 1): void {
  const h = wasmHeap();
  h.reset();
  const pa = h.read(a, an);
  const pb = h.read(b, bn);
  const pc = beta ? h.update(c, M * N) : h.write(c, M * N);
  const work = h.take(h.kernels.GEMM_WORK_FLOATS.value as number);
  h.kernels.gemm(M, N, K, pa, ars, acs, pb, brs, bcs, pc, N, beta, work);
  h.finish();
}

/** out[N,O] = inp[N,K] · weight[O,K]ᵀ. */
export function wasmLinearForward(out: Float32Array, inp: Float32Array, weight: Float32Array, N: number, K: number, O: number): void {
  gemm(N, O, K, [inp, N * K, K, 1], [weight, O * K, 1, K], out, 0);
}

/** dinp[N,K] += dout[N,O] · weight[O,K]. */
export function wasmLinearBackwardInput(dinp: Float32Array, dout: Float32Array, weight: Float32Array, N: number, K: number, O: number): void {
  gemm(N, K, O, [dout, N * O, O, 1], [weight, O * K, K, 1], dinp, 1);
}

/** dweight[O,K] += dout[N,O]ᵀ · inp[N,K]. */
export function wasmLinearBackwardWeight(dweight: Float32Array, dout: Float32Array, inp: Float32Array, N: number, K: number, O: number): void {
  gemm(O, K, N, [dout, N * O, 1, O], [inp, N * K, K, 1], dweight, 1);
}
