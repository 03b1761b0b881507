// Multi-worker tests of the zero-copy path (buffers in the ranks' shared arenas): one 8-worker
// cluster for results, bytes and time; small clusters for faults.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../src/runtime/cluster.js";
import { DeviceError } from "../../src/errors.js";
import { chunkOffset, chunkSize, expectedBytes } from "../../src/comm/ledger.js";
import type { api as WorkerApi, Placement } from "./comm-worker.js";
import { firstDifference, inputFor, serialAllReduce } from "./data.js";
import { expectFailure } from "../runtime/expect-failure.js";

type Api = typeof WorkerApi;
const entry = new URL("./comm-worker.ts", import.meta.url);
let cluster: Cluster<Api>;

beforeAll(async () => {
  // 1 KiB channels: anything the zero-copy path pushed through them in pieces would show as a hang.
  cluster = await Cluster.launch<Api>({ entry, worldSize: 8, channelBytes: 1024, watchdogMs: 10_000, arenaBytes: 4 << 20 });
});
afterAll(async () => {
  await cluster?.close();
  expect(cluster.liveWorkers()).toBe(0);
});

const configure = (hardware?: Parameters<Api["configure"]>[0]) => cluster.all("configure", (a) => a.configure(hardware));
const groups = [[3], [0, 1], [5, 2, 7], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7]];
const everywhere = (): Placement => "shared";

describe("shared arena", () => {
  it("hands out zero-filled, 64-byte aligned, disjoint buffers, also to two Comm objects of one rank", async () => {
    const [got] = await cluster.all("alloc", (a) => a.allocate([3, 17, 0, 100]), { ranks: [6] });
    const offsets = got!.map((g) => g.offset);
    for (const g of got!) expect(g).toMatchObject({ zero: true, shared: true, grew: Math.ceil((g.length * 4) / 64) * 64 });
    for (const o of offsets) expect(o % 64).toBe(0);
    for (let k = 1; k < offsets.length; k++) expect(offsets[k]! - offsets[k - 1]!).toBe(Math.ceil((got![k - 1]!.length * 4) / 64) * 64);
  });
});

describe("zero-copy ring all-reduce", () => {
  for (const group of groups) {
    for (const length of [1, 7, 1001, 100_003]) {
      it(`equals the serial sum in the documented order bit for bit: n=${group.length}, N=${length}`, async () => {
        await configure();
        const res = await cluster.all("all-reduce", (a) => a.allReduceAt("shared", length, group, "dp-grad"), { ranks: group });
        const ref = serialAllReduce(group, length);
        res.forEach((r, p) => {
          expect(r.shared).toBe(true);
          expect(firstDifference(r.out!, ref)).toBe(-1);
          expect(r.ledger.byKind["dp-grad"]).toMatchObject(expectedBytes("all-reduce", length, 4, group.length, p));
        });
      });
    }
  }

  it("mixes links: ranks with shared and with private buffers in one ring give the same bits", async () => {
    await configure();
    const group = groups[4]!;
    const place = (rank: number): Placement => (rank % 3 === 0 ? "private" : "shared");
    const res = await cluster.all("mixed", (a, rank) => a.allReduceAt(place(rank), 1001, group, "dp-grad", {}, 2), { ranks: group });
    const ref = serialAllReduce(group, 1001, false, 2);
    res.forEach((r, p) => {
      expect(r.shared).toBe(place(group[p]!) === "shared");
      expect(firstDifference(r.out!, ref)).toBe(-1);
    });
  });

  it("averages with op mean", async () => {
    await configure();
    const group = groups[2]!;
    const res = await cluster.all("mean", (a) => a.allReduceAt(everywhere(), 4001, group, "dp-grad", { op: "mean" }), { ranks: group });
    const ref = serialAllReduce(group, 4001, true);
    for (const r of res) expect(firstDifference(r.out!, ref)).toBe(-1);
  });

  it("reduces Float64Array buffers in the arena", async () => {
    await configure();
    const group = groups[3]!;
    const res = await cluster.all("f64", (a) => a.allReduce64(5, group), { ranks: group });
    const ref = [0, 1, 2, 3, 4].map((i) => {
      // chunk c of 5 over 4: sizes 2,1,1,1; summed from position c+1 on
      const c = i < 2 ? 0 : i - 1;
      let acc = (((c + 1) % 4) + 1) * 0.1 + i / 3;
      for (let k = 2; k <= 4; k++) acc += (((c + k) % 4) + 1) * 0.1 + i / 3;
      return acc;
    });
    for (const r of res) {
      expect(r.shared).toBe(true);
      expect(r.out).toEqual(ref);
    }
  });

  it("a neighbour never reads chunks the caller already overwrote for the next call (8 ranks, uneven pauses)", async () => {
    await configure();
    const group = groups[4]!;
    const iters = 12;
    const pauses = (rank: number) => Array.from({ length: iters }, (_, i) => ((rank * 7 + i * 3) % 5 === 0 ? 3 : 0));
    const res = await cluster.all("loop", (a, rank) => a.allReduceLoop(20_011, group, iters, pauses(rank)), { ranks: group });
    for (let i = 0; i < iters; i++) {
      const ref = serialAllReduce(group, 20_011, false, i + 1);
      for (const outs of res) expect(firstDifference(outs[i]!, ref)).toBe(-1);
    }
  });
});

