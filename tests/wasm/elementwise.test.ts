/**
 * The elementwise WebAssembly kernels (float32 buffers) against references in double.
 * RoPE, the collectives' add and AdamW compute in double with the JavaScript kernels' operations
 * in their order (or, for the add, one correctly rounded float32 add, which equals the double add
 * rounded since 53 ≥ 2·24 + 2), so they must match bit for bit. SwiGLU and RMSNorm have bounds,
 * derived where they are tested.
 */
import { describe, expect, it } from "vitest";
import { addInto } from "../../src/comm/add.js";
import { rmsnormBackward, rmsnormForward } from "../../src/kernels/rmsnorm.js";
import { ropeBackward, ropeForward, ropeTables } from "../../src/kernels/rope.js";
import { swigluBackward, swigluForward } from "../../src/kernels/swiglu.js";
import { residualForward } from "../../src/kernels/residual.js";
import { AdamW, scaleInPlace } from "../../src/train/optimizer.js";
import { randn } from "../kernels/gradcheck.js";
import { U32 } from "./float32-bound.js";

const f32 = (n: number, seed: number, stream: string, std = 1): Float32Array => Float32Array.from(randn(n, seed, stream, std));
const bits = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");

/** Largest |a − e| / bound (≤ 1 passes). */
function worst(a: ArrayLike<number>, e: ArrayLike<number>, bound: (i: number) => number): number {
  let w = 0;
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i]! - e[i]!);
    const r = err === 0 ? 0 : err / bound(i);
    w = Number.isNaN(r) ? Infinity : Math.max(w, r);
  }
  return w;
}

