/**
 * Checkpoint helpers for tensor parallelism: pure functions between the flat per-rank buffers of
 * a tp layout (src/model/layout.ts, `buildLayout(config, part, { size, index })`) and full
 * Hugging Face tensors. The caller moves the data between ranks (e.g. an all-gather over the tp
 * group of the equal-sized flat buffers, chunk i = tp rank i's buffer).
 *
 * gatherTpTensors(layouts, shardsOfEveryRank) → full tensors        (saving a checkpoint)
 * shardTpTensors(layout, fullTensors, out)    → this rank's flat buffer (loading one)
 * gatherTpTensors(all layouts, each rank's shardTpTensors(...)) returns the input bit for bit.
 * Which tensors are sliced and which are replicated is the plan of src/parallel/tp-plan.ts.
 */
import { invariant } from "../errors.js";
import type { Floats } from "../kernels/types.js";
import { checkTensorsMatch } from "../checkpoint/hf.js";
import { extractShard, placeShard, type Layout } from "../model/layout.js";
import { isTpReplicated } from "./tp-plan.js";

export interface FullTensor<A extends Floats = Floats> {
  name: string;
  shape: number[];
  data: A;
}

/**
 * Elements a layout's rank holds of replicated tensors and of sharded ones (per the plan). A
 * layout built without tp holds every tensor whole: all replicated.
 */
export function tpParamCounts(layout: Layout): { replicated: number; sharded: number } {
  let replicated = 0;
  let sharded = 0;
  for (const t of layout.tensors) {
    if (layout.tp && !isTpReplicated(t.name)) sharded += t.size;
    else replicated += t.size;
  }
  return { replicated, sharded };
}

/**
 * Full tensors, in layout order, from the flat buffers of every rank of one tp group
 * (`layouts[i]`, `buffers[i]` of tp index i). Replicated tensors are taken from index 0; with
 * `checkReplicas` every rank's copy must be bit-identical (else InternalError naming the tensor:
 * training keeps replicas equal).
 */
export function gatherTpTensors<A extends Floats>(layouts: readonly Layout[], buffers: readonly A[], checkReplicas = false): FullTensor<A>[] {
  const n = layouts.length;
  invariant(n > 0 && buffers.length === n, `gatherTpTensors needs one buffer per tp rank (${n}), got ${buffers.length}`);
  layouts.forEach((l, i) => {
    const idx = l.tp?.index ?? 0;
    const size = l.tp?.size ?? 1;
    invariant(idx === i && size === n, `layouts entry ${i} is tp rank ${idx} of ${size}, expected ${i} of ${n}`);
    invariant(buffers[i].length === l.totalSize, `buffers entry ${i} must hold ${l.totalSize} elements, got ${buffers[i].length}`);
  });
  const ctor = buffers[0].constructor as new (k: number) => A;
  return layouts[0].tensors.map((t0) => {
    const full = new ctor(t0.shape.reduce((a, b) => a * b, 1));
    const replicated = isTpReplicated(t0.name);
    layouts.forEach((l, i) => {
      const t = l.byName.get(t0.name)!;
      const shard = buffers[i].subarray(t.offset, t.offset + t.size) as A;
      if (!replicated || i === 0) placeShard(full, t.shape, t.shard ?? null, shard);
      else invariant(!checkReplicas || sameBits(shard, full), `replicated '${t.name}' differs between tp rank 0 and ${i}`);
    });
    return { name: t0.name, shape: [...t0.shape], data: full };
  });
}

/** Fills this rank's flat buffer `out` from full tensors (by name; shapes must match). */
export function shardTpTensors(layout: Layout, full: ReadonlyMap<string, { shape: readonly number[]; data: Floats }>, out: Floats): void {
  invariant(out.length === layout.totalSize, `the buffer must hold ${layout.totalSize} elements for this layout, got ${out.length}`);
  checkTensorsMatch(full, layout.tensors, false);
  for (const t of layout.tensors) {
    const f = full.get(t.name)!;
    out.set(extractShard(f.data, t.shape, t.shard ?? null), t.offset);
  }
}

function sameBits(a: Floats, b: Floats): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