describe("zero-copy reduce-scatter and all-gather", () => {
  it("reduce-scatter leaves chunk p reduced on position p", async () => {
    await configure();
    const group = groups[2]!;
    const res = await cluster.all("rs", (a) => a.reduceScatterAt("shared", 1001, group, "tp-act"), { ranks: group });
    const full = serialAllReduce(group, 1001);
    res.forEach((r, p) => {
      const o = chunkOffset(1001, 3, p);
      expect(firstDifference(r.out!, full.subarray(o, o + chunkSize(1001, 3, p)))).toBe(-1);
      expect(r.ledger.total).toMatchObject(expectedBytes("reduce-scatter", 1001, 4, 3, p));
    });
  });

  it("all-gather collects chunk c from position c", async () => {
    await configure();
    const group = groups[4]!;
    const res = await cluster.all("ag", (a) => a.allGatherAt("shared", 1003, group, "tp-act"), { ranks: group });
    const ref = new Float32Array(1003);
    group.forEach((r, c) => {
      const o = chunkOffset(1003, 8, c);
      ref.set(inputFor(r, 1003).subarray(o, o + chunkSize(1003, 8, c)), o);
    });
    res.forEach((r, p) => {
      expect(firstDifference(r.out!, ref)).toBe(-1);
      expect(r.ledger.total).toMatchObject(expectedBytes("all-gather", 1003, 4, 8, p));
    });
  });
});

describe("zero-copy: same ledger and simulated time as the channel path", () => {
  const hardware = { profile: "unit" as const, devicesPerNode: 4, intraNode: { latency: 2e-6, bandwidth: 1e9 }, interNode: { latency: 1e-5, bandwidth: 2.5e8 } };
  const strip = (events: { wallStart: number; wallEnd: number }[]) => events.map(({ wallStart: _s, wallEnd: _e, ...rest }) => rest);

  for (const [op, length] of [["all-reduce", 1001], ["reduce-scatter", 1001], ["all-gather", 1003]] as const) {
    it(`${op}: ledgers, op times, totals and events are identical (late rank, mean, groups across nodes)`, async () => {
      const runs = [];
      for (const place of ["private", "shared"] as const) {
        await configure(hardware);
        const group = [5, 2, 7, 0];
        await cluster.all("late", (a, rank) => a.compute(rank * 1e-4), { ranks: group });
        const res = await cluster.all(
          op,
          (a) =>
            op === "all-reduce"
              ? a.allReduceAt(place, length, group, "dp-grad", { op: "mean" })
              : op === "reduce-scatter"
                ? a.reduceScatterAt(place, length, group, "dp-grad")
                : a.allGatherAt(place, length, group, "dp-grad"),
          { ranks: group },
        );
        runs.push(res);
      }
      const [channel, zc] = runs;
      zc!.forEach((r, p) => {
        const c = channel![p]!;
        expect(firstDifference(r.out!, c.out!)).toBe(-1);
        expect(r.ledger).toEqual(c.ledger);
        expect(r.op).toEqual(c.op);
        expect(r.totals).toEqual(c.totals);
        expect(strip(r.events)).toEqual(strip(c.events));
        expect(r.op!.end).toBeGreaterThan(r.op!.start);
      });
    });
  }
});

