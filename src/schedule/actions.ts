/**
 * The schedule IR: per rank, an ordered list of actions, printable the way PyTorch's pipelining
 * prints its IR (`2F0` = stage 2, forward, micro-batch 0).
 *
 * Action types:
 * - `F`  forward of one stage for one micro-batch (stashes the stage's activations).
 * - `BW` fused backward (input gradient and weight gradient in one pass), used by GPipe, 1F1B
 *        and interleaved 1F1B. Frees the stash.
 * - `B`  input-gradient half of the backward (zero-bubble schedules only).
 * - `W`  weight-gradient half of the backward (zero-bubble only); W needs the saved inputs, so
 *        the stash of a split backward is freed at W.
 * - `SEND_F` / `RECV_F`: activations of a micro-batch crossing from stage s to s+1.
 *        `sSEND_Fm` is sent by stage s (after its F); `sRECV_Fm` is received by stage s
 *        (before its F), so `1SEND_F0` pairs with `2RECV_F0`.
 * - `SEND_B` / `RECV_B`: input gradients crossing from stage s to s−1.
 *        `sSEND_Bm` is sent by stage s (after its B/BW); `sRECV_Bm` is received by stage s
 *        (before its B/BW), so `2SEND_B0` pairs with `1RECV_B0`.
 *
 * Communication actions appear only between stages on different ranks; a dependency between
 * two stages on the same rank (interleaved with p = 1) is satisfied by list order.
 *
 * Stage placement (Megatron's interleaving: stage s lives on rank s mod p) is
 * src/parallel/placement.ts.
 */

export const COMPUTE_TYPES = ["F", "B", "W", "BW"] as const;
export const COMM_TYPES = ["SEND_F", "RECV_F", "SEND_B", "RECV_B"] as const;
export type ComputeType = (typeof COMPUTE_TYPES)[number];
export type CommType = (typeof COMM_TYPES)[number];
export type ActionType = ComputeType | CommType;

export interface Action {
  readonly type: ActionType;
  /** Global stage (model chunk) index, 0..p·v−1. */
  readonly stage: number;
  /** Micro-batch index, 0..m−1. */
  readonly mb: number;
}

/** For each rank, the ordered list of actions it executes. */
export type Schedule = readonly (readonly Action[])[];

/** Pipeline dimensions: p ranks, m micro-batches, v stages (chunks) per rank. */
export interface ScheduleDims {
  p: number;
  m: number;
  v: number;
}

export function action(type: ActionType, stage: number, mb: number): Action {
  return { type, stage, mb };
}

export function isCompute(a: Action): boolean {
  return (COMPUTE_TYPES as readonly string[]).includes(a.type);
}

/** `2F0`, `1RECV_B3`, `0BW5`. */
export function formatAction(a: Action): string {
  return `${a.stage}${a.type}${a.mb}`;
}

const ACTION_RE = /^(\d+)(F|B|W|BW|SEND_F|RECV_F|SEND_B|RECV_B)(\d+)$/;

/** Inverse of `formatAction`; throws on anything else. */
export function parseAction(text: string): Action {
  const match = ACTION_RE.exec(text.trim());
  if (!match) throw new Error(`not an action: "${text}" (expected e.g. 2F0, 1RECV_B3)`);
  return action(match[2] as ActionType, Number(match[1]), Number(match[3]));
}

/** Parses `"0F0 0SEND_F0 0BW0"` (whitespace separated) into a list; handy in tests. */
export function parseActions(text: string): Action[] {
  return text.split(/\s+/).filter((t) => t.length > 0).map(parseAction);
}

/** A key that identifies an action uniquely inside a schedule. */
export function actionKey(a: Action): string {
  return formatAction(a);
}
