/**
 * The add loop of every reduction, on the channel path and the zero-copy path alike. Float32 runs
 * in WebAssembly (128-bit vectors, in cache-sized chunks copied in and out; a float32 add is the
 * JavaScript double add rounded, so the sums are the same bit for bit); float64 in JavaScript.
 */
import type { Floats } from "../kernels/types.js";
import { wasmAddInto } from "../wasm/elementwise.js";
import { useWasm } from "../wasm/heap.js";

/**
 * dst[i] += src[i]; unrolled by 4, which runs ~1.6× faster than the plain loop in V8. One loop
 * per element type, so each stays monomorphic (element loads specialised to one array type): one
 * shared loop that had seen both types added 16 MB of float32 ~2× slower on Node 20. So the two
 * loops below are the same text on purpose.
 */
export function addInto(dst: Floats, src: Floats): void {
  if (dst instanceof Float32Array) (useWasm() ? wasmAddInto : addF32)(dst, src as Float32Array);
  else addF64(dst, src as Float64Array);
}

function addF32(dst: Float32Array, src: Float32Array): void {
  const m = src.length;
  let i = 0;
  for (; i + 3 < m; i += 4) {
    dst[i] += src[i]!;
    dst[i + 1] += src[i + 1]!;
    dst[i + 2] += src[i + 2]!;
    dst[i + 3] += src[i + 3]!;
  }
  for (; i < m; i++) dst[i] += src[i]!;
}

function addF64(dst: Float64Array, src: Float64Array): void {
  const m = src.length;
  let i = 0;
  for (; i + 3 < m; i += 4) {
    dst[i] += src[i]!;
    dst[i + 1] += src[i + 1]!;
    dst[i + 2] += src[i + 2]!;
    dst[i + 3] += src[i + 3]!;
  }
  for (; i < m; i++) dst[i] += src[i]!;
}
