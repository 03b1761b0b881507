/**
 * Collectives of a shapes-only run: the bytes a member would move come from the closed forms of
 * ledger.ts (exactly what the ring and the chain count, uneven chunks included) and the members'
 * ready times travel in header-only messages, so the ledger and the clock see what a real run
 * would, and no payload moves.
 *
 * A mirrored group is one whose members all belong to the caller's class (src/parallel/symmetry.ts):
 * they do the same work at the same simulated times, so every member is ready when the caller is,
 * and only the caller (their representative) runs at all.
 */
import type { CollectiveOp } from "../sim/cost.js";
import { exchangeTimes, type TimesCall } from "./broadcast.js";
import { expectedBytes } from "./ledger.js";
import type { Traffic } from "./ring.js";

export interface ShapesCall extends TimesCall {
  op: CollectiveOp;
  /** Elements and element size of the buffer the collective runs on. */
  length: number;
  bytesPerElement: number;
  /** Broadcast only: the root's index in the group. */
  rootPosition?: number;
  /** Every member is a copy of the caller: no one to exchange ready times with. */
  mirrored: boolean;
}

export function shapesCollective(sc: ShapesCall): Traffic {
  const n = sc.call.members.length;
  const { sent, received } = expectedBytes(sc.op, sc.length, sc.bytesPerElement, n, sc.position, sc.rootPosition ?? 0);
  const times = sc.mirrored ? new Array<number>(n).fill(sc.ready) : exchangeTimes(sc);
  return { sent, received, times };
}