describe("zero-copy faults end the run within seconds, naming the rank", () => {
  const group = [0, 1, 2];
  const launch = (watchdogMs: number) => Cluster.launch<Api>({ entry, worldSize: 3, watchdogMs, arenaBytes: 4 << 20 });

  it("a rank that throws between shared all-reduces", async () => {
    const c = await launch(20_000);
    const err = await expectFailure(c, c.all("train-step", (a) => a.faultyShared(1, 2, 5000, group, "throw")), 5000);
    expect(err.rank).toBe(1);
    expect(err.action).toBe("train-step");
    expect(err.message).toMatch(/injected fault on rank 1/);
  });

  it("a rank that throws mid-collective, after its neighbour started reading its buffer (mismatched length)", async () => {
    const c = await launch(20_000);
    const err = await expectFailure(c, c.all("train-step", (a) => a.faultyShared(1, 2, 5000, group, "mismatch")), 5000);
    // rank 1 finds rank 0's descriptor wrong, rank 2 finds rank 1's: whichever throws first is named
    expect([1, 2]).toContain(err.rank);
    expect(err.message).toMatch(/expected all-reduce \(dp-grad\) of \d+ elements of 4 bytes from rank [01] but it shares \d+ elements.*calls do not match/);
  });

  it("a rank that never arrives is named within the watchdog", async () => {
    const c = await launch(1500);
    const err = await expectFailure(c, c.all("train-step", (a) => a.faultyShared(2, 1, 5000, group, "hang")), 5000);
    expect(err.rank).toBe(2);
    expect(err.message).toContain("rank 2 did not arrive at all-reduce (dp-grad) within 1500 ms");
  });

  it("a worker that exits", async () => {
    const c = await launch(20_000);
    const err = await expectFailure(c, c.all("train-step", (a) => a.faultyShared(0, 3, 5000, group, "exit")), 5000);
    expect(err.rank).toBe(0);
    expect(err.message).toContain("worker exited with code 7");
  });

  it("with kernelMemory, each rank's arena is its kernels' memory: weights and gradients there are operands without a copy", async () => {
    const c = await Cluster.launch<Api>({ entry, worldSize: 2, arenaBytes: 4 << 20, kernelMemory: true });
    try {
      const [N, K, O] = [24, 40, 16];
      for (const r of await c.all("arena kernels", (a) => a.arenaKernels(N, K, O))) {
        expect(r.resident).toBe(true);
        expect(r.arenaCopied).toBe(0);
        // Plain arrays are copied. Forward: x, w in, y out. Input gradient: y, w, dx in, dx out.
        // Weight gradient: y, x, dw in, dw out. In floats: 4·N·K + 4·O·K + 3·N·O.
        expect(r.plainCopied).toBe(4 * (4 * N * K + 4 * O * K + 3 * N * O));
        expect(r.same).toBe(true);
      }
    } finally {
      await c.close();
    }
    // Without it the arena is a plain shared buffer outside the kernels' memory, as before.
    const plain = await Cluster.launch<Api>({ entry, worldSize: 1, arenaBytes: 1 << 20 });
    try {
      const [r] = await plain.all("arena kernels", (a) => a.arenaKernels(8, 8, 8));
      expect(r!.resident).toBe(false);
      expect(r!.arenaCopied).toBeGreaterThan(0);
    } finally {
      await plain.close();
    }
  });

  it("a full arena is a clear error", async () => {
    const c = await Cluster.launch<Api>({ entry, worldSize: 1, arenaBytes: 1000 });
    const err = await expectFailure(c, c.all("alloc", (a) => a.allocate([200, 100])), 5000);
    expect(err.message).toMatch(/rank 0: shared arena of 1024 bytes cannot hold 400 more bytes \(832 in use\); launch the cluster with a larger arenaBytes/);
  });
});
