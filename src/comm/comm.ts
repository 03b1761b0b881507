/**
 * Comm: the only way ranks exchange data. One instance per rank, in its worker.
 *
 * Transport: one byte stream per ordered pair of ranks (a ring buffer in shared memory, see
 * shared.ts). A message is a 16-byte header (f64 simulated time, i32 payload bytes, i32 tag
 * hashed from op and kind) and its payload, padded to 16 bytes. Streams are FIFO, so matching
 * is by order per (src, dst) pair; the tag and length are checked, so mismatched calls fail with
 * a clear error instead of corrupting data. Payloads larger than the channel stream through it
 * in pieces. Waiting uses Atomics.wait on the rank's doorbell, in slices of ≤ 100 ms that check
 * the abort flag and the watchdog; never spins.
 *
 * Collectives run a ring over the group in group order (position p sends to p+1, receives from
 * p−1). The buffer is split into n chunks (chunk c: ⌈N/n⌉ elements for c < N mod n, else ⌊N/n⌋).
 * Reduce-scatter step s (0..n−2): send chunk p−s−1, receive chunk p−s−2 and add it in; the member
 * at position p then owns the reduced chunk p. All-gather step s: send chunk p−s, receive p−s−1.
 *
 * **Summation order** (fixed, so results are deterministic): chunk c is summed as
 *   ((x[c+1] + x[c+2]) + x[c+3]) + … + x[c]       (group positions mod n)
 * in the buffer's own precision, rounding after every add (Float32Array stores round to float32).
 * `op: "mean"` divides the reduced chunk by n (one rounding) before the all-gather.
 *
 * **Zero-copy path.** A rank's arena (shared.ts) is shared memory every rank can read. A buffer
 * carved out of it with `comm.sharedArray(length)` (or any view of such a buffer) is "shared".
 * The mode is chosen per ring link by the sender: when p's buffer is shared, p does not copy
 * chunks into the channel; its messages to p+1 carry no payload and only say "the chunk of this
 * step is final" (same headers, same simulated times). p+1 then reads that chunk straight from p's
 * arena: reduce-scatter `mine[c] += prev[c]`, all-gather `mine[c] = prev[c]`. The first message
 * of a collective on a zero-copy link is a descriptor (its tag names op and kind; its payload the
 * offset in the sender's arena, element count and size), so offsets may differ between ranks and
 * a receiver learns the mode from what arrives; mismatched calls still fail with "calls do not
 * match". Broadcast and send/recv always copy through the channels. Same chunks, same
 * order of additions, so results equal the channel path bit for bit; the ledger counts the bytes
 * the ring logically moves and the clock charges the algorithm's cost, as on the channel path.
 * Safety: (1) p reads chunk c of step t only after p−1 has said that chunk is final. (2) Within a
 * call, p−1 next writes a chunk that p reads at step t only at step t + n − 1, and it cannot get
 * there before every rank of the ring, p included, has finished step t (each step waits for the
 * previous rank's previous step), so a chunk is never overwritten while it is read. (3) p sends
 * "done" to p−1 after its last read, and p−1 does not return before it has it: the caller may
 * write its buffer (next step's gradients, the next collective) as soon as the call returns.
 *
 * Simulated time: every message header carries a time. Point-to-point: the send time. Ring
 * collectives: each member's ready time travels around the ring in the reduce-scatter (or
 * all-gather) headers, so after n−1 steps every member knows them all and computes the same
 * start T = max(ready) (see sim/clock.ts). Broadcast first exchanges ready times with
 * header-only messages, then streams the data along the chain root → root+1 → … .
 */
import { performance } from "node:perf_hooks";
import { AbortedError } from "../errors.js";
import type { Group } from "../parallel/mesh.js";
import { Clock, type CommOp } from "../sim/clock.js";
import type { CollectiveOp } from "../sim/cost.js";
import { builtinProfiles, type HardwareProfile } from "../sim/hardware.js";
import { Ledger, chunkOffset, chunkSize } from "./ledger.js";
import {
  ABORT,
  ARENA_ALIGN,
  arenaTopIndex,
  bellIndex,
  channelIndex,
  inCommIndex,
  readFailure,
  readIndex,
  recordFailure,
  writeIndex,
  type SharedMemory,
} from "./shared.js";