describe("elementwise kernels on WebAssembly (float32)", () => {
  // 40 003 elements: several 16 384-element chunks and a tail that is not a multiple of 4.
  const n = 40_003;

  it("the collectives' add equals the rounded double sum bit for bit", () => {
    const dst = f32(n, 1, "dst");
    const src = f32(n, 1, "src");
    const expected = Float32Array.from(dst, (x, i) => Math.fround(x + src[i]!));
    addInto(dst, src);
    expect(bits(dst)).toBe(bits(expected));
  });

  it("the residual add (into a third array, or in place into either operand) equals the rounded double sum bit for bit", () => {
    const a = f32(n, 1, "a");
    const b = f32(n, 1, "b");
    const expected = Float32Array.from(a, (x, i) => Math.fround(x + b[i]!));
    const out = new Float32Array(n);
    residualForward(out, a, b, n);
    expect(bits(out)).toBe(bits(expected));
    for (const into of ["a", "b"] as const) {
      const [x, y] = [a.slice(), b.slice()];
      residualForward(into === "a" ? x : y, x, y, n);
      expect(bits(into === "a" ? x : y), into).toBe(bits(expected));
    }
  });

  it("scaling the gradients equals the double product rounded to float32, bit for bit", () => {
    const g = f32(n, 1, "g");
    const factor = 0.3 / 7; // not a power of two: every product rounds
    const expected = Float32Array.from(g, (x) => Math.fround(x * factor));
    scaleInPlace(g, factor);
    expect(bits(g)).toBe(bits(expected));
  });

  it("RoPE forward (in place too) and backward equal the double kernel rounded, bit for bit", () => {
    const [B, T, NH, D] = [3, 37, 5, 14]; // half = 7: odd, exercises the scalar tail
    const tables = ropeTables(T, D, 10000);
    const x = f32(B * T * NH * D, 2, "x");
    const out = new Float32Array(x.length);
    ropeForward(out, x, tables, B, T, NH, D);
    const ref = new Float64Array(x.length);
    ropeForward(ref, Float64Array.from(x), tables, B, T, NH, D);
    expect(bits(out)).toBe(bits(Float32Array.from(ref)));
    const inPlace = x.slice();
    ropeForward(inPlace, inPlace, tables, B, T, NH, D);
    expect(bits(inPlace)).toBe(bits(out));

    const dinp = f32(x.length, 2, "dinp");
    const ref2 = Float64Array.from(dinp);
    ropeBackward(dinp, x, tables, B, T, NH, D);
    ropeBackward(ref2, Float64Array.from(x), tables, B, T, NH, D);
    expect(bits(dinp)).toBe(bits(Float32Array.from(ref2)));
  });

  it("AdamW equals the textbook update in double, rounded, bit for bit (decayed and plain ranges)", () => {
    const opt = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, warmupSteps: 0, minLr: 0, clipGradNorm: 0 };
    const size = n;
    const ranges = [{ offset: 0, size: 20_001, decay: true }, { offset: 20_001, size: size - 20_001, decay: false }];
    const adam = new AdamW(opt as never, size, ranges);
    const params = f32(size, 3, "p");
    const [p, m, v] = [Float64Array.from(params), new Float64Array(size), new Float64Array(size)];
    for (let t = 1; t <= 3; t++) {
      const grads = f32(size, 3 + t, "g");
      const lr = opt.lr / t;
      adam.step(params, grads, lr);
      const [bias1, bias2] = [1 - Math.pow(opt.beta1, t), 1 - Math.pow(opt.beta2, t)];
      for (const r of ranges) for (let i = r.offset; i < r.offset + r.size; i++) {
        const shrink = r.decay ? 1 - lr * opt.weightDecay : 1;
        const mi = opt.beta1 * m[i]! + (1 - opt.beta1) * grads[i]!;
        const vi = opt.beta2 * v[i]! + (1 - opt.beta2) * grads[i]! * grads[i]!;
        [m[i], v[i]] = [Math.fround(mi), Math.fround(vi)];
        p[i] = Math.fround(p[i]! * shrink - (lr * (mi / bias1)) / (Math.sqrt(vi / bias2) + opt.eps));
      }
      expect(bits(params)).toBe(bits(Float32Array.from(p)));
      expect(bits(adam.m)).toBe(bits(Float32Array.from(m)));
      expect(bits(adam.v)).toBe(bits(Float32Array.from(v)));
    }
  });

  /**
   * SwiGLU in float32. e = exp4(−g) has relative error ≤ 2u (Cephes' expf: range reduction with a
   * two-part ln 2 and a degree-6 polynomial; ~1e-7 ≈ 1.7u measured by its author; we allow 2u).
   * Each further operation rounds once (≤ u): 1 + e (≤ u relative, e > 0), σ = 1/(1+e) (u),
   * so |Δσ| ≤ 4u·σ (to first order: 2u + u + u). Forward g·σ·up: two products, ≤ 6u·|out|.
   * Backward dup += dout·g·σ: ≤ 7u·|dout·g·σ| (two products, σ's 4u, the add) + u·|dup⁰|;
   * dgate += dout·up·σ·(1 + g(1 − σ)): 1 − σ errs by ≤ 4u·σ + u(1 − σ) absolutely, so with
   * M = |dout·up|·σ·(1 + |g|·(1 + σ)) the term errs by ≤ 10u·M; + u·|dgate⁰ + term| for the add.
   */
  it("SwiGLU is within its derived float32 bound of the double kernel", () => {
    const gate = f32(n, 5, "gate", 3);
    const up = f32(n, 5, "up");
    const dout = f32(n, 5, "dout");
    const out = new Float32Array(n);
    swigluForward(out, gate, up, n);
    const ref = new Float64Array(n);
    swigluForward(ref, Float64Array.from(gate), Float64Array.from(up), n);
    expect(worst(out, ref, (i) => 6 * U32 * Math.abs(ref[i]!))).toBeLessThanOrEqual(1);

    const [dg0, du0] = [f32(n, 6, "dg", 0.1), f32(n, 6, "du", 0.1)];
    const [dg, du] = [dg0.slice(), du0.slice()];
    swigluBackward(dg, du, dout, gate, up, n);
    const [rg, ru] = [Float64Array.from(dg0), Float64Array.from(du0)];
    swigluBackward(rg, ru, Float64Array.from(dout), Float64Array.from(gate), Float64Array.from(up), n);
    const sig = (i: number): number => 1 / (1 + Math.exp(-gate[i]!));
    const boundG = (i: number): number => 10 * U32 * Math.abs(dout[i]! * up[i]!) * sig(i) * (1 + Math.abs(gate[i]!) * (1 + sig(i))) + U32 * Math.abs(rg[i]!);
    const boundU = (i: number): number => 7 * U32 * Math.abs(dout[i]! * gate[i]!) * sig(i) + U32 * (Math.abs(du0[i]!) + Math.abs(ru[i]!));
    expect(worst(dg, rg, boundG)).toBeLessThanOrEqual(1);
    expect(worst(du, ru, boundU)).toBeLessThanOrEqual(1);
    const onlyUp = du0.slice();
    swigluBackward(null, onlyUp, dout, gate, up, n);
    expect(bits(onlyUp)).toBe(bits(du));
  });

  /**
   * RMSNorm computes in double like the JavaScript kernel; only its row sums add in another order,
   * so before the final float32 rounding the two differ by at most ~C·2⁻⁵³ of the magnitudes M
   * summed (double round-off, Higham's γ_C in double). Rounding two doubles that close to float32
   * gives equal or adjacent floats: |a − e| ≤ 2u·max(|a|, |e|) + C·2⁻⁵²·M.
   */
  it("RMSNorm is within one float32 rounding of the double kernel", () => {
    const [N, C] = [37, 70];
    const inp = f32(N * C, 7, "x");
    const w = f32(C, 7, "w");
    const dout = f32(N * C, 7, "dy");
    const [out, rstd] = [new Float32Array(N * C), new Float32Array(N)];
    rmsnormForward(out, rstd, inp, w, N, C, 1e-5);
    const [ref, rref] = [new Float32Array(N * C), new Float32Array(N)];
    const x64 = Float64Array.from(inp);
    const [o64, r64] = [new Float64Array(N * C), new Float64Array(N)];
    rmsnormForward(o64, r64, x64, Float64Array.from(w), N, C, 1e-5);
    ref.set(o64);
    rref.set(r64);
    const close = (a: Float32Array, e: Float32Array, M: (i: number) => number) =>
      worst(a, e, (i) => 2 * U32 * Math.max(Math.abs(a[i]!), Math.abs(e[i]!)) + C * 2 ** -52 * M(i));
    const mag = (i: number): number => Math.abs(w[i % C]! * inp[i]! * r64[Math.floor(i / C)]!);
    expect(close(out, ref, mag)).toBeLessThanOrEqual(1);
    expect(close(rstd, rref, (i) => r64[i]!)).toBeLessThanOrEqual(1);

    const [di0, dw0] = [f32(N * C, 8, "di", 0.1), f32(C, 8, "dw", 0.1)];
    const [di, dw] = [di0.slice(), dw0.slice()];
    rmsnormBackward(di, dw, dout, inp, w, rstd, N, C);
    const [di64, dw64] = [Float64Array.from(di0), Float64Array.from(dw0)];
    rmsnormBackward(di64, dw64, Float64Array.from(dout), x64, Float64Array.from(w), Float64Array.from(rstd), N, C);
    // M: the row's Σ|w·dy·x|·r² plus |w·dy|·r, and the old value.
    const rowSum = (n: number): number => {
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.abs(w[c]! * dout[n * C + c]! * inp[n * C + c]!);
      return s * rstd[n]! * rstd[n]!;
    };
    const magIn = (i: number): number => rowSum(Math.floor(i / C)) + Math.abs(w[i % C]! * dout[i]! * rstd[Math.floor(i / C)]!) + Math.abs(di0[i]!);
    expect(close(di, Float32Array.from(di64), magIn)).toBeLessThanOrEqual(1);
    // The weight gradient sums rows in the JavaScript kernel's order: bit for bit.
    expect(bits(dw)).toBe(bits(Float32Array.from(dw64)));
  });
});
