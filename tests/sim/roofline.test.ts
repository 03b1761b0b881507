/**
 * The roofline (src/sim/roofline.ts), the kernels' launches (src/kernels/cost.ts) and NCCL's
 * hierarchical all-reduce (src/sim/cost.ts) against their documented closed forms.
 */
import { describe, expect, it } from "vitest";
import { attentionCost, costFlops, flashAttentionCost, linearCost, residualCost } from "../../src/kernels/cost.js";
import { attentionFlops, flashAttentionFlops, linearFlops } from "../../src/kernels/flops.js";
import { collectiveTime, groupCollectiveTime, networkLink } from "../../src/sim/cost.js";
import { resolveHardware } from "../../src/sim/hardware.js";
import { launchTime, matmulRate, quantisationEfficiency, type CostContext } from "../../src/sim/roofline.js";

const a100: CostContext = { hardware: resolveHardware({ profile: "a100-80gb" }), dtype: "fp16" };
const hw = a100.hardware;

describe("roofline of one launch", () => {
  it("a memory-bound kernel's time is its bytes over the HBM bandwidth, plus the launch overhead", () => {
    const small = residualCost(1 << 20, 2).forward[0]!;
    const large = residualCost(1 << 24, 2).forward[0]!;
    for (const l of [small, large]) expect(launchTime(a100, l)).toBe(l.bytes / hw.memoryBandwidth + hw.launchOverhead);
    // 16× the elements, 16× the bytes, 16× the time once the fixed launch overhead is taken off.
    expect((launchTime(a100, large) - hw.launchOverhead) / (launchTime(a100, small) - hw.launchOverhead)).toBeCloseTo(16, 12);
  });

  it("a large GEMM's time is its FLOPs over the quantised matmul rate", () => {
    // 8192 × 8192 output in 128 × 256 tiles: 64·32 = 2048 tiles on 108 SMs = 19 waves, the last 104/108 full.
    const g = linearCost(8192, 8192, 8192, 2).forward[0]!;
    const eff = quantisationEfficiency(hw.sms, g.gemm!);
    expect(eff).toBeCloseTo(2048 / (19 * 108), 12);
    expect(launchTime(a100, g)).toBeCloseTo(g.flops / (312e12 * 0.825 * eff) + hw.launchOverhead, 15);
    // The profile's efficiency comes from this very matmul (257 TFLOP/s on random inputs, src/sim/hardware.ts):
    // the model gives it back to the nearest TFLOP/s.
    expect(g.flops / (launchTime(a100, g) - hw.launchOverhead) / 1e12).toBeCloseTo(257, 0);
    // Doubling K doubles FLOPs and leaves the tiles alone: time doubles (compute-bound, overhead aside).
    const g2 = linearCost(8192, 16384, 8192, 2).forward[0]!;
    expect((launchTime(a100, g2) - hw.launchOverhead) / (launchTime(a100, g) - hw.launchOverhead)).toBeCloseTo(2, 12);
    expect(g.flops / hw.memoryBandwidth).toBeGreaterThan(g.bytes / hw.memoryBandwidth);
  });

  it("fp32 matmuls run at the TF32 peak, 16-bit ones at the fp16/bf16 peak", () => {
    expect(matmulRate(hw, "fp32")).toBe(156e12 * 0.825);
    expect(matmulRate(hw, "bf16")).toBe(312e12 * 0.825);
  });

  it("the unit profile charges exactly one second per FLOP, whatever the bytes", () => {
    const unit: CostContext = { hardware: resolveHardware({ profile: "unit" }), dtype: "fp32" };
    for (const l of [...linearCost(3, 5, 7, 4).forward, ...attentionCost(2, 9, 4, 2, 8, 4).backwardInput]) expect(launchTime(unit, l)).toBe(l.flops);
  });

  it("launches add up to flops.ts' counts, so the roofline and the FLOP totals agree", () => {
    const [B, T, H, G, D] = [2, 33, 4, 2, 16];
    expect(costFlops(linearCost(5, 7, 11, 2))).toEqual(linearFlops(5, 7, 11));
    expect(costFlops(attentionCost(B, T, H, G, D, 2))).toEqual(attentionFlops(B, T, H, D));
    expect(costFlops(flashAttentionCost(B, T, H, G, D, 2))).toEqual(flashAttentionFlops(B, T, H, D));
  });

  it("flash attention moves no T×T matrix; the naive kernel writes and rereads one", () => {
    const [B, T, H, D, e] = [1, 2048, 8, 128, 2];
    const bytes = (ls: { bytes: number }[]) => ls.reduce((s, l) => s + l.bytes, 0);
    expect(bytes(flashAttentionCost(B, T, H, H, D, e).forward)).toBe(e * 4 * B * H * T * D + 4 * B * H * T);
    expect(bytes(attentionCost(B, T, H, H, D, e).forward)).toBe(e * (4 * B * H * T * D + 4 * B * H * T * T));
  });
});

describe("collectives as NCCL runs them", () => {
  it("inside a node: one ring at NCCL's NVLink bus bandwidth", () => {
    const S = 64e6;
    expect(groupCollectiveTime(hw, "all-reduce", [0, 1, 2, 3, 4, 5, 6, 7], S)).toBe(collectiveTime("all-reduce", 8, S, hw.intraNode));
  });

  it("across nodes: reduce-scatter in the node, all-reduce of the shards across nodes, all-gather in the node", () => {
    const S = 1e9;
    const ranks = Array.from({ length: 32 }, (_, r) => r); // k = 8 per node, m = 4 nodes
    const [k, m] = [8, 4];
    const [ai, bi] = [hw.intraNode.latency, hw.intraNode.bandwidth];
    const [ae, be] = [hw.interNode.latency, (hw.interNode.bandwidth * 8) / 8];
    const formula = 2 * ((k - 1) * ai + ((k - 1) / k) * (S / bi)) + 2 * (m - 1) * ae + ((2 * (m - 1)) / m) * (S / k / be);
    expect(groupCollectiveTime(hw, "all-reduce", ranks, S)).toBeCloseTo(formula, 15);
    // One member per node (a dp group across nodes): a flat ring over the network.
    const spread = [0, 8, 16, 24];
    expect(groupCollectiveTime(hw, "all-reduce", spread, S)).toBe(collectiveTime("all-reduce", 4, S, networkLink(hw)));
  });

  it("across nodes NCCL's faster algorithm runs: the tree's log latency across many nodes, the ring's bandwidth across few", () => {
    const net = networkLink(hw);
    const many = Array.from({ length: 256 }, (_, i) => i * 8); // one member on each of 256 nodes
    const tree = (m: number, S: number) => 2 * Math.ceil(Math.log2(m)) * net.latency + (2 * S) / net.bandwidth;
    expect(groupCollectiveTime(hw, "all-reduce", many, 1024)).toBeCloseTo(tree(256, 1024), 15);
    expect(tree(256, 1024)).toBeLessThan(collectiveTime("all-reduce", 256, 1024, net));
    const few = [0, 8, 16, 24];
    expect(groupCollectiveTime(hw, "all-reduce", few, 1e9)).toBe(collectiveTime("all-reduce", 4, 1e9, net));
    expect(collectiveTime("all-reduce", 4, 1e9, net)).toBeLessThan(tree(4, 1e9));
  });
});
