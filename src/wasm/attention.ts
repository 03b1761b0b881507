/**
 * Causal grouped-query attention on the WebAssembly kernels (assembly/attention.ts), float32.
 * Legend and layouts as in src/kernels/attention.ts.
 */
import { wasmHeap } from "./heap.js";

/** Scratch floats of one call: the T×T dP/dS block and a row in double (attentionWorkFloats), then the GEMM's. */
function workFloats(T: number, gemmWork: number): number {
  return T * T + 2 * T + gemmWork;
}

export function wasmAttentionForward(
  out: Float32Array, att: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
  B: number, T: number, H: number, G: number, D: number,
): void {
  const h = wasmHeap();
  h.reset();
  const [qn, kvn, an] = [B * T * H * D, B * T * G * D, B * H * T * T];
  const qp = h.input(q, qn);
  const kp = h.input(k, kvn);
  const vp = h.input(v, kvn);
  const op = h.take(qn);
  const ap = h.take(an);
  const work = h.take(workFloats(T, h.kernels.GEMM_WORK_FLOATS.value as number));
  h.view();
  h.kernels.attentionForward(op, ap, qp, kp, vp, B, T, H, G, D, work);
  h.output(out, op, qn);
  h.output(att, ap, an);
}

export function wasmAttentionBackward(
  dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, att: Float32Array,
  q: Float32Array, k: Float32Array, v: Float32Array,
  B: number, T: number, H: number, G: number, D: number,
): void {
  const h = wasmHeap();
  h.reset();
  const [qn, kvn, an] = [B * T * H * D, B * T * G * D, B * H * T * T];
  const dqp = h.input(dq, qn);
  const dkp = h.input(dk, kvn);
  const dvp = h.input(dv, kvn);
  const dop = h.input(dout, qn);
  const ap = h.input(att, an);
  const qp = h.input(q, qn);
  const kp = h.input(k, kvn);
  const vp = h.input(v, kvn);
  const work = h.take(workFloats(T, h.kernels.GEMM_WORK_FLOATS.value as number));
  h.view();
  h.kernels.attentionBackward(dqp, dkp, dvp, dop, ap, qp, kp, vp, B, T, H, G, D, work);
  h.output(dq, dqp, qn);
  h.output(dk, dkp, kvn);
  h.output(dv, dvp, kvn);
}
