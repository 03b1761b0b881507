/**
 * SwiGLU gating of the Llama MLP: out = silu(gate) ⊙ up, silu(x) = x·σ(x).
 *
 * Legend: n elements (N·F for N rows and F intermediate size).
 *
 * Float32 buffers run in WebAssembly (float32, a vector exp: src/wasm/elementwise.ts); float64
 * buffers (gradient checks) on the loops below, in double.
 */
import { wasmSwigluBackward, wasmSwigluForward } from "../wasm/elementwise.js";
import { allFloat32, useWasm } from "../wasm/heap.js";
import type { Floats } from "./types.js";

type F32 = Float32Array;

export function swigluForward(out: Floats, gate: Floats, up: Floats, n: number): void {
  if (useWasm() && allFloat32(out, gate, up)) return wasmSwigluForward(out as F32, gate as F32, up as F32, n);
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
  if (useWasm() && allFloat32(dout, gate, up, ...[dgate, dup].filter((x) => x !== null))) {
    return wasmSwigluBackward(dgate as F32 | null, dup as F32 | null, dout as F32, gate as F32, up as F32, n);
  }
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const s = 1 / (1 + Math.exp(-g));
    const go = dout[i];
    if (dgate !== null) dgate[i] += go * up[i] * s * (1 + g * (1 - s));
    if (dup !== null) dup[i] += go * g * s;
  }
}
