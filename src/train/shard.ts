/**
 * The part of a rank's flat buffers its optimizer updates: all of it, or under ZeRO its chunks
 * (src/parallel/zero.ts), one range under ZeRO-1 and one per bucket or unit under ZeRO-2 and -3.
 * Optimizer state and master weights are *packed*: the ranges' elements one after another.
 */
import type { DecayRange } from "./optimizer.js";
import { shardRanges } from "./optimizer.js";

/** A range [offset, offset + size) of a flat buffer. */
export interface Range {
  offset: number;
  size: number;
}

export class OptimizerShard {
  /** Elements of the shard (the packed length). */
  readonly size: number;

  /** `ranges`: disjoint, in increasing offset order. */
  constructor(readonly ranges: readonly Range[]) {
    this.size = ranges.reduce((n, r) => n + r.size, 0);
  }

  /** The shard's elements of `buf`, packed: a view of `buf` when the shard is one range, else a copy. */
  read(buf: Float32Array): Float32Array {
    if (this.ranges.length === 1) return buf.subarray(this.ranges[0].offset, this.ranges[0].offset + this.ranges[0].size);
    const packed = new Float32Array(this.size);
    let at = 0;
    for (const r of this.ranges) {
      packed.set(buf.subarray(r.offset, r.offset + r.size), at);
      at += r.size;
    }
    return packed;
  }

  /** Writes packed values into the shard's ranges of `buf` (skipping a range `packed` already views). */
  write(buf: Float32Array, packed: Float32Array): void {
    let at = 0;
    for (const r of this.ranges) {
      const target = buf.subarray(r.offset, r.offset + r.size);
      const source = packed.subarray(at, at + r.size);
      if (source.buffer !== target.buffer || source.byteOffset !== target.byteOffset) target.set(source);
      at += r.size;
    }
  }

  /** The layout's decay ranges over the packed shard. */
  decayRanges(layout: readonly DecayRange[]): DecayRange[] {
    const out: DecayRange[] = [];
    let at = 0;
    for (const r of this.ranges) {
      for (const d of shardRanges([...layout], r.offset, r.size)) out.push({ ...d, offset: d.offset + at });
      at += r.size;
    }
    return out;
  }
}
