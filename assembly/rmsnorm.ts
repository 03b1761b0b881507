/**
 * RMSNorm (src/kernels/rmsnorm.ts) in double like the JavaScript kernel: y = w ⊙ x·r,
 * r = 1/√(mean(x²) + eps). Elementwise parts use the JavaScript kernel's operations in its order;
 * the row sums (x², and w·dy·x·r in backward) add two lanes in parallel and then the lanes, a
 * different order of double additions (round-off ~C·2⁻⁵³ of the summed magnitudes).
 * Legend: N rows, C channels.
 */
import { hi, lo, pack } from "./lanes";

/** The sum of a double vector's two lanes. */
// @ts-ignore: decorator
@inline
function lanes(a: v128): f64 {
  return f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
}

export function rmsnormForward(out: usize, rstd: usize, inp: usize, weight: usize, N: i32, C: i32, eps: f64): void {
  for (let n = 0; n < N; n++) {
    const x = inp + <usize>(n * C) * 4;
    const y = out + <usize>(n * C) * 4;
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const X = v128.load(x + <usize>c * 4);
      a0 = f64x2.add(a0, f64x2.mul(lo(X), lo(X)));
      a1 = f64x2.add(a1, f64x2.mul(hi(X), hi(X)));
    }
    let ss = lanes(a0) + lanes(a1);
    for (; c < C; c++) {
      const xc = <f64>load<f32>(x + <usize>c * 4);
      ss += xc * xc;
    }
    const r = 1 / Math.sqrt(ss / C + eps);
    store<f32>(rstd + <usize>n * 4, <f32>r);
    const R = f64x2.splat(r);
    c = 0;
    for (; c + 4 <= C; c += 4) {
      const X = v128.load(x + <usize>c * 4), W = v128.load(weight + <usize>c * 4);
      v128.store(y + <usize>c * 4, pack(f64x2.mul(lo(W), f64x2.mul(lo(X), R)), f64x2.mul(hi(W), f64x2.mul(hi(X), R))));
    }
    for (; c < C; c++) store<f32>(y + <usize>c * 4, <f32>(<f64>load<f32>(weight + <usize>c * 4) * (<f64>load<f32>(x + <usize>c * 4) * r)));
  }
}

/**
 * dinp += r·(w ⊙ dy − x·r·mean(w ⊙ dy ⊙ x·r)) and dweight += Σ_n dy ⊙ x·r, the latter summed over
 * rows in `dw` (C doubles of scratch) and added once. A null (0) dinp or dweight skips it.
 */
export function rmsnormBackward(dinp: usize, dweight: usize, dout: usize, inp: usize, weight: usize, rstd: usize, N: i32, C: i32, dw: usize): void {
  if (dweight != 0) memory.fill(dw, 0, <usize>C * 8);
  for (let n = 0; n < N; n++) {
    const off = <usize>(n * C) * 4;
    const r = <f64>load<f32>(rstd + <usize>n * 4);
    const R = f64x2.splat(r);
    if (dinp != 0) rmsnormRowInput(dinp + off, dout + off, inp + off, weight, r, C);
    if (dweight != 0) {
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const D = v128.load(dout + off + <usize>c * 4), X = v128.load(inp + off + <usize>c * 4);
        const p = dw + <usize>c * 8;
        v128.store(p, f64x2.add(v128.load(p), f64x2.mul(f64x2.mul(lo(D), lo(X)), R)));
        v128.store(p, f64x2.add(v128.load(p, 16), f64x2.mul(f64x2.mul(hi(D), hi(X)), R)), 16);
      }
      for (; c < C; c++) {
        const p = dw + <usize>c * 8;
        store<f64>(p, load<f64>(p) + <f64>load<f32>(dout + off + <usize>c * 4) * <f64>load<f32>(inp + off + <usize>c * 4) * r);
      }
    }
  }
  if (dweight != 0) {
    for (let c = 0; c < C; c++) {
      const p = dweight + <usize>c * 4;
      store<f32>(p, <f32>(<f64>load<f32>(p) + load<f64>(dw + <usize>c * 8)));
    }
  }
}

/** One row of the input gradient (see rmsnormBackward). */
function rmsnormRowInput(dinp: usize, dout: usize, inp: usize, weight: usize, r: f64, C: i32): void {
  const R = f64x2.splat(r);
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const W = v128.load(weight + <usize>c * 4), D = v128.load(dout + <usize>c * 4), X = v128.load(inp + <usize>c * 4);
    a0 = f64x2.add(a0, f64x2.mul(f64x2.mul(f64x2.mul(lo(W), lo(D)), lo(X)), R));
    a1 = f64x2.add(a1, f64x2.mul(f64x2.mul(f64x2.mul(hi(W), hi(D)), hi(X)), R));
  }
  let dot = lanes(a0) + lanes(a1);
  for (; c < C; c++) dot += <f64>load<f32>(weight + <usize>c * 4) * <f64>load<f32>(dout + <usize>c * 4) * <f64>load<f32>(inp + <usize>c * 4) * r;
  const M = f64x2.splat(dot / C);
  c = 0;
  for (; c + 4 <= C; c += 4) {
    const W = v128.load(weight + <usize>c * 4), D = v128.load(dout + <usize>c * 4), X = v128.load(inp + <usize>c * 4), G = v128.load(dinp + <usize>c * 4);
    const g0 = f64x2.add(lo(G), f64x2.mul(R, f64x2.sub(f64x2.mul(lo(W), lo(D)), f64x2.mul(f64x2.mul(lo(X), R), M))));
    const g1 = f64x2.add(hi(G), f64x2.mul(R, f64x2.sub(f64x2.mul(hi(W), hi(D)), f64x2.mul(f64x2.mul(hi(X), R), M))));
    v128.store(dinp + <usize>c * 4, pack(g0, g1));
  }
  const mean = dot / C;
  for (; c < C; c++) {
    const p = dinp + <usize>c * 4;
    const w = <f64>load<f32>(weight + <usize>c * 4), d = <f64>load<f32>(dout + <usize>c * 4), x = <f64>load<f32>(inp + <usize>c * 4);
    store<f32>(p, <f32>(<f64>load<f32>(p) + r * (w * d - x * r * mean)));
  }
}
