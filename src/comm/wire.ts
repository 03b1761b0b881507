/**
 * The dtype payloads travel in (mixed precision). A 16-bit payload counts 2 bytes per element in
 * the ledger and on the clock, whatever the width of the array it lives in, and its values are
 * stored in that dtype (src/kernels/round.ts): sends round the buffer, ring reductions round each
 * chunk after every add, as a ring over 16-bit buffers does.
 */
import { isMeta } from "../kernels/meta.js";
import { DTYPE_BYTES, storeAs, type Dtype } from "../kernels/round.js";
import type { Floats } from "../kernels/types.js";

/** The dtype of a payload of each kind, or undefined for the buffer's own width. */
export type WireDtypes = (kind: string) => Dtype | undefined;

export class Wire {
  constructor(private readonly dtypeOf: WireDtypes = () => undefined) {}

  /** Bytes per element of `buf`'s payload as `kind`. */
  bytes(buf: Floats, kind: string): number {
    const dtype = this.dtypeOf(kind);
    return dtype ? DTYPE_BYTES[dtype] : buf.BYTES_PER_ELEMENT;
  }

  /** Stores a range of `buf` in the payload's dtype; undefined when there is nothing to round. */
  store(buf: Floats, kind: string): ((from: number, to: number) => void) | undefined {
    const dtype = this.dtypeOf(kind);
    if (!dtype || dtype === "fp32" || isMeta(buf)) return undefined;
    return (from, to) => storeAs(dtype, buf.subarray(from, to));
  }
}
