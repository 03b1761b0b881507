/** Float32 vectors as pairs of double vectors and back (for the kernels that compute in double). */

/** Lanes 0, 1 of a float32 vector as doubles. */
// @ts-ignore: decorator
@inline
export function lo(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

/** Lanes 2, 3 of a float32 vector as doubles. */
// @ts-ignore: decorator
@inline
export function hi(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
}

/** Two double vectors rounded into one float32 vector (a's lanes first). */
// @ts-ignore: decorator
@inline
export function pack(a: v128, b: v128): v128 {
  return i32x4.shuffle(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 1, 4, 5);
}
