/**
 * Which ranks of a layout do the same work at the same simulated times, so that a shapes-only run
 * can simulate one representative per class and charge the collectives of the others by their
 * cost model.
 *
 * Ranks that differ only in their dp or tp coordinate hold the same stages and the same shard
 * sizes, so they charge the same FLOPs (the embedding is charged as the full lookup on every tp
 * rank) and issue the same collectives and sends in the same order. Their clocks stay equal as
 * long as every link they use costs the same: the clock prices a collective by whether its group
 * spans nodes, and a send by whether its two ranks share a node. So the classes are the pipeline
 * stages exactly when, within each stage, every rank has the same answers for its tp, dp and pp
 * groups and for its pipeline neighbours. That holds when nodes align with the mesh (a tp group
 * and a stage's block of dp·tp ranks either fit in a node or are whole nodes), which is how large
 * runs are laid out; when it does not, every rank is its own class.
 */
import type { HardwareProfile } from "../sim/hardware.js";
import { nodeOf } from "../sim/cost.js";
import type { Mesh, MeshDim } from "./mesh.js";

export interface RankClasses {
  /** True when the classes are the pipeline stages (one representative each); false: one rank per class. */
  readonly byStage: boolean;
  /** The representative (lowest) rank of each class, in class order. */
  readonly representatives: readonly number[];
  /** The class of a rank. */
  classOf(rank: number): number;
  /** How many ranks a class stands for. */
  sizeOf(cls: number): number;
}

/** The links a rank's clock prices: per group whether it spans nodes, per neighbour whether it is on another node. */
function linkSignature(mesh: Mesh, hw: HardwareProfile, rank: number): string {
  // A group's ranks ascend with its coordinate and nodes ascend with rank, so a group spans
  // nodes exactly when its first and last members do: O(1) per group, even for dp = 2,048.
  const spans = (dim: MeshDim): boolean => {
    const here = mesh.coords(rank);
    const first = mesh.rankOf({ ...here, [dim]: 0 });
    const last = mesh.rankOf({ ...here, [dim]: mesh.shape[dim] - 1 });
    return nodeOf(hw, first) !== nodeOf(hw, last);
  };
  const { pp } = mesh.coords(rank);
  const neighbour = (stage: number): string => {
    if (stage < 0 || stage >= mesh.shape.pp) return "-";
    return nodeOf(hw, mesh.rankOf({ ...mesh.coords(rank), pp: stage })) === nodeOf(hw, rank) ? "same" : "other";
  };
  return [spans("tp"), spans("dp"), spans("pp"), neighbour(pp - 1), neighbour(pp + 1)].join(",");
}

/** Whether every rank of every stage prices its links as the stage's first rank does. */
function stagesAreSymmetric(mesh: Mesh, hw: HardwareProfile): boolean {
  const { dp, tp, pp } = mesh.shape;
  for (let stage = 0; stage < pp; stage++) {
    const first = mesh.rankOf({ dp: 0, tp: 0, pp: stage });
    const signature = linkSignature(mesh, hw, first);
    for (let d = 0; d < dp; d++) {
      for (let t = 0; t < tp; t++) {
        if (linkSignature(mesh, hw, mesh.rankOf({ dp: d, tp: t, pp: stage })) !== signature) return false;
      }
    }
  }
  return true;
}

/** The class of a rank: its pipeline stage when classes are by stage, else the rank itself. */
export function classOfRank(mesh: Mesh, byStage: boolean): (rank: number) => number {
  return byStage ? (rank) => mesh.coords(rank).pp : (rank) => rank;
}

/** `faulty`: injected faults break the symmetry, so every rank is its own class. */
export function rankClasses(mesh: Mesh, hw: HardwareProfile, faulty = false): RankClasses {
  const { dp, tp, pp } = mesh.shape;
  if (!faulty && dp * tp > 1 && stagesAreSymmetric(mesh, hw)) {
    return {
      byStage: true,
      representatives: Array.from({ length: pp }, (_, stage) => mesh.rankOf({ dp: 0, tp: 0, pp: stage })),
      classOf: classOfRank(mesh, true),
      sizeOf: () => dp * tp,
    };
  }
  return {
    byStage: false,
    representatives: Array.from({ length: mesh.worldSize }, (_, rank) => rank),
    classOf: classOfRank(mesh, false),
    sizeOf: () => 1,
  };
}
