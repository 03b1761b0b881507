/**
 * The cost model of communication: how long a transfer or a collective takes in simulated seconds.
 * (Kernels: src/sim/roofline.ts.)
 *
 * α–β model (Hockney): a message of S bytes on a link costs α + S/β. β is what NCCL achieves
 * (nccl-tests bus bandwidth), not line rate (src/sim/hardware.ts names the sources).
 * One ring over n ranks on one link (nccl-tests doc/PERFORMANCE.md; Thakur, Rabenseifner &
 * Gropp 2005; S bytes of the full buffer, β bandwidth per rank per direction):
 * - ring all-reduce:            2(n−1)·α + 2(n−1)/n · S/β
 * - reduce-scatter, all-gather:  (n−1)·α +  (n−1)/n · S/β
 * - broadcast:                  ⌈log2 n⌉·α + S/β   (binomial-tree latency term, pipelined
 *                                 bandwidth term; nccl-tests count busbw = algbw for broadcast)
 * - send/recv:                   α + S/β; across nodes β is the device's share of the NICs.
 * A group of one rank costs nothing. How NCCL runs a group that spans nodes: `groupCollectiveTime`.
 */
import { nicBandwidthPerDevice, type HardwareProfile, type LinkProfile } from "./hardware.js";

export type CollectiveOp = "all-reduce" | "reduce-scatter" | "all-gather" | "broadcast";

export function nodeOf(hw: HardwareProfile, rank: number): number {
  return Math.floor(rank / hw.devicesPerNode);
}

/** The network as one device sees it: the interNode latency at its share of the node's NICs. */
export function networkLink(hw: HardwareProfile): LinkProfile {
  return { bandwidth: nicBandwidthPerDevice(hw), latency: hw.interNode.latency };
}

/** The link a message from `a` to `b` crosses: NVLink inside a node, the NIC across nodes. */
export function linkBetween(hw: HardwareProfile, a: number, b: number): LinkProfile {
  return nodeOf(hw, a) === nodeOf(hw, b) ? hw.intraNode : networkLink(hw);
}

/**
 * The slowest link a group crosses. Inside one node: the intra-node link. Spanning nodes: the
 * worse of the two links in each parameter (lower bandwidth, higher latency).
 */
export function groupLink(hw: HardwareProfile, ranks: readonly number[]): LinkProfile {
  if (ranks.length === 0) return hw.intraNode;
  const node = nodeOf(hw, ranks[0]!);
  const spans = ranks.some((r) => nodeOf(hw, r) !== node);
  if (!spans) return hw.intraNode;
  const net = networkLink(hw);
  return {
    bandwidth: Math.min(hw.intraNode.bandwidth, net.bandwidth),
    latency: Math.max(hw.intraNode.latency, net.latency),
  };
}

/** α + S/β. */
export function transferTime(link: LinkProfile, bytes: number): number {
  return link.latency + bytes / link.bandwidth;
}

/** Simulated seconds of one ring (or, for broadcast, tree) over `n` ranks on `link`, `bytes` = size of the full buffer. */
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

/**
 * A double binary tree all-reduce over `n` ranks (NCCL's tree algorithm): a reduce up and a
 * broadcast down, pipelined, ⌈log2 n⌉ steps each way: 2⌈log2 n⌉·α + 2·S/β.
 */
export function treeAllReduceTime(n: number, bytes: number, link: LinkProfile): number {
  if (n <= 1) return 0;
  return 2 * Math.ceil(Math.log2(n)) * link.latency + (2 * bytes) / link.bandwidth;
}

/** The nodes a group spans (m) and the most members it has on one node (k). */
export function groupSpread(hw: HardwareProfile, ranks: readonly number[]): { nodes: number; perNode: number } {
  const count = new Map<number, number>();
  for (const r of ranks) count.set(nodeOf(hw, r), (count.get(nodeOf(hw, r)) ?? 0) + 1);
  return { nodes: count.size, perNode: Math.max(0, ...count.values()) };
}

/**
 * A collective over `ranks` as NCCL runs it (docs/architecture.md, "Collectives"). Inside one
 * node: one ring over NVLink. Across m nodes with k members on a node (the most on any), S bytes:
 * - all-reduce, hierarchical: reduce-scatter S inside each node (k ranks), all-reduce the S/k
 *   shards across the nodes (k of them at once, one per NIC rail, each at the device's NIC share
 *   β_e), all-gather S inside each node:
 *     2·[(k−1)α_i + (k−1)/k·S/β_i] + min(ring, tree) of S/k over m ranks on the network,
 *   where NCCL's choice between ring and tree is taken as whichever is faster (the tree wins only
 *   for small messages across many nodes, where its ⌈log2 m⌉ latency beats the ring's m − 1);
 * - reduce-scatter: inside each node then across nodes; all-gather the reverse:
 *     (k−1)α_i + (k−1)/k·S/β_i + (m−1)α_e + (m−1)/m·(S/k)/β_e;
 * - broadcast: a tree over all n ranks at the network's latency and the slower bandwidth.
 */
export function groupCollectiveTime(hw: HardwareProfile, op: CollectiveOp, ranks: readonly number[], bytes: number): number {
  const n = ranks.length;
  if (n <= 1) return 0;
  const { nodes: m, perNode: k } = groupSpread(hw, ranks);
  if (m === 1) return collectiveTime(op, n, bytes, hw.intraNode);
  const net = networkLink(hw);
  if (op === "broadcast") return collectiveTime(op, n, bytes, groupLink(hw, ranks));
  const shard = bytes / k;
  if (op === "all-reduce") {
    const inNode = 2 * collectiveTime("reduce-scatter", k, bytes, hw.intraNode);
    return inNode + Math.min(collectiveTime("all-reduce", m, shard, net), treeAllReduceTime(m, shard, net));
  }
  return collectiveTime(op, k, bytes, hw.intraNode) + collectiveTime(op, m, shard, net);
}

/** Seconds to do `flops` on one device at the matmul peak × efficiency, for work with no kernel breakdown. */
export function computeTime(hw: HardwareProfile, flops: number): number {
  return flops / (hw.peakFlops * hw.efficiency);
}
