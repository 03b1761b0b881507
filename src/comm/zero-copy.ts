/**
 * Zero-copy ring links. A rank's arena (shared.ts) is shared memory every rank can read. A buffer
 * carved out of it with `comm.sharedArray(length)` (or any view of such a buffer) is "shared".
 * The mode is chosen per ring link by the sender: when p's buffer is shared, p does not copy
 * chunks into the channel; its messages to p+1 carry no payload and only say "the chunk of this
 * step is final" (same headers, same simulated times). p+1 then reads that chunk straight from p's
 * arena: reduce-scatter `mine[c] += prev[c]`, all-gather `mine[c] = prev[c]`. The first message
 * of a collective on a zero-copy link is a descriptor (its tag names op and kind; its payload the
 * offset in the sender's arena, element count and size), so offsets may differ between ranks and
 * a receiver learns the mode from what arrives; mismatched calls still fail with "calls do not
 * match". Broadcast and send/recv always copy through the channels. Same chunks, same order of
 * additions, so results equal the channel path bit for bit; the ledger counts the bytes the ring
 * logically moves and the clock charges the algorithm's cost, as on the channel path.
 *
 * Safety: (1) p reads chunk c of step t only after p−1 has said that chunk is final. (2) Within a
 * call, p−1 next writes a chunk that p reads at step t only at step t + n − 1, and it cannot get
 * there before every rank of the ring, p included, has finished step t (each step waits for the
 * previous rank's previous step), so a chunk is never overwritten while it is read. (3) p sends
 * "done" to p−1 after its last read, and p−1 does not return before it has it: the caller may
 * write its buffer (next step's gradients, the next collective) as soon as the call returns.
 */
import type { Floats } from "../kernels/types.js";
import { addInto } from "./add.js";
import type { CallContext, Combine, Message } from "./message.js";
import type { Transport } from "./transport.js";

/** Zero-copy descriptor: byte offset in the sender's arena, elements, bytes per element, 0. */
const DESC_LEN = 4;
const EMPTY = new Float32Array(0);

/** The zero-copy side of one member's two ring links: to next (its own buffer) and from prev. */
export class ZeroCopyLinks {
  /** Prev's buffer (a view of prev's arena) once its descriptor has arrived. */
  private peer: Floats | null = null;
  private steps = 0;
  private readonly op: string;
  private readonly myDescriptor: Float64Array;
  private readonly peerDescriptor = new Float64Array(DESC_LEN);

  constructor(
    private readonly transport: Transport,
    private readonly call: CallContext,
    private readonly buf: Floats,
    private readonly next: number,
    private readonly prev: number,
    /** This rank's buffer is shared: next reads its chunks in place. */
    readonly sendsInPlace: boolean,
  ) {
    this.op = `${call.op}/zc`;
    this.myDescriptor = Float64Array.of(buf.byteOffset, buf.length, buf.BYTES_PER_ELEMENT, 0);
  }

  /** Prev's buffer is shared: this rank reads its chunks in place. */
  get readsInPlace(): boolean {
    return this.peer !== null;
  }

  /** The step's message to next when it reads in place: the descriptor first, then headers only. */
  outgoing(time: number): Message {
    const first = this.steps === 0;
    return this.transport.outgoing(this.next, this.op, this.call.kind, time, first ? this.myDescriptor : EMPTY, 0, first ? DESC_LEN : 0);
  }

  /** The step's header-only message from prev once this rank reads prev's buffer in place. */
  incoming(): Message {
    return this.transport.incoming(this.prev, this.op, this.call.kind, EMPTY, 0, 0);
  }

  /** On the first step, lets the chunk expected from prev be replaced by prev's descriptor. */
  offerDescriptor(chunk: Message): void {
    if (this.steps === 0) this.transport.acceptInstead(chunk, this.op, this.call.kind, this.peerDescriptor, DESC_LEN);
  }

  /** Called when a step's messages are through: switches to reading in place if prev's descriptor came. */
  arrived(fromPrev: Message): void {
    if (fromPrev.tookAlternative) this.peer = this.peerBuffer();
    this.steps++;
  }

  /** Combines elements [offset, offset + length) of prev's buffer into this rank's. */
  readChunk(offset: number, length: number, combine: Combine): void {
    const mine = this.buf.subarray(offset, offset + length);
    const theirs = this.peer!.subarray(offset, offset + length);
    if (combine === "add") addInto(mine, theirs);
    else mine.set(theirs);
  }

  /** Safety (3): tells prev this rank no longer reads its buffer; waits until next no longer reads this one's. */
  finish(): void {
    const done = `${this.op}-done`;
    const fin: Message[] = [];
    if (this.peer) fin.push(this.transport.outgoing(this.prev, done, this.call.kind, 0, EMPTY, 0, 0));
    if (this.sendsInPlace) fin.push(this.transport.incoming(this.next, done, this.call.kind, EMPTY, 0, 0));
    if (fin.length > 0) this.transport.drive(fin, this.call);
  }

  /** Prev's buffer, from the descriptor it sent; throws if it does not match this rank's call. */
  private peerBuffer(): Floats {
    const { rank, shared } = this.transport;
    const N = this.buf.length;
    const E = this.buf.BYTES_PER_ELEMENT;
    const d = this.peerDescriptor;
    const [offset, length, bytesPerElement] = [d[0]!, d[1]!, d[2]!];
    const arena = shared.arenas[this.prev]!;
    if (length !== N || bytesPerElement !== E || offset % E !== 0 || offset + N * E > arena.byteLength) {
      throw new Error(
        `rank ${rank} expected ${this.call.op} (${this.call.kind}) of ${N} elements of ${E} bytes from rank ${this.prev} but it shares ` +
          `${length} elements of ${bytesPerElement} bytes at offset ${offset}: the ranks' calls do not match`,
      );
    }
    return E === 4 ? new Float32Array(arena, offset, N) : new Float64Array(arena, offset, N);
  }
}