export type FloatArray = Float32Array | Float64Array;
type FloatArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): FloatArray };
/** Float32Array or Float64Array (the constructor), for `Comm.sharedArray`. */
export type FloatArrayType<T extends FloatArray> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number };

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
  buf: FloatArray;
  peer: number;
  kind: string;
}

export interface CommOptions {
  /** The rank's clock; default a clock on `hardware` (default: the free-link "unit" profile). */
  clock?: Clock;
  hardware?: HardwareProfile;
  /** Overrides `shared.watchdogMs`. */
  watchdogMs?: number;
}

const HEADER = 16;
const SLICE_MS = 100;

interface Xfer {
  out: boolean;
  peer: number;
  ch: number;
  base: number;
  wIdx: number;
  rIdx: number;
  tag: number;
  what: string;
  /** Payload as bytes (out: source; in: destination, copy mode). */
  bytes: Uint8Array;
  /** In only: another message accepted instead (a zero-copy descriptor); `zc` is set if it came. */
  alt: { tag: number; len: number; bytes: Uint8Array } | null;
  zc: boolean;
  add: FloatArray | null;
  addOffset: number;
  elem: number;
  len: number;
  time: number;
  stage: 0 | 1 | 2;
  off: number;
  done: boolean;
}

interface CallContext {
  op: string;
  kind: string;
  members: readonly number[];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/**
 * dst[i] += src[i]; unrolled by 4, which runs ~1.6× faster than the plain loop in V8. One loop
 * per element type, so each stays monomorphic (element loads specialised to one array type).
 */
function addInto(dst: FloatArray, src: FloatArray): void {
  if (dst instanceof Float32Array) addF32(dst, src as Float32Array);
  else addF64(dst, src as Float64Array);
}

function addF32(dst: Float32Array, src: Float32Array): void {
  const m = src.length;
  let i = 0;
  for (; i + 3 < m; i += 4) {
    dst[i] += src[i]!;
    dst[i + 1] += src[i + 1]!;
    dst[i + 2] += src[i + 2]!;
    dst[i + 3] += src[i + 3]!;
  }
  for (; i < m; i++) dst[i] += src[i]!;
}

function addF64(dst: Float64Array, src: Float64Array): void {
  const m = src.length;
  let i = 0;
  for (; i + 3 < m; i += 4) {
    dst[i] += src[i]!;
    dst[i + 1] += src[i + 1]!;
    dst[i + 2] += src[i + 2]!;
    dst[i + 3] += src[i + 3]!;
  }
  for (; i < m; i++) dst[i] += src[i]!;
}

/** Zero-copy descriptor: byte offset in the sender's arena, elements, bytes per element, 0. */
const DESC_LEN = 4;
const EMPTY = new Float32Array(0);

const mod = (a: number, n: number): number => ((a % n) + n) % n;

export function normalizeGroup(group: GroupLike): Group {
  if (Array.isArray(group)) return { id: `[${group.join(",")}]`, ranks: [...group] };
  const g = group as Group;
  return { id: g.id, ranks: [...g.ranks] };
}

export class Comm {
  readonly ledger: Ledger;
  readonly clock: Clock;
  readonly worldSize: number;
  private readonly ctl: Int32Array;
  private readonly u8: Uint8Array;
  private readonly f64: Float64Array;
  private readonly i32: Int32Array;
  private readonly C: number;
  private readonly maxPiece: number;
  private readonly watchdogMs: number;
  /** This rank's arena (shared.ts): buffers carved out of it take the zero-copy path. */
  private readonly arena: SharedArrayBuffer;

