/**
 * The step breakdown of a run as report lines: where the slowest device's time goes, by phase
 * (src/sim/breakdown.ts), and the cluster's utilisation (src/run/utilisation.ts).
 */
import type { RunResult } from "../run/results.js";
import { PHASES, type Phase } from "../sim/breakdown.js";
import { formatTable } from "./table.js";

export const PHASE_NAMES: Record<Phase, string> = {
  forward: "forward",
  backward: "backward",
  recompute: "recompute",
  optimizer: "optimizer",
  tpComm: "exposed TP comm",
  ppComm: "exposed PP comm",
  dpComm: "exposed DP comm",
  bubble: "bubble (idle)",
};

/** Seconds per step by phase on the device that ends last, with each phase's share, then MFU, HFU and TFLOP/s per device. */
export function breakdownLines(r: RunResult): string[] {
  const slowest = r.devices.reduce((a, d) => (d.makespanSeconds > a.makespanSeconds ? d : a), r.devices[0]!);
  const steps = r.scenario.training.steps;
  const rows = PHASES.map((p) => {
    const s = slowest.breakdown[p];
    return [PHASE_NAMES[p], `${(s / steps).toPrecision(4)} s`, `${((100 * s) / slowest.makespanSeconds).toFixed(1)} %`];
  });
  const u = r.utilisation;
  return [
    `step breakdown of rank ${slowest.rank} (the device that ends last), per step:`,
    formatTable(["phase", "time", "share"], rows),
    `MFU ${(100 * u.mfu).toFixed(1)} %, HFU ${(100 * u.hfu).toFixed(1)} % (recomputation included), ${u.tflopsPerDevice.toFixed(1)} TFLOP/s per device`,
  ];
}
