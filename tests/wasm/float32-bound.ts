/**
 * The float32 round-off bound the WebAssembly kernels are held to (not a test file itself).
 *
 * A float32 kernel rounds every product and every addition: fl(x ∘ y) = (x ∘ y)(1 + δ), |δ| ≤ u,
 * u = 2⁻²⁴. A term that passes through d roundings on its way into a sum carries a factor
 * Π(1 + δᵢ) = 1 + θ_d with |θ_d| ≤ γ_d = d·u / (1 − d·u) (Higham, "Accuracy and Stability of
 * Numerical Algorithms", 2nd ed., Lemma 3.1). Summing terms tᵢ whose paths have at most d
 * roundings therefore errs by at most γ_d · Σ|tᵢ| (ibid. §3.1, for any order of summation).
 * Each test states its d: e.g. a dot product of length K summed in blocks of KC into an existing
 * value has d = 1 (product) + (KC − 1) (within the block) + ⌈K/KC⌉ (adding the blocks) + 1.
 *
 * The reference is the same sum in double from the same float32 inputs: its own error
 * (≤ γ_d in double, ~1e-16 relative) is far below the float32 bound.
 */
export const U32 = 2 ** -24;

export function gamma(d: number): number {
  return (d * U32) / (1 - d * U32);
}

/** Largest |actual − exact| / (γ_d · scale) over the elements (≤ 1: within the bound). */
export function worstBoundRatio(actual: ArrayLike<number>, exact: ArrayLike<number>, scale: ArrayLike<number>, d: number): number {
  let worst = 0;
  const g = gamma(d);
  for (let i = 0; i < exact.length; i++) {
    const err = Math.abs(actual[i]! - exact[i]!);
    // A zero scale means every term was zero: the float32 result must then be exact.
    const r = err === 0 ? 0 : err / (g * scale[i]!);
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : Math.max(worst, r);
  }
  return worst;
}
