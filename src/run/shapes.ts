/**
 * Which ranks a shapes-only run simulates, and what it cannot do. A shapes-only run starts one
 * worker per representative: with a node-aligned layout one per pipeline stage, each standing
 * for its stage's dp·tp ranks (src/parallel/symmetry.ts), otherwise one per rank.
 */
import { InputError } from "../errors.js";
import { LIMITS } from "../limits.js";
import type { Mesh } from "../parallel/mesh.js";
import { rankClasses, type MarkedCoords } from "../parallel/symmetry.js";
import { slowLinkRanks } from "../scenario/faults.js";
import type { Scenario } from "../scenario/schema.js";
import type { DeviceData } from "../runtime/device.js";


export function shapesPlan(
  scenario: Scenario,
  mesh: Mesh,
  options: { init?: string; save?: string; resume?: string; captureGradients?: boolean },
): NonNullable<DeviceData["shapes"]> {
  if (options.init !== undefined) throw new InputError("--init", "a shapes-only run has no weights to start from (use mode: real)");
  if (options.save !== undefined) throw new InputError("--save", "a shapes-only run has no weights to save (use mode: real)");
  if (options.resume !== undefined) throw new InputError("--resume", "a shapes-only run has no weights or optimizer state to resume (use mode: real)");
  if (options.captureGradients) throw new InputError("captureGradients", "a shapes-only run computes no gradients");
  // The world size was bounded at validation (src/scenario/limits.ts); the workers depend on the layout's symmetry.
  const world = mesh.worldSize;
  const marked = markedCoords(scenario, mesh);
  const classes = rankClasses(mesh, scenario.hardware, marked);
  const workers = classes.representatives.length;
  if (workers > LIMITS.shapesWorkers) {
    const why = classes.byStage
      ? `pp = ${mesh.shape.pp} stages need one worker each`
      : `its stages or tp groups straddle nodes of ${scenario.hardware.devicesPerNode} devices, so every one of its ${world} ranks is simulated`;
    throw new InputError("parallel", `${why}; shapes mode starts at most ${LIMITS.shapesWorkers} workers`);
  }
  const sizes = classes.representatives.map((rank) => classes.sizeOf(classes.classOf(rank)));
  return { representatives: [...classes.representatives], byStage: classes.byStage, marked, sizes };
}

/**
 * The dp and tp coordinates of every rank a fault touches (a slow device, an end of a slow link, a
 * crashing device): such a rank gets a class of its own, and the ranks that share one of its
 * coordinates get classes apart from their stage's (src/parallel/symmetry.ts).
 */
export function markedCoords(scenario: Scenario, mesh: Mesh): MarkedCoords {
  const f = scenario.faults;
  if (!f) return { dp: [], tp: [] };
  const ranks = [
    ...f.slowDevice.map((d) => d.rank),
    ...f.slowLink.flatMap((l) => slowLinkRanks(l, scenario.hardware.devicesPerNode, mesh.worldSize)),
    ...(f.crash ? [f.crash.rank] : []),
  ];
  const coords = ranks.map((r) => mesh.coords(r));
  return { dp: [...new Set(coords.map((c) => c.dp))], tp: [...new Set(coords.map((c) => c.tp))] };
}
