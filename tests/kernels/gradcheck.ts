/**
 * Helpers for finite-difference gradient checks (not a test file itself).
 *
 * Every check uses a scalar objective L = Σ out ⊙ R with a fixed random R, so the upstream
 * gradient handed to a backward kernel is exactly R, and ∂L/∂x is compared with the central
 * difference (L(x + h) − L(x − h)) / 2h in Float64.
 *
 * Error budget of the central difference, h = 1e-5, Float64 (ε = 1.1e-16):
 *   truncation h²/6 · |L'''| ≈ 1.7e-11 · |L'''|, round-off ≈ ε · |L| / h ≈ 1.1e-11 · |L|.
 * With |L| and |L'''| at most ~100 for the small random shapes used here, the difference is
 * accurate to ~2e-9 absolute. Tests allow |analytic − numeric| ≤ 1e-7 + 1e-6·|numeric|: a
 * margin of ~50× over the budget, while any real bug (a wrong sign, factor or index) shows up
 * as an O(|gradient|) error, orders of magnitude above it.
 */
import { Random } from "../../src/util/random.js";
import type { Floats } from "../../src/kernels/types.js";

export const H_STEP = 1e-5;
export const ATOL = 1e-7;
export const RTOL = 1e-6;

export function randn(n: number, seed: number, stream: string, std = 1): Float64Array {
  const rng = new Random(seed, stream);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}

export function randInts(n: number, max: number, seed: number, stream: string): Int32Array {
  const rng = new Random(seed, stream);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(max);
  return out;
}

export function dot(a: Floats, b: Floats): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Central-difference gradient of f with respect to every entry of x. x is restored and f is
 * evaluated once more at the end, so buffers f writes (saved activations) match x again.
 */
export function numericGrad(f: () => number, x: Floats, h = H_STEP): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + h;
    const fp = f();
    x[i] = old - h;
    const fm = f();
    x[i] = old;
    g[i] = (fp - fm) / (2 * h);
  }
  f();
  return g;
}

/** Largest violation of |a − e| ≤ atol + rtol·|e|, as a ratio (≤ 1 passes). */
export function worstRatio(actual: Floats, expected: Floats, atol = ATOL, rtol = RTOL): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const r = Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i]));
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : Math.max(worst, r);
  }
  return worst;
}

export function maxAbs(a: Floats): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function relError(a: Floats, b: Floats): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
