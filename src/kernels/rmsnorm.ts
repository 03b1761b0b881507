/**
 * RMSNorm as in Hugging Face LlamaRMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps).
 *
 * Legend: N rows (B·T), C channels.
 */
import type { Floats } from "./types.js";

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
