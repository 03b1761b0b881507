import { describe, it, expect } from "vitest";
import { attentionBackward, attentionForward, causalKeySpans, maskedAttentionBackward, maskedAttentionForward } from "../../src/kernels/attention.js";
import { attentionFlops, ELEMENTWISE_FLOPS, sparseAttentionFlops, sparseAttentionPairs } from "../../src/kernels/flops.js";
import { sparseAttentionBackward, sparseAttentionForward, sparseKeySpans, sparseProbabilities } from "../../src/kernels/sparse-attention.js";
import { blockAllowed, causalBlocks, computedBlocks, type SparsePattern } from "../../src/kernels/sparse-pattern.js";
import type { Floats } from "../../src/kernels/types.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

/** Whether key t2 takes part for query t: causal and an allowed block pair (the definition, position by position). */
function keyAllowed(pattern: SparsePattern, block: number, t: number, t2: number): boolean {
  return t2 <= t && blockAllowed(pattern, Math.floor(t / block), Math.floor(t2 / block));
}

/** Textbook GQA attention with the full −∞-masked score matrix; returns out [B,T,H,D] and att [B,H,T,T]. */
function reference(q: Float64Array, k: Float64Array, v: Float64Array, dims: number[], pattern: SparsePattern, block: number) {
  const [B, T, H, G, D] = dims;
  const out = new Float64Array(B * T * H * D);
  const att = new Float64Array(B * H * T * T);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const g = Math.floor(h / (H / G));
    const s: number[] = [];
    for (let t2 = 0; t2 < T; t2++) {
      let d = 0;
      for (let i = 0; i < D; i++) d += q[((b * T + t) * H + h) * D + i] * k[((b * T + t2) * G + g) * D + i];
      s.push(keyAllowed(pattern, block, t, t2) ? d / Math.sqrt(D) : -Infinity);
    }
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, c) => a + c, 0);
    for (let t2 = 0; t2 < T; t2++) {
      att[((b * H + h) * T + t) * T + t2] = e[t2] / z;
      for (let i = 0; i < D; i++) out[((b * T + t) * H + h) * D + i] += (e[t2] / z) * v[((b * T + t2) * G + g) * D + i];
    }
  }
  return { out, att };
}

/**
 * A sparse kernel's packed probabilities laid out dense [B,H,T,T] (0 where masked), read in the
 * order the definition gives: rows in order, each row's allowed keys ascending. Also returns how
 * many packed entries that consumed.
 */
function unpack(packed: Floats, pattern: SparsePattern, block: number, B: number, H: number, T: number): { dense: Float64Array; used: number } {
  const dense = new Float64Array(B * H * T * T);
  let used = 0;
  for (let row = 0; row < B * H * T; row++) {
    const t = row % T;
    for (let t2 = 0; t2 <= t; t2++) if (keyAllowed(pattern, block, t, t2)) dense[row * T + t2] = packed[used++]!;
  }
  return { dense, used };
}

function sameBits(a: Floats, b: Floats): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Forward then backward of one kernel pair on float32 copies of the same inputs; every buffer
 * returned. null: attentionForward / attentionBackward (float32: WebAssembly); "js": the
 * JavaScript causal kernel (the masked kernels with the causal mask).
 */
function runPair(pattern: SparsePattern | null | "js", dims: number[], seed: number): Float32Array[] {
  const [B, T, H, G, D] = dims;
  const q = Float32Array.from(randn(B * T * H * D, seed, "q"));
  const k = Float32Array.from(randn(B * T * G * D, seed, "k"));
  const v = Float32Array.from(randn(B * T * G * D, seed, "v"));
  const r = Float32Array.from(randn(q.length, seed, "r"));
  const out = new Float32Array(q.length);
  const att = new Float32Array(B * H * T * T).fill(7);
  const [dq, dk, dv] = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)];
  if (pattern === null) {
    attentionForward(out, att, q, k, v, B, T, H, G, D);
    attentionBackward(dq, dk, dv, r, att, q, k, v, B, T, H, G, D);
  } else if (pattern === "js") {
    maskedAttentionForward(out, att, q, k, v, B, T, H, G, D, causalKeySpans);
    maskedAttentionBackward(dq, dk, dv, r, att, q, k, v, B, T, H, G, D, causalKeySpans);
  } else {
    sparseAttentionForward(out, att, q, k, v, B, T, H, G, D, pattern);
    sparseAttentionBackward(dq, dk, dv, r, att, q, k, v, B, T, H, G, D, pattern);
  }
  return [out, att, dq, dk, dv];
}

