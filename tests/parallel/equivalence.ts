/** Shared checks for "a parallel layout trains like a single device" (docs/architecture.md, invariant 1). */
import { expect } from "vitest";
import type { RunOutput } from "../../src/run/results.js";

// One definition of the relative error, shared with `plan --verify`, which holds a planned layout to the bounds below.
export { relativeErrors } from "../../src/run/equivalence.js";
import { equivalenceBounds, relativeErrors } from "../../src/run/equivalence.js";

export interface EquivalenceOptions {
  /** For a tensor whose true gradient is 0 (a key bias: softmax ignores a constant added to every score of a row), the tensor whose gradient norm is its scale; null for the others. */
  zeroGradientScale?: (name: string) => string | null;
}

function norm(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/**
 * Float32 round-off: a reduction in another order differs by a few ulps (~1e-7 relative) per
 * element, so 1e-5 per tensor leaves two orders of margin while a wrong shard, scale or missing
 * contribution shows as ≥ 1e-2. Over 10 Adam steps the difference grows a little each step
 * (Adam divides by √v, amplifying tiny gradients' differences), hence 1e-4 for losses.
 */
export function expectEquivalent(run: RunOutput, reference: RunOutput, options: EquivalenceOptions = {}): void {
  // The bounds above, 1e-5 and 1e-4, as src/run/equivalence.ts states them for fp32.
  const bounds = equivalenceBounds("fp32");
  const scaleOf = options.zeroGradientScale ?? (() => null);
  for (const [name, err] of relativeErrors(run.gradients!, reference.gradients!)) {
    const scale = scaleOf(name);
    if (scale === null) {
      expect(err, `step-1 gradient of ${name}`).toBeLessThanOrEqual(bounds.gradient);
      continue;
    }
    // A gradient that is exactly 0 in exact arithmetic is round-off in both runs, so a relative
    // error says nothing: each run's norm must instead be round-off of the scale tensor's, the
    // same 1e-5 bound (float32's ε = 6e-8 times the few dozen terms that cancel is ~1e-6).
    for (const [who, out] of [["run", run], ["reference", reference]] as const) {
      const bound = bounds.gradient * norm(out.gradients!.get(scale)!);
      expect(norm(out.gradients!.get(name)!), `${who}'s step-1 gradient of ${name}, against ${scale}'s`).toBeLessThanOrEqual(bound);
    }
  }
  expect(run.result.losses).toHaveLength(reference.result.losses.length);
  run.result.losses.forEach((loss, step) => {
    expect(Math.abs(loss - reference.result.losses[step]) / reference.result.losses[step], `loss of step ${step}`).toBeLessThanOrEqual(bounds.loss);
  });
}
