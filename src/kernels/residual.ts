/**
 * Elementwise helpers for the residual stream.
 *
 * Legend: n elements.
 */
import { wasmResidual } from "../wasm/elementwise.js";
import { allFloat32, useWasm } from "../wasm/heap.js";
import type { Floats } from "./types.js";

/** out = a + b (out may alias a or b). */
export function residualForward(out: Floats, a: Floats, b: Floats, n: number): void {
  if (useWasm() && allFloat32(out, a, b)) return wasmResidual(out as Float32Array, a as Float32Array, b as Float32Array, n);
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}