describe("sparse patterns", () => {
  const allowedKeys = (p: SparsePattern, i: number) => Array.from({ length: 8 }, (_, j) => j).filter((j) => blockAllowed(p, i, j));

  it("allow the block sets of the header's example (8 blocks, strides 2 and 4)", () => {
    expect(allowedKeys({ kind: "strided", block: 1, stride: 2 }, 7)).toEqual([1, 3, 5, 6, 7]);
    expect(allowedKeys({ kind: "strided", block: 1, stride: 4 }, 7)).toEqual([3, 4, 5, 6, 7]);
    expect(allowedKeys({ kind: "strided", block: 1, stride: 4 }, 2)).toEqual([0, 1, 2]);
    expect(allowedKeys({ kind: "fixed", block: 1, stride: 2 }, 7)).toEqual([1, 3, 5, 6, 7]);
    expect(allowedKeys({ kind: "fixed", block: 1, stride: 4 }, 7)).toEqual([3, 4, 5, 6, 7]);
    expect(allowedKeys({ kind: "fixed", block: 1, stride: 4 }, 5)).toEqual([3, 4, 5]);
    expect(allowedKeys({ kind: "fixed", block: 1, stride: 2 }, 4)).toEqual([1, 3, 4]);
  });

  it("computedBlocks counts blockAllowed by brute force; causalBlocks is n(n+1)/2", () => {
    for (let n = 1; n <= 12; n++) {
      let causal = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (blockAllowed({ kind: "causal" }, i, j)) causal++;
      expect(causalBlocks(n)).toBe(causal);
      expect(computedBlocks({ kind: "causal" }, n)).toBe(causal);
      for (const kind of ["strided", "fixed"] as const) for (let stride = 1; stride <= 5; stride++) {
        const p: SparsePattern = { kind, block: 3, stride };
        let count = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
          if (blockAllowed(p, i, j)) count++;
          if (j > i) expect(blockAllowed(p, i, j)).toBe(false);
          if (j === i) expect(blockAllowed(p, i, j)).toBe(true);
        }
        expect(computedBlocks(p, n)).toBe(count);
      }
    }
  });

  it("keep one probability per allowed causal pair: sparseProbabilities counts keyAllowed by brute force", () => {
    const T = 24;
    expect(sparseProbabilities({ kind: "causal" }, T)).toBe(T * T);
    for (const kind of ["strided", "fixed"] as const) for (const block of [1, 2, 3, 4]) for (const stride of [1, 2, 3]) {
      const p: SparsePattern = { kind, block, stride };
      let pairs = 0;
      for (let t = 0; t < T; t++) for (let t2 = 0; t2 <= t; t2++) if (keyAllowed(p, block, t, t2)) pairs++;
      expect(sparseProbabilities(p, T), JSON.stringify(p)).toBe(pairs);
    }
  });

  it("refuse a T that is not a multiple of block, and a non-positive or fractional block or stride", () => {
    const [B, T, H, G, D] = [1, 10, 2, 1, 2];
    const buf = () => new Float64Array(B * T * H * T * D);
    const p: SparsePattern = { kind: "strided", block: 4, stride: 2 };
    expect(() => sparseAttentionForward(buf(), buf(), buf(), buf(), buf(), B, T, H, G, D, p)).toThrow(RangeError);
    expect(() => sparseAttentionBackward(buf(), buf(), buf(), buf(), buf(), buf(), buf(), buf(), B, T, H, G, D, p)).toThrow(RangeError);
    expect(() => sparseAttentionFlops(B, T, H, D, { kind: "fixed", block: 3, stride: 2 })).toThrow(RangeError);
    expect(() => sparseKeySpans({ kind: "fixed", block: 0, stride: 2 }, 8)).toThrow(RangeError);
    expect(() => sparseKeySpans({ kind: "strided", block: 2, stride: 1.5 }, 8)).toThrow(RangeError);
    expect(sparseAttentionFlops(B, 12, H, D, p).forward).toBeGreaterThan(0);
  });
});

