/**
 * Linear layer without bias, nn.Linear weight layout [out, in]: out = inp · weightᵀ.
 *
 * Legend: N rows (B·T), K input features, O output features.
 *
 * Float32 buffers run on the WebAssembly SIMD GEMM (src/wasm/linear.ts, float32 accumulation);
 * float64 buffers (gradient checks) on the JavaScript loops below (`*Js`, double accumulation).
 * Those loops are arranged so the innermost loop walks two contiguous rows (forward: a row of inp
 * and a row of weight; backward: axpy into a Float64Array row accumulator). Several rows are
 * handled per pass so each load is reused, which is what makes plain JavaScript reach ~1–2 GFLOP/s.
 */
import { allFloat32, useWasm } from "../wasm/heap.js";
import { wasmLinearBackwardInput, wasmLinearBackwardWeight, wasmLinearForward } from "../wasm/linear.js";
import type { Floats } from "./types.js";

/** linearForward in JavaScript, accumulating in double. */
export function linearForward(out: Floats, inp: Floats, weight: Floats, N: number, K: number, O: number): void {
  if (useWasm() && allFloat32(out, inp, weight)) wasmLinearForward(out as Float32Array, inp as Float32Array, weight as Float32Array, N, K, O);
  else linearForwardJs(out, inp, weight, N, K, O);
}

/** dinp[N,K] += dout[N,O] · weight[O,K]. */
export function linearBackwardInput(dinp: Floats, dout: Floats, weight: Floats, N: number, K: number, O: number): void {
  if (useWasm() && allFloat32(dinp, dout, weight)) wasmLinearBackwardInput(dinp as Float32Array, dout as Float32Array, weight as Float32Array, N, K, O);
  else linearBackwardInputJs(dinp, dout, weight, N, K, O);
}

/** dweight[O,K] += dout[N,O]ᵀ · inp[N,K]. */
export function linearBackwardWeight(dweight: Floats, dout: Floats, inp: Floats, N: number, K: number, O: number): void {
  if (useWasm() && allFloat32(dweight, dout, inp)) wasmLinearBackwardWeight(dweight as Float32Array, dout as Float32Array, inp as Float32Array, N, K, O);
  else linearBackwardWeightJs(dweight, dout, inp, N, K, O);
}

/** linearForward in JavaScript, accumulating in double. */
export function linearForwardJs(out: Floats, inp: Floats, weight: Floats, N: number, K: number, O: number): void {
  let n = 0;
  // Two input rows × four weight rows per pass: 8 accumulators, each loaded value used 2–4 times.
  for (; n + 2 <= N; n += 2) {
    const i0 = n * K;
    const i1 = i0 + K;
    const ob0 = n * O;
    const ob1 = ob0 + O;
    let o = 0;
    for (; o + 4 <= O; o += 4) {
      const w0 = o * K;
      const w1 = w0 + K;
      const w2 = w1 + K;
      const w3 = w2 + K;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = inp[i0 + k];
        const x1 = inp[i1 + k];
        const v0 = weight[w0 + k];
        const v1 = weight[w1 + k];
        const v2 = weight[w2 + k];
        const v3 = weight[w3 + k];
        a0 += x0 * v0; a1 += x0 * v1; a2 += x0 * v2; a3 += x0 * v3;
        b0 += x1 * v0; b1 += x1 * v1; b2 += x1 * v2; b3 += x1 * v3;
      }
      out[ob0 + o] = a0; out[ob0 + o + 1] = a1; out[ob0 + o + 2] = a2; out[ob0 + o + 3] = a3;
      out[ob1 + o] = b0; out[ob1 + o + 1] = b1; out[ob1 + o + 2] = b2; out[ob1 + o + 3] = b3;
    }
    for (; o < O; o++) {
      const w0 = o * K;
      let a = 0, b = 0;
      for (let k = 0; k < K; k++) {
        const v = weight[w0 + k];
        a += inp[i0 + k] * v;
        b += inp[i1 + k] * v;
      }
      out[ob0 + o] = a;
      out[ob1 + o] = b;
    }
  }
  for (; n < N; n++) {
    const i0 = n * K;
    for (let o = 0; o < O; o++) {
      const w0 = o * K;
      let a = 0;
      for (let k = 0; k < K; k++) a += inp[i0 + k] * weight[w0 + k];
      out[n * O + o] = a;
    }
  }
}

