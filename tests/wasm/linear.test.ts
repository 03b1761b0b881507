import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { linearBackwardInput, linearBackwardWeight, linearForward, linearForwardJs } from "../../src/kernels/linear.js";
import { randn } from "../kernels/gradcheck.js";
import { worstBoundRatio } from "./float32-bound.js";
import { kernelBuild, kernelMemory, WasmHeap } from "../../src/wasm/heap.js";

/** K-blocking of assembly/gemm.ts: a dot product of length K is summed in ⌈K/KC⌉ blocks. */
const KC = 256;

/**
 * Σ_p A(i,p)·B(p,j) (+ C0) in double, and Σ|terms|, for op(A)(i,p) = a[i·ars + p·acs] and
 * op(B)(p,j) = b[p·brs + j·bcs]: the exact result and the scale of its float32 bound.
 */
function reference(M: number, N: number, K: number, a: Float32Array, ars: number, acs: number, b: Float32Array, brs: number, bcs: number, c0: Float32Array | null) {
  const exact = new Float64Array(M * N);
  const scale = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = c0 ? c0[i * N + j]! : 0;
    let m = Math.abs(s);
    for (let p = 0; p < K; p++) {
      const t = a[i * ars + p * acs]! * b[p * brs + j * bcs]!;
      s += t;
      m += Math.abs(t);
    }
    exact[i * N + j] = s;
    scale[i * N + j] = m;
  }
  return { exact, scale };
}

/**
 * Roundings on a term's path (float32-bound.ts): product, KC − 1 in-block adds, ⌈K/KC⌉ block adds,
 * the add into C0. The fused multiply-add build rounds product and add once, so one fewer: the
 * bound holds for both builds.
 */
const depth = (K: number): number => 1 + (KC - 1) + Math.ceil(K / KC) + 1;

const f32 = (n: number, seed: number, stream: string): Float32Array => Float32Array.from(randn(n, seed, stream));

// Edge tiles (sizes not multiples of the 4×8 micro-tile), several K blocks (K > 256), several N blocks (> 512).
const SHAPES: [number, number, number][] = [[1, 1, 1], [7, 300, 13], [97, 530, 37], [13, 5, 600], [48, 64, 40]];

describe("linear on the WebAssembly GEMM (float32)", () => {
  for (const [N, K, O] of SHAPES) {
    it(`all three products are within float32 round-off of the exact sums (N=${N}, K=${K}, O=${O})`, () => {
      const inp = f32(N * K, 1, "inp");
      const w = f32(O * K, 1, "w");
      const dout = f32(N * O, 1, "dout");
      const out = new Float32Array(N * O).fill(Number.NaN); // forward overwrites
      linearForward(out, inp, w, N, K, O);
      const fwd = reference(N, O, K, inp, K, 1, w, 1, K, null);
      expect(worstBoundRatio(out, fwd.exact, fwd.scale, depth(K))).toBeLessThanOrEqual(1);

      const dinp = f32(N * K, 2, "dinp0"); // backward accumulates into what is there
      const bin = reference(N, K, O, dout, O, 1, w, K, 1, dinp);
      linearBackwardInput(dinp, dout, w, N, K, O);
      expect(worstBoundRatio(dinp, bin.exact, bin.scale, depth(O))).toBeLessThanOrEqual(1);

      const dw = f32(O * K, 2, "dw0");
      const bw = reference(O, K, N, dout, 1, O, inp, K, 1, dw);
      linearBackwardWeight(dw, dout, inp, N, K, O);
      expect(worstBoundRatio(dw, bw.exact, bw.scale, depth(N))).toBeLessThanOrEqual(1);
    });
  }

  it("is bit-identical across reruns and writes nothing past the output", () => {
    const [N, K, O] = [33, 270, 21];
    const inp = f32(N * K, 3, "inp");
    const w = f32(O * K, 3, "w");
    const a = new Float32Array(N * O + 5).fill(7);
    const b = new Float32Array(N * O + 5);
    linearForward(a, inp, w, N, K, O);
    linearForward(b, inp, w, N, K, O);
    linearForward(b, inp, w, N, K, O);
    expect(Array.from(b.subarray(0, N * O))).toEqual(Array.from(a.subarray(0, N * O)));
    expect(Array.from(a.subarray(N * O))).toEqual([7, 7, 7, 7, 7]);
  });

  it("runs the fused multiply-add build on this engine; the multiply-and-add build keeps the same bound and rounds differently", () => {
    expect(kernelBuild()).toBe("fused multiply-add");
    // The plain build, instantiated beside the thread's kernels on a memory of its own.
    const memory = kernelMemory();
    const bytes = readFileSync(fileURLToPath(new URL("../../src/wasm/kernels.wasm", import.meta.url)));
    const plain = new WasmHeap(new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as never, memory);
    const [N, K, O] = [40, 300, 24];
    const inp = f32(N * K, 5, "inp");
    const w = f32(O * K, 5, "w");
    const fused = new Float32Array(N * O);
    linearForward(fused, inp, w, N, K, O);
    plain.reset();
    const [a, b, c] = [plain.read(inp), plain.read(w), plain.write(new Float32Array(N * O))];
    plain.kernels.gemm(N, O, K, a, K, 1, b, 1, K, c, O, 0, plain.take(plain.kernels.GEMM_WORK_FLOATS.value as number));
    const out = plain.view().slice(c >> 2, (c >> 2) + N * O);
    const { exact, scale } = reference(N, O, K, inp, K, 1, w, 1, K, null);
    expect(worstBoundRatio(out, exact, scale, depth(K))).toBeLessThanOrEqual(1);
    expect(worstBoundRatio(fused, exact, scale, depth(K))).toBeLessThanOrEqual(1);
    expect(out.some((x, i) => x !== fused[i])).toBe(true);
  });

  it("keeps the JavaScript kernel as the double-accumulating reference", () => {
    const [N, K, O] = [3, 300, 4];
    const inp = f32(N * K, 4, "inp");
    const w = f32(O * K, 4, "w");
    const out = new Float32Array(N * O);
    linearForwardJs(out, inp, w, N, K, O);
    const { exact } = reference(N, O, K, inp, K, 1, w, 1, K, null);
    expect(Array.from(out)).toEqual(Array.from(Float32Array.from(exact)));
  });
});
