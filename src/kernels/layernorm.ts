/**
 * LayerNorm (Ba et al. 2016) as GPT-2 and Megatron-LM use it before attention, before the MLP
 * and before the head: y = w ⊙ (x − mean(x)) / sqrt(var(x) + eps) + b, with the biased variance
 * (divided by C), as torch.nn.LayerNorm computes it.
 *
 * Legend: N rows (B·T), C channels.
 */
import type { Floats } from "./types.js";

/** out[N,C] = weight ⊙ (inp − mean)·rstd + bias; saves mean[N] and rstd[N]. Overwrites out, mean, rstd. */
export function layernormForward(out: Floats, mean: Floats, rstd: Floats, inp: Floats, weight: Floats, bias: Floats, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    const base = n * C;
    let s = 0;
    for (let c = 0; c < C; c++) s += inp[base + c];
    const m = s / C;
    let ss = 0;
    for (let c = 0; c < C; c++) {
      const d = inp[base + c] - m;
      ss += d * d;
    }
    const r = 1 / Math.sqrt(ss / C + eps);
    mean[n] = m;
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[base + c] = weight[c] * ((inp[base + c] - m) * r) + bias[c];
  }
}

/**
 * With xhat = (x − mean)·r and g = w ⊙ dy: dbias[c] += Σ_n dy, dweight[c] += Σ_n dy·xhat, and
 * dinp += r · (g − mean_c(g) − xhat · mean_c(g ⊙ xhat)).
 * Any of dinp, dweight, dbias may be null (the input gradient and the parameter gradients are
 * computed in different passes of a zero-bubble schedule).
 */
export function layernormBackward(
  dinp: Floats | null,
  dweight: Floats | null,
  dbias: Floats | null,
  dout: Floats,
  inp: Floats,
  weight: Floats,
  mean: Floats,
  rstd: Floats,
  N: number,
  C: number,
): void {
  const dw = dweight === null ? null : new Float64Array(C);
  const db = dbias === null ? null : new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const base = n * C;
    const m = mean[n];
    const r = rstd[n];
    if (dinp !== null) {
      let sumG = 0;
      let sumGx = 0;
      for (let c = 0; c < C; c++) {
        const g = weight[c] * dout[base + c];
        sumG += g;
        sumGx += g * (inp[base + c] - m) * r;
      }
      const meanG = sumG / C;
      const meanGx = sumGx / C;
      for (let c = 0; c < C; c++) {
        const xhat = (inp[base + c] - m) * r;
        dinp[base + c] += r * (weight[c] * dout[base + c] - meanG - xhat * meanGx);
      }
    }
    if (dw !== null) for (let c = 0; c < C; c++) dw[c] += dout[base + c] * (inp[base + c] - m) * r;
    if (db !== null) for (let c = 0; c < C; c++) db[c] += dout[base + c];
  }
  if (dweight !== null && dw !== null) for (let c = 0; c < C; c++) dweight[c] += dw[c];
  if (dbias !== null && db !== null) for (let c = 0; c < C; c++) dbias[c] += db[c];
}
