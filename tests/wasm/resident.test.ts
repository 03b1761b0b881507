/**
 * Tensors inside the kernels' own memory (src/wasm/heap.ts): every WebAssembly kernel run on them
 * in place must give bit for bit what it gives on ordinary arrays, which it copies in and out (the
 * same operations in the same order on the same values: only the addresses differ). Operands that
 * overlap an output are copied first, as before, and a tensor keeps its place and values when the
 * memory grows.
 */
import { describe, expect, it } from "vitest";
import { addInto } from "../../src/comm/add.js";
import { attentionBackward, attentionForward } from "../../src/kernels/attention.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../../src/kernels/linear.js";
import { rmsnormBackward, rmsnormForward } from "../../src/kernels/rmsnorm.js";
import { ropeBackward, ropeForward, ropeTables } from "../../src/kernels/rope.js";
import { swigluBackward, swigluForward } from "../../src/kernels/swiglu.js";
import { AdamW } from "../../src/train/optimizer.js";
import { instantiateKernels, kernelFloats, wasmHeap } from "../../src/wasm/heap.js";
import { randn } from "../kernels/gradcheck.js";

const bits = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
/** Elements whose bits differ (a short failure message). */
const differing = (a: Float32Array, b: Float32Array): number => {
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  return x.reduce((n, v, i) => n + (v === y[i] ? 0 : 1), 0);
};

/** The same random values twice: in an ordinary array and in the kernels' memory. */
function pair(n: number, stream: string): [Float32Array, Float32Array] {
  const plain = Float32Array.from(randn(n, 7, stream));
  const resident = kernelFloats(n);
  resident.set(plain);
  return [plain, resident];
}

/** Named operands made twice by `pair`; `run` is called on each set, and every operand must end equal bit for bit. */
function sameOnBoth(sizes: Record<string, number>, run: (x: Record<string, Float32Array>) => void): void {
  const names = Object.keys(sizes);
  const pairs = names.map((name) => pair(sizes[name]!, name));
  expect(pairs.every(([, r]) => wasmHeap().isResident(r))).toBe(true);
  expect(pairs.some(([p]) => wasmHeap().isResident(p))).toBe(false);
  run(Object.fromEntries(names.map((name, i) => [name, pairs[i]![0]])));
  run(Object.fromEntries(names.map((name, i) => [name, pairs[i]![1]])));
  for (const [i, name] of names.entries()) expect(differing(pairs[i]![1], pairs[i]![0]), name).toBe(0);
}

