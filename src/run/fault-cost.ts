/**
 * What injected slowness costs: the run beside the same run without its faults. The fault-free
 * run is simulated in shapes mode, which gives a real run's simulated times (docs/architecture.md,
 * "Two modes, one simulation") without computing anything, over as many steps as the run ran.
 */
import { buildMesh } from "../parallel/mesh.js";
import type { Scenario } from "../scenario/schema.js";
import { slowLinkRanks } from "../scenario/faults.js";
import type { DeviceReport, FaultReport, RunResult } from "./results.js";

/** Whether a scenario slows anything down (a crash alone costs no time: it ends the run). */
export function hasSlowness(scenario: Scenario): boolean {
  const f = scenario.faults;
  return f !== undefined && (f.slowDevice.length > 0 || f.slowLink.length > 0);
}

/** The scenario without its faults, in shapes mode, training `steps` steps (times do not depend on the learning rate). */
export function faultFreeScenario(scenario: Scenario, steps: number): Scenario {
  const t = scenario.training;
  const optimizer = { ...t.optimizer, warmupSteps: Math.min(t.optimizer.warmupSteps, steps) };
  return { ...scenario, mode: "shapes", faults: undefined, training: { ...t, steps, checkpointEvery: undefined, optimizer } };
}

/** The row of `baseline` that stands for `rank`: its own, or its pipeline stage's when one row stands for a stage. */
function baselineRow(baseline: RunResult, rank: number): DeviceReport {
  const own = baseline.devices.find((d) => d.rank === rank);
  if (own) return own;
  const { pp } = buildMesh(baseline.scenario.parallel).coords(rank);
  return baseline.devices.find((d) => d.ranks > 1 && d.coords.pp === pp)!;
}

/** Each device row's compute, communication and idle time added by the faults, and the step time added. */
export function faultReport(result: RunResult, baseline: RunResult): FaultReport {
  const s = result.scenario;
  const faults = s.faults!;
  const world = result.worldSize;
  return {
    slowDevice: faults.slowDevice,
    slowLink: faults.slowLink.map((l) => ({ ranks: slowLinkRanks(l, s.hardware.devicesPerNode, world), factor: l.factor })),
    crash: faults.crash ?? null,
    baseline: { stepSeconds: baseline.simulated.stepSeconds },
    stepSecondsAdded: result.simulated.stepSeconds - baseline.simulated.stepSeconds,
    devices: result.devices.map((d) => {
      const b = baselineRow(baseline, d.rank);
      return {
        rank: d.rank,
        ranks: d.ranks,
        computeSecondsAdded: d.computeSeconds - b.computeSeconds,
        commSecondsAdded: d.commSeconds - b.commSeconds,
        idleSecondsAdded: d.idleSeconds - b.idleSeconds,
      };
    }),
  };
}
