/**
 * The linear layer's three products on the WebAssembly GEMM (assembly/gemm.ts), float32 throughout.
 * Legend as in src/kernels/linear.ts: N rows, K input features, O output features; weight [O,K].
 */
import { wasmHeap } from "./heap.js";

/** out[N,O] = inp[N,K] · weight[O,K]ᵀ. */
export function wasmLinearForward(out: Float32Array, inp: Float32Array, weight: Float32Array, N: number, K: number, O: number): void {
  const h = wasmHeap();
  h.reset();
  const a = h.input(inp, N * K);
  const b = h.input(weight, O * K);
  const c = h.take(N * O);
  const work = h.take(h.kernels.GEMM_WORK_FLOATS.value as number);
  h.view();
  h.kernels.gemm(N, O, K, a, K, 1, b, 1, K, c, O, 0, work);
  h.output(out, c, N * O);
}

/** dinp[N,K] += dout[N,O] · weight[O,K]. */
export function wasmLinearBackwardInput(dinp: Float32Array, dout: Float32Array, weight: Float32Array, N: number, K: number, O: number): void {
  const h = wasmHeap();
  h.reset();
  const a = h.input(dout, N * O);
  const b = h.input(weight, O * K);
  const c = h.input(dinp, N * K);
  const work = h.take(h.kernels.GEMM_WORK_FLOATS.value as number);
  h.view();
  h.kernels.gemm(N, K, O, a, O, 1, b, K, 1, c, K, 1, work);
  h.output(dinp, c, N * K);
}

/** dweight[O,K] += dout[N,O]ᵀ · inp[N,K]. */
export function wasmLinearBackwardWeight(dweight: Float32Array, dout: Float32Array, inp: Float32Array, N: number, K: number, O: number): void {
  const h = wasmHeap();
  h.reset();
  const a = h.input(dout, N * O);
  const b = h.input(inp, N * K);
  const c = h.input(dweight, O * K);
  const work = h.take(h.kernels.GEMM_WORK_FLOATS.value as number);
  h.view();
  h.kernels.gemm(O, K, N, a, 1, O, b, K, 1, c, K, 1, work);
  h.output(dweight, c, O * K);
}
