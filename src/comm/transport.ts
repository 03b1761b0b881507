/**
 * Transport: chunked point-to-point messages over the shared channels of one rank.
 *
 * One byte stream per ordered pair of ranks (a ring buffer in shared memory, see shared.ts). A
 * message is a 16-byte header (f64 simulated time, i32 payload bytes, i32 tag hashed from op and
 * kind) and its payload, padded to 16 bytes. Streams are FIFO, so matching is by order per
 * (src, dst) pair; the tag and length are checked, so mismatched calls fail with a clear error
 * instead of corrupting data. Payloads larger than the channel stream through it in pieces.
 * Waiting uses Atomics.wait on the rank's doorbell, in slices of ≤ 100 ms that check the abort
 * flag and the watchdog; never spins (with more workers than cores, spinning made an 8-worker
 * all-reduce 6× slower on 2 cores).
 */
import { performance } from "node:perf_hooks";
import { AbortedError } from "../errors.js";
import type { Floats } from "../kernels/types.js";
import { addInto } from "./add.js";
import { isDone, messageTag, type CallContext, type Combine, type Message } from "./message.js";
import {
  ABORT,
  bellIndex,
  channelIndex,
  inCommIndex,
  readFailure,
  readIndex,
  recordFailure,
  writeIndex,
  type SharedMemory,
} from "./shared.js";

const HEADER = 16;
const SLICE_MS = 100;

type FloatArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): Floats };


export class Transport {
  readonly worldSize: number;
  /** Bytes per channel (a power of two). */
  readonly channelBytes: number;
  private readonly ctl: Int32Array;
  private readonly u8: Uint8Array;
  private readonly f64: Float64Array;
  private readonly i32: Int32Array;
  /** Largest piece moved before publishing it, so the peer can start on it sooner. */
  private readonly maxPiece: number;

  constructor(
    readonly shared: SharedMemory,
    readonly rank: number,
    readonly watchdogMs: number,
  ) {
    this.worldSize = shared.worldSize;
    this.channelBytes = shared.channelBytes;
    this.ctl = new Int32Array(shared.control);
    this.u8 = new Uint8Array(shared.data);
    this.f64 = new Float64Array(shared.data);
    this.i32 = new Int32Array(shared.data);
    this.maxPiece = Math.max(HEADER, this.channelBytes / 4);
  }

  /** A message to `peer` carrying `length` elements of `buf` from element `offset`, stamped `time`. */
  outgoing(peer: number, op: string, kind: string, time: number, buf: Floats, offset: number, length: number): Message {
    const m = this.message(true, peer, op, kind, buf, offset, length);
    m.time = time;
    return m;
  }

  /** The next message from `peer`, expected to be `op` (`kind`) with `length` elements, into `buf` from `offset`. */
  incoming(peer: number, op: string, kind: string, buf: Floats, offset: number, length: number, combine: Combine = "copy"): Message {
    const m = this.message(false, peer, op, kind, buf, offset, length);
    if (combine === "add") m.addTo = buf;
    return m;
  }

  /** Lets incoming `m` accept, instead, a message `op` (`kind`) of `length` elements into `buf`; see `tookAlternative`. */
  acceptInstead(m: Message, op: string, kind: string, buf: Floats, length: number): void {
    const alt = this.message(false, m.peer, op, kind, buf, 0, length);
    m.alternative = { tag: alt.tag, payloadBytes: alt.payloadBytes, bytes: alt.bytes };
  }

  private message(outgoing: boolean, peer: number, op: string, kind: string, buf: Floats, offset: number, length: number): Message {
    const n = this.worldSize;
    const channel = outgoing ? channelIndex(n, this.rank, peer) : channelIndex(n, peer, this.rank);
    const E = buf.BYTES_PER_ELEMENT;
    return {
      outgoing,
      peer,
      channel,
      base: channel * this.channelBytes,
      writeIdx: writeIndex(n, channel),
      readIdx: readIndex(n, channel),
      tag: messageTag(op, kind),
      what: `${op} (${kind})`,
      bytes: new Uint8Array(buf.buffer, buf.byteOffset + offset * E, length * E),
      addTo: null,
      addOffset: offset,
      elementBytes: E,
      payloadBytes: length * E,
      time: 0,
      alternative: null,
      tookAlternative: false,
      state: "header",
      bytesMoved: 0,
    };
  }

