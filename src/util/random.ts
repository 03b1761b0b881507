/**
 * Seeded pseudo-random numbers. parasim never uses Math.random: every number that shapes a run
 * (initial weights, batches) is a pure function of the scenario's seed, so runs are reproducible
 * and every parallel layout sees the same values.
 */

/** FNV-1a over a string: turns a tensor name or a purpose into a 32-bit stream id. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small, fast generator (mulberry32) whose state is one 32-bit integer. */
export class Random {
  private state: number;

  /** `seed` and `stream` together pick an independent sequence (e.g. seed 1, stream "data"). */
  constructor(seed: number, stream: string | number = 0) {
    const streamId = typeof stream === "string" ? hashString(stream) : stream >>> 0;
    this.state = (Math.imul(seed >>> 0, 0x9e3779b1) ^ streamId) >>> 0;
    // Warm up so that nearby seeds do not start with correlated outputs.
    for (let i = 0; i < 4; i++) this.nextUint32();
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal by Box–Muller; uses two uniforms per call (no caching, so streams stay simple). */
  normal(): number {
    const u1 = 1 - this.next(); // in (0, 1], so log is finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}