describe("kernels on tensors inside the WebAssembly memory (no copy)", () => {
  const [N, K, O] = [37, 300, 45];

  it("the linear layer's three products", () => {
    sameOnBoth({ inp: N * K, w: O * K, out: N * O, dinp: N * K, dw: O * K }, (x) => {
      linearForward(x.out!, x.inp!, x.w!, N, K, O);
      linearBackwardInput(x.dinp!, x.out!, x.w!, N, K, O);
      linearBackwardWeight(x.dw!, x.out!, x.inp!, N, K, O);
    });
  });

  it("causal attention, forward and backward", () => {
    const [B, T, H, G, D] = [2, 19, 4, 2, 8];
    const [qn, kvn] = [B * T * H * D, B * T * G * D];
    const sizes = { q: qn, k: kvn, v: kvn, out: qn, att: B * H * T * T, dq: qn, dk: kvn, dv: kvn, dout: qn };
    sameOnBoth(sizes, (x) => {
      attentionForward(x.out!, x.att!, x.q!, x.k!, x.v!, B, T, H, G, D);
      attentionBackward(x.dq!, x.dk!, x.dv!, x.dout!, x.att!, x.q!, x.k!, x.v!, B, T, H, G, D);
    });
  });

  it("RMSNorm, SwiGLU, RoPE, the collectives' add and AdamW", () => {
    const [rows, C] = [33, 40];
    const n = 40_003; // several 16 384-element chunks of the streaming kernels
    const tables = ropeTables(11, C / 4, 10000);
    sameOnBoth({ x: rows * C, w: C, y: rows * C, rstd: rows, dx: rows * C, dw: C, g: n, u: n, s: n, dg: n, du: n, m: n, v: n }, (x) => {
      rmsnormForward(x.y!, x.rstd!, x.x!, x.w!, rows, C, 1e-5);
      rmsnormBackward(x.dx!, x.dw!, x.y!, x.x!, x.w!, x.rstd!, rows, C);
      ropeForward(x.y!, x.x!, tables, 3, 11, 4, C / 4);
      ropeBackward(x.dx!, x.y!, tables, 3, 11, 4, C / 4);
      swigluForward(x.s!, x.g!, x.u!, n);
      swigluBackward(x.dg!, x.du!, x.s!, x.g!, x.u!, n);
      addInto(x.s!, x.dg!);
      // AdamW's moments are the m and v of this set (random, as after some steps).
      const moments = [x.m!, x.v!.map(Math.abs)];
      const opt = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, warmupSteps: 0, minLr: 0, clipGradNorm: 0 };
      const adam = new AdamW(opt as never, n, [{ offset: 0, size: n, decay: true }], () => moments.shift()!);
      adam.step(x.u!, x.du!, 1e-3);
      x.v!.set(adam.v);
    });
  });

  it("an output that overlaps an input is computed from the input's values before the call, as with copies", () => {
    // K = O, so the output can be the input itself; K > 256 (two K blocks of the GEMM): computed in
    // place, the second block would read inputs that the first block's results overwrote.
    const [rows, C] = [20, 300];
    const [w, wr] = pair(C * C, "w");
    const [inp, inpR] = pair(rows * C, "inp");
    const expected = new Float32Array(rows * C);
    linearForward(expected, inp, w, rows, C, C);
    linearForward(inpR, inpR, wr, rows, C, C);
    expect(bits(inpR)).toBe(bits(expected));
    // RoPE in place, and an accumulation into a tensor that is also read: dinp += dout·W with dout = dinp.
    const tables = ropeTables(4, 8, 10000);
    const [x, xr] = pair(2 * 4 * 2 * 8, "x");
    const rotated = new Float32Array(x.length);
    ropeForward(rotated, x, tables, 2, 4, 2, 8);
    ropeForward(xr, xr, tables, 2, 4, 2, 8);
    expect(bits(xr)).toBe(bits(rotated));
    const [d, dr] = pair(rows * C, "d");
    linearBackwardInput(d, d.slice(), w, rows, C, C);
    linearBackwardInput(dr, dr, wr, rows, C, C);
    expect(bits(dr)).toBe(bits(d));
  });

  it("a tensor keeps its place and values when the memory grows", () => {
    const heap = instantiateKernels();
    const a = heap.resident(1000)!;
    a.set(randn(1000, 3, "a"));
    const before = bits(a);
    const pages = heap.memory.buffer.byteLength;
    const big = heap.resident(16 << 20)!; // 64 MiB: the memory must grow
    expect(heap.memory.buffer.byteLength).toBeGreaterThan(pages);
    expect(big.every((x) => x === 0)).toBe(true);
    expect(bits(a)).toBe(before);
    expect(heap.isResident(a) && heap.isResident(big)).toBe(true);
  });

  it("a kernel table is copied into the memory once and read there by later calls; past the limit it is a scratch copy", () => {
    const heap = instantiateKernels(1 << 20);
    const table = Float64Array.from({ length: 64 }, (_, i) => Math.cos(i));
    heap.reset();
    const ptr = heap.table(table);
    expect(Array.from(new Float64Array(heap.memory.buffer, ptr, 64))).toEqual(Array.from(table));
    heap.reset();
    expect(heap.table(table)).toBe(ptr);
    // 1 MiB of tables would pass the limit with the 512 bytes above: each call copies it to scratch instead.
    const big = new Float64Array(1 << 17).fill(0.5);
    heap.reset();
    const first = heap.table(big);
    expect(new Float64Array(heap.memory.buffer, first, 1 << 17).every((x) => x === 0.5)).toBe(true);
    new Float64Array(heap.memory.buffer, first, 1 << 17).fill(0); // the next call's scratch overwrites it
    heap.reset();
    const again = heap.table(big);
    expect(new Float64Array(heap.memory.buffer, again, 1 << 17).every((x) => x === 0.5)).toBe(true); // copied again
    expect(heap.resident(10_000)).not.toBeNull(); // the big table took none of the resident budget
  });

  it("past its limit a heap makes no more resident tensors, and a plain array is never resident", () => {
    const heap = instantiateKernels(1 << 20);
    expect(heap.resident(200_000)).not.toBeNull(); // 800 KB
    expect(heap.resident(100_000)).toBeNull(); // 400 KB more would pass 1 MiB
    expect(heap.resident(10_000)).not.toBeNull();
    expect(heap.isResident(new Float32Array(10))).toBe(false);
  });
});
