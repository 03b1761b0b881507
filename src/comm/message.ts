/** A message between two ranks as the transport moves it, and the words it is described in. */
import type { Floats } from "../kernels/types.js";

/** What a call is doing, for error messages and the watchdog. */
export interface CallContext {
  op: string;
  kind: string;
  /** Ranks taking part: the watchdog blames one of them that never entered a call. */
  members: readonly number[];
}

/**
 * Where a message stands in its channel; the sender and the receiver walk the same states:
 * - "header": its header is not yet written (sender) or read and checked (receiver);
 * - "payload": its payload is streaming through, `bytesMoved` bytes so far;
 * - "padding": the payload is through, the padding up to the next header is not yet passed;
 * - "done".
 */
export type MessageState = "header" | "payload" | "padding" | "done";

/** What a receiver does with payload bytes: store them, or add them elementwise into the buffer. */
export type Combine = "copy" | "add";

/** One message on the channel between this rank and `peer`, sent or received in pieces. */
export interface Message {
  readonly outgoing: boolean;
  readonly peer: number;
  readonly channel: number;
  /** Byte offset of the channel's stream in `shared.data`. */
  readonly base: number;
  /** Slots of the channel's write and read counters in `shared.control`. */
  readonly writeIdx: number;
  readonly readIdx: number;
  /** Hash of op and kind, checked by the receiver (see `messageTag`). */
  tag: number;
  /** "op (kind)", for error messages. */
  readonly what: string;
  /** Payload as bytes (outgoing: source; incoming: destination, when copying). */
  bytes: Uint8Array;
  /** Incoming only: the buffer payload elements are added into (`combine: "add"`), from element `addOffset`. */
  addTo: Floats | null;
  readonly addOffset: number;
  /** Pieces are whole elements of this many bytes. */
  readonly elementBytes: number;
  payloadBytes: number;
  /** Simulated time: outgoing, the one to send; incoming, the one received. */
  time: number;
  /** Incoming only: another message accepted in this one's place (a zero-copy descriptor). */
  alternative: { tag: number; payloadBytes: number; bytes: Uint8Array } | null;
  /** Set when the alternative is what arrived. */
  tookAlternative: boolean;
  state: MessageState;
  /** Payload bytes written (outgoing) or read (incoming) so far. */
  bytesMoved: number;
}

// A function rather than an inline comparison: TypeScript cannot see that a step changes
// `state`, and would keep it narrowed after the first test.
export const isDone = (m: Message): boolean => m.state === "done";

/** The tag a header carries: an FNV-1a hash of op and kind. */
export function messageTag(op: string, kind: string): number {
  const s = `${op}\u0000${kind}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}
