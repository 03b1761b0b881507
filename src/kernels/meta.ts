/**
 * Meta arrays: float buffers that have a length and no storage, as PyTorch's meta device has
 * tensors with a shape and no data. Shapes-only runs build the same model, optimizer, gradient
 * buckets and pipeline buffers as real runs, from meta arrays: every size, byte count, chunk and
 * offset comes out as in a real run, and nothing of the size of a real model is allocated.
 *
 * A meta array stands where a Float32Array stands (see `metaFloats`), so it supports what code
 * that never computes does with a buffer: `length`, `byteLength`, `byteOffset`,
 * `BYTES_PER_ELEMENT`, `subarray`, `slice`, `set` and `fill` (the last two do nothing). Reading an
 * element gives `undefined`: code that computes must not run on it (KernelCalls with
 * `computes = false` skips every kernel).
 */
import type { Floats } from "./types.js";

export class MetaArray {
  constructor(
    readonly length: number,
    readonly BYTES_PER_ELEMENT: number = Float32Array.BYTES_PER_ELEMENT,
    readonly byteOffset = 0,
  ) {
    // Any integer count: a meta array of an absurd size is how validation learns the size is absurd.
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`a meta array's length must be a non-negative integer, got ${length}`);
  }

  get byteLength(): number {
    return this.length * this.BYTES_PER_ELEMENT;
  }

  /** Elements [begin, end), clamped and with negative indices from the end, as TypedArray.subarray. */
  subarray(begin = 0, end = this.length): MetaArray {
    const from = clampIndex(begin, this.length);
    const to = Math.max(from, clampIndex(end, this.length));
    return new MetaArray(to - from, this.BYTES_PER_ELEMENT, this.byteOffset + from * this.BYTES_PER_ELEMENT);
  }

  slice(begin = 0, end = this.length): MetaArray {
    const view = this.subarray(begin, end);
    return new MetaArray(view.length, this.BYTES_PER_ELEMENT);
  }

  set(_source: ArrayLike<number> | MetaArray, _offset = 0): void {}

  fill(_value: number, _begin?: number, _end?: number): this {
    return this;
  }
}

function clampIndex(i: number, length: number): number {
  const k = Math.trunc(i);
  return k < 0 ? Math.max(0, length + k) : Math.min(k, length);
}

/**
 * A meta array typed as the buffers it stands in for. The cast is the one place where the type
 * system is told something it cannot check: only code that does not compute may receive it.
 */
export function metaFloats(length: number, bytesPerElement: number = Float32Array.BYTES_PER_ELEMENT): Floats {
  return new MetaArray(length, bytesPerElement) as unknown as Floats;
}

/** Whether a buffer is a meta array (shapes-only run). */
export function isMeta(buf: unknown): boolean {
  return buf instanceof MetaArray;
}
