/**
 * The cost model: how long a transfer or a collective takes in simulated seconds.
 *
 * α–β model (Hockney): a message of S bytes on a link costs α + S/β.
 * Collective costs follow nccl-tests doc/PERFORMANCE.md and Thakur, Rabenseifner & Gropp 2005
 * (n ranks, S bytes of the full buffer, β bandwidth per rank per direction):
 * - ring all-reduce:            2(n−1)·α + 2(n−1)/n · S/β
 * - reduce-scatter, all-gather:  (n−1)·α +  (n−1)/n · S/β
 * - broadcast:                  ⌈log2 n⌉·α + S/β   (binomial-tree latency term, pipelined
 *                                 bandwidth term; nccl-tests count busbw = algbw for broadcast)
 * - send/recv:                   α + S/β
 * A group of one rank costs nothing. A collective runs at the pace of the slowest link it crosses:
 * the inter-node link when the group spans nodes (see `groupLink`).
 */
import type { HardwareProfile, LinkProfile } from "./hardware.js";

export type CollectiveOp = "all-reduce" | "reduce-scatter" | "all-gather" | "broadcast";

export function nodeOf(hw: HardwareProfile, rank: number): number {
  return Math.floor(rank / hw.devicesPerNode);
}

/** The link a message from `a` to `b` crosses. */
export function linkBetween(hw: HardwareProfile, a: number, b: number): LinkProfile {
  return nodeOf(hw, a) === nodeOf(hw, b) ? hw.intraNode : hw.interNode;
}

/**
 * The slowest link a group crosses. Inside one node: the intra-node link. Spanning nodes: the
 * worse of the two links in each parameter (lower bandwidth, higher latency), which is the
 * inter-node link for every real profile but stays right if a scenario overrides them oddly.
 */
export function groupLink(hw: HardwareProfile, ranks: readonly number[]): LinkProfile {
  if (ranks.length === 0) return hw.intraNode;
  const node = nodeOf(hw, ranks[0]!);
  const spans = ranks.some((r) => nodeOf(hw, r) !== node);
  if (!spans) return hw.intraNode;
  return {
    bandwidth: Math.min(hw.intraNode.bandwidth, hw.interNode.bandwidth),
    latency: Math.max(hw.intraNode.latency, hw.interNode.latency),
  };
}

/** α + S/β. */
export function transferTime(link: LinkProfile, bytes: number): number {
  return link.latency + bytes / link.bandwidth;
}

/** Simulated seconds of a collective over `n` ranks on `link`, `bytes` = size of the full buffer. */
export function collectiveTime(op: CollectiveOp, n: number, bytes: number, link: LinkProfile): number {
  if (n <= 1) return 0;
  const a = link.latency;
  const b = link.bandwidth;
  switch (op) {
    case "all-reduce":
      return 2 * (n - 1) * a + ((2 * (n - 1)) / n) * (bytes / b);
    case "reduce-scatter":
    case "all-gather":
      return (n - 1) * a + ((n - 1) / n) * (bytes / b);
    case "broadcast":
      return Math.ceil(Math.log2(n)) * a + bytes / b;
  }
}

/** Seconds to do `flops` on one device. */
export function computeTime(hw: HardwareProfile, flops: number): number {
  return flops / (hw.peakFlops * hw.efficiency);
}
