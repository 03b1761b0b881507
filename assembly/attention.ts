/**
 * Causal grouped-query attention on the GEMM (layouts as src/kernels/attention.ts: q, out
 * [B,T,H,D]; k, v [B,T,G,D]; att [B,H,T,T] softmax probabilities, zero above the diagonal).
 *
 * Per batch element and head the products are GEMMs over strided views (a row of q is H·D floats
 * after the previous one): scores q·kᵀ, out = P·v, and backward dP = dout·vᵀ, dq += dS·k,
 * dk += dSᵀ·q, dv += Pᵀ·dout. Every product runs by blocks of RB rows and skips the blocks of the
 * masked upper triangle: scores and dP are computed up to a block's last column, P·v and dS·k
 * sum over the keys up to it, dSᵀ·q and Pᵀ·dout over the queries from a block's first row on. The
 * masked entries inside the diagonal blocks are zero in P and dS, so they add exact zeros. The
 * softmax and dS rows are taken in double (as the JavaScript kernel does) and stored as float32.
 *
 * Scratch at `work`: T·T floats (dP, dS), T doubles (a row in double), then the GEMM's work.
 */
import { gemm } from "./gemm";

/** Rows per block of the causal score products (a multiple of the micro-kernel's 4 rows). */
const RB: i32 = 48;

/** s[T,T] = x·yᵀ over the causal row blocks; rows of x are xs floats apart, rows of y ys apart. */
function causalScores(s: usize, x: usize, xs: i32, y: usize, ys: i32, T: i32, D: i32, work: usize): void {
  for (let i0 = 0; i0 < T; i0 += RB) {
    const rows = min(RB, T - i0);
    gemm(rows, i0 + rows, D, x + <usize>(i0 * xs) * 4, xs, 1, y, 1, ys, s + <usize>(i0 * T) * 4, T, 0, work);
  }
}

/** c[T,D] (rows ldc apart) (+)= s[T,T]·y over the keys up to each row block's last row (s: P or dS). */
function causalRows(c: usize, ldc: i32, s: usize, y: usize, ys: i32, T: i32, D: i32, beta: i32, work: usize): void {
  for (let i0 = 0; i0 < T; i0 += RB) {
    const rows = min(RB, T - i0);
    gemm(rows, D, i0 + rows, s + <usize>(i0 * T) * 4, T, 1, y, ys, 1, c + <usize>(i0 * ldc) * 4, ldc, beta, work);
  }
}

/** c[T,D] (rows ldc apart) += s[T,T]ᵀ·y over the queries from each row block's first row on. */
function causalColumns(c: usize, ldc: i32, s: usize, y: usize, ys: i32, T: i32, D: i32, work: usize): void {
  for (let j0 = 0; j0 < T; j0 += RB) {
    const rows = min(RB, T - j0);
    gemm(rows, D, T - j0, s + <usize>(j0 * T + j0) * 4, 1, T, y + <usize>(j0 * ys) * 4, ys, 1, c + <usize>(j0 * ldc) * 4, ldc, 1, work);
  }
}

/** Row t of p (T floats): softmax of scale·p[0..t] computed in double and stored; zero above the diagonal. */
function softmaxRow(p: usize, row: usize, t: i32, T: i32, scale: f64): void {
  let max = -Infinity;
  for (let j = 0; j <= t; j++) max = Math.max(max, <f64>load<f32>(p + <usize>j * 4) * scale);
  let sum: f64 = 0;
  for (let j = 0; j <= t; j++) {
    const e = Math.exp(<f64>load<f32>(p + <usize>j * 4) * scale - max);
    store<f64>(row + <usize>j * 8, e);
    sum += e;
  }
  const inv = 1 / sum;
  for (let j = 0; j <= t; j++) store<f32>(p + <usize>j * 4, <f32>(load<f64>(row + <usize>j * 8) * inv));
  for (let j = t + 1; j < T; j++) store<f32>(p + <usize>j * 4, 0);
}

export function attentionForward(out: usize, att: usize, q: usize, k: usize, v: usize, B: i32, T: i32, H: i32, G: i32, D: i32, work: usize): void {
  const rep = H / G;
  const row = work + <usize>(T * T) * 4;
  const gemmWork = row + <usize>(2 * T) * 4;
  const scale = 1 / Math.sqrt(<f64>D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = h / rep;
      const qh = q + <usize>((b * T * H + h) * D) * 4;
      const kg = k + <usize>((b * T * G + g) * D) * 4;
      const vg = v + <usize>((b * T * G + g) * D) * 4;
      const p = att + <usize>((b * H + h) * T * T) * 4;
      causalScores(p, qh, H * D, kg, G * D, T, D, gemmWork);
      for (let t = 0; t < T; t++) softmaxRow(p + <usize>(t * T) * 4, row, t, T, scale);
      causalRows(out + <usize>((b * T * H + h) * D) * 4, H * D, p, vg, G * D, T, D, 0, gemmWork);
    }
  }
}

/** Row t of ds (holding dP): dS = P ⊙ (dP − Σ P ⊙ dP)·scale, in double, stored; zero above the diagonal. */
function softmaxBackwardRow(ds: usize, p: usize, t: i32, T: i32, scale: f64): void {
  let rowDot: f64 = 0;
  for (let j = 0; j <= t; j++) rowDot += <f64>load<f32>(p + <usize>j * 4) * <f64>load<f32>(ds + <usize>j * 4);
  for (let j = 0; j <= t; j++) {
    const pj = <f64>load<f32>(p + <usize>j * 4);
    store<f32>(ds + <usize>j * 4, <f32>(pj * (<f64>load<f32>(ds + <usize>j * 4) - rowDot) * scale));
  }
  for (let j = t + 1; j < T; j++) store<f32>(ds + <usize>j * 4, 0);
}

export function attentionBackward(
  dq: usize, dk: usize, dv: usize, dout: usize, att: usize, q: usize, k: usize, v: usize,
  B: i32, T: i32, H: i32, G: i32, D: i32, work: usize,
): void {
  const rep = H / G;
  const ds = work;
  const gemmWork = work + <usize>(T * T + 2 * T) * 4;
  const scale = 1 / Math.sqrt(<f64>D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = h / rep;
      const qOff = <usize>((b * T * H + h) * D) * 4;
      const kvOff = <usize>((b * T * G + g) * D) * 4;
      const p = att + <usize>((b * H + h) * T * T) * 4;
      causalScores(ds, dout + qOff, H * D, v + kvOff, G * D, T, D, gemmWork);
      for (let t = 0; t < T; t++) softmaxBackwardRow(ds + <usize>(t * T) * 4, p + <usize>(t * T) * 4, t, T, scale);
      causalRows(dq + qOff, H * D, ds, k + kvOff, G * D, T, D, 1, gemmWork);
      causalColumns(dk + kvOff, G * D, ds, q + qOff, H * D, T, D, gemmWork);
      causalColumns(dv + kvOff, G * D, p, dout + qOff, H * D, T, D, gemmWork);
    }
  }
}
