/**
 * Elementwise helpers for the residual stream.
 *
 * Legend: n elements.
 */
import type { Floats } from "./types.js";

/** out = a + b (out may alias a or b). */
export function residualForward(out: Floats, a: Floats, b: Floats, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}
