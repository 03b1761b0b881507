/**
 * `npx tsx bench/index.ts comm`: ring all-reduce over SharedArrayBuffer, zero-copy (buffers in the
 * ranks' shared arenas, `comm.sharedArray`) and through the per-pair channels (private buffers),
 * against a postMessage all-reduce through rank 0 (transferables) and against the two-core bound
 * set by the add loop.
 *
 * algbw = S / t, busbw = algbw · 2(n−1)/n (nccl-tests doc/PERFORMANCE.md). The bound: a ring
 * all-reduce adds (n−1)·S bytes in total over all ranks (reduce-scatter) and copies (n−1)·S bytes
 * (all-gather: every rank writes the other ranks' reduced chunks into its buffer); with 2 cores
 * doing that at the `add` and `copy` rates of the ring's own loops (addInto, TypedArray.set,
 * measured here on one thread), it cannot take less than (n−1)·S/2 · (1/add + 1/copy).
 *
 * Each column is the median over calls of the call's slowest rank (this machine is shared, so a
 * mean would mostly measure the other tenants).
 *
 * This file is also the bench's worker entry (when loaded in a worker thread).
 */
import { isMainThread, MessageChannel, type MessagePort } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import * as Comlink from "comlink";
import { loadavg } from "node:os";
import { addInto } from "../src/comm/add.js";
import { Comm } from "../src/comm/comm.js";
import { Cluster } from "../src/runtime/cluster.js";
import { exposeApi, workerInit } from "../src/runtime/worker.js";

const MB = 1 << 20;
const SIZES_MB = [16, 64];
const MAX_ELEMENTS = (Math.max(...SIZES_MB) * MB) / 4;

function nextMessage<T>(port: MessagePort): Promise<T> {
  return new Promise((resolve) => port.once("message", (m: T) => resolve(m)));
}

function workerMain(): void {
  const init = workerInit();
  const comm = new Comm(init.shared, init.rank);
  const ports = new Map<number, MessagePort>();
  let arena: Float32Array | null = null;
  const api = {
    /** Seconds of each all-reduce on this rank (after one warm-up); `zc`: the buffer lives in the arena. */
    sab(elements: number, iters: number, zc: boolean): number[] {
      const group = Array.from({ length: init.worldSize }, (_, r) => r);
      arena ??= comm.sharedArray(MAX_ELEMENTS);
      const buf = zc ? arena.subarray(0, elements) : new Float32Array(elements);
      if (zc !== comm.isShared(buf)) throw new Error("bench: buffer placement is not what was asked");
      buf.fill(init.rank + 1);
      comm.allReduce(buf, group, "bench");
      const times: number[] = [];
      for (let i = 0; i < iters; i++) {
        const t0 = performance.now();
        comm.allReduce(buf, group, "bench");
        times.push((performance.now() - t0) / 1000);
      }
      return times;
    },
    connect(peer: number, port: MessagePort): void {
      ports.set(peer, port);
    },
    /** postMessage all-reduce through rank 0: ranks transfer their buffers in, rank 0 sums and sends results back. */
    async pm(elements: number, iters: number): Promise<number[]> {
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
      const times: number[] = [];
      for (let i = 0; i < iters; i++) {
        const t0 = performance.now();
        await once();
        times.push((performance.now() - t0) / 1000);
      }
      return times;
    },
  };
  exposeApi(api);
}

type Api = {
  sab(elements: number, iters: number, zc: boolean): number[];
  connect(peer: number, port: MessagePort): void;
  pm(elements: number, iters: number): Promise<number[]>;
};

/**
 * The time of a collective from every rank's per-call times: call i takes as long as its slowest
 * rank; the median over calls keeps one call slowed by another tenant of this shared machine from
 * deciding the result.
 */
function groupTime(perRank: number[][]): number {
  const calls = perRank[0]!.map((_, i) => Math.max(...perRank.map((t) => t[i]!)));
  calls.sort((a, b) => a - b);
  const m = calls.length >> 1;
  return calls.length % 2 === 1 ? calls[m]! : (calls[m - 1]! + calls[m]!) / 2;
}

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
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} on this machine (2 cores, shared)`);
  const elements = (64 * MB) / 4;
  const a = new Float32Array(elements).fill(1);
  const b = new Float32Array(elements).fill(2);
  // The ring's own loops: the all-gather's copy (TypedArray.set) and the reduce-scatter's add (addInto).
  const copyBw = (64 * MB) / best(() => a.set(b));
  const addBw = (64 * MB) / best(() => addInto(a, b));
  const addJs =
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
  console.log(
    `single thread: copy ${gbs(copyBw, 1)} GB/s; add a[i] += b[i] (bytes of b): addInto (WebAssembly) ${gbs(addBw, 1)} GB/s, JavaScript unrolled ×4 ${gbs(addJs, 1)} GB/s`,
  );
  console.log("zc: zero-copy ring (arena buffers); ch: ring through the channels (private buffers); pm: postMessage via rank 0");
  console.log("n  size    zc ms  algbw  busbw    ch ms  algbw    pm ms  zc/pm  ch/pm  bound ms  zc/bound  ch/bound");
  const pad = (s: string, w: number): string => s.padStart(w);
  for (const n of [2, 4, 8]) {
    const cluster = await Cluster.launch<Api>({
      entry: new URL(import.meta.url),
      worldSize: n,
      watchdogMs: 60_000,
      arenaBytes: MAX_ELEMENTS * 4,
    });
    try {
      for (let k = 1; k < n; k++) {
        const { port1, port2 } = new MessageChannel();
        await cluster.one(0, "connect", (api) => api.connect(k, Comlink.transfer(port1, [port1])));
        await cluster.one(k, "connect", (api) => api.connect(0, Comlink.transfer(port2, [port2])));
      }
      for (const sizeMB of SIZES_MB) {
        const S = sizeMB * MB;
        const iters = sizeMB === 16 ? 9 : 5;
        const tZc = groupTime(await cluster.all("zc", (api) => api.sab(S / 4, iters, true)));
        const tCh = groupTime(await cluster.all("sab", (api) => api.sab(S / 4, iters, false)));
        const tPm = groupTime(await cluster.all("pm", (api) => api.pm(S / 4, iters)));
        const algbw = S / tZc;
        const busbw = (algbw * 2 * (n - 1)) / n;
        const bound = (((n - 1) * S) / 2) * (1 / addBw + 1 / copyBw);
        const ms = (t: number): string => (t * 1e3).toFixed(1);
        console.log(
          `${n}  ${pad(String(sizeMB), 2)} MB ${pad(ms(tZc), 7)} ${pad(gbs(algbw, 1), 6)} ${pad(gbs(busbw, 1), 6)} ` +
            `${pad(ms(tCh), 7)} ${pad(gbs(S / tCh, 1), 6)}  ${pad(ms(tPm), 7)} ${pad((tPm / tZc).toFixed(2), 5)}× ${pad((tPm / tCh).toFixed(2), 5)}×` +
            `  ${pad(ms(bound), 7)}  ${pad((tZc / bound).toFixed(2), 7)}×  ${pad((tCh / bound).toFixed(2), 7)}×`,
        );
      }
    } finally {
      await cluster.close();
    }
  }
  console.log("targets (issue): at 4 workers, 64 MB: zc/pm speedup ≥ 3×, zc/bound ≤ 1.5×");
}

if (!isMainThread) workerMain();
