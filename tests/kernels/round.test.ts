import { describe, expect, it } from "vitest";
import { roundToBf16, roundToFp16, storeAs } from "../../src/kernels/round.js";

/**
 * The reference is independent of the bit tricks under test: decode all 65,536 patterns of the
 * 16-bit format into numbers, sort the finite ones, and round a float32 value by searching for
 * its two neighbours and taking the nearer (a tie: the one whose pattern is even). Past the
 * largest finite value F, a value rounds to infinity from F + half a step up (IEEE 754: rounding
 * as if the exponent were unbounded, then overflow).
 */
interface Format {
  name: string;
  decode(pattern: number): number;
  round(buf: Float32Array): void;
  /** Half the spacing just below the largest finite value. */
  overflowHalfStep: number;
}

function decodeFp16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function decodeBf16(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
}

const FORMATS: Format[] = [
  { name: "fp16", decode: decodeFp16, round: roundToFp16, overflowHalfStep: 16 },
  { name: "bf16", decode: decodeBf16, round: roundToBf16, overflowHalfStep: 2 ** 119 },
];

function table(format: Format): { values: number[]; even: boolean[] } {
  const entries: { v: number; even: boolean }[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = format.decode(h);
    if (Number.isFinite(v) && !Object.is(v, -0)) entries.push({ v, even: (h & 1) === 0 });
  }
  entries.sort((a, b) => a.v - b.v);
  return { values: entries.map((e) => e.v), even: entries.map((e) => e.even) };
}

function reference(format: Format, t: { values: number[]; even: boolean[] }, x: number): number {
  if (Number.isNaN(x) || !Number.isFinite(x) || x === 0) return x;
  const max = t.values[t.values.length - 1]!;
  if (Math.abs(x) >= max + format.overflowHalfStep) return Math.sign(x) * Infinity;
  if (Math.abs(x) >= max) return Math.sign(x) * max;
  let lo = 0;
  let hi = t.values.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (t.values[mid]! <= x) lo = mid;
    else hi = mid;
  }
  const [a, b] = [t.values[lo]!, t.values[hi]!];
  if (x === a) return a;
  const [da, db] = [x - a, b - x];
  const r = da < db ? a : db < da ? b : t.even[lo] ? a : b;
  // A zero result keeps the sign of x, as the hardware's conversion does.
  return r === 0 ? (x < 0 ? -0 : 0) : r;
}

/** Seeded 32-bit patterns (xorshift32): every exponent, both signs, NaNs and infinities included. */
function randomFloat32s(count: number, seed: number): Float32Array {
  const bits = new Uint32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    bits[i] = s >>> 0;
  }
  return new Float32Array(bits.buffer);
}

/** Ties, boundaries and their float32 neighbours, where rounding rules differ. */
function edgeCases(format: Format, t: { values: number[] }): Float32Array {
  const out: number[] = [0, -0, Infinity, -Infinity, NaN];
  const positives = t.values.filter((v) => v > 0);
  for (let i = 0; i + 1 < positives.length; i += 97) {
    const mid = (positives[i]! + positives[i + 1]!) / 2;
    out.push(positives[i]!, mid, -mid);
  }
  const max = positives[positives.length - 1]!;
  out.push(max, max + format.overflowHalfStep, -(max + format.overflowHalfStep), positives[0]! / 2, (positives[0]! * 3) / 2);
  const f = Float32Array.from(out);
  // Each value's float32 neighbours just above and below: one ulp off a tie decides the rounding.
  const bits = new Uint32Array(f.buffer);
  const next = new Uint32Array(bits.length * 3);
  bits.forEach((b, i) => next.set([b, b + 1, b - 1], 3 * i));
  return new Float32Array(next.buffer);
}

describe.each(FORMATS)("rounding to $name", (format) => {
  const t = table(format);

  it("equals the nearest value of the format, ties to even, overflow to infinity", () => {
    const inputs = new Float32Array([...randomFloat32s(200_000, 0x9e3779b9), ...edgeCases(format, t)]);
    const rounded = inputs.slice();
    format.round(rounded);
    let mismatches = 0;
    for (let i = 0; i < inputs.length; i++) {
      const want = Math.fround(reference(format, t, inputs[i]!));
      const got = rounded[i]!;
      const same = Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want);
      if (!same && mismatches++ < 5) expect.soft(got, `input ${inputs[i]}`).toBe(want);
    }
    expect(mismatches).toBe(0);
  });

  it("is idempotent and works on a view into a larger buffer", () => {
    const whole = randomFloat32s(1000, 12345);
    const view = whole.subarray(100, 900);
    const before = whole.slice();
    format.round(view);
    expect(whole.subarray(0, 100)).toEqual(before.subarray(0, 100));
    expect(whole.subarray(900)).toEqual(before.subarray(900));
    const again = view.slice();
    format.round(again);
    expect(Array.from(again).map(String)).toEqual(Array.from(view).map(String));
  });
});

describe("storeAs", () => {
  it("leaves fp32 and float64 buffers untouched and rounds float32 buffers to a 16-bit dtype", () => {
    const x = Float32Array.of(1 + 2 ** -10, 1 / 3);
    const f32 = x.slice();
    storeAs("fp32", f32);
    expect(f32).toEqual(x);
    const f64 = Float64Array.of(1 / 3);
    storeAs("bf16", f64);
    expect(f64[0]).toBe(1 / 3);
    const bf = x.slice();
    storeAs("bf16", bf);
    expect(Array.from(bf)).toEqual([1, Math.fround(0.333984375)]);
    const h = x.slice();
    storeAs("fp16", h);
    expect(Array.from(h)).toEqual([1 + 2 ** -10, Math.fround(0.333251953125)]);
  });
});
