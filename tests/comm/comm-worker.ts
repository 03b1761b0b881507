// Worker entry for the multi-worker comm tests.
import { Comm, type CollectiveOptions } from "../../src/comm/comm.js";
import { resolveHardware, type HardwareSection } from "../../src/sim/hardware.js";
import { exposeApi, workerInit } from "../../src/runtime/worker.js";
import { inputFor } from "./data.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../../src/kernels/linear.js";
import { wasmHeap } from "../../src/wasm/heap.js";

const init = workerInit();
let comm = new Comm(init.shared, init.rank, { hardware: resolveHardware({ profile: "unit" }) });

/**
 * Scratch space in this rank's arena for the zero-copy tests, allocated once. Views start at an
 * offset that differs per rank (and per call), so ranks never share a common layout.
 */
let scratch: { f32: Float32Array; f64: Float64Array } | null = null;
const SCRATCH = 1 << 18;
const ensureScratch = () => (scratch ??= { f32: comm.sharedArray(SCRATCH), f64: comm.sharedArray(SCRATCH, Float64Array) });
function sharedView(length: number, salt = 0): Float32Array {
  const off = (init.rank * 13 + salt * 5) % 64;
  if (off + length > SCRATCH) throw new RangeError(`test scratch holds ${SCRATCH} elements`);
  return ensureScratch().f32.subarray(off, off + length);
}
function sharedView64(length: number): Float64Array {
  return ensureScratch().f64.subarray(init.rank, init.rank + length);
}
/** Where a test puts a rank's buffer: "shared" (its arena) or "private" (a plain array). */
export type Placement = "shared" | "private";

function report(out: Float32Array | null, op?: { start: number; end: number }) {
  return { out, op: op ? { start: op.start, end: op.end } : null, ledger: comm.ledger.toJSON(), totals: comm.clock.totals(), events: comm.clock.events.slice() };
}

