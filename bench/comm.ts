/**
 * `npx tsx bench/index.ts comm`: ring all-reduce over SharedArrayBuffer against a postMessage
 * all-reduce through rank 0 (transferables), and against the two-core bound set by the add loop.
 *
 * algbw = S / t, busbw = algbw · 2(n−1)/n (nccl-tests doc/PERFORMANCE.md). The bound: a ring
 * all-reduce adds (n−1)·S bytes in total over all ranks; with 2 cores adding at `add` B/s each,
 * it cannot take less than (n−1)·S / (2 · add).
 *
 * This file is also the bench's worker entry (when loaded in a worker thread).
 */
import { isMainThread, MessageChannel, type MessagePort } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import * as Comlink from "comlink";
import { Comm } from "../src/comm/comm.js";
import { Cluster } from "../src/runtime/cluster.js";
import { exposeApi, workerInit } from "../src/runtime/worker.js";

const MB = 1 << 20;

function nextMessage<T>(port: MessagePort): Promise<T> {
  return new Promise((resolve) => port.once("message", (m: T) => resolve(m)));
}

function workerMain(): void {
  const init = workerInit();
  const comm = new Comm(init.shared, init.rank);
  const ports = new Map<number, MessagePort>();
  const api = {
    /** Seconds per all-reduce on this rank (after one warm-up). */
    sab(elements: number, iters: number): number {
      const group = Array.from({ length: init.worldSize }, (_, r) => r);
      const buf = new Float32Array(elements).fill(init.rank + 1);
      comm.allReduce(buf, group, "bench");
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) comm.allReduce(buf, group, "bench");
      return (performance.now() - t0) / 1000 / iters;
    },
    connect(peer: number, port: MessagePort): void {
      ports.set(peer, port);
    },
    /** postMessage all-reduce through rank 0: ranks transfer their buffers in, rank 0 sums and sends results back. */
    async pm(elements: number, iters: number): Promise<number> {
      let buf: Float32Array = new Float32Array(elements).fill(init.rank + 1);
      const once = async (): Promise<void> => {
        if (init.rank === 0) {
          const bufs = await Promise.all([...ports.values()].map((p) => nextMessage<Float32Array>(p)));
          for (const b of bufs) for (let i = 0; i < elements; i++) buf[i] += b[i]!;
          [...ports.values()].forEach((p, k) => {
            const b = bufs[k]!;
            b.set(buf);
            p.postMessage(b, [b.buffer as ArrayBuffer]);
          });
        } else {
          const p = ports.get(0)!;
          const reply = nextMessage<Float32Array>(p);
          p.postMessage(buf, [buf.buffer as ArrayBuffer]);
          buf = await reply;
        }
      };
      await once();
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) await once();
      return (performance.now() - t0) / 1000 / iters;
    },
  };
  exposeApi(api);
}

type Api = {
  sab(elements: number, iters: number): number;
  connect(peer: number, port: MessagePort): void;
  pm(elements: number, iters: number): Promise<number>;
};

function best(fn: () => void, reps = 3): number {
  let t = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, (performance.now() - t0) / 1000);
  }
  return t;
}

const gbs = (bytes: number, s: number): string => (bytes / s / 1e9).toFixed(2);

export async function run(): Promise<void> {
  const elements = (64 * MB) / 4;
  const a = new Float32Array(elements).fill(1);
  const b = new Float32Array(elements).fill(2);
  const copyBw = (64 * MB) / best(() => a.set(b));
  const addPlain =
    (64 * MB) /
    best(() => {
      for (let i = 0; i < elements; i++) a[i] += b[i]!;
    });
  const addUnrolled =
    (64 * MB) /
    best(() => {
      let i = 0;
      for (; i + 3 < elements; i += 4) {
        a[i] += b[i]!;
        a[i + 1] += b[i + 1]!;
        a[i + 2] += b[i + 2]!;
        a[i + 3] += b[i + 3]!;
      }
    });
  // the bound uses the faster of the two add loops (the stricter bound)
  const addBw = Math.max(addPlain, addUnrolled);
  console.log(
    `single thread: copy ${gbs(copyBw, 1)} GB/s; add a[i] += b[i] (bytes of b): plain ${gbs(addPlain, 1)} GB/s, unrolled ×4 ${gbs(addUnrolled, 1)} GB/s`,
  );
  console.log("n  size   sab ms  algbw  busbw   pm ms   sab/pm speedup   bound ms  sab/bound");
  for (const n of [2, 4, 8]) {
    const cluster = await Cluster.launch<Api>({ entry: new URL(import.meta.url), worldSize: n, watchdogMs: 60_000 });
    try {
      for (let k = 1; k < n; k++) {
        const { port1, port2 } = new MessageChannel();
        await cluster.one(0, "connect", (api) => api.connect(k, Comlink.transfer(port1, [port1])));
        await cluster.one(k, "connect", (api) => api.connect(0, Comlink.transfer(port2, [port2])));
      }
      for (const sizeMB of [16, 64]) {
        const S = sizeMB * MB;
        const iters = sizeMB === 16 ? 5 : 3;
        const tSab = Math.max(...(await cluster.all("sab", (api) => api.sab(S / 4, iters))));
        const tPm = Math.max(...(await cluster.all("pm", (api) => api.pm(S / 4, iters))));
        const algbw = S / tSab;
        const busbw = (algbw * 2 * (n - 1)) / n;
        const bound = ((n - 1) * S) / (2 * addBw);
        console.log(
          `${n}  ${String(sizeMB).padStart(2)} MB ${(tSab * 1e3).toFixed(1).padStart(7)} ${gbs(algbw, 1).padStart(6)} ${gbs(busbw, 1).padStart(6)} ` +
            `${(tPm * 1e3).toFixed(1).padStart(7)}   ${(tPm / tSab).toFixed(2).padStart(6)}×          ${(bound * 1e3).toFixed(1).padStart(7)}  ${(tSab / bound).toFixed(2)}×`,
        );
      }
    } finally {
      await cluster.close();
    }
  }
  console.log("targets (issue): at 4 workers, 64 MB: sab/pm speedup ≥ 3×, sab/bound ≤ 1.5×");
}

if (!isMainThread) workerMain();
