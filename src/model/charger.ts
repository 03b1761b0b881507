/**
 * How the model's compute reaches the clock: the observers of its work (ModelHooks), the Charger
 * that accumulates kernel launches between collectives, and the TpComm that flushes it before each
 * one. Used by KernelCalls (src/model/kernel-calls.ts) and the model.
 */
import type { TpComm } from "../parallel/tensor.js";
import type { Launch } from "../sim/roofline.js";

/**
 * Observers of the model's work, for the simulated clock and for data-parallel gradient buckets.
 * `compute` is called with the FLOPs done since the previous call and the kernel launches that
 * did them (before each collective and at the end of each unit: the embedding, a layer's
 * attention or MLP block, the head), so a device can charge time in the order the work happens;
 * `gradsReady` after the weight gradients of a unit are complete, with the tensor names.
 */
export interface ModelHooks {
  compute(label: string, flops: number, launches: readonly Launch[]): void;
  gradsReady(names: string[]): void;
}

/**
 * Accumulates the launches done since the last collective and charges them just before the next
 * one (or at `flush`), under the current label.
 */
export class Charger {
  private pending = 0;
  private launches: Launch[] = [];
  private label = "";
  constructor(private readonly hooks: () => ModelHooks) {}

  begin(label: string): void {
    this.flush();
    this.label = label;
  }

  /** Adds kernel launches (src/kernels/cost.ts). */
  add(launches: readonly Launch[]): void {
    for (const l of launches) {
      this.pending += l.flops;
      this.launches.push(l);
    }
  }

  flush(): void {
    if (this.pending > 0) this.hooks().compute(this.label, this.pending, this.launches);
    this.pending = 0;
    this.launches = [];
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