export const api = {
  configure(hardware: HardwareSection = { profile: "unit" }) {
    comm = new Comm(init.shared, init.rank, { hardware: resolveHardware(hardware) });
  },
  compute(flops: number) {
    comm.clock.compute("work", flops);
  },
  allReduce(length: number, group: number[], kind: string, opts: CollectiveOptions = {}, seed = 1) {
    const b = inputFor(init.rank, length, seed);
    const op = comm.allReduce(b, group, kind, opts);
    return report(b, op);
  },
  reduceScatter(length: number, group: number[], kind: string, opts: CollectiveOptions = {}) {
    const b = inputFor(init.rank, length);
    const op = comm.reduceScatter(b, group, kind, opts);
    return report(op.chunk.slice(), op);
  },
  allGather(length: number, group: number[], kind: string) {
    // each rank contributes its own chunk from inputFor(rank)
    const b = new Float32Array(length);
    const mine = inputFor(init.rank, length);
    b.set(mine);
    const op = comm.allGather(b, group, kind);
    return report(b, op);
  },
  broadcast(length: number, root: number, group: number[], kind: string) {
    const b = init.rank === root ? inputFor(root, length) : new Float32Array(length);
    const op = comm.broadcast(b, root, group, kind);
    return report(b, op);
  },
  /** Ranks exchange a sequence of messages; returns what was received, in order. */
  p2p(plan: { type: "send" | "recv"; peer: number; length: number; value: number; kind: string }[]) {
    const got: number[][] = [];
    for (const s of plan) {
      const b = new Float32Array(s.length);
      if (s.type === "send") {
        b.fill(s.value);
        comm.send(b, s.peer, s.kind);
      } else {
        comm.recv(b, s.peer, s.kind);
        got.push([b[0]!, b[b.length - 1]!, b.length]);
      }
    }
    return { got, ledger: comm.ledger.toJSON(), totals: comm.clock.totals() };
  },
  /** Both neighbours send big payloads to each other at once (would deadlock without batch). */
  swap(peer: number, length: number) {
    const out = new Float32Array(length).fill(init.rank + 1);
    const inp = new Float32Array(length);
    comm.batch([
      { type: "send", buf: out, peer, kind: "pp-act" },
      { type: "recv", buf: inp, peer, kind: "pp-act" },
    ]);
    return inp[length - 1];
  },
  overlap(length: number, group: number[], flops: number) {
    const b = inputFor(init.rank, length);
    const op = comm.allReduce(b, group, "dp-grad", { overlap: true });
    comm.clock.compute("backward", flops);
    comm.wait(op);
    return report(null, op);
  },
  /** allReduce on a buffer in this rank's arena (or a private one), filled with inputFor(rank, length, seed). */
  allReduceAt(place: Placement, length: number, group: number[], kind: string, opts: CollectiveOptions = {}, seed = 1) {
    const b = place === "shared" ? sharedView(length, seed) : new Float32Array(length);
    b.set(inputFor(init.rank, length, seed));
    const shared = comm.isShared(b);
    const op = comm.allReduce(b, group, kind, opts);
    return { ...report(b.slice(), op), shared };
  },
  reduceScatterAt(place: Placement, length: number, group: number[], kind: string) {
    const b = place === "shared" ? sharedView(length) : new Float32Array(length);
    b.set(inputFor(init.rank, length));
    const op = comm.reduceScatter(b, group, kind);
    return report(op.chunk.slice(), op);
  },
  allGatherAt(place: Placement, length: number, group: number[], kind: string) {
    const b = place === "shared" ? sharedView(length) : new Float32Array(length);
    b.set(inputFor(init.rank, length));
    const op = comm.allGather(b, group, kind);
    return report(b.slice(), op);
  },
  /** Float64 all-reduce in the arena; returns the sums as plain numbers. */
  allReduce64(length: number, group: number[]) {
    const b = sharedView64(length);
    for (let i = 0; i < length; i++) b[i] = (init.rank + 1) * 0.1 + i / 3;
    comm.allReduce(b, group, "dp-norm");
    return { out: Array.from(b), shared: comm.isShared(b) };
  },
  /**
   * `iters` all-reduces on one arena buffer, refilled with new inputs (seed = iteration) as soon as
   * each call returns, with a pause of `pauses[rank][i]` ms before call i: a neighbour still
   * reading the previous call's chunks would see the new inputs. Returns every result.
   */
  allReduceLoop(length: number, group: number[], iters: number, pauses: number[]) {
    const b = sharedView(length);
    const outs: Float32Array[] = [];
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < iters; i++) {
      b.set(inputFor(init.rank, length, i + 1));
      const ms = pauses[i % pauses.length]!;
      if (ms > 0) Atomics.wait(nap, 0, 0, ms);
      comm.allReduce(b, group, "dp-grad");
      outs.push(b.slice());
    }
    return outs;
  },
  /** Shared-array bookkeeping: returns byte offsets and lengths of a few allocations. */
  allocate(lengths: number[]) {
    const other = new Comm(init.shared, init.rank);
    return lengths.map((n, k) => {
      const before = comm.sharedBytesUsed();
      const a = (k % 2 === 0 ? comm : other).sharedArray(n);
      const grew = other.sharedBytesUsed() - before;
      return { offset: a.byteOffset, length: a.length, grew, zero: a.every((v) => v === 0), shared: comm.isShared(a) && other.isShared(a) };
    });
  },
  /**
   * A linear layer's three products on weights and gradients carved from this rank's arena and on
   * plain arrays: whether the arena's arrays count as kernel memory, the bytes the kernels copied
   * for each, and whether both gave the same bits.
   */
  arenaKernels(N: number, K: number, O: number) {
    const heap = wasmHeap();
    const run = (make: (n: number) => Float32Array) => {
      const [x, w, y, dx, dw] = [make(N * K), make(O * K), make(N * O), make(N * K), make(O * K)];
      x.set(inputFor(init.rank, N * K));
      w.set(inputFor(init.rank + 1, O * K));
      const before = heap.copiedBytes;
      linearForward(y, x, w, N, K, O);
      linearBackwardInput(dx, y, w, N, K, O);
      linearBackwardWeight(dw, y, x, N, K, O);
      return { copied: heap.copiedBytes - before, outputs: [y, dx, dw].map((a) => Array.from(a)) };
    };
    const arena = run((n) => comm.sharedArray(n));
    const plain = run((n) => new Float32Array(n));
    return { resident: heap.isResident(comm.sharedArray(1)), arenaCopied: arena.copied, plainCopied: plain.copied, same: JSON.stringify(arena.outputs) === JSON.stringify(plain.outputs) };
  },
  /** Fault injection on the zero-copy path: `bad` throws, hangs, exits or calls with a wrong length in call `after`. */
  faultyShared(bad: number, after: number, length: number, group: number[], mode: "throw" | "hang" | "exit" | "mismatch") {
    for (let i = 0; i < 5; i++) {
      let len = length;
      if (init.rank === bad && i === after) {
        if (mode === "throw") throw new Error(`injected fault on rank ${bad}`);
        if (mode === "exit") process.exit(7);
        if (mode === "hang") Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
        if (mode === "mismatch") len = length - 1;
      }
      const b = sharedView(len);
      b.set(inputFor(init.rank, len));
      comm.allReduce(b, group, "dp-grad");
    }
    return "done";
  },
  /** Fault injection: `bad` throws after `after` all-reduces, others keep going. */
  faultyLoop(bad: number, after: number, length: number, group: number[], mode: "throw" | "hang" | "exit") {
    for (let i = 0; i < 5; i++) {
      if (init.rank === bad && i === after) {
        if (mode === "throw") throw new Error(`injected fault on rank ${bad}`);
        if (mode === "exit") process.exit(7);
        // hang: block this thread for a long time without entering communication
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
      }
      comm.allReduce(inputFor(init.rank, length), group, "dp-grad");
    }
    return "done";
  },
};

exposeApi(api);