/** linearBackwardInput in JavaScript: two rows at a time, each weight load used twice. */
export function linearBackwardInputJs(dinp: Floats, dout: Floats, weight: Floats, N: number, K: number, O: number): void {
  const acc0 = new Float64Array(K);
  const acc1 = new Float64Array(K);
  let n = 0;
  for (; n + 2 <= N; n += 2) {
    acc0.fill(0);
    acc1.fill(0);
    const da = n * O;
    const db = da + O;
    let o = 0;
    for (; o + 4 <= O; o += 4) {
      const a0 = dout[da + o], a1 = dout[da + o + 1], a2 = dout[da + o + 2], a3 = dout[da + o + 3];
      const b0 = dout[db + o], b1 = dout[db + o + 1], b2 = dout[db + o + 2], b3 = dout[db + o + 3];
      const w0 = o * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      for (let k = 0; k < K; k++) {
        const v0 = weight[w0 + k], v1 = weight[w1 + k], v2 = weight[w2 + k], v3 = weight[w3 + k];
        acc0[k] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
        acc1[k] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3;
      }
    }
    for (; o < O; o++) {
      const a = dout[da + o];
      const b = dout[db + o];
      const w0 = o * K;
      for (let k = 0; k < K; k++) {
        const v = weight[w0 + k];
        acc0[k] += a * v;
        acc1[k] += b * v;
      }
    }
    const i0 = n * K;
    const i1 = i0 + K;
    for (let k = 0; k < K; k++) {
      dinp[i0 + k] += acc0[k];
      dinp[i1 + k] += acc1[k];
    }
  }
  for (; n < N; n++) {
    acc0.fill(0);
    const da = n * O;
    for (let o = 0; o < O; o++) {
      const a = dout[da + o];
      const w0 = o * K;
      for (let k = 0; k < K; k++) acc0[k] += a * weight[w0 + k];
    }
    const i0 = n * K;
    for (let k = 0; k < K; k++) dinp[i0 + k] += acc0[k];
  }
}

/** linearBackwardWeight in JavaScript: two weight rows at a time, each input load used twice. */
export function linearBackwardWeightJs(dweight: Floats, dout: Floats, inp: Floats, N: number, K: number, O: number): void {
  const acc0 = new Float64Array(K);
  const acc1 = new Float64Array(K);
  let o = 0;
  for (; o + 2 <= O; o += 2) {
    acc0.fill(0);
    acc1.fill(0);
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      const r0 = n * O + o, r1 = r0 + O, r2 = r1 + O, r3 = r2 + O;
      const a0 = dout[r0], a1 = dout[r1], a2 = dout[r2], a3 = dout[r3];
      const b0 = dout[r0 + 1], b1 = dout[r1 + 1], b2 = dout[r2 + 1], b3 = dout[r3 + 1];
      const i0 = n * K, i1 = i0 + K, i2 = i1 + K, i3 = i2 + K;
      for (let k = 0; k < K; k++) {
        const x0 = inp[i0 + k], x1 = inp[i1 + k], x2 = inp[i2 + k], x3 = inp[i3 + k];
        acc0[k] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
        acc1[k] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3;
      }
    }
    for (; n < N; n++) {
      const a = dout[n * O + o];
      const b = dout[n * O + o + 1];
      const i0 = n * K;
      for (let k = 0; k < K; k++) {
        const x = inp[i0 + k];
        acc0[k] += a * x;
        acc1[k] += b * x;
      }
    }
    const w0 = o * K;
    const w1 = w0 + K;
    for (let k = 0; k < K; k++) {
      dweight[w0 + k] += acc0[k];
      dweight[w1 + k] += acc1[k];
    }
  }
  for (; o < O; o++) {
    acc0.fill(0);
    for (let n = 0; n < N; n++) {
      const a = dout[n * O + o];
      const i0 = n * K;
      for (let k = 0; k < K; k++) acc0[k] += a * inp[i0 + k];
    }
    const w0 = o * K;
    for (let k = 0; k < K; k++) dweight[w0 + k] += acc0[k];
  }
}

/** Both halves of the backward; `dinp` may be null when the input gradient is not needed. */
export function linearBackward(
  dinp: Floats | null,
  dweight: Floats,
  dout: Floats,
  inp: Floats,
  weight: Floats,
  N: number,
  K: number,
  O: number,
): void {
  if (dinp !== null) linearBackwardInput(dinp, dout, weight, N, K, O);
  linearBackwardWeight(dweight, dout, inp, N, K, O);
}
