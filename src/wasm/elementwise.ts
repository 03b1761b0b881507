/**
 * JavaScript side of the elementwise WebAssembly kernels (assembly/elementwise.ts, double.ts,
 * rmsnorm.ts). Streaming kernels run in chunks of CHUNK elements, so that what must be copied in
 * and out (operands outside the instance's memory, src/wasm/heap.ts) stays in the core's cache.
 */
import type { RopeTables } from "../kernels/rope.js";
import { wasmHeap } from "./heap.js";

/** Elements per chunk: 64 KiB per array. */
const CHUNK = 16384;

function inChunks(n: number, run: (start: number, len: number) => void): void {
  for (let s = 0; s < n; s += CHUNK) run(s, Math.min(CHUNK, n - s));
}

export function wasmSwigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  const h = wasmHeap();
  inChunks(n, (s, len) => {
    h.reset();
    const g = h.read(gate.subarray(s, s + len));
    const u = h.read(up.subarray(s, s + len));
    const o = h.write(out.subarray(s, s + len));
    h.kernels.swigluForward(o, g, u, len);
    h.finish();
  });
}

export function wasmSwigluBackward(dgate: Float32Array | null, dup: Float32Array | null, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  const h = wasmHeap();
  inChunks(n, (s, len) => {
    h.reset();
    const dg = dgate ? h.update(dgate.subarray(s, s + len)) : 0;
    const du = dup ? h.update(dup.subarray(s, s + len)) : 0;
    const d = h.read(dout.subarray(s, s + len));
    const g = h.read(gate.subarray(s, s + len));
    const u = h.read(up.subarray(s, s + len));
    h.kernels.swigluBackward(dg, du, d, g, u, len);
    h.finish();
  });
}

/** dst[i] += src[i] over dst's length (the add of the collectives). */
export function wasmAddInto(dst: Float32Array, src: Float32Array): void {
  const h = wasmHeap();
  inChunks(dst.length, (s, len) => {
    h.reset();
    const d = h.update(dst.subarray(s, s + len));
    const x = h.read(src.subarray(s, s + len));
    h.kernels.addInto(d, x, len);
    h.finish();
  });
}

/** out[i] = a[i] + b[i] over n elements (out may be a or b: the add is then in place, a + b = b + a). */
export function wasmResidual(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  if (out === a || out === b) return wasmAddInto(out.subarray(0, n), (out === a ? b : a).subarray(0, n));
  const h = wasmHeap();
  inChunks(n, (s, len) => {
    h.reset();
    const x = h.read(a.subarray(s, s + len));
    const y = h.read(b.subarray(s, s + len));
    h.kernels.addTo(h.write(out.subarray(s, s + len)), x, y, len);
    h.finish();
  });
}

/** values[i] = values[i]·factor in double, rounded to float32. */
export function wasmScale(values: Float32Array, factor: number): void {
  const h = wasmHeap();
  inChunks(values.length, (s, len) => {
    h.reset();
    h.kernels.scaleBy(h.update(values.subarray(s, s + len)), len, factor);
    h.finish();
  });
}

/** The AdamW constants of one step, as src/train/optimizer.ts computes them (in double). */
export interface AdamWStep {
  beta1: number;
  beta2: number;
  lr: number;
  eps: number;
  bias1: number;
  bias2: number;
  shrink: number;
}

/** AdamW over elements [begin, end) of params, grads, m, v. */
export function wasmAdamW(params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, begin: number, end: number, k: AdamWStep): void {
  const h = wasmHeap();
  inChunks(end - begin, (s, len) => {
    const a = begin + s;
    h.reset();
    const p = h.update(params.subarray(a, a + len));
    const g = h.read(grads.subarray(a, a + len));
    const mp = h.update(m.subarray(a, a + len));
    const vp = h.update(v.subarray(a, a + len));
    h.kernels.adamw(p, g, mp, vp, len, k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.lr, k.eps, k.bias1, k.bias2, k.shrink);
    h.finish();
  });
}

/** RoPE over [B,T,NH,D]: forward out = R·inp (out may be inp), backward out += Rᵀ·inp. */
export function wasmRope(out: Float32Array, inp: Float32Array, tables: RopeTables, B: number, T: number, NH: number, D: number, backward: boolean): void {
  const h = wasmHeap();
  const rows = B * T * NH;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK / D));
  for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - r0);
    const [s, len] = [r0 * D, n * D];
    h.reset();
    const cos = h.table(tables.cos);
    const sin = h.table(tables.sin);
    const x = h.read(inp.subarray(s, s + len));
    const o = backward ? h.update(out.subarray(s, s + len)) : h.write(out.subarray(s, s + len));
    h.kernels.rope(o, x, cos, sin, n, r0, NH, T, D / 2, backward);
    h.finish();
  }
}

export function wasmRmsnormForward(out: Float32Array, rstd: Float32Array, inp: Float32Array, weight: Float32Array, N: number, C: number, eps: number): void {
  const h = wasmHeap();
  h.reset();
  const x = h.read(inp, N * C);
  const w = h.read(weight, C);
  const o = h.write(out, N * C);
  const r = h.write(rstd, N);
  h.kernels.rmsnormForward(o, r, x, w, N, C, eps);
  h.finish();
}

export function wasmRmsnormBackward(
  dinp: Float32Array | null, dweight: Float32Array | null, dout: Float32Array, inp: Float32Array, weight: Float32Array, rstd: Float32Array, N: number, C: number,
): void {
  const h = wasmHeap();
  h.reset();
  const di = dinp ? h.update(dinp, N * C) : 0;
  const dw = dweight ? h.update(dweight, C) : 0;
  const d = h.read(dout, N * C);
  const x = h.read(inp, N * C);
  const w = h.read(weight, C);
  const r = h.read(rstd, N);
  const acc = h.take(2 * C);
  h.kernels.rmsnormBackward(di, dw, d, x, w, r, N, C, acc);
  h.finish();
}
