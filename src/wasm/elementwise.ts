/**
 * JavaScript side of the elementwise WebAssembly kernels (assembly/elementwise.ts, double.ts,
 * rmsnorm.ts). Streaming kernels run in chunks of CHUNK elements, so what is copied in and out
 * stays in the core's cache and the instance's memory stays small.
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
    const g = h.input(gate.subarray(s, s + len), len);
    const u = h.input(up.subarray(s, s + len), len);
    const o = h.take(len);
    h.view();
    h.kernels.swigluForward(o, g, u, len);
    h.output(out.subarray(s, s + len), o, len);
  });
}

export function wasmSwigluBackward(dgate: Float32Array | null, dup: Float32Array | null, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  const h = wasmHeap();
  inChunks(n, (s, len) => {
    h.reset();
    const dg = dgate ? h.input(dgate.subarray(s, s + len), len) : 0;
    const du = dup ? h.input(dup.subarray(s, s + len), len) : 0;
    const d = h.input(dout.subarray(s, s + len), len);
    const g = h.input(gate.subarray(s, s + len), len);
    const u = h.input(up.subarray(s, s + len), len);
    h.kernels.swigluBackward(dg, du, d, g, u, len);
    if (dgate) h.output(dgate.subarray(s, s + len), dg, len);
    if (dup) h.output(dup.subarray(s, s + len), du, len);
  });
}

/** dst[i] += src[i] over dst's length (the add of the collectives). */
export function wasmAddInto(dst: Float32Array, src: Float32Array): void {
  const h = wasmHeap();
  inChunks(dst.length, (s, len) => {
    h.reset();
    const d = h.input(dst.subarray(s, s + len), len);
    const x = h.input(src.subarray(s, s + len), len);
    h.kernels.addInto(d, x, len);
    h.output(dst.subarray(s, s + len), d, len);
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
    const p = h.input(params.subarray(a, a + len), len);
    const g = h.input(grads.subarray(a, a + len), len);
    const mp = h.input(m.subarray(a, a + len), len);
    const vp = h.input(v.subarray(a, a + len), len);
    h.kernels.adamw(p, g, mp, vp, len, k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.lr, k.eps, k.bias1, k.bias2, k.shrink);
    h.output(params.subarray(a, a + len), p, len);
    h.output(m.subarray(a, a + len), mp, len);
    h.output(v.subarray(a, a + len), vp, len);
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
    const cos = h.inputF64(tables.cos);
    const sin = h.inputF64(tables.sin);
    const x = h.input(inp.subarray(s, s + len), len);
    const o = backward ? h.input(out.subarray(s, s + len), len) : h.take(len);
    h.view();
    h.kernels.rope(o, x, cos, sin, n, r0, NH, T, D / 2, backward);
    h.output(out.subarray(s, s + len), o, len);
  }
}

export function wasmRmsnormForward(out: Float32Array, rstd: Float32Array, inp: Float32Array, weight: Float32Array, N: number, C: number, eps: number): void {
  const h = wasmHeap();
  h.reset();
  const x = h.input(inp, N * C);
  const w = h.input(weight, C);
  const o = h.take(N * C);
  const r = h.take(N);
  h.view();
  h.kernels.rmsnormForward(o, r, x, w, N, C, eps);
  h.output(out, o, N * C);
  h.output(rstd, r, N);
}

export function wasmRmsnormBackward(
  dinp: Float32Array | null, dweight: Float32Array | null, dout: Float32Array, inp: Float32Array, weight: Float32Array, rstd: Float32Array, N: number, C: number,
): void {
  const h = wasmHeap();
  h.reset();
  const di = dinp ? h.input(dinp, N * C) : 0;
  const dw = dweight ? h.input(dweight, C) : 0;
  const d = h.input(dout, N * C);
  const x = h.input(inp, N * C);
  const w = h.input(weight, C);
  const r = h.input(rstd, N);
  const acc = h.take(2 * C);
  h.view();
  h.kernels.rmsnormBackward(di, dw, d, x, w, r, N, C, acc);
  if (dinp) h.output(dinp, di, N * C);
  if (dweight) h.output(dweight, dw, C);
}
