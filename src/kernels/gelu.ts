/**
 * GELU (Hendrycks & Gimpel 2016) in its tanh approximation, the activation of GPT-2 and
 * Megatron-LM's GPT ("gelu_new" in Hugging Face transformers):
 *   gelu(x) = ½·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³).
 *
 * Legend: n elements (N·F for N rows and F intermediate size).
 */
import type { Floats } from "./types.js";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const CUBIC = 0.044715;

export function geluForward(out: Floats, inp: Floats, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = inp[i];
    const t = Math.tanh(SQRT_2_OVER_PI * (x + CUBIC * x * x * x));
    out[i] = 0.5 * x * (1 + t);
  }
}

/** dinp += dout · gelu'(x), gelu'(x) = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²). */
export function geluBackward(dinp: Floats, dout: Floats, inp: Floats, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = inp[i];
    const t = Math.tanh(SQRT_2_OVER_PI * (x + CUBIC * x * x * x));
    const du = SQRT_2_OVER_PI * (1 + 3 * CUBIC * x * x);
    dinp[i] += dout[i] * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du);
  }
}