describe("sparse attention", () => {
  it("with the causal pattern reproduces attentionForward / attentionBackward bit for bit (float32); a pattern allowing every causal key, the JavaScript causal kernel", () => {
    const dims = [2, 12, 4, 2, 5];
    const naive = runPair(null, dims, 1);
    const js = runPair("js", dims, 1);
    const causal = runPair({ kind: "causal" }, dims, 1);
    // A strided pattern whose local window covers every block allows every causal key.
    const wide = runPair({ kind: "strided", block: 3, stride: 4 }, dims, 1);
    const [B, T, H] = dims;
    for (let i = 0; i < naive.length; i++) {
      expect(sameBits(causal[i], naive[i])).toBe(true);
      // The wide pattern keeps its probabilities packed: laid out dense they are the causal kernel's.
      if (i === 1) expect(sameBits(Float32Array.from(unpack(wide[1], { kind: "strided", block: 3, stride: 4 }, 3, B, H, T).dense), js[1])).toBe(true);
      else expect(sameBits(wide[i], js[i])).toBe(true);
    }
    const sparse = runPair({ kind: "strided", block: 3, stride: 2 }, dims, 1);
    expect(sameBits(sparse[0], js[0])).toBe(false);
  });

  const patterns: SparsePattern[] = [
    { kind: "strided", block: 2, stride: 3 },
    { kind: "fixed", block: 2, stride: 3 },
  ];

  for (const pattern of patterns) {
    it(`${pattern.kind}: forward equals the −∞-masked textbook reference; masked probabilities are 0, rows sum to 1`, () => {
      const [B, T, H, G, D] = [2, 16, 4, 2, 5];
      const q = randn(B * T * H * D, 2, "q");
      const k = randn(B * T * G * D, 2, "k");
      const v = randn(B * T * G * D, 2, "v");
      const out = new Float64Array(q.length);
      const att = new Float64Array(B * H * T * T).fill(7);
      sparseAttentionForward(out, att, q, k, v, B, T, H, G, D, pattern);
      const ref = reference(q, k, v, [B, T, H, G, D], pattern, pattern.kind === "causal" ? T : pattern.block);
      expect(worstRatio(out, ref.out, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
      // Only the kept probabilities are stored: B·H·sparseProbabilities entries, the rest untouched.
      const { dense, used } = unpack(att, pattern, 2, B, H, T);
      expect(used).toBe(B * H * sparseProbabilities(pattern, T));
      expect(att.subarray(used).every((x) => x === 7)).toBe(true);
      expect(worstRatio(dense, ref.att, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
      let maskedCausal = 0;
      for (let row = 0; row < B * H * T; row++) {
        const t = row % T;
        let sum = 0;
        for (let t2 = 0; t2 < T; t2++) {
          const p = dense[row * T + t2];
          if (keyAllowed(pattern, 2, t, t2)) expect(p).toBeGreaterThan(0);
          else expect(p).toBe(0);
          if (t2 <= t && !keyAllowed(pattern, 2, t, t2)) maskedCausal++;
          sum += p;
        }
        expect(Math.abs(sum - 1)).toBeLessThanOrEqual(1e-14);
      }
      expect(maskedCausal).toBeGreaterThan(0);
    });

    it(`${pattern.kind}: backward matches finite differences for q, k, v (G < H) and accumulates`, () => {
      const [B, T, H, G, D] = [2, 10, 4, 2, 3];
      const [q, k, v, r] = [H, G, G, H].map((heads, i) => randn(B * T * heads * D, 3, "qkvr"[i]));
      const out = new Float64Array(q.length);
      const att = new Float64Array(B * H * T * T);
      const loss = (): number => {
        sparseAttentionForward(out, att, q, k, v, B, T, H, G, D, pattern);
        return dot(out, r);
      };
      loss();
      const backward = ([dq, dk, dv]: Float64Array[]) => sparseAttentionBackward(dq, dk, dv, r, att, q, k, v, B, T, H, G, D, pattern);
      const grads = [q, k, v].map((x) => new Float64Array(x.length));
      backward(grads);
      [q, k, v].forEach((x, i) => expect(worstRatio(grads[i], numericGrad(loss, x))).toBeLessThanOrEqual(1));
      const twice = grads.map((g) => g.slice());
      backward(twice);
      twice.forEach((g, i) => expect(worstRatio(g, grads[i].map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1));
    });
  }
});

describe("sparse attention FLOPs", () => {
  const [B, H, D] = [2, 3, 8];
  const c = { forward: 4 * D + ELEMENTWISE_FLOPS.softmaxForward, backwardInput: 8 * D + ELEMENTWISE_FLOPS.softmaxBackward };

  it("with the causal pattern equal attentionFlops exactly", () => {
    for (const T of [1, 7, 64, 1000]) expect(sparseAttentionFlops(B, T, H, D, { kind: "causal" })).toEqual(attentionFlops(B, T, H, D));
  });

  const cases: [number, SparsePattern][] = [
    [32, { kind: "strided", block: 4, stride: 2 }],
    [32, { kind: "fixed", block: 4, stride: 4 }],
    [1024, { kind: "strided", block: 64, stride: 4 }],
    [1024, { kind: "fixed", block: 32, stride: 8 }],
    [48, { kind: "strided", block: 1, stride: 5 }],
  ];

  for (const [T, pattern] of cases) {
    if (pattern.kind === "causal") continue;
    const n = T / pattern.block;
    it(`${pattern.kind} T=${T} block=${pattern.block} stride=${pattern.stride}: (sparse − diag)/(causal − diag) = offDiagComputed/offDiagCausal exactly`, () => {
      const sparse = sparseAttentionFlops(B, T, H, D, pattern);
      const causal = attentionFlops(B, T, H, D);
      const offComputed = computedBlocks(pattern, n) - n;
      const offCausal = causalBlocks(n) - n;
      for (const key of ["forward", "backwardInput"] as const) {
        const diag = B * H * ((n * pattern.block * (pattern.block + 1)) / 2) * c[key];
        expect(sparse[key] - diag).toBe(B * H * offComputed * pattern.block ** 2 * c[key]);
        expect(causal[key] - diag).toBe(B * H * offCausal * pattern.block ** 2 * c[key]);
        expect((sparse[key] - diag) / (causal[key] - diag)).toBe(offComputed / offCausal);
        expect((sparse[key] - diag) * offCausal).toBe((causal[key] - diag) * offComputed);
        // The whole-count scaling is not exact where a diagonal block costs less than a full one.
        const scaled = (causal[key] * computedBlocks(pattern, n)) / causalBlocks(n);
        if (pattern.block > 1) expect(sparse[key]).toBeLessThan(scaled);
        else expect(sparse[key]).toBe(scaled);
      }
      expect(sparse.backwardWeight).toBe(0);
    });

    it(`${pattern.kind} T=${T} block=${pattern.block}: the pairs charged are the pairs the kernels visit`, () => {
      const spans = new Int32Array(2 * T);
      const keys = sparseKeySpans(pattern, T);
      let visited = 0;
      for (let t = 0; t < T; t++) {
        const count = keys(t, spans);
        for (let r = 0; r < count; r++) visited += spans[2 * r + 1] - spans[2 * r];
      }
      const { diagonal, offDiagonal } = sparseAttentionPairs(T, pattern);
      expect(diagonal + offDiagonal).toBe(visited);
      expect(sparseAttentionFlops(B, T, H, D, pattern).forward).toBe(B * H * visited * c.forward);
    });
  }
});
