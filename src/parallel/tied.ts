/**
 * Tied input and output embeddings across pipeline stages, as Megatron-LM does them: the first
 * stage holds the embedding, the last stage holds a copy of it as its LM head (a layout tensor
 * with `tiedTo`, src/model/layout.ts), initialised from the same values. Each copy gets only its
 * own stage's gradient, so once per step, after the last backward and before clipping and the
 * optimizer, the two gradients are summed between the pair of ranks that hold them (same dp and
 * tp coordinates, first and last pipeline rank; ledger kind `tied-embed`, one all-reduce of the
 * rank's vocabulary shard V/tp·h). Both copies then take identical AdamW steps and stay equal.
 * The copy is left out of the gradient norm, which counts the tensor once (src/parallel/tensor.ts).
 *
 * When one rank holds both (interleaved stages on one pipeline rank, pp 1) the sum is local and
 * stored in the gradients' dtype; otherwise its payload is a weight gradient (src/train/precision.ts).
 * Data-parallel reduction commutes with this sum: plain data parallelism reduces first (its
 * buckets overlap backward); ZeRO-1 reduce-scatters shards of the flat buffer, which do not line
 * up between stages, so it sums the pair first.
 */
import type { Comm } from "../comm/comm.js";
import { storeAs, type Dtype } from "../kernels/round.js";
import { EMBED_NAME, type TensorSpec } from "../model/layout.js";
import type { Mesh } from "./mesh.js";

export const TIED_EMBED = "tied-embed";

/** The ranks holding the embedding and its tied copy for `rank` (its first and last pipeline ranks), or null if it holds neither. */
export function tiedEmbeddingGroup(mesh: Mesh, rank: number): number[] | null {
  const pp = mesh.groupOf(rank, "pp").ranks;
  const pair = [pp[0], pp[pp.length - 1]];
  return pair.includes(rank) ? pair : null;
}

/**
 * Sums the embedding's gradient and its tied copy's over the pair (see the header). Does nothing
 * for an untied model or on a rank that holds neither.
 */
export function syncTiedEmbeddingGrads(comm: Comm, mesh: Mesh, tensors: readonly TensorSpec[], grads: Float32Array, tied: boolean, gradDtype: Dtype = "fp32"): void {
  if (!tied) return;
  const view = (t: TensorSpec) => grads.subarray(t.offset, t.offset + t.size);
  const copy = tensors.find((t) => t.tiedTo !== undefined);
  const original = tensors.find((t) => t.name === EMBED_NAME);
  if (copy && original) {
    const [a, b] = [view(original), view(copy)];
    for (let i = 0; i < a.length; i++) a[i] += b[i];
    storeAs(gradDtype, a); // stored in the gradients' dtype, as the ring all-reduce stores its sums
    b.set(a);
    return;
  }
  const mine = copy ?? original;
  const group = tiedEmbeddingGroup(mesh, comm.rank);
  if (!mine || !group || group[0] === group[1]) return;
  comm.allReduce(view(mine), group, TIED_EMBED);
}
