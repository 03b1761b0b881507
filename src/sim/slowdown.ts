/**
 * Injected slowness as the clock applies it (the scenario's `faults:`, src/scenario/faults.ts):
 * a factor on a device's compute time, and a factor on the time of any transfer or collective
 * whose links touch a slow rank. The cost model prices the healthy hardware; the clock multiplies
 * what it charges by these factors, so a straggler is the same cost formula, run slower.
 */
import type { Faults } from "../scenario/faults.js";
import { slowLinkRanks } from "../scenario/faults.js";

export interface Slowdown {
  /** Factor on this device's compute time. */
  readonly compute: number;
  /**
   * Factor on a transfer or collective among `ranks`: the largest factor of the slow links
   * touching any of them (a ring runs at the pace of its slowest link), 1 if none does.
   */
  link(ranks: readonly number[]): number;
}

export const NO_SLOWDOWN: Slowdown = { compute: 1, link: () => 1 };

/** The slowdown of `rank`'s clock under `faults` (none when the scenario has none). */
export function slowdownOf(faults: Faults | undefined, rank: number, world: { worldSize: number; devicesPerNode: number }): Slowdown {
  if (!faults || (faults.slowDevice.length === 0 && faults.slowLink.length === 0)) return NO_SLOWDOWN;
  const mine = faults.slowDevice.filter((d) => d.rank === rank).map((d) => d.factor);
  const links = faults.slowLink.map((l) => ({ ranks: new Set(slowLinkRanks(l, world.devicesPerNode, world.worldSize)), factor: l.factor }));
  return {
    // Two entries for one device: the larger factor (the device is as slow as its worst report).
    compute: mine.length > 0 ? Math.max(...mine) : 1,
    link(ranks) {
      let factor = 0;
      for (const l of links) if (l.factor > factor && ranks.some((r) => l.ranks.has(r))) factor = l.factor;
      return factor === 0 ? 1 : factor;
    },
  };
}
