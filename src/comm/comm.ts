/**
 * Comm: the only way ranks exchange data. One instance per rank, in its worker.
 *
 * This file is the public face: it checks arguments, runs a call inside the transport's
 * "inside a communication call" marker, and records every call in the rank's byte ledger
 * (ledger.ts) and on its simulated clock (sim/clock.ts). The layers below it:
 * - transport.ts: chunked point-to-point messages over the shared channels (shared.ts);
 * - ring.ts and zero-copy.ts: ring reduce-scatter, all-gather and all-reduce, through the
 *   channels or straight from a neighbour's shared arena;
 * - broadcast.ts: the chain broadcast.
 *
 * Simulated time: every message header carries a time. Point-to-point: the send time. Ring
 * collectives and broadcast: every member learns every member's ready time and computes the same
 * start T = max(ready) (see sim/clock.ts).
 *
 * Shapes-only runs (src/kernels/meta.ts): on a meta array a collective or a message moves no
 * payload, only ready times, and the ledger and the clock count the bytes a real one would
 * (shapes.ts). Such a run may simulate one representative per class of equivalent ranks (a
 * `RankSpace`): a collective whose members are all of the caller's class is then charged
 * without any exchange; otherwise the representatives of the members' classes exchange ready
 * times, each standing for the members of its class, and every peer is reached through the
 * slot of its class's representative.
 */
import type { Group } from "../parallel/mesh.js";
import { Clock, type CommOp } from "../sim/clock.js";
import type { CollectiveOp } from "../sim/cost.js";
import { builtinProfiles, type HardwareProfile } from "../sim/hardware.js";
import type { Floats } from "../kernels/types.js";
import { chainBroadcast } from "./broadcast.js";
import { Ledger, chunkOffset, chunkSize } from "./ledger.js";
import { ringCollective, type RingOp, type Traffic } from "./ring.js";
import { ARENA_ALIGN, arenaTopIndex, type SharedMemory } from "./shared.js";
import type { CallContext, Message } from "./message.js";
import { Transport } from "./transport.js";
import { shapesCollective } from "./shapes.js";
import { isMeta } from "../kernels/meta.js";
import { Wire, type WireDtypes } from "./wire.js";
import { useKernelMemory } from "../wasm/heap.js";

const NO_PAYLOAD = new Float32Array(0);

/** Float32Array or Float64Array (the constructor), for `Comm.sharedArray`. */
export type FloatArrayType<T extends Floats> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number };

export type GroupLike = Group | readonly number[];

export interface CollectiveOptions {
  /** "sum" (default) or "mean" (sum / n). Reduce ops only. */
  op?: "sum" | "mean";
  /** Do not make the compute stream wait; call `comm.wait(op)` later (overlap, e.g. DP). */
  overlap?: boolean;
  /** Timeline label; default `${op}(${kind})`. */
  label?: string;
}

export interface P2POp {
  type: "send" | "recv";
  buf: Floats;
  peer: number;
  kind: string;
}

/**
 * The ranks of a run that simulates fewer workers than it has ranks: the rank this Comm speaks
 * for, the slot (worker) through which each simulated rank is reached, and the class of each rank.
 * The default is one worker per rank, each its own class.
 */
export interface RankSpace {
  worldSize: number;
  rank: number;
  slotOf(rank: number): number;
  classOf(rank: number): number;
}

export interface CommOptions {
  /** Default: one slot per rank (`shared.worldSize` ranks, this Comm's slot is its rank). */
  ranks?: RankSpace;
  /** The rank's clock; default a clock on `hardware` (default: the free-link "unit" profile). */
  clock?: Clock;
  hardware?: HardwareProfile;
  /** Overrides `shared.watchdogMs`. */
  watchdogMs?: number;
  /** The dtype a payload of each kind travels in (mixed precision; see wire.ts). Default: the buffer's own. */
  wire?: WireDtypes;
}

export function normalizeGroup(group: GroupLike): Group {
  if (Array.isArray(group)) return { id: `[${group.join(",")}]`, ranks: [...group] };
  const g = group as Group;
  return { id: g.id, ranks: [...g.ranks] };
}

