/**
 * Kernels that compute in double like their JavaScript twins (src/kernels/rope.ts and the AdamW
 * step of src/train/optimizer.ts): float32 loads promoted to f64x2, the same operations
 * in the same order, each correctly rounded, and one rounding to float32 at the store. Both are
 * elementwise, so their results are the JavaScript ones bit for bit. (RMSNorm: assembly/rmsnorm.ts.)
 */
import { hi, lo, pack } from "./lanes";

// ------------------------------------------------------------------ AdamW

/**
 * m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g·g, p = p·shrink − lr·(m/bias1) / (√(v/bias2) + eps),
 * with m and v taken unrounded into the update (c1 = 1 − β1 and c2 = 1 − β2, computed by the caller).
 */
export function adamw(p: usize, g: usize, m: usize, v: usize, n: i32, beta1: f64, c1: f64, beta2: f64, c2: f64, lr: f64, eps: f64, bias1: f64, bias2: f64, shrink: f64): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    const G = v128.load(g + o), M = v128.load(m + o), V = v128.load(v + o), P = v128.load(p + o);
    const m0 = f64x2.add(f64x2.mul(f64x2.splat(beta1), lo(M)), f64x2.mul(f64x2.splat(c1), lo(G)));
    const m1 = f64x2.add(f64x2.mul(f64x2.splat(beta1), hi(M)), f64x2.mul(f64x2.splat(c1), hi(G)));
    const v0 = f64x2.add(f64x2.mul(f64x2.splat(beta2), lo(V)), f64x2.mul(f64x2.mul(f64x2.splat(c2), lo(G)), lo(G)));
    const v1 = f64x2.add(f64x2.mul(f64x2.splat(beta2), hi(V)), f64x2.mul(f64x2.mul(f64x2.splat(c2), hi(G)), hi(G)));
    v128.store(m + o, pack(m0, m1));
    v128.store(v + o, pack(v0, v1));
    v128.store(p + o, pack(adamwUpdate(lo(P), m0, v0, lr, eps, bias1, bias2, shrink), adamwUpdate(hi(P), m1, v1, lr, eps, bias1, bias2, shrink)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const gi = <f64>load<f32>(g + o);
    const mi = beta1 * <f64>load<f32>(m + o) + c1 * gi;
    const vi = beta2 * <f64>load<f32>(v + o) + c2 * gi * gi;
    store<f32>(m + o, <f32>mi);
    store<f32>(v + o, <f32>vi);
    store<f32>(p + o, <f32>(<f64>load<f32>(p + o) * shrink - (lr * (mi / bias1)) / (Math.sqrt(vi / bias2) + eps)));
  }
}

// @ts-ignore: decorator
@inline
function adamwUpdate(P: v128, M: v128, V: v128, lr: f64, eps: f64, bias1: f64, bias2: f64, shrink: f64): v128 {
  const step = f64x2.mul(f64x2.splat(lr), f64x2.div(M, f64x2.splat(bias1)));
  const denom = f64x2.add(f64x2.sqrt(f64x2.div(V, f64x2.splat(bias2))), f64x2.splat(eps));
  return f64x2.sub(f64x2.mul(P, f64x2.splat(shrink)), f64x2.div(step, denom));
}

// ------------------------------------------------------------------ scale

/** x[i] = x[i]·factor in double, rounded once to float32 (JavaScript's `x[i] *= factor` on a Float32Array). */
export function scaleBy(x: usize, n: i32, factor: f64): void {
  const f = f64x2.splat(factor);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    const X = v128.load(x + o);
    v128.store(x + o, pack(f64x2.mul(lo(X), f), f64x2.mul(hi(X), f)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(x + o, <f32>(<f64>load<f32>(x + o) * factor));
  }
}

// ------------------------------------------------------------------ RoPE

/**
 * Rotates the pairs (i, i + half) of `rows` rows of D = 2·half floats at x (in place allowed)
 * by the angle of each row's position: cos and sin are [T, half] doubles, row r (counted from
 * firstRow) at position ⌊r / NH⌋ mod T. Forward: out = R·x; backward: out += Rᵀ·x (accumulates).
 */
export function rope(out: usize, x: usize, cos: usize, sin: usize, rows: i32, firstRow: i32, NH: i32, T: i32, half: i32, backward: bool): void {
  for (let r = 0; r < rows; r++) {
    const t = ((firstRow + r) / NH) % T;
    const base = <usize>(r * 2 * half) * 4;
    const tb = <usize>(t * half) * 8;
    let i = 0;
    for (; i + 2 <= half; i += 2) {
      const a = base + <usize>i * 4, b = a + <usize>half * 4;
      const x1 = f64x2.promote_low_f32x4(v128.load64_zero(x + a));
      const x2 = f64x2.promote_low_f32x4(v128.load64_zero(x + b));
      const c = v128.load(cos + tb + <usize>i * 8), s = v128.load(sin + tb + <usize>i * 8);
      let y1: v128, y2: v128;
      if (backward) {
        y1 = f64x2.add(f64x2.promote_low_f32x4(v128.load64_zero(out + a)), f64x2.add(f64x2.mul(x1, c), f64x2.mul(x2, s)));
        y2 = f64x2.add(f64x2.promote_low_f32x4(v128.load64_zero(out + b)), f64x2.sub(f64x2.mul(x2, c), f64x2.mul(x1, s)));
      } else {
        y1 = f64x2.sub(f64x2.mul(x1, c), f64x2.mul(x2, s));
        y2 = f64x2.add(f64x2.mul(x2, c), f64x2.mul(x1, s));
      }
      v128.store64_lane(out + a, f32x4.demote_f64x2_zero(y1), 0);
      v128.store64_lane(out + b, f32x4.demote_f64x2_zero(y2), 0);
    }
    for (; i < half; i++) {
      const a = base + <usize>i * 4, b = a + <usize>half * 4;
      const x1 = <f64>load<f32>(x + a), x2 = <f64>load<f32>(x + b);
      const c = load<f64>(cos + tb + <usize>i * 8), s = load<f64>(sin + tb + <usize>i * 8);
      if (backward) {
        store<f32>(out + a, <f32>(<f64>load<f32>(out + a) + (x1 * c + x2 * s)));
        store<f32>(out + b, <f32>(<f64>load<f32>(out + b) + (x2 * c - x1 * s)));
      } else {
        store<f32>(out + a, <f32>(x1 * c - x2 * s));
        store<f32>(out + b, <f32>(x2 * c + x1 * s));
      }
    }
  }
}
