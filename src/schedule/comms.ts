/**
 * Inserting the point-to-point actions into compute-only orders: a send right after the F/B
 * that produced the data, a receive right before the F/B that needs it. Only stages on
 * different ranks exchange messages.
 */
import { action, rankOfStage, type Action, type ComputeType } from "./actions.js";

/** One compute step of a generator: what to run, of which stage, for which micro-batch. */
export interface ComputeStep {
  type: ComputeType;
  stage: number;
  mb: number;
}

/**
 * Turns per-rank compute orders into per-rank action lists with SEND/RECV actions.
 * `stages` = p·v is the number of stages in the pipeline.
 */
export function withComms(orders: readonly (readonly ComputeStep[])[], p: number, stages: number): Action[][] {
  return orders.map((order, rank) => {
    const out: Action[] = [];
    const crosses = (otherStage: number) => rankOfStage(otherStage, p) !== rank;
    for (const { type, stage: s, mb } of order) {
      if (type === "F" && s > 0 && crosses(s - 1)) out.push(action("RECV_F", s, mb));
      if ((type === "B" || type === "BW") && s < stages - 1 && crosses(s + 1)) out.push(action("RECV_B", s, mb));
      out.push(action(type, s, mb));
      if (type === "F" && s < stages - 1 && crosses(s + 1)) out.push(action("SEND_F", s, mb));
      if ((type === "B" || type === "BW") && s > 0 && crosses(s - 1)) out.push(action("SEND_B", s, mb));
    }
    return out;
  });
}
