/**
 * Float32 elementwise kernels (layouts and legends as in src/kernels): SwiGLU with a vector exp,
 * and the add of the collectives and the residual stream. Vectors of 4 floats; every loop ends
 * with a scalar tail that computes each element exactly as the vector lanes do, so an element's
 * result does not depend on where it sits in the array (tensor-parallel shards split arrays).
 */

// ------------------------------------------------------------------ float32 exp

/**
 * e^x for 4 lanes, float32: x = n·ln2 + r with |r| ≤ ln2/2, e^r by the degree-6 polynomial of
 * Cephes' expf (S. L. Moshier, Cephes Math Library, relative error ~1e-7 on that range), times 2ⁿ
 * built in the exponent bits. x is clamped to [−87.3, 88.3] so 2ⁿ stays a normal float.
 */
// @ts-ignore: decorator
@inline
export function exp4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

/** σ(g) = 1 / (1 + e^(−g)) for 4 lanes. */
// @ts-ignore: decorator
@inline
function sigmoid4(g: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(g))));
}

/** One element through the vector path (lane 0), for the tails. */
// @ts-ignore: decorator
@inline
function sigmoid1(g: f32): f32 {
  return f32x4.extract_lane(sigmoid4(f32x4.splat(g)), 0);
}

// ------------------------------------------------------------------ SwiGLU

/** out = silu(gate) ⊙ up = gate·σ(gate)·up. */
export function swigluForward(out: usize, gate: usize, up: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    const g = v128.load(gate + o);
    v128.store(out + o, f32x4.mul(f32x4.mul(g, sigmoid4(g)), v128.load(up + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const g = load<f32>(gate + o);
    store<f32>(out + o, g * sigmoid1(g) * load<f32>(up + o));
  }
}

/** dgate += dout·up·σ(g)(1 + g(1 − σ(g))), dup += dout·g·σ(g); a null (0) pointer skips that gradient. */
export function swigluBackward(dgate: usize, dup: usize, dout: usize, gate: usize, up: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    const g = v128.load(gate + o);
    const s = sigmoid4(g);
    const go = v128.load(dout + o);
    if (dgate != 0) {
      const d = f32x4.mul(f32x4.mul(f32x4.mul(go, v128.load(up + o)), s), f32x4.add(one, f32x4.mul(g, f32x4.sub(one, s))));
      v128.store(dgate + o, f32x4.add(v128.load(dgate + o), d));
    }
    if (dup != 0) v128.store(dup + o, f32x4.add(v128.load(dup + o), f32x4.mul(f32x4.mul(go, g), s)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const g = load<f32>(gate + o);
    const s = sigmoid1(g);
    const go = load<f32>(dout + o);
    if (dgate != 0) store<f32>(dgate + o, load<f32>(dgate + o) + go * load<f32>(up + o) * s * (1 + g * (1 - s)));
    if (dup != 0) store<f32>(dup + o, load<f32>(dup + o) + go * g * s);
  }
}

// ------------------------------------------------------------------ add (collectives, residual)

/** out[i] = a[i] + b[i] (the residual add; out must not overlap a or b unless it is one of them). */
export function addTo(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** dst[i] += src[i]. A float32 add is the double add rounded to float32 (53 ≥ 2·24 + 2), as in JS. */
export function addInto(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i * 4;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    v128.store(dst + o, f32x4.add(v128.load(dst + o, 16), v128.load(src + o, 16)), 16);
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}
