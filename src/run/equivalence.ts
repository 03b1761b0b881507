/**
 * Whether a parallel run trained like one device (docs/architecture.md, invariants 1 and 9), as
 * numbers rather than test assertions: the bounds the equivalence tests hold every layout to, and
 * the measured differences of two runs against them. `plan --verify` (src/plan/verify.ts) uses it
 * on a scaled-down copy of a planned layout.
 *
 * The bounds, per training precision (derived in tests/parallel/equivalence.ts and
 * tests/run/precision.test.ts, where every layout is held to them):
 *   fp32  step-0 gradients 1e-5 relative per tensor, losses 1e-4 relative. A reduction in
 *         another order differs by a few float32 ulps (~1e-7 relative) per element, so 1e-5
 *         leaves two orders of margin, while a wrong shard, scale or missing contribution is
 *         ≥ 1e-2; Adam amplifies the gradients' differences a little each step, hence 1e-4 for
 *         the losses.
 *   bf16, fp16  gradients 4u, losses u (u the format's unit round-off: 2^-8, 2^-11). A gradient
 *         summed over micro-batches and replicas is stored in 16 bits after every add, so another
 *         order differs by about one rounding of the sum (u norm-wise); tensor parallelism adds
 *         one rounding of each row-parallel layer's partial sums; 4u bounds both with margin on
 *         the suite's 4-layer model, where one device's own 16-bit error is about 2u. The loss is
 *         computed from 16-bit logits, to precision u.
 * Deeper models (16-bit only): the forward's roundings compound up the layers, and the query and
 * key weights' gradients pass through softmax's backward, whose difference of nearly equal terms
 * amplifies them. On one device the 16-bit gradient of such a tensor then lies r_t from the fp32
 * one (measured 5.7u for layer 6 of 8, against 2u on 4 layers), and a layout that rounds in
 * another order lies as far from it in another direction. So the bound of tensor t is
 * max(4u, 2·r_t), r_t = ‖g16 − g32‖ / ‖g32‖ measured on one device (fp32's own error, ~1e-7, is
 * nothing beside it): the two runs' distance is at most the sum of their distances from the exact
 * gradient, each about r_t (tp 2 on 8 layers measured the layout's own distance at most 1.45·r_t
 * and the two runs' at most 1.22·r_t, so 2·r_t leaves a margin of 1.6). A wrong shard or a lost
 * contribution is still ≥ 25 % off, far above it. Losses likewise: the bound of step k is
 * max(u, 2·r_k), r_k = |L16 − L32| / L32 on one device. On shallow copies r_k stays below u
 * (measured ≤ 0.3u); a deep copy trained at lr 1e-2 can spike, and one device's 16-bit loss then
 * left its fp32 twin by 1.6u (16 layers) to 6u (24 layers), as far as another rounding order goes.
 * A round-off that is not finite (an fp16 step that overflowed) leaves the precision's own bound.
 *
 * A tensor whose exact gradient is 0 (a gpt key bias: softmax ignores a constant added to every
 * score of a row) has only round-off in both runs, so its relative error says nothing; each run's
 * norm must instead be within the gradient bound times the norm of a tensor that scales it (the
 * same layer's query bias).
 */
import { UNIT_ROUNDOFF } from "../kernels/round.js";
import type { Scenario } from "../scenario/schema.js";

export interface EquivalenceBounds {
  /** ‖g − g_ref‖ / ‖g_ref‖ per tensor, step 0 (at least; see `roundoff`). */
  gradient: number;
  /** |L − L_ref| / L_ref per step. */
  loss: number;
}

export function equivalenceBounds(precision: Scenario["training"]["precision"]): EquivalenceBounds {
  if (precision === "fp32") return { gradient: 1e-5, loss: 1e-4 };
  const u = UNIT_ROUNDOFF[precision];
  return { gradient: 4 * u, loss: u };
}

/** What two runs must agree on: losses per step and the reduced gradients of step 0 by tensor name. */
export interface TrainedRun {
  losses: number[];
  gradients: Map<string, Float32Array>;
}

export interface Equivalence {
  /** The step whose |L − L_ref| / L_ref is closest to (or furthest past) its bound. */
  loss: { step: number; error: number; bound: number };
  /** The tensor whose step-0 gradient error is closest to (or furthest past) its bound. */
  gradient: { tensor: string; error: number; bound: number };
  /** One line per difference past its bound; empty when the runs agree. */
  failures: string[];
}

