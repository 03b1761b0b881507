/**
 * RMSNorm as in Hugging Face LlamaRMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps).
 *
 * Legend: N rows (B·T), C channels.
 *
 * Float32 buffers run in WebAssembly (in double like the loops below, src/wasm/elementwise.ts);
 * float64 buffers on the loops below.
 */
import { wasmRmsnormBackward, wasmRmsnormForward } from "../wasm/elementwise.js";
import { allFloat32, useWasm } from "../wasm/heap.js";
import type { Floats } from "./types.js";

type F32 = Float32Array;

/** out[N,C] = weight ⊙ inp · rstd; saves rstd[N] = 1/sqrt(mean(inp²) + eps). Overwrites out, rstd. */
export function rmsnormForward(
  out: Floats,
  rstd: Floats,
  inp: Floats,
  weight: Floats,
  N: number,
  C: number,
  eps: number,
): void {
  if (useWasm() && allFloat32(out, rstd, inp, weight)) return wasmRmsnormForward(out as F32, rstd as F32, inp as F32, weight as F32, N, C, eps);
  for (let n = 0; n < N; n++) {
    const base = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) {
      const x = inp[base + c];
      ss += x * x;
    }
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[base + c] = weight[c] * (inp[base + c] * r);
  }
}

/**
 * With xhat = x·r: dweight[c] += Σ_n dy·xhat, and
 * dinp += r · (w ⊙ dy − xhat · mean_c(w ⊙ dy ⊙ xhat)).
 * `dinp` may be null (weight gradient only); `dweight` may be null (input gradient only).
 */
export function rmsnormBackward(
  dinp: Floats | null,
  dweight: Floats | null,
  dout: Floats,
  inp: Floats,
  weight: Floats,
  rstd: Floats,
  N: number,
  C: number,
): void {
  if (useWasm() && allFloat32(dout, inp, weight, rstd, ...[dinp, dweight].filter((x) => x !== null))) {
    return wasmRmsnormBackward(dinp as F32 | null, dweight as F32 | null, dout as F32, inp as F32, weight as F32, rstd as F32, N, C);
  }
  const dw = dweight === null ? null : new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const base = n * C;
    const r = rstd[n];
    if (dinp !== null) {
      let dot = 0;
      for (let c = 0; c < C; c++) dot += weight[c] * dout[base + c] * inp[base + c] * r;
      const mean = dot / C;
      for (let c = 0; c < C; c++) {
        dinp[base + c] += r * (weight[c] * dout[base + c] - inp[base + c] * r * mean);
      }
    }
    if (dw !== null) {
      for (let c = 0; c < C; c++) dw[c] += dout[base + c] * inp[base + c] * r;
    }
  }
  if (dweight !== null && dw !== null) {
    for (let c = 0; c < C; c++) dweight[c] += dw[c];
  }
}
