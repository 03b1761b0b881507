/** Deterministic test inputs, the same in every thread. */
export function inputFor(rank: number, length: number, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let s = (rank * 7919 + seed * 104729 + 12345) >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // values spanning a few binades, so float32 rounding actually happens
    out[i] = ((s / 2 ** 32) * 2 - 1) * (1 + (i % 7) * 37.5);
  }
  return out;
}

/**
 * The documented all-reduce of `inputFor(r, length, seed)` over `group`, computed serially: chunk c
 * is ((x[c+1] + x[c+2]) + …) + x[c] (group positions mod n), float32 rounding after each add.
 */
export function serialAllReduce(group: readonly number[], length: number, mean = false, seed = 1): Float32Array {
  const n = group.length;
  const xs = group.map((r) => inputFor(r, length, seed));
  const out = new Float32Array(length);
  for (let c = 0; c < n; c++) {
    const base = Math.floor(length / n);
    const o = c * base + Math.min(c, length % n);
    const size = base + (c < length % n ? 1 : 0);
    for (let i = o; i < o + size; i++) {
      let acc = xs[(c + 1) % n]![i]!;
      for (let k = 2; k <= n; k++) acc = Math.fround(acc + xs[(c + k) % n]![i]!);
      out[i] = mean ? Math.fround(acc / n) : acc;
    }
  }
  return out;
}

/** The bit patterns of a Float32Array, for exact comparisons. */
export const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/**
 * The first index where `a` and `b` differ bit for bit (or the length that differs), −1 if none:
 * `expect(firstDifference(a, b)).toBe(-1)` fails fast with a readable message where a diff of
 * two 100k-element arrays would take minutes.
 */
export function firstDifference(a: Float32Array, b: Float32Array): number | string {
  if (a.length !== b.length) return `lengths ${a.length} ≠ ${b.length}`;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
