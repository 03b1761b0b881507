// Multi-worker tests of Comm: one 8-worker cluster, collectives over groups of 1, 2, 3, 4 and 8.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../src/runtime/cluster.js";
import { expectedBytes, chunkOffset, chunkSize } from "../../src/comm/ledger.js";
import type { api as WorkerApi } from "./comm-worker.js";
import { bits, firstDifference, inputFor, serialAllReduce } from "./data.js";

type Api = typeof WorkerApi;
const CHANNEL = 1024; // 56 channels × 1 KiB: the whole shared region is 56 KiB
let cluster: Cluster<Api>;

beforeAll(async () => {
  cluster = await Cluster.launch<Api>({ entry: new URL("./comm-worker.ts", import.meta.url), worldSize: 8, channelBytes: CHANNEL, watchdogMs: 10_000 });
});
afterAll(async () => {
  await cluster?.close();
  expect(cluster.liveWorkers()).toBe(0);
});

const configure = (hardware?: Parameters<Api["configure"]>[0]) => cluster.all("configure", (a) => a.configure(hardware));

const groups = [[3], [0, 1], [5, 2, 7], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7]];

describe("ring all-reduce", () => {
  for (const group of groups) {
    for (const length of [1, 7, 1001]) {
      it(`equals the serial sum bit for bit and the byte closed form: n=${group.length}, N=${length}`, async () => {
        await configure();
        const res = await cluster.all("all-reduce", (a) => a.allReduce(length, group, "dp-grad"), { ranks: group });
        const ref = bits(serialAllReduce(group, length));
        const n = group.length;
        let total = 0;
        res.forEach((r, p) => {
          expect(bits(r.out!)).toEqual(ref);
          expect(r.ledger.byKind["dp-grad"]).toMatchObject(expectedBytes("all-reduce", length, 4, n, p));
          total += r.ledger.total.sent;
        });
        expect(total).toBe(2 * (n - 1) * length * 4);
      });
    }
  }

  it("streams a payload larger than the whole shared region (8 and 3 ranks)", async () => {
    await configure();
    const length = 100_003; // 400 KB ≫ 56 KiB of shared data
    for (const group of [groups[4]!, groups[2]!]) {
      const res = await cluster.all("all-reduce", (a) => a.allReduce(length, group, "big"), { ranks: group });
      const ref = serialAllReduce(group, length);
      for (const r of res) expect(firstDifference(r.out!, ref)).toBe(-1);
    }
  });

  it("averages with op mean and sends exactly 2(n−1)/n·S per rank when n divides N", async () => {
    await configure();
    const group = groups[3]!;
    const res = await cluster.all("all-reduce", (a) => a.allReduce(4000, group, "dp-grad", { op: "mean" }), { ranks: group });
    const ref = bits(serialAllReduce(group, 4000, true));
    for (const r of res) {
      expect(bits(r.out!)).toEqual(ref);
      expect(r.ledger.total.sent).toBe(((2 * 3) / 4) * 4000 * 4);
      expect(r.ledger.total.received).toBe(((2 * 3) / 4) * 4000 * 4);
    }
  });
});

describe("reduce-scatter, all-gather, broadcast", () => {
  it("reduce-scatter leaves chunk p reduced on position p", async () => {
    await configure();
    const group = groups[2]!;
    const res = await cluster.all("rs", (a) => a.reduceScatter(1001, group, "tp-act"), { ranks: group });
    const full = serialAllReduce(group, 1001);
    res.forEach((r, p) => {
      const o = chunkOffset(1001, 3, p);
      expect(bits(r.out!)).toEqual(bits(full.subarray(o, o + chunkSize(1001, 3, p))));
      expect(r.ledger.total).toMatchObject(expectedBytes("reduce-scatter", 1001, 4, 3, p));
    });
  });

  it("all-gather collects chunk c from position c", async () => {
    await configure();
    const group = groups[3]!;
    const res = await cluster.all("ag", (a) => a.allGather(1003, group, "tp-act"), { ranks: group });
    const ref = new Float32Array(1003);
    group.forEach((r, c) => {
      const o = chunkOffset(1003, 4, c);
      ref.set(inputFor(r, 1003).subarray(o, o + chunkSize(1003, 4, c)), o);
    });
    let total = 0;
    res.forEach((r, p) => {
      expect(bits(r.out!)).toEqual(bits(ref));
      expect(r.ledger.total).toMatchObject(expectedBytes("all-gather", 1003, 4, 4, p));
      total += r.ledger.total.sent;
    });
    expect(total).toBe(3 * 1003 * 4);
  });

  it("broadcast copies the root's buffer to every member", async () => {
    await configure();
    const group = groups[2]!;
    const res = await cluster.all("bcast", (a) => a.broadcast(5000, 7, group, "init"), { ranks: group });
    const ref = bits(inputFor(7, 5000));
    res.forEach((r, p) => {
      expect(bits(r.out!)).toEqual(ref);
      expect(r.ledger.total).toMatchObject(expectedBytes("broadcast", 5000, 4, 3, p, 2));
    });
  });
});