  /** Progresses every message until all are done; waits on this rank's doorbell when stuck. */
  drive(messages: readonly Message[], call: CallContext): void {
    const ctl = this.ctl;
    const bell = bellIndex(this.rank);
    let deadline = performance.now() + this.watchdogMs;
    // One message per channel and direction at a time: a later one waits for the earlier to finish.
    const busy = new Set<number>();
    for (;;) {
      const seen = Atomics.load(ctl, bell);
      let progressed = false;
      let allDone = true;
      busy.clear();
      for (const m of messages) {
        if (isDone(m)) continue;
        const key = m.outgoing ? m.channel : -1 - m.channel;
        if (busy.has(key)) {
          allDone = false;
          continue;
        }
        if (this.step(m)) progressed = true;
        if (!isDone(m)) {
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
      if (left <= 0) this.watchdog(messages, call);
      Atomics.wait(ctl, bell, seen, Math.min(SLICE_MS, Math.max(1, left)));
    }
  }

  /**
   * Moves as much of `m` as its channel allows: the sender writes into the free space, the
   * receiver reads what has been written. Each side advances its own counter and rings the peer.
   * Returns true if anything moved.
   */
  private step(m: Message): boolean {
    const ctl = this.ctl;
    const C = this.channelBytes;
    const own = m.outgoing ? m.writeIdx : m.readIdx;
    let at = Atomics.load(ctl, own);
    const theirs = Atomics.load(ctl, m.outgoing ? m.readIdx : m.writeIdx);
    // Sender: free bytes of the channel; receiver: bytes written and not yet read.
    let room = m.outgoing ? C - ((at - theirs) | 0) : (theirs - at) | 0;
    let moved = false;
    const advance = (k: number): void => {
      at = (at + k) | 0;
      room -= k;
      Atomics.store(ctl, own, at);
      this.wake(m.peer);
      moved = true;
    };
    if (m.state === "header") {
      if (room < HEADER) return false;
      const pos = m.base + (at & (C - 1));
      if (m.outgoing) this.writeHeader(m, pos);
      else this.readHeader(m, pos);
      m.state = "payload";
      advance(HEADER);
    }
    if (m.state === "payload") {
      while (m.bytesMoved < m.payloadBytes && room > 0) {
        const pos = at & (C - 1);
        let k = Math.min(room, C - pos, m.payloadBytes - m.bytesMoved, this.maxPiece);
        k -= k % m.elementBytes;
        if (k <= 0) break;
        if (m.outgoing) this.u8.set(m.bytes.subarray(m.bytesMoved, m.bytesMoved + k), m.base + pos);
        else this.readPiece(m, m.base + pos, k);
        m.bytesMoved += k;
        advance(k);
      }
      if (m.bytesMoved === m.payloadBytes) m.state = "padding";
    }
    if (m.state === "padding") {
      const pad = (HEADER - (m.payloadBytes % HEADER)) % HEADER;
      if (room >= pad) {
        if (pad > 0) advance(pad);
        m.state = "done";
        moved = true;
      }
    }
    return moved;
  }

  private writeHeader(m: Message, at: number): void {
    this.f64[at >> 3] = m.time;
    this.i32[(at >> 2) + 2] = m.payloadBytes;
    this.i32[(at >> 2) + 3] = m.tag;
  }

  /** Reads the header at `at` into `m`; throws if it is not the message `m` (or its alternative) expects. */
  private readHeader(m: Message, at: number): void {
    const time = this.f64[at >> 3]!;
    const payloadBytes = this.i32[(at >> 2) + 2]!;
    const tag = this.i32[(at >> 2) + 3]!;
    const alt = m.alternative;
    if (alt && tag === alt.tag && payloadBytes === alt.payloadBytes) {
      m.tag = alt.tag;
      m.payloadBytes = alt.payloadBytes;
      m.bytes = alt.bytes;
      m.addTo = null;
      m.tookAlternative = true;
    }
    if (tag !== m.tag || payloadBytes !== m.payloadBytes) {
      throw new Error(
        `rank ${this.rank} expected ${m.what} of ${m.payloadBytes} bytes from rank ${m.peer} but the next message from it is ` +
          `${tag !== m.tag ? "a different operation or kind" : "of the same kind"} with ${payloadBytes} bytes: the ranks' calls do not match`,
      );
    }
    m.time = time;
  }

  /** Takes `k` payload bytes at `at` of the stream into `m`: copied, or added into its buffer. */
  private readPiece(m: Message, at: number, k: number): void {
    if (m.addTo) {
      const count = k / m.elementBytes;
      const j = m.addOffset + m.bytesMoved / m.elementBytes;
      const piece = new (m.addTo.constructor as FloatArrayCtor)(this.shared.data, at, count);
      addInto(m.addTo.subarray(j, j + count), piece);
    } else {
      m.bytes.set(this.u8.subarray(at, at + k), m.bytesMoved);
    }
  }

  private wake(r: number): void {
    Atomics.add(this.ctl, bellIndex(r), 1);
    Atomics.notify(this.ctl, bellIndex(r));
  }

  /** Marks this rank as inside a communication call (the watchdog looks for members that are not). */
  enter(): void {
    this.checkAbort();
    Atomics.store(this.ctl, inCommIndex(this.worldSize, this.rank), 1);
  }

  leave(): void {
    Atomics.store(this.ctl, inCommIndex(this.worldSize, this.rank), 0);
  }

  /** Ends this rank's wait when the run was aborted, naming the first failure recorded. */
  private checkAbort(): void {
    if (Atomics.load(this.ctl, ABORT) !== 0) this.throwAborted("the run was aborted");
  }

  private throwAborted(fallback: string): never {
    const f = readFailure(this.shared);
    throw new AbortedError(f ? `rank ${f.rank}: ${f.message}` : fallback);
  }

  /** Fails the run, blaming a member that never arrived or, if all are inside a call, the peer waited on. */
  private watchdog(messages: readonly Message[], call: CallContext): never {
    const n = this.worldSize;
    const waitingOn = messages.find((m) => !isDone(m))!.peer;
    const absent = call.members.find((r) => r !== this.rank && Atomics.load(this.ctl, inCommIndex(n, r)) === 0);
    const culprit = absent ?? waitingOn;
    const message =
      absent !== undefined
        ? `rank ${culprit} did not arrive at ${call.op} (${call.kind}) within ${this.watchdogMs} ms`
        : `rank ${this.rank} waited ${this.watchdogMs} ms for rank ${culprit} in ${call.op} (${call.kind}) while every member was ` +
          `inside a communication call: the ranks' calls do not match`;
    recordFailure(this.shared, culprit, message);
    this.throwAborted(message);
  }
}