/** A collective call under way: when it began (wall seconds), its group and this rank's position in it. */
interface Started {
  wallStart: number;
  group: Group;
  position: number;
}

export class Comm {
  readonly ledger: Ledger;
  readonly clock: Clock;
  /** The rank this Comm speaks for, and the ranks of the run. */
  readonly rank: number;
  readonly worldSize: number;
  private readonly ranks: RankSpace;
  private readonly transport: Transport;
  private readonly ctl: Int32Array;
  /** This rank's arena (shared.ts): buffers carved out of it take the zero-copy path. */
  private readonly arena: SharedArrayBuffer;
  private readonly wire: Wire;

  /** `slot`: this worker's place in the shared memory (its rank, unless `options.ranks` says otherwise). */
  constructor(
    readonly shared: SharedMemory,
    readonly slot: number,
    options: CommOptions = {},
  ) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= shared.worldSize) {
      throw new RangeError(`rank ${slot} is outside the world of ${shared.worldSize}`);
    }
    this.ranks = options.ranks ?? { worldSize: shared.worldSize, rank: slot, slotOf: (r) => r, classOf: (r) => r };
    this.rank = this.ranks.rank;
    this.worldSize = this.ranks.worldSize;
    this.transport = new Transport(shared, slot, options.watchdogMs ?? shared.watchdogMs);
    this.ctl = new Int32Array(shared.control);
    this.arena = shared.arenas[slot]!;
    if (shared.arenaMemories) useKernelMemory(shared.arenaMemories[slot]!, this.arena, shared.arenaBase + shared.arenaBytes);
    this.clock =
      options.clock ??
      new Clock(this.rank, options.hardware ?? builtinProfiles.unit, { wallOriginMs: shared.wallOriginMs });
    this.ledger = new Ledger(this.rank);
    this.wire = new Wire(options.wire);
  }

  // ---------------------------------------------------------------- shared buffers

  /**
   * A zero-filled array of `length` elements in this rank's shared arena, aligned to 64 bytes.
   * Collectives on it, or on any view of it (`subarray`), take the zero-copy path: the other
   * ranks read it in place. Allocate long-lived buffers (gradients, parameters) once: the arena
   * is never freed (it lives as long as the cluster) and its size is `arenaBytes` at launch.
   * Allocations of one rank are counted in shared memory, so several Comm objects of one rank
   * never hand out the same bytes.
   */
  sharedArray(length: number): Float32Array;
  sharedArray<T extends Floats>(length: number, type: FloatArrayType<T>): T;
  sharedArray(length: number, type: FloatArrayType<Floats> = Float32Array): Floats {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`sharedArray length must be an integer ≥ 0, got ${length}`);
    const bytes = length * type.BYTES_PER_ELEMENT;
    const units = Math.ceil(bytes / ARENA_ALIGN);
    const top = arenaTopIndex(this.shared.worldSize, this.slot);
    const used = Atomics.add(this.ctl, top, units);
    if ((used + units) * ARENA_ALIGN > this.shared.arenaBytes) {
      Atomics.sub(this.ctl, top, units);
      throw new RangeError(
        `rank ${this.rank}: shared arena of ${this.shared.arenaBytes} bytes cannot hold ${bytes} more bytes ` +
          `(${used * ARENA_ALIGN} in use); launch the cluster with a larger arenaBytes`,
      );
    }
    return new type(this.arena, this.shared.arenaBase + used * ARENA_ALIGN, length);
  }

  /** True if `buf` lies in this rank's arena, i.e. collectives on it are zero-copy. */
  isShared(buf: Floats): boolean {
    return buf.buffer === this.arena;
  }

  /** Bytes of this rank's arena handed out by `sharedArray` so far. */
  sharedBytesUsed(): number {
    return Atomics.load(this.ctl, arenaTopIndex(this.shared.worldSize, this.slot)) * ARENA_ALIGN;
  }

  // ---------------------------------------------------------------- point to point

  /** Sends `buf` to `dst`. Does not block the compute stream (occupies the comm stream). */
  send(buf: Floats, dst: number, kind: string): void {
    this.batch([{ type: "send", buf, peer: dst, kind }]);
  }

  /** Receives into `buf` from `src` (the next message of that pair; kind and length must match). */
  recv(buf: Floats, src: number, kind: string): void {
    this.batch([{ type: "recv", buf, peer: src, kind }]);
  }

  /**
   * Several sends and receives progressed together (like batch_isend_irecv): use it when two
   * neighbours send to each other at once, e.g. 1F1B's send-forward/receive-backward, so payloads
   * larger than the channel cannot deadlock. Sends are issued first on the clock, then receives
   * waited; `blocking`: then the sends too, as batch_isend_irecv followed by a wait on every request.
   */
  batch(ops: readonly P2POp[], { blocking = false }: { blocking?: boolean } = {}): void {
    const wallStart = this.clock.wallNow();
    const members = ops.map((o) => this.ranks.slotOf(o.peer));
    const call: CallContext = { op: "send/recv", kind: ops.map((o) => o.kind).join(","), members };
    this.transport.enter();
    try {
      const messages: Message[] = [];
      const arrivals: number[] = [];
      for (const o of ops) {
        if (o.peer === this.rank || !Number.isInteger(o.peer) || o.peer < 0 || o.peer >= this.worldSize) {
          throw new RangeError(`rank ${this.rank}: ${o.type} peer ${o.peer} is not another rank of ${this.worldSize}`);
        }
        const bytes = o.buf.length * this.wire.bytes(o.buf, o.kind);
        if (o.type === "send") this.wire.store(o.buf, o.kind)?.(0, o.buf.length);
        // A meta array's message carries its time and no payload; the clock and ledger count its bytes.
        const payload = isMeta(o.buf) ? NO_PAYLOAD : o.buf;
        const slot = this.ranks.slotOf(o.peer);
        if (o.type === "send") {
          const { sendTime, arrival } = this.clock.send(`send(${o.kind})`, o.peer, bytes, wallStart);
          arrivals.push(arrival);
          messages.push(this.transport.outgoing(slot, `send(${o.kind})`, o.kind, sendTime, payload, 0, payload.length));
        } else {
          messages.push(this.transport.incoming(slot, `send(${o.kind})`, o.kind, payload, 0, payload.length));
        }
      }
      this.transport.drive(messages, call);
      for (let i = 0; i < ops.length; i++) {
        const o = ops[i]!;
        const bytes = o.buf.length * this.wire.bytes(o.buf, o.kind);
        if (o.type === "send") {
          this.ledger.record("send", o.kind, `${this.rank}->${o.peer}`, bytes, 0);
        } else {
          this.ledger.record("recv", o.kind, `${o.peer}->${this.rank}`, 0, bytes);
          this.clock.recv(`recv(${o.kind})`, o.peer, bytes, messages[i]!.time, wallStart);
        }
      }
      if (blocking) ops.filter((o) => o.type === "send").forEach((o, j) => this.clock.waitSent(`send(${o.kind})`, arrivals[j]!, wallStart));
    } finally {
      this.transport.leave();
    }
  }

  // ---------------------------------------------------------------- collectives

  /** In-place ring all-reduce (sum or mean) over `group`. */
  allReduce(buf: Floats, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp {
    return this.ring("all-reduce", buf, group, kind, options);
  }

  /**
   * In-place ring reduce-scatter: afterwards chunk p of `buf` (p = this rank's position in the
   * group) holds the reduced values; it is returned as `op.chunk`. Other chunks hold partial sums.
   */
  reduceScatter<T extends Floats>(buf: T, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp & { chunk: T } {
    const op = this.ring("reduce-scatter", buf, group, kind, options);
    const g = normalizeGroup(group);
    const p = g.ranks.indexOf(this.rank);
    const n = g.ranks.length;
    const off = chunkOffset(buf.length, n, p);
    return Object.assign(op, { chunk: buf.subarray(off, off + chunkSize(buf.length, n, p)) as T });
  }

  /** In-place ring all-gather: chunk p of `buf` is this rank's input; every chunk is filled. */
  allGather(buf: Floats, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp {
    return this.ring("all-gather", buf, group, kind, options);
  }

  /** Copies `buf` of global rank `root` into `buf` of every member (chain root → root+1 → …). */
  broadcast(buf: Floats, root: number, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp {
    const started = this.start(group);
    const rootPosition = started.group.ranks.indexOf(root);
    if (rootPosition < 0) throw new RangeError(`broadcast root ${root} is not in group ${started.group.id}`);
    return this.collective("broadcast", buf, kind, options, started, (call, ready, elementBytes) =>
      chainBroadcast(buf, { transport: this.transport, call, position: started.position, rootPosition, ready, elementBytes }),
      rootPosition,
    );
  }

  /** Waits (on the simulated compute stream) for a collective issued with `overlap: true`. */
  wait(op: CommOp): void {
    this.clock.wait(op);
  }

  private ring(op: RingOp, buf: Floats, group: GroupLike, kind: string, options: CollectiveOptions): CommOp {
    const started = this.start(group);
    return this.collective(op, buf, kind, options, started, (call, ready, elementBytes) =>
      ringCollective(buf, {
        transport: this.transport,
        call: { ...call, op },
        position: started.position,
        ready,
        mean: options.op === "mean",
        sharedBuffer: this.isShared(buf),
        elementBytes,
        store: this.wire.store(buf, kind),
      }),
    );
  }

  /** Notes the wall time a collective began and checks the group; throws if this rank is not a member. */
  private start(group: GroupLike): Started {
    const wallStart = this.clock.wallNow();
    const g = normalizeGroup(group);
    return { wallStart, group: g, position: this.position(g.ranks) };
  }

  /**
   * Runs a collective's algorithm inside a communication call (or, on a meta array or a mirrored
   * group, its shapes-only stand-in), then records the bytes it moved in the ledger and charges
   * its time on the clock (from every member's ready time).
   */
  private collective(
    op: CollectiveOp,
    buf: Floats,
    kind: string,
    options: CollectiveOptions,
    { wallStart, group, position }: Started,
    /** The algorithm; it counts `elementBytes` per element moved (the payload's dtype, see wire.ts). */
    run: (call: CallContext, ready: number, elementBytes: number) => Traffic,
    rootPosition?: number,
  ): CommOp {
    const { ranks } = group;
    // Members of one class do the same work at the same times: one representative speaks for them.
    const classes = ranks.map((r) => this.ranks.classOf(r));
    const distinct = [...new Set(classes)];
    const standIn = distinct.length < ranks.length;
    this.transport.enter();
    try {
      // Where members stand in for each other, only the classes' representatives exchange (ready times only).
      const members = standIn ? distinct.map((c) => this.ranks.slotOf(ranks[classes.indexOf(c)]!)) : ranks.map((r) => this.ranks.slotOf(r));
      const call: CallContext = { op, kind, members };
      const ready = this.clock.readyTime();
      const E = this.wire.bytes(buf, kind);
      const shape = { op, length: buf.length, bytesPerElement: E, rootPosition, groupPosition: position };
      const memberClass = classes.map((c) => distinct.indexOf(c));
      const classPosition = distinct.indexOf(classes[position]!);
      const traffic =
        standIn || isMeta(buf)
          ? shapesCollective({ ...shape, memberClass, transport: this.transport, call, position: classPosition, ready })
          : run(call, ready, E);
      this.ledger.record(op, kind, group.id, traffic.sent, traffic.received);
      const label = options.label ?? `${op}(${kind})`;
      return this.clock.collective(label, op, ranks, buf.length * E, traffic.times, options.overlap ?? false, wallStart);
    } finally {
      this.transport.leave();
    }
  }

  /** Group position of this rank; throws if it is not a member. */
  private position(ranks: readonly number[]): number {
    const p = ranks.indexOf(this.rank);
    if (p < 0) throw new RangeError(`rank ${this.rank} is not in group [${ranks.join(",")}]`);
    if (new Set(ranks).size !== ranks.length) throw new RangeError(`group [${ranks.join(",")}] repeats a rank`);
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.worldSize) throw new RangeError(`group member ${r} is not a rank`);
    }
    return p;
  }
}