describe("send / recv", () => {
  it("matches messages in order per pair, including one larger than the channel", async () => {
    await configure();
    const plan0 = [
      { type: "send" as const, peer: 1, length: 3, value: 1, kind: "pp-act" },
      { type: "send" as const, peer: 1, length: 5000, value: 2, kind: "pp-act" },
      { type: "send" as const, peer: 1, length: 1, value: 3, kind: "pp-act" },
      { type: "recv" as const, peer: 1, length: 4, value: 0, kind: "pp-grad" },
    ];
    const plan1 = [
      { type: "recv" as const, peer: 0, length: 3, value: 0, kind: "pp-act" },
      { type: "recv" as const, peer: 0, length: 5000, value: 0, kind: "pp-act" },
      { type: "recv" as const, peer: 0, length: 1, value: 0, kind: "pp-act" },
      { type: "send" as const, peer: 0, length: 4, value: 9, kind: "pp-grad" },
    ];
    const [r0, r1] = await cluster.all("p2p", (a, rank) => a.p2p(rank === 0 ? plan0 : plan1), { ranks: [0, 1] });
    expect(r1!.got).toEqual([[1, 1, 3], [2, 2, 5000], [3, 3, 1]]);
    expect(r0!.got).toEqual([[9, 9, 4]]);
    expect(r0!.ledger.byKind["pp-act"]).toEqual({ sent: 5004 * 4, received: 0, calls: 3 });
    expect(r1!.ledger.byKind["pp-act"]).toEqual({ sent: 0, received: 5004 * 4, calls: 3 });
    expect(r1!.ledger.byKind["pp-grad"]).toEqual({ sent: 16, received: 0, calls: 1 });
  });

  it("batch lets two neighbours send payloads larger than the channel to each other", async () => {
    const got = await cluster.all("swap", (a, rank) => a.swap(rank === 2 ? 3 : 2, 20_000), { ranks: [2, 3] });
    expect(got).toEqual([4, 3]);
  });
});

describe("simulated time", () => {
  const alpha = 2e-6;
  const beta = 1e9;

  it("a ring all-reduce on one link type costs 2(n−1)·α + 2(n−1)/n·S/β exactly", async () => {
    await configure({ profile: "unit", intraNode: { latency: alpha, bandwidth: beta } });
    for (const group of [groups[3]!, groups[4]!, groups[2]!]) {
      const res = await cluster.all("ar", (a) => a.allReduce(1001, group, "dp-grad"), { ranks: group });
      const n = group.length;
      const S = 1001 * 4;
      for (const r of res) {
        expect(r.op!.start).toBe(0);
        expect(r.op!.end).toBe(2 * (n - 1) * alpha + ((2 * (n - 1)) / n) * (S / beta));
      }
      await configure({ profile: "unit", intraNode: { latency: alpha, bandwidth: beta } });
    }
  });

  it("a group spanning nodes is charged NCCL's hierarchical all-reduce: in the node, across nodes on the shards, in the node", async () => {
    const inter = { latency: 10e-6, bandwidth: 2.5e8 };
    await configure({ profile: "unit", devicesPerNode: 2, intraNode: { latency: alpha, bandwidth: beta }, interNode: inter });
    const S = 4000 * 4;
    const spans = await cluster.all("ar", (a) => a.allReduce(4000, [0, 1, 2, 3], "dp-grad"), { ranks: [0, 1, 2, 3] });
    // k = 2 members per node, m = 2 nodes: reduce-scatter + all-gather of S over NVLink, a ring all-reduce of S/2 over the network.
    const hierarchical = 2 * (alpha + (1 / 2) * (S / beta)) + 2 * inter.latency + (S / 2) / inter.bandwidth;
    for (const r of spans) expect(r.op!.end).toBeCloseTo(hierarchical, 15);
    const inside = await cluster.all("ar", (a) => a.allReduce(4000, [6, 7], "tp-act"), { ranks: [6, 7] });
    for (const r of inside) expect(r.op!.end).toBe(2 * alpha + (2 / 2) * (S / beta));
  });

  it("members wait idle for a late member, then communicate", async () => {
    await configure({ profile: "unit", intraNode: { latency: 0.5, bandwidth: Infinity } });
    const group = [0, 1, 2, 3];
    await cluster.all("late", (a, rank) => (rank === 1 ? a.compute(5) : undefined), { ranks: group });
    const res = await cluster.all("ar", (a) => a.allReduce(100, group, "dp-grad"), { ranks: group });
    res.forEach((r, p) => {
      const late = group[p] === 1;
      expect(r.totals).toEqual({ computeSeconds: late ? 5 : 0, commSeconds: 3, idleSeconds: late ? 0 : 5, makespan: 8 });
      const kinds = r.events.filter((e) => e.stream === "compute").map((e) => [e.kind, e.start, e.end]);
      expect(kinds).toEqual(late ? [["compute", 0, 5], ["comm", 5, 8]] : [["idle", 0, 5], ["comm", 5, 8]]);
    });
  });

  it("an overlapped all-reduce exposes only what compute does not hide", async () => {
    await configure({ profile: "unit", intraNode: { latency: 1, bandwidth: Infinity } });
    const res = await cluster.all("ov", (a, rank) => a.overlap(64, [4, 5], rank === 4 ? 0.5 : 3), { ranks: [4, 5] });
    expect(res[0]!.totals).toEqual({ computeSeconds: 0.5, commSeconds: 1.5, idleSeconds: 0, makespan: 2 });
    expect(res[1]!.totals).toEqual({ computeSeconds: 3, commSeconds: 0, idleSeconds: 0, makespan: 3 });
  });
});
