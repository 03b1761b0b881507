// Failure handling of the cluster: every fault ends the run within seconds with a DeviceError
// naming the rank and the action, and every worker is terminated.
import { describe, expect, it } from "vitest";
import { Cluster, withCluster, workerEntry } from "../../src/runtime/cluster.js";
import { DeviceError } from "../../src/errors.js";
import type { api as WorkerApi } from "../comm/comm-worker.js";
import { expectFailure } from "./expect-failure.js";

type Api = typeof WorkerApi;
const entry = new URL("../comm/comm-worker.ts", import.meta.url);
const group = [0, 1, 2];

describe("Cluster", () => {
  it("runs calls on every rank and terminates every worker on close", async () => {
    const cluster = await Cluster.launch<Api>({ entry, worldSize: 3 });
    expect(new Set(cluster.threadIds).size).toBe(3);
    const res = await cluster.all("all-reduce", (a) => a.allReduce(10, group, "dp-grad"));
    expect(res.map((r) => r.ledger.total.calls)).toEqual([1, 1, 1]);
    await cluster.close();
    expect(cluster.liveWorkers()).toBe(0);
    await expect(cluster.all("again", (a) => a.compute(1))).rejects.toThrow(/closed/);
  });

  it("a rank that throws in the middle of a loop of collectives fails the run, naming rank and action", async () => {
    const cluster = await Cluster.launch<Api>({ entry, worldSize: 3, watchdogMs: 20_000 });
    const err = await expectFailure(cluster, cluster.all("train-step", (a) => a.faultyLoop(1, 2, 1000, group, "throw")), 5000);
    expect(err.rank).toBe(1);
    expect(err.action).toBe("train-step");
    expect(err.message).toMatch(/^rank 1 failed during train-step: Error: injected fault on rank 1/);
  });

  it("a rank that never arrives at a collective is named within the watchdog", async () => {
    const cluster = await Cluster.launch<Api>({ entry, worldSize: 3, watchdogMs: 1500 });
    const err = await expectFailure(cluster, cluster.all("train-step", (a) => a.faultyLoop(2, 1, 1000, group, "hang")), 5000);
    expect(err.rank).toBe(2);
    expect(err.action).toBe("train-step");
    expect(err.message).toContain("rank 2 did not arrive at all-reduce (dp-grad) within 1500 ms");
  });

  it("a failure rejects every call in flight, not only the latest", async () => {
    const cluster = await Cluster.launch<Api>({ entry, worldSize: 3, watchdogMs: 20_000 });
    // A long call on ranks 1 and 2 that fails after a few big all-reduces, and a quick call on
    // rank 0 started after it and finished before the failure: the long call must still reject.
    const long = cluster.all("train-step", (a) => a.faultyLoop(1, 3, 2_000_000, [1, 2], "throw"), { ranks: [1, 2] });
    await cluster.one(0, "compute", (a) => a.compute(1));
    const err = await expectFailure(cluster, long, 5000);
    expect(err.rank).toBe(1);
    expect(err.action).toBe("train-step");
  });

  it("a worker that exits fails the run", async () => {
    const cluster = await Cluster.launch<Api>({ entry, worldSize: 3, watchdogMs: 20_000 });
    const err = await expectFailure(cluster, cluster.all("train-step", (a) => a.faultyLoop(0, 3, 100, group, "exit")), 5000);
    expect(err.rank).toBe(0);
    expect(err.message).toContain("worker exited with code 7");
  });

  it("mismatched calls fail with a clear error instead of hanging", async () => {
    const cluster = await Cluster.launch<Api>({ entry, worldSize: 2, watchdogMs: 20_000 });
    const run = cluster.all("p2p", (a, rank) =>
      a.p2p([{ type: rank === 0 ? "send" : "recv", peer: 1 - rank, length: 4, value: 1, kind: rank === 0 ? "pp-act" : "pp-grad" }]),
    );
    const err = await expectFailure(cluster, run, 5000);
    expect(err.rank).toBe(1);
    expect(err.message).toMatch(/calls do not match/);
  });

  it("a call past its timeout fails the run, naming the late rank", async () => {
    const cluster = await Cluster.launch<Api>({ entry, worldSize: 2 });
    // rank 1 hangs outside communication; rank 0 finishes: only the call timeout can catch it
    const run = cluster.all("p2p", async (a, rank): Promise<unknown> => (rank === 1 ? a.faultyLoop(1, 0, 4, [1], "hang") : a.compute(1)), {
      timeoutMs: 1000,
    });
    const err = await expectFailure(cluster, run, 5000);
    expect(err.rank).toBe(1);
    expect(err.message).toContain("did not finish p2p within 1000 ms");
  });

  it("a worker that fails to load rejects the launch", async () => {
    const t0 = performance.now();
    await expect(Cluster.launch({ entry: new URL("./bad-worker.ts", import.meta.url), worldSize: 2 })).rejects.toThrow(
      /failed during startup: uncaught Error: cannot load this device/,
    );
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it("withCluster closes on success", async () => {
    let c: Cluster<Api> | undefined;
    const v = await withCluster<Api, unknown, number>({ entry, worldSize: 1 }, async (cluster) => {
      c = cluster;
      const [r] = await cluster.all("ar", (a) => a.allReduce(3, [0], "x"));
      return r!.out!.length;
    });
    expect(v).toBe(3);
    expect(c!.liveWorkers()).toBe(0);
  });

  it("picks the .ts or .js entry by the calling module", () => {
    expect(workerEntry("file:///x/src/runtime/cluster.ts", "../../workers/device").href).toBe("file:///x/workers/device.ts");
    expect(workerEntry("file:///x/dist/src/runtime/cluster.js", "../../workers/device").href).toBe("file:///x/dist/workers/device.js");
  });
});
