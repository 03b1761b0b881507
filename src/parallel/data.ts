/**
 * Data parallelism: every rank of a dp group holds a full replica, trains on its rows of the
 * global batch, and the gradients are summed by ring all-reduce (ledger kind `dp-grad`).
 *
 * Buckets (as PyTorch DDP does, Li et al., VLDB 2020): the flat gradient buffer is cut into
 * contiguous runs of whole tensors of at least `bucketBytes`, in backward order (the head's
 * gradients are complete first, the embedding's last). A bucket's all-reduce is launched on the
 * communication stream as soon as backward has produced every gradient in it, so in simulated
 * time it overlaps the rest of backward; the optimizer waits for all of them. With overlap off,
 * every bucket is reduced after backward, blocking.
 *
 * ZeRO stage 1 (Rajbhandari et al., SC'20): optimizer state is sharded over the dp group. After
 * backward the gradients are reduce-scattered (each rank gets the sum of its shard, `dp-grad`),
 * each rank clips and updates its shard, and the parameters are all-gathered (`dp-param`):
 * the same 2(n−1)/n·S bytes per rank as one all-reduce. Shards are the comm's ring chunks.
 * ZeRO-2 reduce-scatters bucket by bucket as backward finishes them, and ZeRO-3 unit by unit
 * (src/parallel/zero.ts): the same GradientSync with `reduce: "reduce-scatter"`.
 */
import type { Comm } from "../comm/comm.js";
import type { TensorSpec } from "../model/layout.js";
import type { CommOp } from "../sim/clock.js";
import type { Group } from "./mesh.js";

export interface Bucket {
  /** Element range [offset, offset + size) of the flat gradient buffer. */
  offset: number;
  size: number;
  /** The tensor with the lowest offset: in backward order the last one to become ready. */
  lastTensor: string;
}

/** Buckets in backward order (highest offsets first), each holding whole tensors. */
export function planBuckets(layout: { tensors: TensorSpec[]; totalSize: number }, bucketBytes: number, bytesPerElement: number): Bucket[] {
  const buckets: Bucket[] = [];
  let end = layout.totalSize;
  let bytes = 0;
  for (let i = layout.tensors.length - 1; i >= 0; i--) {
    const t = layout.tensors[i];
    bytes += t.size * bytesPerElement;
    if (bytes >= bucketBytes || i === 0) {
      buckets.push({ offset: t.offset, size: end - t.offset, lastTensor: t.name });
      end = t.offset;
      bytes = 0;
    }
  }
  return buckets;
}

/** How a bucket's gradients are summed over the dp group: every rank gets all (plain dp) or its chunk (ZeRO-2, ZeRO-3). */
export type GradientReduce = "all-reduce" | "reduce-scatter";

/** Bucketed gradient all-reduce (or reduce-scatter) for one step. */
export class GradientSync {
  /** Tensors whose gradients backward has finished this step. */
  private readonly readyTensors = new Set<string>();
  private readonly launched: CommOp[] = [];
  /** Index of the first bucket not launched yet: buckets launch in order. */
  private nextBucket = 0;

  constructor(
    private readonly comm: Comm,
    private readonly group: Group,
    private readonly grads: Float32Array,
    readonly buckets: Bucket[],
    private readonly overlap: boolean,
    private readonly reduce: GradientReduce = "all-reduce",
  ) {}

  /** Backward reports finished gradients; complete buckets are launched in order. */
  gradsReady(names: string[]): void {
    for (const name of names) this.readyTensors.add(name);
    if (!this.overlap) return;
    while (this.nextBucket < this.buckets.length && this.readyTensors.has(this.buckets[this.nextBucket].lastTensor)) {
      this.launch(this.buckets[this.nextBucket++]);
    }
  }

  /** Reduces whatever is left and waits for every bucket; afterwards every replica holds the summed gradients (or its chunk of each bucket's). */
  finish(): void {
    while (this.nextBucket < this.buckets.length) this.launch(this.buckets[this.nextBucket++]);
    for (const op of this.launched) this.comm.wait(op);
    this.launched.length = 0;
    this.readyTensors.clear();
    this.nextBucket = 0;
  }

  private launch(bucket: Bucket): void {
    if (this.group.ranks.length === 1) return; // a lone replica has nothing to add
    const view = this.grads.subarray(bucket.offset, bucket.offset + bucket.size);
    const options = { overlap: this.overlap, label: `${this.reduce}(dp-grad) bucket@${bucket.offset}` };
    const op = this.reduce === "all-reduce" ? this.comm.allReduce(view, this.group, "dp-grad", options) : this.comm.reduceScatter(view, this.group, "dp-grad", options);
    this.launched.push(op);
  }
}
