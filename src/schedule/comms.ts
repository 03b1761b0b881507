/**
 * Inserting the point-to-point actions into compute-only orders: a send right after the F/B
 * that produced the data, a receive right before the F/B that needs it. Only stages on
 * different ranks exchange messages.
 */
import { isFirstStage, isLastStage, rankOfStage, type PipelineDims } from "../parallel/placement.js";
import { action, type Action, type ComputeType } from "./actions.js";

/** One compute step of a generator: what to run, of which stage, for which micro-batch. */
export interface ComputeStep {
  type: ComputeType;
  stage: number;
  mb: number;
}

/** Turns per-rank compute orders into per-rank action lists with SEND/RECV actions. */
export function withComms(orders: readonly (readonly ComputeStep[])[], dims: PipelineDims): Action[][] {
  return orders.map((order, rank) => {
    const out: Action[] = [];
    const crosses = (otherStage: number) => rankOfStage(otherStage, dims.p) !== rank;
    const hasPrevious = (stage: number) => !isFirstStage(stage) && crosses(stage - 1);
    const hasNext = (stage: number) => !isLastStage(stage, dims) && crosses(stage + 1);
    for (const { type, stage, mb } of order) {
      const backward = type === "B" || type === "BW";
      if (type === "F" && hasPrevious(stage)) out.push(action("RECV_F", stage, mb));
      if (backward && hasNext(stage)) out.push(action("RECV_B", stage, mb));
      out.push(action(type, stage, mb));
      if (type === "F" && hasNext(stage)) out.push(action("SEND_F", stage, mb));
      if (backward && hasPrevious(stage)) out.push(action("SEND_B", stage, mb));
    }
    return out;
  });
}
