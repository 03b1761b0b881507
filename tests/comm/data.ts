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
