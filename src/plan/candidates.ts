/**
 * From the space to the layouts worth simulating: every candidate is enumerated once and either
 * pruned by the first rule it breaks (src/plan/space.ts), pruned because even its memory floor
 * exceeds the device (src/plan/memory.ts), or kept with its step-time lower bound
 * (src/plan/bound.ts), fastest bound first. When nothing is kept, the request itself is at fault:
 * a one-line InputError says which flag and why.
 */
import { InputError } from "../errors.js";
import { formatBytes } from "../report/table.js";
import { boundContext, StepBound } from "./bound.js";
import { Estimator } from "./estimate.js";
import { memoryFloor } from "./memory.js";
import { layoutLabel } from "./scenario.js";
import type { PlanSetup } from "./setup.js";
import { enumerateLayouts, PRUNE, Rules } from "./space.js";
import type { PlanLayout } from "./types.js";

export interface Candidate {
  layout: PlanLayout;
  /** Lower bound on its simulated step time (seconds). */
  bound: number;
  /** Lower bound on its peak memory per device (bytes). */
  memoryFloor: number;
}

export interface Candidates {
  /** Fastest bound first. */
  kept: Candidate[];
  enumerated: number;
  pruned: Record<string, number>;
  /** Stage probes run to price them. */
  probes: number;
}

/** The rules that hold for a whole (dp, tp, pp) mesh, not for one micro-batch size or schedule. */
const STRUCTURAL: ReadonlySet<string> = new Set([PRUNE.tpAcrossNodes, PRUNE.tpDivides, PRUNE.pipelineDivides, PRUNE.shapesWorkers]);

/** What stopped every candidate, as the one-line error of the flag at fault. */
function nothingKept(setup: PlanSetup, smallest: Candidate | null, meshesAllowed: Set<number>, pruned: Record<string, number>): InputError {
  const { request, hardware } = setup;
  if (smallest) {
    return new InputError(
      "--model",
      `${request.model} fits no layout of ${request.devices} × ${request.hardware} (${formatBytes(hardware.memoryBytes)} each): ` +
        `the smallest needs at least ${formatBytes(smallest.memoryFloor)} per device (${layoutLabel(smallest.layout)})`,
    );
  }
  if (meshesAllowed.size > 0) {
    const dps = [...meshesAllowed].sort((a, b) => a - b).join(", ");
    return new InputError("--global-batch", `${request.globalBatch} sequences divide over no layout of ${request.devices} devices: data parallelism must divide the global batch, and ${request.model} allows dp ${dps}`);
  }
  const why = Object.entries(pruned).map(([reason, n]) => `${reason} (${n})`).join(", ");
  return new InputError("--devices", `no layout of ${request.devices} devices suits ${request.model}: ${why}`);
}

/** Enumerates, prunes and bounds every candidate of the setup (header). */
export function candidates(setup: PlanSetup): Candidates {
  const rules = new Rules(setup);
  const estimator = new Estimator(setup);
  const bound = new StepBound(boundContext(setup));
  const capacity = setup.hardware.memoryBytes;
  const pruned: Record<string, number> = {};
  const kept: Candidate[] = [];
  const meshesAllowed = new Set<number>();
  let smallest: Candidate | null = null;
  let enumerated = 0;
  for (const layout of enumerateLayouts(setup)) {
    enumerated++;
    const reason = rules.broken(layout);
    if (reason && STRUCTURAL.has(reason)) {
      pruned[reason] = (pruned[reason] ?? 0) + 1;
      continue;
    }
    meshesAllowed.add(layout.dp);
    if (reason) {
      pruned[reason] = (pruned[reason] ?? 0) + 1;
      continue;
    }
    const figures = estimator.figures(layout);
    const candidate = { layout, bound: 0, memoryFloor: memoryFloor(layout, figures) };
    if (candidate.memoryFloor > capacity) {
      pruned[PRUNE.memory] = (pruned[PRUNE.memory] ?? 0) + 1;
      if (!smallest || candidate.memoryFloor < smallest.memoryFloor) smallest = candidate;
      continue;
    }
    candidate.bound = bound.of(layout, figures);
    kept.push(candidate);
  }
  if (kept.length === 0) throw nothingKept(setup, smallest, meshesAllowed, pruned);
  kept.sort((a, b) => a.bound - b.bound);
  return { kept, enumerated, pruned, probes: estimator.costs.probesRun };
}
