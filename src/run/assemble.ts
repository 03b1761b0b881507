/** Full tensors from the pieces of ranks' flat buffers: what a checkpoint and a gradient capture gather. */
import { buildLayout, placeShard, type TensorSpec } from "../model/layout.js";
import type { FlatPiece } from "../runtime/device.js";
import type { Scenario } from "../scenario/schema.js";
import { modelConfigOf } from "../train/trainer.js";

/**
 * Full tensors from pieces of ranks' flat buffers. Ranks with the same (pp, tp) share a layout,
 * so their pieces (ZeRO shards of one buffer, or one whole buffer) are first laid into that
 * buffer; then every tensor, or tensor-parallel shard of one, is placed into its full tensor.
 */
export function assembleTensors(scenario: Scenario, pieces: FlatPiece[]): Map<string, Float32Array> {
  const full = new Map(buildLayout(modelConfigOf(scenario)).tensors.map((t) => [t.name, new Float32Array(t.size)]));
  const buffers = new Map<string, { flat: Float32Array; tensors: TensorSpec[] }>();
  for (const piece of pieces) {
    const key = `${piece.coords.pp}:${piece.coords.tp}`;
    if (!buffers.has(key)) buffers.set(key, { flat: new Float32Array(piece.totalSize), tensors: piece.tensors });
    buffers.get(key)!.flat.set(piece.values, piece.offset);
  }
  for (const { flat, tensors } of buffers.values()) {
    // A tied copy (a last stage's LM head) equals its original after the step's gradient sum.
    for (const t of tensors) if (t.tiedTo === undefined) placeShard(full.get(t.name)!, t.shape, t.shard ?? null, flat.subarray(t.offset, t.offset + t.size));
  }
  return full;
}
