/**
 * Collectives of a shapes-only run: the bytes a member would move come from the closed forms of
 * ledger.ts (exactly what the ring and the chain count, uneven chunks included) and the members'
 * ready times travel in header-only messages, so the ledger and the clock see what a real run
 * would, and no payload moves.
 *
 * Members of one class (src/parallel/symmetry.ts) do the same work at the same simulated times, so
 * the representatives of the classes in a group exchange their ready times and each stands for
 * every member of its class. A mirrored group, all of the caller's class, exchanges nothing.
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
  /** The caller's index in the group (`position` is its class's index among `call.members`). */
  groupPosition: number;
  /**
   * For each member of the group, the index in `call.members` of the representative that stands
   * for it (its class's): members of one class are ready at the same time.
   */
  memberClass: readonly number[];
}

export function shapesCollective(sc: ShapesCall): Traffic {
  const n = sc.memberClass.length;
  const { sent, received } = expectedBytes(sc.op, sc.length, sc.bytesPerElement, n, sc.groupPosition, sc.rootPosition ?? 0);
  // One class (a mirrored group): no one else to ask, every member is ready when the caller is.
  const classTimes = sc.call.members.length === 1 ? [sc.ready] : exchangeTimes(sc);
  return { sent, received, times: sc.memberClass.map((k) => classTimes[k]!) };
}
