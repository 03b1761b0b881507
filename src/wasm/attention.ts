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
  const qp = h.read(q, qn);
  const kp = h.read(k, kvn);
  const vp = h.read(v, kvn);
  const op = h.write(out, qn);
  const ap = h.write(att, an);
  const work = h.take(workFloats(T, h.kernels.GEMM_WORK_FLOATS.value as number));
  h.kernels.attentionForward(op, ap, qp, kp, vp, B, T, H, G, D, work);
  h.finish();
}

export function wasmAttentionBackward(
  dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, att: Float32Array,
  q: Float32Array, k: Float32Array, v: Float32Array,
  B: number, T: number, H: number, G: number, D: number,
): void {
  const h = wasmHeap();
  h.reset();
  const [qn, kvn, an] = [B * T * H * D, B * T * G * D, B * H * T * T];
  const dqp = h.update(dq, qn);
  const dkp = h.update(dk, kvn);
  const dvp = h.update(dv, kvn);
  const dop = h.read(dout, qn);
  const ap = h.read(att, an);
  const qp = h.read(q, qn);
  const kp = h.read(k, kvn);
  const vp = h.read(v, kvn);
  const work = h.take(workFloats(T, h.kernels.GEMM_WORK_FLOATS.value as number));
  h.kernels.attentionBackward(dqp, dkp, dvp, dop, ap, qp, kp, vp, B, T, H, G, D, work);
  h.finish();
}
