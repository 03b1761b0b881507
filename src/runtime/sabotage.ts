/**
 * Deliberate bugs, for tests only. They prove that a correctness check (the single-device
 * comparison of `plan --verify`, src/plan/verify.ts) catches a wrong parallelisation, which a
 * check that never fails could not show. A correct simulator never does what these do; only tests
 * set `SimulateOptions.sabotage`, and nothing else reaches the code below.
 *
 *   tp-partial  rank `rank` keeps its own partial sum of every tensor-parallel activation
 *               reduction (kind tp-act: the all-reduce after a row-parallel layer and of the input
 *               gradient before a column-parallel one, or their reduce-scatter under sequence
 *               parallelism) instead of the group's sum, as if it forgot to copy the result back.
 *               It still takes part in the collective, so its peers are not kept waiting.
 *   pp-stale    rank `rank` sends, for every pipeline activation (kind pp-act), the payload of its
 *               previous pp-act send (its first one goes out right), as if the send buffer were
 *               reused before the message had left.
 */
import type { Comm, P2POp } from "../comm/comm.js";
import type { Floats } from "../kernels/types.js";
import type { TpComm } from "../parallel/tensor.js";

export interface Sabotage {
  kind: "tp-partial" | "pp-stale";
  /** The global rank that misbehaves. */
  rank: number;
}

/** What the pipeline executor needs of Comm. */
export type PipelineComm = Pick<Comm, "rank" | "batch">;

const TP_ACT = "tp-act";
const PP_ACT = "pp-act";

/** `tp`, or on the sabotaged rank a TpComm whose activation reductions leave its own partial sums in place. */
export function sabotagedTp(tp: TpComm, sabotage: Sabotage | undefined, rank: number): TpComm {
  if (sabotage?.kind !== "tp-partial" || sabotage.rank !== rank) return tp;
  return {
    size: tp.size,
    index: tp.index,
    allGather: (buf, kind) => tp.allGather(buf, kind),
    allReduce: (buf, kind) => {
      const own = buf.slice();
      tp.allReduce(buf, kind);
      if (kind === TP_ACT) buf.set(own);
    },
    reduceScatter: (buf, kind) => {
      const own = buf.slice();
      const chunk = tp.reduceScatter(buf, kind);
      if (kind === TP_ACT) chunk.set(ownRows(own, buf, chunk));
      return chunk;
    },
  };
}

/** The part of `own` (a copy of `buf`) at the place of `chunk` (a view into `buf`). */
function ownRows(own: Floats, buf: Floats, chunk: Floats): Floats {
  const start = (chunk.byteOffset - buf.byteOffset) / buf.BYTES_PER_ELEMENT;
  return own.subarray(start, start + chunk.length);
}

/** `comm`, or on the sabotaged rank one whose pipeline activation sends carry the previous send's payload. */
export function sabotagedPipeline(comm: Comm, sabotage: Sabotage | undefined, rank: number): PipelineComm {
  if (sabotage?.kind !== "pp-stale" || sabotage.rank !== rank) return comm;
  let previous: Floats | null = null;
  const stale = (op: P2POp): P2POp => {
    if (op.type !== "send" || op.kind !== PP_ACT) return op;
    const sent = previous ?? op.buf;
    previous = op.buf.slice();
    return { ...op, buf: sent };
  };
  return { rank: comm.rank, batch: (ops, options) => comm.batch(ops.map(stale), options) };
}
