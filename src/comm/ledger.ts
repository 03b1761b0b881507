/**
 * The byte ledger of one rank: payload bytes sent and received by every communication call,
 * per kind (a label the caller passes: `dp-grad`, `tp-act`, `pp-act`, …), per group and per op.
 * Message headers (16 bytes each, used for matching and simulated time) are not counted.
 *
 * Closed forms for one call on a buffer of N elements of E bytes (S = N·E) over a group of n:
 * chunk c has ⌈N/n⌉ elements if c < N mod n, else ⌊N/n⌋ (offsets in order). In the ring, the
 * member at position p:
 * - reduce-scatter: sends every chunk but chunk p, receives every chunk but chunk p−1;
 * - all-gather:     sends every chunk but chunk p+1, receives every chunk but chunk p;
 * - all-reduce = both: sends 2S − E·(|p| + |p+1|), receives 2S − E·(|p−1| + |p|)  (indices mod n).
 * Summed over ranks: all-reduce 2(n−1)·S, reduce-scatter and all-gather (n−1)·S each; with N a
 * multiple of n every rank sends exactly 2(n−1)/n·S resp. (n−1)/n·S.
 * - broadcast (chain from the root): every member but the last sends S, every member but the root receives S.
 */

export interface Counter {
  sent: number;
  received: number;
  calls: number;
}

export interface LedgerJSON {
  rank: number;
  total: Counter;
  byKind: Record<string, Counter>;
  byGroup: Record<string, Counter>;
  byOp: Record<string, Counter>;
}

const zero = (): Counter => ({ sent: 0, received: 0, calls: 0 });

function bump(map: Map<string, Counter>, key: string, sent: number, received: number): void {
  let c = map.get(key);
  if (!c) map.set(key, (c = zero()));
  c.sent += sent;
  c.received += received;
  c.calls += 1;
}

export class Ledger {
  private readonly total = zero();
  private readonly kinds = new Map<string, Counter>();
  private readonly groups = new Map<string, Counter>();
  private readonly ops = new Map<string, Counter>();

  constructor(readonly rank: number) {}

  record(op: string, kind: string, groupId: string, sent: number, received: number): void {
    this.total.sent += sent;
    this.total.received += received;
    this.total.calls += 1;
    bump(this.kinds, kind, sent, received);
    bump(this.groups, groupId, sent, received);
    bump(this.ops, op, sent, received);
  }

  sent(kind?: string): number {
    return kind === undefined ? this.total.sent : (this.kinds.get(kind)?.sent ?? 0);
  }

  received(kind?: string): number {
    return kind === undefined ? this.total.received : (this.kinds.get(kind)?.received ?? 0);
  }

  byKind(): Record<string, Counter> {
    return toRecord(this.kinds);
  }

  byGroup(): Record<string, Counter> {
    return toRecord(this.groups);
  }

  byOp(): Record<string, Counter> {
    return toRecord(this.ops);
  }

  reset(): void {
    Object.assign(this.total, zero());
    this.kinds.clear();
    this.groups.clear();
    this.ops.clear();
  }

  toJSON(): LedgerJSON {
    return { rank: this.rank, total: { ...this.total }, byKind: this.byKind(), byGroup: this.byGroup(), byOp: this.byOp() };
  }
}

function toRecord(m: Map<string, Counter>): Record<string, Counter> {
  const out: Record<string, Counter> = {};
  for (const k of [...m.keys()].sort()) out[k] = { ...m.get(k)! };
  return out;
}

/** Sums the ledgers of all ranks (on the main thread). */
export function sumLedgers(ledgers: readonly LedgerJSON[]): Omit<LedgerJSON, "rank"> {
  const total = zero();
  const byKind: Record<string, Counter> = {};
  const byGroup: Record<string, Counter> = {};
  const byOp: Record<string, Counter> = {};
  const add = (into: Record<string, Counter>, from: Record<string, Counter>): void => {
    for (const [k, c] of Object.entries(from)) {
      const t = (into[k] ??= zero());
      t.sent += c.sent;
      t.received += c.received;
      t.calls += c.calls;
    }
  };
  for (const l of ledgers) {
    total.sent += l.total.sent;
    total.received += l.total.received;
    total.calls += l.total.calls;
    add(byKind, l.byKind);
    add(byGroup, l.byGroup);
    add(byOp, l.byOp);
  }
  return { total, byKind, byGroup, byOp };
}

/** Elements of chunk c when N elements are split over n: ⌈N/n⌉ for c < N mod n, else ⌊N/n⌋. */
export function chunkSize(length: number, n: number, c: number): number {
  return Math.floor(length / n) + (c < length % n ? 1 : 0);
}

/** First element of chunk c. */
export function chunkOffset(length: number, n: number, c: number): number {
  return c * Math.floor(length / n) + Math.min(c, length % n);
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/** Exact bytes the member at `position` sends/receives in one collective (see the header). */
export function expectedBytes(
  op: "all-reduce" | "reduce-scatter" | "all-gather" | "broadcast",
  length: number,
  bytesPerElement: number,
  n: number,
  position: number,
  rootPosition = 0,
): { sent: number; received: number } {
  const S = length * bytesPerElement;
  const sz = (c: number): number => chunkSize(length, n, mod(c, n)) * bytesPerElement;
  if (n === 1) return { sent: 0, received: 0 };
  const p = position;
  switch (op) {
    case "reduce-scatter":
      return { sent: S - sz(p), received: S - sz(p - 1) };
    case "all-gather":
      return { sent: S - sz(p + 1), received: S - sz(p) };
    case "all-reduce":
      return { sent: 2 * S - sz(p) - sz(p + 1), received: 2 * S - sz(p - 1) - sz(p) };
    case "broadcast": {
      const q = mod(p - rootPosition, n);
      return { sent: q < n - 1 ? S : 0, received: q > 0 ? S : 0 };
    }
  }
}
