/**
 * How a model's compute reaches the clock: kernel calls (src/model/kernel-calls.ts) add their
 * FLOPs to a Charger, which hands them to the device just before the next collective (or at the
 * end of a unit), so simulated time puts compute and communication in execution order.
 */
import type { TpComm } from "../parallel/tensor.js";

/**
 * Observers of the model's work, for the simulated clock and for data-parallel gradient buckets.
 * `compute` is called with the FLOPs done since the previous call (before each collective and at
 * the end of each unit: the embedding, a layer's attention or MLP block, the head), so a device
 * can charge time in the order the work happens; `gradsReady` after the weight gradients of a
 * unit are complete, with the tensor names.
 */
export interface ModelHooks {
  compute(label: string, flops: number): void;
  gradsReady(names: string[]): void;
}

/**
 * Accumulates the FLOPs done since the last collective and charges them just before the next
 * one (or at `flush`), under the current label.
 */
export class Charger {
  private pending = 0;
  private label = "";
  constructor(private readonly hooks: () => ModelHooks) {}

  begin(label: string): void {
    this.flush();
    this.label = label;
  }

  add(flops: number): void {
    this.pending += flops;
  }

  flush(): void {
    if (this.pending > 0) this.hooks().compute(this.label, this.pending);
    this.pending = 0;
  }
}

/** A TpComm that charges the pending compute before every collective. */
export function chargingTpComm(tp: TpComm, charge: Charger): TpComm {
  if (tp.size === 1) return tp;
  return {
    size: tp.size,
    index: tp.index,
    allReduce(buf, kind) {
      charge.flush();
      tp.allReduce(buf, kind);
    },
    reduceScatter(buf, kind) {
      charge.flush();
      return tp.reduceScatter(buf, kind);
    },
    allGather(buf, kind) {
      charge.flush();
      tp.allGather(buf, kind);
    },
  };
}
