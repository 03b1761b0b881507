/**
 * Chain broadcast: root → root+1 → … in group order, streamed in segments of half a channel so
 * each member forwards a segment while the next one arrives. Always copies through the channels.
 * It first passes every member's ready time around the ring with header-only messages, so all
 * members compute the same start time (see sim/clock.ts).
 */
import type { Floats } from "../kernels/types.js";
import { mod, type Traffic } from "./ring.js";
import type { CallContext, Message } from "./message.js";
import type { Transport } from "./transport.js";

const EMPTY = new Float32Array(0);

/** One member's part in a broadcast. */
export interface BroadcastCall {
  transport: Transport;
  /** `members` is the group; the chain runs in group order from the root, wrapping round. */
  call: CallContext;
  /** This rank's index in `call.members`. */
  position: number;
  /** The root's index in `call.members`. */
  rootPosition: number;
  /** When this rank can start (its comm stream's ready time). */
  ready: number;
  /** Bytes one element counts as on the wire (the payload's dtype; the buffer's own width in fp32). */
  elementBytes: number;
}

/** Copies `buf` of the root into `buf` of every member. */
export function chainBroadcast(buf: Floats, bc: BroadcastCall): Traffic {
  const { transport, call, position: p } = bc;
  const ranks = call.members;
  const n = ranks.length;
  const times = exchangeTimes(bc);
  const q = mod(p - bc.rootPosition, n);
  const next = ranks[mod(p + 1, n)]!;
  const prev = ranks[mod(p - 1, n)]!;
  const seg = Math.max(1, Math.floor(transport.channelBytes / 2 / buf.BYTES_PER_ELEMENT));
  const nseg = Math.max(1, Math.ceil(buf.length / seg));
  let sent = 0;
  let received = 0;
  if (n > 1) {
    // The segment still to forward; it goes out together with the next one's receive.
    let pending: Message | null = null;
    for (let k = 0; k < nseg; k++) {
      const off = k * seg;
      const len = Math.min(seg, buf.length - off);
      const xs: Message[] = [];
      if (pending) xs.push(pending);
      if (q > 0) {
        xs.push(transport.incoming(prev, "broadcast", call.kind, buf, off, len));
        received += len * bc.elementBytes;
      }
      transport.drive(xs, call);
      pending = null;
      if (q < n - 1) {
        pending = transport.outgoing(next, "broadcast", call.kind, 0, buf, off, len);
        sent += len * bc.elementBytes;
        if (q === 0) {
          transport.drive([pending], call);
          pending = null;
        }
      }
    }
    if (pending) transport.drive([pending], call);
  }
  return { sent, received, times };
}

/** What a ready-time exchange needs: a member's place in its group and its own ready time. */
export type TimesCall = Pick<BroadcastCall, "transport" | "call" | "position" | "ready">;

/** Header-only ring all-gather of the members' ready times. */
export function exchangeTimes({ transport, call, position: p, ready }: TimesCall): number[] {
  const ranks = call.members;
  const n = ranks.length;
  const times: number[] = new Array<number>(n).fill(0);
  times[p] = ready;
  const next = ranks[mod(p + 1, n)]!;
  const prev = ranks[mod(p - 1, n)]!;
  for (let s = 0; s < n - 1; s++) {
    const out = transport.outgoing(next, `${call.op}-sync`, call.kind, times[mod(p - s, n)]!, EMPTY, 0, 0);
    const inn = transport.incoming(prev, `${call.op}-sync`, call.kind, EMPTY, 0, 0);
    transport.drive([out, inn], call);
    times[mod(p - s - 1, n)] = inn.time;
  }
  return times;
}
