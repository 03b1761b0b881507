/**
 * SwiGLU gating of the Llama MLP: out = silu(gate) ⊙ up, silu(x) = x·σ(x).
 *
 * Legend: n elements (N·F for N rows and F intermediate size).
 */
import type { Floats } from "./types.js";

export function swigluForward(out: Floats, gate: Floats, up: Floats, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    out[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}

/** dgate += dout·up·σ(g)(1 + g(1 − σ(g))), dup += dout·silu(g). Either gradient may be null. */
export function swigluBackward(
  dgate: Floats | null,
  dup: Floats | null,
  dout: Floats,
  gate: Floats,
  up: Floats,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const s = 1 / (1 + Math.exp(-g));
    const go = dout[i];
    if (dgate !== null) dgate[i] += go * up[i] * s * (1 + g * (1 - s));
    if (dup !== null) dup[i] += go * g * s;
  }
}