  constructor(
    readonly shared: SharedMemory,
    readonly rank: number,
    options: CommOptions = {},
  ) {
    if (!Number.isInteger(rank) || rank < 0 || rank >= shared.worldSize) {
      throw new RangeError(`rank ${rank} is outside the world of ${shared.worldSize}`);
    }
    this.worldSize = shared.worldSize;
    this.ctl = new Int32Array(shared.control);
    this.u8 = new Uint8Array(shared.data);
    this.f64 = new Float64Array(shared.data);
    this.i32 = new Int32Array(shared.data);
    this.C = shared.channelBytes;
    this.maxPiece = Math.max(HEADER, this.C / 4);
    this.watchdogMs = options.watchdogMs ?? shared.watchdogMs;
    this.arena = shared.arenas[rank]!;
    this.clock =
      options.clock ??
      new Clock(rank, options.hardware ?? builtinProfiles.unit, { wallOriginMs: shared.wallOriginMs });
    this.ledger = new Ledger(rank);
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
  sharedArray<T extends FloatArray>(length: number, type: FloatArrayType<T>): T;
  sharedArray(length: number, type: FloatArrayType<FloatArray> = Float32Array): FloatArray {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`sharedArray length must be an integer ≥ 0, got ${length}`);
    const bytes = length * type.BYTES_PER_ELEMENT;
    const units = Math.ceil(bytes / ARENA_ALIGN);
    const top = arenaTopIndex(this.worldSize, this.rank);
    const used = Atomics.add(this.ctl, top, units);
    if ((used + units) * ARENA_ALIGN > this.arena.byteLength) {
      Atomics.sub(this.ctl, top, units);
      throw new RangeError(
        `rank ${this.rank}: shared arena of ${this.arena.byteLength} bytes cannot hold ${bytes} more bytes ` +
          `(${used * ARENA_ALIGN} in use); launch the cluster with a larger arenaBytes`,
      );
    }
    return new type(this.arena, used * ARENA_ALIGN, length);
  }

  /** True if `buf` lies in this rank's arena, i.e. collectives on it are zero-copy. */
  isShared(buf: FloatArray): boolean {
    return buf.buffer === this.arena;
  }

  /** Bytes of this rank's arena handed out by `sharedArray` so far. */
  sharedBytesUsed(): number {
    return Atomics.load(this.ctl, arenaTopIndex(this.worldSize, this.rank)) * ARENA_ALIGN;
  }

  // ---------------------------------------------------------------- point to point

  /** Sends `buf` to `dst`. Does not block the compute stream (occupies the comm stream). */
  send(buf: FloatArray, dst: number, kind: string): void {
    this.batch([{ type: "send", buf, peer: dst, kind }]);
  }

  /** Receives into `buf` from `src` (the next message of that pair; kind and length must match). */
  recv(buf: FloatArray, src: number, kind: string): void {
    this.batch([{ type: "recv", buf, peer: src, kind }]);
  }

  /**
   * Several sends and receives progressed together (like batch_isend_irecv): use it when two
   * neighbours send to each other at once, e.g. 1F1B's send-forward/receive-backward, so payloads
   * larger than the channel cannot deadlock. Sends are issued first on the clock, then receives waited.
   */
  batch(ops: readonly P2POp[]): void {
    const wallStart = this.clock.wallNow();
    const members = ops.map((o) => o.peer);
    const ctx: CallContext = { op: "send/recv", kind: ops.map((o) => o.kind).join(","), members };
    this.enter();
    try {
      const xfers: Xfer[] = [];
      for (const o of ops) {
        if (o.peer === this.rank || !Number.isInteger(o.peer) || o.peer < 0 || o.peer >= this.worldSize) {
          throw new RangeError(`rank ${this.rank}: ${o.type} peer ${o.peer} is not another rank of ${this.worldSize}`);
        }
        const bytes = o.buf.byteLength;
        if (o.type === "send") {
          const { sendTime } = this.clock.send(`send(${o.kind})`, o.peer, bytes, wallStart);
          xfers.push(this.outMsg(o.peer, `send(${o.kind})`, o.kind, sendTime, o.buf, 0, o.buf.length));
        } else {
          xfers.push(this.inMsg(o.peer, `send(${o.kind})`, o.kind, o.buf, 0, o.buf.length, false));
        }
      }
      this.drive(xfers, ctx);
      for (let i = 0; i < ops.length; i++) {
        const o = ops[i]!;
        const bytes = o.buf.byteLength;
        if (o.type === "send") {
          this.ledger.record("send", o.kind, `${this.rank}->${o.peer}`, bytes, 0);
        } else {
          this.ledger.record("recv", o.kind, `${o.peer}->${this.rank}`, 0, bytes);
          this.clock.recv(`recv(${o.kind})`, o.peer, bytes, xfers[i]!.time, wallStart);
        }
      }
    } finally {
      this.leave();
    }
  }

  // ---------------------------------------------------------------- collectives

