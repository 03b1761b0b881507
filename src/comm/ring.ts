/**
 * Ring collectives: reduce-scatter, all-gather, and all-reduce as the one followed by the other.
 *
 * A ring runs over the group in group order (position p sends to p+1, receives from p−1). The
 * buffer is split into n chunks (chunk c: ⌈N/n⌉ elements for c < N mod n, else ⌊N/n⌋).
 * Reduce-scatter step s (0..n−2): send chunk p−s−1, receive chunk p−s−2 and add it in; the member
 * at position p then owns the reduced chunk p. All-gather step s: send chunk p−s, receive p−s−1.
 *
 * **Summation order** (fixed, so results are deterministic): chunk c is summed as
 *   ((x[c+1] + x[c+2]) + x[c+3]) + … + x[c]       (group positions mod n)
 * in the buffer's own precision, rounding after every add (Float32Array stores round to float32;
 * a 16-bit payload is then stored in its dtype, see RingCall.store).
 * `mean` divides the reduced chunk by n (one rounding) at the end of the reduce-scatter phase.
 *
 * Simulated time: each member's ready time travels around the ring in the message headers, so
 * after n−1 steps every member knows them all and computes the same start T = max(ready) (see
 * sim/clock.ts). An all-reduce's gather phase passes the same times round again.
 *
 * Each link p → p+1 copies chunks through the channel, or is zero-copy when p's buffer lies in
 * p's shared arena (see zero-copy.ts); the steps, chunks and additions are the same either way.
 */
import type { Floats } from "../kernels/types.js";
import { chunkOffset, chunkSize } from "./ledger.js";
import type { CallContext, Combine, Message } from "./message.js";
import type { Transport } from "./transport.js";
import { ZeroCopyLinks } from "./zero-copy.js";

export const mod = (a: number, n: number): number => ((a % n) + n) % n;

export type RingOp = "reduce-scatter" | "all-gather" | "all-reduce";

/** One member's part in a ring collective. */
export interface RingCall {
  transport: Transport;
  /** `members` is the group, in ring order. */
  call: CallContext & { op: RingOp };
  /** This rank's index in `call.members`. */
  position: number;
  /** When this rank can start (its comm stream's ready time). */
  ready: number;
  /** Divide the reduced chunks by the group size. */
  mean: boolean;
  /** This rank's buffer lies in its shared arena: the next member reads its chunks in place. */
  sharedBuffer: boolean;
  /** Bytes one element counts as on the wire (the payload's dtype; the buffer's own width in fp32). */
  elementBytes: number;
  /**
   * A 16-bit payload (mixed precision): stores a reduced range [from, to) of the buffer in the
   * payload's dtype after every add and after the mean's division, as a ring of 16-bit buffers does.
   */
  store?: (from: number, to: number) => void;
}

/** What one member moved (logical payload bytes) and every member's ready time, by position. */
export interface Traffic {
  sent: number;
  received: number;
  times: number[];
}

type Phase = (ring: Ring) => void;

/** Reduce-scatter step s: send chunk p−s−1, receive chunk p−s−2 and add it in. */
const reduceScatterPhase: Phase = (ring) => {
  const { n, p, times } = ring;
  for (let s = 0; s < n - 1; s++) {
    times[mod(p - s - 1, n)] = ring.step(mod(p - s - 1, n), mod(p - s - 2, n), times[mod(p - s, n)]!, "add");
    ring.storeChunk(mod(p - s - 2, n));
  }
  if (ring.mean) {
    ring.divideOwnChunk();
    ring.storeChunk(p);
  }
};

/**
 * All-gather step s: send chunk p−s, receive chunk p−s−1. After a reduce-scatter phase the times
 * it receives are ones this rank already has, so storing them again changes nothing.
 */
const allGatherPhase: Phase = (ring) => {
  const { n, p, times } = ring;
  for (let s = 0; s < n - 1; s++) {
    times[mod(p - s - 1, n)] = ring.step(mod(p - s, n), mod(p - s - 1, n), times[mod(p - s, n)]!, "copy");
  }
};

const PHASES: Record<RingOp, readonly Phase[]> = {
  "reduce-scatter": [reduceScatterPhase],
  "all-gather": [allGatherPhase],
  "all-reduce": [reduceScatterPhase, allGatherPhase],
};

/** Runs `call.op` in place on `buf` over the ring of `call.members`. */
export function ringCollective(buf: Floats, rc: RingCall): Traffic {
  const ring = new Ring(buf, rc);
  if (ring.n > 1) {
    for (const phase of PHASES[rc.call.op]) phase(ring);
    ring.links.finish();
  }
  return { sent: ring.sent, received: ring.received, times: ring.times };
}

/** The state of one member's ring collective, shared by its phases. */
class Ring {
  readonly n: number;
  readonly p: number;
  readonly times: number[];
  readonly mean: boolean;
  readonly links: ZeroCopyLinks;
  sent = 0;
  received = 0;
  private readonly N: number;
  private readonly E: number;
  private readonly next: number;
  private readonly prev: number;

  constructor(
    private readonly buf: Floats,
    private readonly rc: RingCall,
  ) {
    const ranks = rc.call.members;
    this.n = ranks.length;
    this.p = rc.position;
    this.N = buf.length;
    this.E = rc.elementBytes;
    this.next = ranks[mod(this.p + 1, this.n)]!;
    this.prev = ranks[mod(this.p - 1, this.n)]!;
    this.times = new Array<number>(this.n).fill(0);
    this.times[this.p] = rc.ready;
    this.mean = rc.mean;
    this.links = new ZeroCopyLinks(rc.transport, rc.call, buf, this.next, this.prev, rc.sharedBuffer);
  }

  /**
   * One ring step: sends chunk `sendChunk` (stamped `time`) to next while chunk `recvChunk` comes
   * from prev and is combined into this rank's buffer. Returns the time prev sent with it.
   */
  step(sendChunk: number, recvChunk: number, time: number, combine: Combine): number {
    const { buf, N, n, E, rc } = this;
    const { op, kind } = rc.call;
    const so = chunkOffset(N, n, sendChunk);
    const sl = chunkSize(N, n, sendChunk);
    const ro = chunkOffset(N, n, recvChunk);
    const rl = chunkSize(N, n, recvChunk);
    const out = this.links.sendsInPlace ? this.links.outgoing(time) : rc.transport.outgoing(this.next, op, kind, time, buf, so, sl);
    let inn: Message;
    if (this.links.readsInPlace) {
      inn = this.links.incoming();
    } else {
      inn = rc.transport.incoming(this.prev, op, kind, buf, ro, rl, combine);
      this.links.offerDescriptor(inn);
    }
    rc.transport.drive([out, inn], rc.call);
    this.links.arrived(inn);
    if (this.links.readsInPlace) this.links.readChunk(ro, rl, combine);
    this.sent += sl * E;
    this.received += rl * E;
    return inn.time;
  }

  /** Stores chunk `c` in the payload's dtype (16-bit payloads only); before the next step sends it on. */
  storeChunk(c: number): void {
    const { N, n, rc } = this;
    if (!rc.store) return;
    const o = chunkOffset(N, n, c);
    rc.store(o, o + chunkSize(N, n, c));
  }

  /** Divides the chunk this rank owns after the reduce-scatter by n (one rounding). */
  divideOwnChunk(): void {
    const { buf, N, n, p } = this;
    const o = chunkOffset(N, n, p);
    const end = o + chunkSize(N, n, p);
    for (let i = o; i < end; i++) buf[i] = buf[i]! / n;
  }
}
