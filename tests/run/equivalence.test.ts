/**
 * The equivalence measure of `plan --verify` (src/run/equivalence.ts) on made-up runs whose
 * errors are known by construction: the bounds per precision, the per-tensor and per-step raise
 * from a measured 16-bit round-off, the key bias's round-off check, and that NaN or a missing step
 * never passes.
 */
import { describe, expect, it } from "vitest";
import { equivalence, equivalenceBounds, relativeErrors, roundoffOf } from "../../src/run/equivalence.js";

const u = 2 ** -8;

/** A run whose tensor `w` is [3, 4] (norm 5) plus `delta` along [1, 0], and whose losses are given. */
function run(delta: number, losses = [2, 1.5], extra: [string, number[]][] = []) {
  return { losses, gradients: new Map<string, Float32Array>([["w", new Float32Array([3 + delta, 4])], ...extra.map(([n, v]) => [n, new Float32Array(v)] as [string, Float32Array])]) };
}

describe("equivalence of two runs", () => {
  it("bounds: fp32 1e-5 and 1e-4 as the equivalence tests; 16-bit 4u and u", () => {
    expect(equivalenceBounds("fp32")).toEqual({ gradient: 1e-5, loss: 1e-4 });
    expect(equivalenceBounds("bf16")).toEqual({ gradient: 4 * u, loss: u });
    expect(equivalenceBounds("fp16")).toEqual({ gradient: 4 * 2 ** -11, loss: 2 ** -11 });
  });

  it("relative error is ‖g − g_ref‖ / ‖g_ref‖, with g divided by a loss scale", () => {
    // |Δ| = 0.5 on a reference of norm 5: 0.1.
    expect(relativeErrors(run(0.5).gradients, run(0).gradients).get("w")).toBeCloseTo(0.1, 7);
    const scaled = new Map([["w", new Float32Array([3 * 1024, 4 * 1024])]]);
    expect(relativeErrors(scaled, run(0).gradients, 1024).get("w")).toBe(0);
  });

  it("a gradient within 4u passes, past it fails; a round-off scale r_t raises the bound to 2·r_t, never lowers it", () => {
    const bounds = equivalenceBounds("bf16");
    const within = equivalence(run(5 * 3 * u), run(0), bounds); // error 3u
    expect(within.failures).toEqual([]);
    expect(within.gradient.tensor).toBe("w");
    expect(within.gradient.error).toBeCloseTo(3 * u, 9);
    const past = equivalence(run(5 * 5 * u), run(0), bounds); // error 5u
    expect(past.failures).toHaveLength(1);
    expect(past.failures[0]).toMatch(/^step-0 gradient of w: relative error/);
    // r_t = 3u: bound 6u, so 5u passes and 7u does not.
    const roundoff = (r: number) => ({ gradients: new Map([["w", r]]), losses: [] });
    expect(equivalence(run(5 * 5 * u), run(0), bounds, roundoff(3 * u)).failures).toEqual([]);
    expect(equivalence(run(5 * 5 * u), run(0), bounds, roundoff(3 * u)).gradient.bound).toBeCloseTo(6 * u, 12);
    expect(equivalence(run(5 * 7 * u), run(0), bounds, roundoff(3 * u)).failures).toHaveLength(1);
    expect(equivalence(run(0), run(0), bounds, roundoff(u)).gradient.bound).toBe(4 * u);
    // A round-off that is not finite (an fp16 overflow) leaves the precision's bound, never an infinite one.
    for (const r of [Infinity, NaN]) expect(equivalence(run(5 * 5 * u), run(0), bounds, roundoff(r)).failures).toHaveLength(1);
  });

  it("a step's loss bound is max(u, 2·r_k); roundoffOf measures r_t and r_k against the fp32 run, the gradients unscaled", () => {
    const bounds = equivalenceBounds("bf16");
    const copy = run(0, [2, 1.5 * (1 + 3 * u)]);
    expect(equivalence(copy, run(0), bounds).failures).toHaveLength(1);
    const r = { gradients: new Map<string, number>(), losses: [0, 2 * u] };
    const e = equivalence(copy, run(0), bounds, r);
    expect(e.failures).toEqual([]);
    expect(e.loss).toMatchObject({ step: 1, bound: 4 * u });
    expect(e.loss.error).toBeCloseTo(3 * u, 9);
    // A 16-bit run 1 % off on step 1's loss, its gradients scaled by 1024 and 0.5 off on w.
    const low = { losses: [2, 1.5 * 1.01], gradients: new Map([["w", new Float32Array([3.5 * 1024, 4 * 1024])]]) };
    const measured = roundoffOf(low, run(0), 1024);
    expect(measured.losses[0]).toBe(0);
    expect(measured.losses[1]).toBeCloseTo(0.01, 9);
    expect(measured.gradients.get("w")).toBeCloseTo(0.1, 7);
  });

  it("losses: within u passes, past it fails; NaN and a missing step fail", () => {
    const bounds = equivalenceBounds("bf16");
    expect(equivalence(run(0, [2, 1.5 * (1 + 0.9 * u)]), run(0), bounds).failures).toEqual([]);
    expect(equivalence(run(0, [2, 1.5 * (1 + 1.1 * u)]), run(0), bounds).failures[0]).toMatch(/^loss of step 1:/);
    const nan = equivalence(run(0, [2, NaN]), run(0), bounds);
    expect(nan.loss.error).toBe(Infinity);
    expect(nan.failures).toHaveLength(1);
    expect(equivalence(run(0, [2]), run(0), bounds).failures.length).toBeGreaterThan(0);
    expect(equivalence(run(NaN), run(0), bounds).failures).toHaveLength(1);
  });

  it("a key bias (exact gradient 0) is held to round-off of its query bias in both runs, not to a relative error", () => {
    const bounds = equivalenceBounds("fp32");
    const q = ["model.layers.0.self_attn.q_proj.bias", [1, 0]] as [string, number[]];
    const k = (x: number) => ["model.layers.0.self_attn.k_proj.bias", [x, 0]] as [string, number[]];
    // Round-off of 1e-6 against a reference of 3e-6: relative error 67 %, yet both are round-off.
    expect(equivalence(run(0, undefined, [q, k(1e-6)]), run(0, undefined, [q, k(3e-6)]), bounds).failures).toEqual([]);
    const wrong = equivalence(run(0, undefined, [q, k(1e-3)]), run(0, undefined, [q, k(3e-6)]), bounds);
    expect(wrong.failures).toHaveLength(1);
    expect(wrong.failures[0]).toMatch(/^copy's step-0 gradient of model\.layers\.0\.self_attn\.k_proj\.bias/);
  });
});