  /** In-place ring all-reduce (sum or mean) over `group`. */
  allReduce(buf: FloatArray, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp {
    return this.ring("all-reduce", buf, group, kind, options, true, true);
  }

  /**
   * In-place ring reduce-scatter: afterwards chunk p of `buf` (p = this rank's position in the
   * group) holds the reduced values; it is returned as `op.chunk`. Other chunks hold partial sums.
   */
  reduceScatter<T extends FloatArray>(buf: T, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp & { chunk: T } {
    const op = this.ring("reduce-scatter", buf, group, kind, options, true, false);
    const g = normalizeGroup(group);
    const p = g.ranks.indexOf(this.rank);
    const n = g.ranks.length;
    const off = chunkOffset(buf.length, n, p);
    return Object.assign(op, { chunk: buf.subarray(off, off + chunkSize(buf.length, n, p)) as T });
  }

  /** In-place ring all-gather: chunk p of `buf` is this rank's input; every chunk is filled. */
  allGather(buf: FloatArray, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp {
    return this.ring("all-gather", buf, group, kind, options, false, true);
  }

  /** Copies `buf` of global rank `root` into `buf` of every member (chain root → root+1 → …). */
  broadcast(buf: FloatArray, root: number, group: GroupLike, kind: string, options: CollectiveOptions = {}): CommOp {
    const wallStart = this.clock.wallNow();
    const g = normalizeGroup(group);
    const { ranks } = g;
    const n = ranks.length;
    const p = this.position(ranks);
    const rp = ranks.indexOf(root);
    if (rp < 0) throw new RangeError(`broadcast root ${root} is not in group ${g.id}`);
    const ctx: CallContext = { op: "broadcast", kind, members: ranks };
    this.enter();
    try {
      const times = this.exchangeTimes(ranks, p, ctx);
      const q = mod(p - rp, n);
      const next = ranks[mod(p + 1, n)]!;
      const prev = ranks[mod(p - 1, n)]!;
      const seg = Math.max(1, Math.floor(this.C / 2 / buf.BYTES_PER_ELEMENT));
      const nseg = Math.max(1, Math.ceil(buf.length / seg));
      let sent = 0;
      let received = 0;
      if (n > 1) {
        let pending: Xfer | null = null;
        for (let k = 0; k < nseg; k++) {
          const off = k * seg;
          const len = Math.min(seg, buf.length - off);
          const xs: Xfer[] = [];
          if (pending) xs.push(pending);
          if (q > 0) {
            xs.push(this.inMsg(prev, "broadcast", kind, buf, off, len, false));
            received += len * buf.BYTES_PER_ELEMENT;
          }
          this.drive(xs, ctx);
          pending = null;
          if (q < n - 1) {
            pending = this.outMsg(next, "broadcast", kind, 0, buf, off, len);
            sent += len * buf.BYTES_PER_ELEMENT;
            if (q === 0) {
              this.drive([pending], ctx);
              pending = null;
            }
          }
        }
        if (pending) this.drive([pending], ctx);
      }
      this.ledger.record("broadcast", kind, g.id, sent, received);
      const label = options.label ?? `broadcast(${kind})`;
      return this.clock.collective(label, "broadcast", ranks, buf.byteLength, times, options.overlap ?? false, wallStart);
    } finally {
      this.leave();
    }
  }

  /** Waits (on the simulated compute stream) for a collective issued with `overlap: true`. */
  wait(op: CommOp): void {
    this.clock.wait(op);
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

  private ring(
    op: Exclude<CollectiveOp, "broadcast">,
    buf: FloatArray,
    group: GroupLike,
    kind: string,
    options: CollectiveOptions,
    reduce: boolean,
    gather: boolean,
  ): CommOp {
    const wallStart = this.clock.wallNow();
    const g = normalizeGroup(group);
    const { ranks } = g;
    const n = ranks.length;
    const p = this.position(ranks);
    const ctx: CallContext = { op, kind, members: ranks };
    this.enter();
    try {
      const N = buf.length;
      const E = buf.BYTES_PER_ELEMENT;
      const next = ranks[mod(p + 1, n)]!;
      const prev = ranks[mod(p - 1, n)]!;
      const times: number[] = new Array<number>(n).fill(0);
      times[p] = this.clock.readyTime();
      let sent = 0;
      let received = 0;
      // Zero-copy: `zcOut` when next reads my chunks from my arena; `peer` is prev's buffer (a
      // view of prev's arena) once its descriptor has arrived, null while prev sends through the channel.
      const zcOut = this.isShared(buf);
      const zcOp = `${op}/zc`;
      const myDesc = Float64Array.of(buf.byteOffset, N, E, 0);
      const peerDesc = new Float64Array(DESC_LEN);
      let peer: FloatArray | null = null;
      let t = 0;
      const step = (sendChunk: number, recvChunk: number, time: number, add: boolean): number => {
        const so = chunkOffset(N, n, sendChunk);
        const sl = chunkSize(N, n, sendChunk);
        const ro = chunkOffset(N, n, recvChunk);
        const rl = chunkSize(N, n, recvChunk);
        const out = !zcOut
          ? this.outMsg(next, op, kind, time, buf, so, sl)
          : this.outMsg(next, zcOp, kind, time, t === 0 ? myDesc : EMPTY, 0, t === 0 ? DESC_LEN : 0);
        let inn: Xfer;
        if (peer) {
          inn = this.inMsg(prev, zcOp, kind, EMPTY, 0, 0, false);
        } else {
          inn = this.inMsg(prev, op, kind, buf, ro, rl, add);
          if (t === 0) {
            const alt = this.inMsg(prev, zcOp, kind, peerDesc, 0, DESC_LEN, false);
            inn.alt = { tag: alt.tag, len: alt.len, bytes: alt.bytes };
          }
        }
        this.drive([out, inn], ctx);
        if (inn.zc) peer = this.peerBuffer(prev, peerDesc, N, E, ctx);
        if (peer) {
          const mine = buf.subarray(ro, ro + rl);
          const theirs = peer.subarray(ro, ro + rl);
          if (add) addInto(mine, theirs);
          else mine.set(theirs);
        }
        t++;
        sent += sl * E;
        received += rl * E;
        return inn.time;
      };
      if (n > 1) {
        if (reduce) {
          for (let s = 0; s < n - 1; s++) {
            times[mod(p - s - 1, n)] = step(mod(p - s - 1, n), mod(p - s - 2, n), times[mod(p - s, n)]!, true);
          }
        }
        if (options.op === "mean" && reduce) {
          const o = chunkOffset(N, n, p);
          const end = o + chunkSize(N, n, p);
          for (let i = o; i < end; i++) buf[i] = buf[i]! / n;
        }
        if (gather) {
          for (let s = 0; s < n - 1; s++) {
            const tm = step(mod(p - s, n), mod(p - s - 1, n), times[mod(p - s, n)]!, false);
            if (!reduce) times[mod(p - s - 1, n)] = tm;
          }
        }
        // (3) of the header: tell prev I no longer read its buffer; wait until next no longer reads mine.
        const fin: Xfer[] = [];
        if (peer) fin.push(this.outMsg(prev, `${zcOp}-done`, kind, 0, EMPTY, 0, 0));
        if (zcOut) fin.push(this.inMsg(next, `${zcOp}-done`, kind, EMPTY, 0, 0, false));
        if (fin.length > 0) this.drive(fin, ctx);
      }
      this.ledger.record(op, kind, g.id, sent, received);
      const label = options.label ?? `${op}(${kind})`;
      return this.clock.collective(label, op, ranks, N * E, times, options.overlap ?? false, wallStart);
    } finally {
      this.leave();
    }
  }

  /** Prev's buffer, from the descriptor it sent; throws if it does not match this rank's call. */
  private peerBuffer(prev: number, desc: Float64Array, N: number, E: number, ctx: CallContext): FloatArray {
    const [offset, length, bytesPerElement] = [desc[0]!, desc[1]!, desc[2]!];
    const arena = this.shared.arenas[prev]!;
    if (length !== N || bytesPerElement !== E || offset % E !== 0 || offset + N * E > arena.byteLength) {
      throw new Error(
        `rank ${this.rank} expected ${ctx.op} (${ctx.kind}) of ${N} elements of ${E} bytes from rank ${prev} but it shares ` +
          `${length} elements of ${bytesPerElement} bytes at offset ${offset}: the ranks' calls do not match`,
      );
    }
    return E === 4 ? new Float32Array(arena, offset, N) : new Float64Array(arena, offset, N);
  }

  /** Header-only ring all-gather of the members' ready times. */
  private exchangeTimes(ranks: readonly number[], p: number, ctx: CallContext): number[] {
    const n = ranks.length;
    const times: number[] = new Array<number>(n).fill(0);
    times[p] = this.clock.readyTime();
    const next = ranks[mod(p + 1, n)]!;
    const prev = ranks[mod(p - 1, n)]!;
    const empty = new Float32Array(0);
    for (let s = 0; s < n - 1; s++) {
      const out = this.outMsg(next, `${ctx.op}-sync`, ctx.kind, times[mod(p - s, n)]!, empty, 0, 0);
      const inn = this.inMsg(prev, `${ctx.op}-sync`, ctx.kind, empty, 0, 0, false);
      this.drive([out, inn], ctx);
      times[mod(p - s - 1, n)] = inn.time;
    }
    return times;
  }

  // ---------------------------------------------------------------- transport

  private xfer(out: boolean, peer: number, op: string, kind: string, buf: FloatArray, offset: number, length: number): Xfer {
    const ch = out ? channelIndex(this.worldSize, this.rank, peer) : channelIndex(this.worldSize, peer, this.rank);
    const E = buf.BYTES_PER_ELEMENT;
    return {
      out,
      peer,
      ch,
      base: ch * this.C,
      wIdx: writeIndex(this.worldSize, ch),
      rIdx: readIndex(this.worldSize, ch),
      tag: fnv1a(`${op}\u0000${kind}`),
      what: `${op} (${kind})`,
      bytes: new Uint8Array(buf.buffer, buf.byteOffset + offset * E, length * E),
      alt: null,
      zc: false,
      add: null,
      addOffset: offset,
      elem: E,
      len: length * E,
      time: 0,
      stage: 0,
      off: 0,
      done: false,
    };
  }

  private outMsg(peer: number, op: string, kind: string, time: number, buf: FloatArray, offset: number, length: number): Xfer {
    const x = this.xfer(true, peer, op, kind, buf, offset, length);
    x.time = time;
    return x;
  }

  private inMsg(peer: number, op: string, kind: string, buf: FloatArray, offset: number, length: number, add: boolean): Xfer {
    const x = this.xfer(false, peer, op, kind, buf, offset, length);
    if (add) x.add = buf;
    return x;
  }

  /** Writes as much of `x` as the channel has room for. Returns true if anything moved. */
  private stepOut(x: Xfer): boolean {
    const ctl = this.ctl;
    const C = this.C;
    let W = Atomics.load(ctl, x.wIdx);
    let free = C - ((W - Atomics.load(ctl, x.rIdx)) | 0);
    let moved = false;
    const publish = (): void => {
      Atomics.store(ctl, x.wIdx, W);
      this.wake(x.peer);
      moved = true;
    };
    if (x.stage === 0) {
      if (free < HEADER) return false;
      const at = x.base + (W & (C - 1));
      this.f64[at >> 3] = x.time;
      this.i32[(at >> 2) + 2] = x.len;
      this.i32[(at >> 2) + 3] = x.tag;
      W = (W + HEADER) | 0;
      free -= HEADER;
      x.stage = 1;
      publish();
    }
    if (x.stage === 1) {
      while (x.off < x.len && free > 0) {
        const pos = W & (C - 1);
        let k = Math.min(free, C - pos, x.len - x.off, this.maxPiece);
        k -= k % x.elem;
        if (k <= 0) break;
        this.u8.set(x.bytes.subarray(x.off, x.off + k), x.base + pos);
        x.off += k;
        W = (W + k) | 0;
        free -= k;
        publish();
      }
      if (x.off === x.len) x.stage = 2;
    }
    if (x.stage === 2) {
      const pad = (HEADER - (x.len % HEADER)) % HEADER;
      if (free >= pad) {
        if (pad > 0) {
          W = (W + pad) | 0;
          publish();
        }
        x.done = true;
        moved = true;
      }
    }
    return moved;
  }

  /** Reads as much of `x` as has arrived. Returns true if anything moved. */
  private stepIn(x: Xfer): boolean {
    const ctl = this.ctl;
    const C = this.C;
    let R = Atomics.load(ctl, x.rIdx);
    let avail = (Atomics.load(ctl, x.wIdx) - R) | 0;
    let moved = false;
    const publish = (): void => {
      Atomics.store(ctl, x.rIdx, R);
      this.wake(x.peer);
      moved = true;
    };
    if (x.stage === 0) {
      if (avail < HEADER) return false;
      const at = x.base + (R & (C - 1));
      const time = this.f64[at >> 3]!;
      const len = this.i32[(at >> 2) + 2]!;
      const tag = this.i32[(at >> 2) + 3]!;
      if (x.alt && tag === x.alt.tag && len === x.alt.len) {
        x.tag = x.alt.tag;
        x.len = x.alt.len;
        x.bytes = x.alt.bytes;
        x.add = null;
        x.zc = true;
      }
      if (tag !== x.tag || len !== x.len) {
        throw new Error(
          `rank ${this.rank} expected ${x.what} of ${x.len} bytes from rank ${x.peer} but the next message from it is ` +
            `${tag !== x.tag ? "a different operation or kind" : "of the same kind"} with ${len} bytes: the ranks' calls do not match`,
        );
      }
      x.time = time;
      R = (R + HEADER) | 0;
      avail -= HEADER;
      x.stage = 1;
      publish();
    }
    if (x.stage === 1) {
      while (x.off < x.len && avail > 0) {
        const pos = R & (C - 1);
        let k = Math.min(avail, C - pos, x.len - x.off, this.maxPiece);
        k -= k % x.elem;
        if (k <= 0) break;
        if (x.add) {
          const m = k / x.elem;
          const j = x.addOffset + x.off / x.elem;
          addInto(x.add.subarray(j, j + m), new (x.add.constructor as FloatArrayCtor)(this.shared.data, x.base + pos, m));
        } else {
          x.bytes.set(this.u8.subarray(x.base + pos, x.base + pos + k), x.off);
        }
        x.off += k;
        R = (R + k) | 0;
        avail -= k;
        publish();
      }
      if (x.off === x.len) x.stage = 2;
    }
    if (x.stage === 2) {
      const pad = (HEADER - (x.len % HEADER)) % HEADER;
      if (avail >= pad) {
        if (pad > 0) {
          R = (R + pad) | 0;
          publish();
        }
        x.done = true;
        moved = true;
      }
    }
    return moved;
  }

  private wake(r: number): void {
    Atomics.add(this.ctl, bellIndex(r), 1);
    Atomics.notify(this.ctl, bellIndex(r));
  }

  /** Progresses every transfer until all are done; waits on this rank's doorbell when stuck. */
  private drive(xfers: readonly Xfer[], ctx: CallContext): void {
    const ctl = this.ctl;
    const bell = bellIndex(this.rank);
    let deadline = performance.now() + this.watchdogMs;
    const busy = new Set<number>();
    for (;;) {
      const seen = Atomics.load(ctl, bell);
      let progressed = false;
      let allDone = true;
      busy.clear();
      for (const x of xfers) {
        if (x.done) continue;
        const key = x.out ? x.ch : -1 - x.ch;
        if (busy.has(key)) {
          allDone = false;
          continue;
        }
        if (x.out ? this.stepOut(x) : this.stepIn(x)) progressed = true;
        if (!x.done) {
          allDone = false;
          busy.add(key);
        }
      }
      if (allDone) return;
      if (progressed) {
        deadline = performance.now() + this.watchdogMs;
        continue;
      }
      this.checkAbort();
      const left = deadline - performance.now();
      if (left <= 0) this.watchdog(xfers, ctx);
      Atomics.wait(ctl, bell, seen, Math.min(SLICE_MS, Math.max(1, left)));
    }
  }

  /** Ends this rank's wait when the run was aborted, naming the first failure recorded. */
  private checkAbort(): void {
    if (Atomics.load(this.ctl, ABORT) !== 0) this.throwAborted("the run was aborted");
  }

  private throwAborted(fallback: string): never {
    const f = readFailure(this.shared);
    throw new AbortedError(f ? `rank ${f.rank}: ${f.message}` : fallback);
  }

  private watchdog(xfers: readonly Xfer[], ctx: CallContext): never {
    const n = this.worldSize;
    const waitingOn = xfers.find((x) => !x.done)!.peer;
    const absent = ctx.members.find((r) => r !== this.rank && Atomics.load(this.ctl, inCommIndex(n, r)) === 0);
    const culprit = absent ?? waitingOn;
    const message =
      absent !== undefined
        ? `rank ${culprit} did not arrive at ${ctx.op} (${ctx.kind}) within ${this.watchdogMs} ms`
        : `rank ${this.rank} waited ${this.watchdogMs} ms for rank ${culprit} in ${ctx.op} (${ctx.kind}) while every member was ` +
          `inside a communication call: the ranks' calls do not match`;
    recordFailure(this.shared, culprit, message);
    this.throwAborted(message);
  }

  private enter(): void {
    this.checkAbort();
    Atomics.store(this.ctl, inCommIndex(this.worldSize, this.rank), 1);
  }

  private leave(): void {
    Atomics.store(this.ctl, inCommIndex(this.worldSize, this.rank), 0);
  }
}
