/**
 * Rotary position embedding, rotate-half convention as in Hugging Face Llama
 * (`rotate_half`: pairs (i, i + D/2)); positions are 0..T−1 within each sequence.
 *
 * Legend: B batch, T time, NH heads of the tensor (H for q, G for k), D head size (even).
 * Tensors are [B,T,NH,D]; tables are [T, D/2] with angle t · inv_freq[i], inv_freq[i] = θ^(−2i/D).
 *
 * Float32 buffers run in WebAssembly, in double with the same operations as the loops below, so
 * bit for bit the same result (src/wasm/elementwise.ts); float64 buffers on the loops below.
 */
import { wasmRope } from "../wasm/elementwise.js";
import { allFloat32, useWasm } from "../wasm/heap.js";
import type { Floats } from "./types.js";

export interface RopeTables {
  cos: Float64Array;
  sin: Float64Array;
  /** Positions the tables cover (T of any call must not exceed it). */
  T: number;
  D: number;
}

/** cos/sin tables [T, D/2], computed in double. */
export function ropeTables(T: number, D: number, theta: number): RopeTables {
  const half = D / 2;
  const cos = new Float64Array(T * half);
  const sin = new Float64Array(T * half);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.pow(theta, (-2 * i) / D);
    for (let t = 0; t < T; t++) {
      const angle = t * invFreq;
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, T, D };
}

/** Tables with no values, for a model that charges RoPE's cost and computes nothing (shapes mode). */
export function noRopeTables(T: number, D: number): RopeTables {
  return { cos: new Float64Array(0), sin: new Float64Array(0), T, D };
}

/**
 * out[b,t,h,i]       = x[i]·cos − x[i+D/2]·sin
 * out[b,t,h,i+D/2]   = x[i+D/2]·cos + x[i]·sin
 * `out` may be the same buffer as `inp` (in-place rotation).
 */
export function ropeForward(out: Floats, inp: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
  if (useWasm() && allFloat32(out, inp)) return wasmRope(out as Float32Array, inp as Float32Array, tables, B, T, NH, D, false);
  const half = D / 2;
  const { cos, sin } = tables;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tb = t * half;
      for (let h = 0; h < NH; h++) {
        const base = ((b * T + t) * NH + h) * D;
        for (let i = 0; i < half; i++) {
          const x1 = inp[base + i];
          const x2 = inp[base + i + half];
          const c = cos[tb + i];
          const s = sin[tb + i];
          out[base + i] = x1 * c - x2 * s;
          out[base + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
}

/** The rotation is orthogonal, so dinp += Rᵀ·dout (rotation by −angle). Needs no saved input. */
export function ropeBackward(dinp: Floats, dout: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
  if (useWasm() && allFloat32(dinp, dout)) return wasmRope(dinp as Float32Array, dout as Float32Array, tables, B, T, NH, D, true);
  const half = D / 2;
  const { cos, sin } = tables;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tb = t * half;
      for (let h = 0; h < NH; h++) {
        const base = ((b * T + t) * NH + h) * D;
        for (let i = 0; i < half; i++) {
          const g1 = dout[base + i];
          const g2 = dout[base + i + half];
          const c = cos[tb + i];
          const s = sin[tb + i];
          dinp[base + i] += g1 * c + g2 * s;
          dinp[base + i + half] += g2 * c - g1 * s;
        }
      }
    }
  }
}
