/**
 * ZeRO stages 2 and 3 (Rajbhandari et al., SC'20, "ZeRO: Memory Optimizations Toward Training
 * Trillion Parameter Models"; stage 3 as PyTorch FSDP runs it, Zhao et al., VLDB 2023).
 *
 * Every stage shards over the dp group by *units*: contiguous ranges of whole tensors of a rank's
 * flat buffer, each cut into the ring's n chunks, dp rank i owning chunk i of every unit (the
 * comm's chunks, so a unit's reduce-scatter leaves exactly the owned chunk reduced and its
 * all-gather fills the others from it). A rank's shard is the list of its chunks.
 *
 * - ZeRO-1: one unit, the whole buffer.
 * - ZeRO-2: the units are the gradient buckets (src/parallel/data.ts): each is reduce-scattered as
 *   soon as the last micro-batch's backward has finished it, on the communication stream, as
 *   DeepSpeed's overlap_comm does; after the update the buckets' parameters are all-gathered.
 * - ZeRO-3: the units are FSDP's: the embedding (with gpt's position table), each layer, and the
 *   head (final norm and LM head). Each is all-gathered (`dp-param-gather`) before a pass reads
 *   it and freed after; while one unit computes, the next unit's gather runs on the
 *   communication stream (FSDP's forward and backward prefetch). Gradients are reduce-scattered
 *   unit by unit as backward finishes them.
 *
 * Gradients of the micro-batches of a step accumulate unsharded, as under FSDP's `no_sync`, and
 * are reduce-scattered once per step: bytes per step are the ZeRO paper's. Memory counts what the
 * simulated device keeps (src/runtime/device.ts `memory`): the owned chunks, and under ZeRO-3 the
 * gathered units at their peak. The host keeps full-size arrays underneath (as it keeps 16-bit
 * tensors in float32 arrays); a freed unit's other chunks are overwritten with NaN, so a pass that
 * read a weight it had not gathered would poison the loss and fail every equivalence test.
 */
import { chunkOffset, chunkSize } from "../comm/ledger.js";
import type { Comm } from "../comm/comm.js";
import { invariant } from "../errors.js";
import { isMeta } from "../kernels/meta.js";
import type { TensorSpec } from "../model/layout.js";
import type { WeightSource } from "../model/model.js";
import type { CommOp } from "../sim/clock.js";
import type { Range } from "../train/shard.js";
import type { Bucket } from "./data.js";
import type { Group } from "./mesh.js";

export type ZeroStage = 0 | 1 | 2 | 3;

/**
 * The units a ZeRO stage shards a flat layout by: the whole buffer (stage 1), the gradient
 * `buckets` (stage 2) or FSDP's units (stage 3).
 */
export function shardUnits(stage: ZeroStage, layout: { tensors: readonly TensorSpec[]; totalSize: number }, buckets: Bucket[]): Bucket[] {
  if (stage === 3) return zeroUnits(layout);
  if (stage === 2) return buckets;
  return [{ offset: 0, size: layout.totalSize, lastTensor: layout.tensors[0]!.name }];
}

/** Chunk `index` of `n` of every unit: what dp rank `index` owns (empty chunks left out). */
export function ownedChunks(units: readonly Range[], n: number, index: number): Range[] {
  return units
    .map((u) => ({ offset: u.offset + chunkOffset(u.size, n, index), size: chunkSize(u.size, n, index) }))
    .filter((r) => r.size > 0)
    .sort((a, b) => a.offset - b.offset);
}

/** The FSDP unit a tensor belongs to: `L<layer>`, `embed` (token and position tables) or `head`. */
export function unitOf(name: string): string {
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  if (layer) return `L${layer[1]}`;
  return name.startsWith("model.embed_") ? "embed" : "head";
}

/** A ZeRO-3 unit: a bucket (whole tensors, in backward order) with the name the model uses for it. */
export interface Unit extends Bucket {
  name: string;
}

/** ZeRO-3's units of a rank's flat buffer, highest offsets first (the order backward finishes them). */
export function zeroUnits(layout: { tensors: readonly TensorSpec[] }): Unit[] {
  const units: Unit[] = [];
  for (const t of layout.tensors) {
    const name = unitOf(t.name);
    const last = units[units.length - 1];
    if (last && last.name === name) {
      last.size += t.size;
      continue;
    }
    invariant(!units.some((u) => u.name === name), `unit ${name} is not contiguous in the flat buffer`);
    units.push({ name, offset: t.offset, size: t.size, lastTensor: t.name });
  }
  return units.reverse();
}

/**
 * ZeRO-3's parameters: a rank keeps its chunk of every unit; `acquire` gathers units before the
 * model reads them (waiting for a prefetched gather) and starts the next units' gathers;
 * `release` frees them. Also tracks the peak of gathered elements, for the memory report.
 */
export class ParameterGather implements WeightSource {
  private readonly units: Map<string, Unit>;
  private readonly owned: Map<string, Range>;
  /** Gathered (or in flight) units and their gather, waited for on first use. */
  private readonly live = new Map<string, CommOp | null>();
  private liveElements = 0;
  /** The most elements of gathered units held at once. */
  peakElements = 0;

  constructor(
    private readonly comm: Comm,
    private readonly group: Group,
    private readonly params: Float32Array,
    units: readonly Unit[],
  ) {
    const n = group.ranks.length;
    const index = group.ranks.indexOf(comm.rank);
    this.units = new Map(units.map((u) => [u.name, u]));
    this.owned = new Map(units.map((u) => [u.name, { offset: u.offset + chunkOffset(u.size, n, index), size: chunkSize(u.size, n, index) }]));
    for (const u of units) this.free(u.name);
  }

  acquire(names: readonly string[], next: readonly string[] | null): void {
    for (const name of names) {
      if (!this.live.has(name)) this.gather(name, false);
      const op = this.live.get(name);
      if (op) this.comm.wait(op);
      this.live.set(name, null);
    }
    for (const name of next ?? []) if (!this.live.has(name)) this.gather(name, true);
  }

  release(names: readonly string[]): void {
    for (const name of names) {
      invariant(this.live.has(name), `unit ${name} released without being gathered`);
      this.live.delete(name);
      this.liveElements -= this.unit(name).size;
      this.free(name);
    }
  }

  private gather(name: string, prefetch: boolean): void {
    const u = this.unit(name);
    this.liveElements += u.size;
    this.peakElements = Math.max(this.peakElements, this.liveElements);
    const view = this.params.subarray(u.offset, u.offset + u.size);
    const label = `all-gather(dp-param-gather) ${name}${prefetch ? " (prefetch)" : ""}`;
    const op = this.comm.allGather(view, this.group, "dp-param-gather", { overlap: prefetch, label });
    this.live.set(name, prefetch ? op : null);
  }

  /** Overwrites the chunks of a unit this rank does not own: a read of them before a gather shows as NaN. */
  private free(name: string): void {
    if (isMeta(this.params)) return;
    const u = this.unit(name);
    const own = this.owned.get(name)!;
    this.params.fill(NaN, u.offset, own.offset);
    this.params.fill(NaN, own.offset + own.size, u.offset + u.size);
  }

  private unit(name: string): Unit {
    const u = this.units.get(name);
    invariant(u !== undefined, `no ZeRO-3 unit ${name} on this rank`);
    return u;
  }
}
