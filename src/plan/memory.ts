/**
 * A floor under the memory a layout's devices report (src/runtime/device.ts, `memory`): the plan
 * drops a layout before simulating it only when even this floor exceeds the device, so it never
 * drops one that would fit. Per pipeline rank, on its representative device (dp 0, tp 0):
 *
 *   parameters   P·e_c                (ZeRO-3: its shard, S·e_c)
 *   master       S·4                  (16-bit precision: fp32 master weights of its shard)
 *   gradients    P·e_g                (ZeRO-2, -3: S·e_g)
 *   optimizer    2·S·4                (AdamW's m and v)
 *   activations  Σ stages max(1, k_s)·(A_s + W_s)
 *   workspace    Σ stages w_s
 *
 * P: the rank's parameter elements; S: its optimizer shard, P without ZeRO, else ⌈P/dp⌉ (dp rank 0
 * owns chunk 0 of every unit, ⌈u/dp⌉ elements, and Σ⌈u/dp⌉ ≥ ⌈P/dp⌉); e_c, e_g: bytes of the
 * compute and gradient dtypes; k_s: the activation sets stage s keeps at its peak in the schedule
 * (the executor's pool, at least one); A_s, W_s, w_s: one set's bytes, the extra a split backward
 * keeps until W, the model's workspace — counted by the stage model itself (src/plan/probe.ts).
 * Left out, so the floor stays under the report: stage-boundary gradient buffers and ZeRO-3's
 * gathered units.
 */
import { DTYPE_BYTES } from "../kernels/round.js";
import { elementBytes, type LayoutFigures, type RankFigures } from "./estimate.js";
import type { PlanLayout } from "./types.js";

const FP32 = DTYPE_BYTES.fp32;

/** Elements of the optimizer shard a rank's dp-rank-0 device holds at least (header). */
export function shardFloor(l: PlanLayout, parameters: number): number {
  return l.dp > 1 && l.zero > 0 ? Math.ceil(parameters / l.dp) : parameters;
}

/** The floor of one rank's representative device (header). */
export function rankMemoryFloor(l: PlanLayout, figures: LayoutFigures, rank: RankFigures): number {
  const zero = l.dp > 1 ? l.zero : 0;
  const P = rank.parameters;
  const S = shardFloor(l, P);
  const e = elementBytes(figures.format);
  const parameters = (zero === 3 ? S : P) * e.compute;
  const master = figures.format.masterWeights ? S * FP32 : 0;
  const gradients = (zero >= 2 ? S : P) * e.grads;
  const optimizer = 2 * S * FP32;
  return parameters + master + gradients + optimizer + rank.activationBytes + rank.workspaceBytes;
}

/** The largest floor over the layout's devices: the least its peak memory per device can be. */
export function memoryFloor(l: PlanLayout, figures: LayoutFigures): number {
  return Math.max(...figures.ranks.map((r) => rankMemoryFloor(l, figures, r)));
}