/** ‖g − g_ref‖ / ‖g_ref‖ for every tensor of `reference`, in double precision; `scale` divides g (a loss scale). */
export function relativeErrors(gradients: Map<string, Float32Array>, reference: Map<string, Float32Array>, scale = 1): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, ref] of reference) {
    const g = gradients.get(name);
    if (!g) throw new Error(`gradient of ${name} is missing`);
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < ref.length; i++) {
      diff += (g[i] / scale - ref[i]) ** 2;
      norm += ref[i] ** 2;
    }
    out.set(name, Math.sqrt(diff / norm));
  }
  return out;
}

/** A gpt key bias's true gradient is 0; its scale is the same layer's query bias. Null for every other tensor. */
export function keyBiasScale(name: string): string | null {
  return name.endsWith("k_proj.bias") ? name.replace("k_proj", "q_proj") : null;
}

function norm(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** NaN (a missing or non-finite value) counts as infinitely far. */
const orInfinity = (x: number) => (Number.isNaN(x) ? Infinity : x);

/** One device's 16-bit round-off, measured against fp32: r_t of each tensor's step-0 gradient, and of each step's loss. */
export interface RoundOff {
  gradients: Map<string, number>;
  losses: number[];
}

/**
 * How far 16-bit rounding moves each step-0 gradient and each loss of `low` (one device) from the
 * same run in fp32. `scale`: the loss scale `low`'s gradients were captured at (fp16).
 */
export function roundoffOf(low: TrainedRun, exact: TrainedRun, scale = 1): RoundOff {
  return {
    gradients: relativeErrors(low.gradients, exact.gradients, scale),
    losses: exact.losses.map((want, step) => Math.abs(low.losses[step]! - want) / want),
  };
}

/** The bound of a value whose one-device 16-bit round-off is `r`: the precision's, or 2·r where that is larger. */
const boundWith = (base: number, r: number | undefined) => Math.max(base, r !== undefined && Number.isFinite(r) ? 2 * r : 0);

/**
 * Measures `run` against `reference` under `bounds`; `roundoff` (16-bit runs) raises each
 * tensor's and each step's bound to twice its one-device round-off where that is larger.
 */
export function equivalence(run: TrainedRun, reference: TrainedRun, bounds: EquivalenceBounds, roundoff?: RoundOff): Equivalence {
  const failures: string[] = [];
  const gradient = gradientCheck(run, reference, bounds.gradient, roundoff?.gradients, failures);
  if (run.losses.length !== reference.losses.length) failures.push(`${run.losses.length} losses against the reference's ${reference.losses.length}`);
  let loss = { step: 0, error: 0, bound: bounds.loss };
  reference.losses.forEach((want, step) => {
    const error = orInfinity(Math.abs(run.losses[step]! - want) / want);
    const bound = boundWith(bounds.loss, roundoff?.losses[step]);
    if (error / bound >= loss.error / loss.bound) loss = { step, error, bound };
    if (error > bound) failures.push(`loss of step ${step}: ${run.losses[step]} against ${want}, relative ${error.toExponential(2)} > ${bound.toExponential(2)}`);
  });
  return { loss, gradient, failures };
}

/** Every step-0 gradient against its bound; returns the one closest to (or furthest past) it and appends failures. */
function gradientCheck(run: TrainedRun, reference: TrainedRun, base: number, roundoff: Map<string, number> | undefined, failures: string[]): Equivalence["gradient"] {
  let worst = { tensor: "", error: 0, bound: base };
  for (const [name, measured] of relativeErrors(run.gradients, reference.gradients)) {
    const scale = keyBiasScale(name);
    if (scale !== null && reference.gradients.has(scale)) {
      for (const [who, out] of [["copy", run], ["reference", reference]] as const) {
        const ratio = norm(out.gradients.get(name)!) / norm(out.gradients.get(scale)!);
        if (!(ratio <= base)) failures.push(`${who}'s step-0 gradient of ${name} is ${ratio.toExponential(2)} of ${scale}'s, above round-off (${base.toExponential(2)})`);
      }
      continue;
    }
    const error = orInfinity(measured);
    const bound = boundWith(base, roundoff?.get(name));
    if (error / bound >= worst.error / worst.bound) worst = { tensor: name, error, bound };
    if (error > bound) failures.push(`step-0 gradient of ${name}: relative error ${error.toExponential(2)} > ${bound.toExponential(2)}`);
  }
  return worst;
}
