// Worker entry for the multi-worker comm tests.
import { Comm, type CollectiveOptions } from "../../src/comm/comm.js";
import { resolveHardware, type HardwareSection } from "../../src/sim/hardware.js";
import { exposeApi, workerInit } from "../../src/runtime/worker.js";
import { inputFor } from "./data.js";

const init = workerInit();
let comm = new Comm(init.shared, init.rank, { hardware: resolveHardware({ profile: "unit" }) });

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
