/**
 * The lanes of a timeline (HTML page, Chrome trace): one per device row. In real mode that is
 * every rank; in a shapes-only run one row may stand for a whole pipeline stage, and only the
 * representatives have events, so a 16,384-device run draws as many lanes as it has stages.
 */
import type { DeviceReport } from "../run/results.js";
import type { TimelineEvent } from "../sim/clock.js";

/** What a lane needs of a device row: its rank, how many ranks it stands for, and its coordinates. */
export type LaneDevice = Pick<DeviceReport, "rank" | "ranks" | "coords">;

/** Every device row's rank and every rank with events, ascending. */
export function laneRanks(devices: readonly LaneDevice[], events: readonly TimelineEvent[]): number[] {
  const ranks = new Set(devices.map((d) => d.rank));
  for (const e of events) ranks.add(e.rank);
  return [...ranks].sort((a, b) => a - b);
}

/** `rank 5`, or `stage 3 · 128 ranks` for a row that stands for a pipeline stage. */
export function laneName(rank: number, device: LaneDevice | undefined): string {
  return device && device.ranks > 1 ? `stage ${device.coords.pp} · ${device.ranks} ranks` : `rank ${rank}`;
}
