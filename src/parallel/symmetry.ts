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
  /**
   * True when the classes are the pipeline stages (one representative each), or with marked
   * coordinates parts of them; false: one rank per class.
   */
  readonly byStage: boolean;
  /** The representative (lowest) rank of each class, in class order (class k is represented by representatives[k]). */
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

/**
 * Coordinates that break the symmetry (injected faults, src/scenario/faults.ts): a rank whose dp
 * coordinate is in `dp` and tp coordinate is in `tp` may behave unlike its stage, and so may the
 * ranks that share its dp or tp coordinate (they meet it in its tp or dp collectives). Every other
 * coordinate is interchangeable: swapping two of them maps the run onto itself.
 */
export interface MarkedCoords {
  readonly dp: readonly number[];
  readonly tp: readonly number[];
}

const NONE: MarkedCoords = { dp: [], tp: [] };

/**
 * Classes within a stage, one per (dp key, tp key): a marked coordinate is its own key, the
 * unmarked ones share one ("other"), represented by the lowest unmarked coordinate.
 */
class Keys {
  readonly marked: number[];
  readonly count: number;
  /** The lowest unmarked coordinate, or −1 when every coordinate is marked. */
  private readonly other: number;
  constructor(
    private readonly size: number,
    marked: readonly number[],
  ) {
    this.marked = [...new Set(marked)].filter((c) => c < size).sort((a, b) => a - b);
    this.other = Array.from({ length: size }, (_, c) => c).find((c) => !this.marked.includes(c)) ?? -1;
    this.count = this.marked.length + (this.other >= 0 ? 1 : 0);
  }
  indexOf(coord: number): number {
    const k = this.marked.indexOf(coord);
    return k >= 0 ? k : this.marked.length;
  }
  /** The coordinate that represents key `k`, and how many coordinates it stands for. */
  coordOf(k: number): number {
    return k < this.marked.length ? this.marked[k] : this.other;
  }
  sizeOf(k: number): number {
    return k < this.marked.length ? 1 : this.size - this.marked.length;
  }
}

/** The class of a rank: (stage, dp key, tp key) when classes are by stage, else the rank itself. */
export function classOfRank(mesh: Mesh, byStage: boolean, marked: MarkedCoords = NONE): (rank: number) => number {
  if (!byStage) return (rank) => rank;
  const d = new Keys(mesh.shape.dp, marked.dp);
  const t = new Keys(mesh.shape.tp, marked.tp);
  return (rank) => {
    const c = mesh.coords(rank);
    return (c.pp * d.count + d.indexOf(c.dp)) * t.count + t.indexOf(c.tp);
  };
}

/** `marked`: coordinates whose ranks differ from their stage (see MarkedCoords); none by default. */
export function rankClasses(mesh: Mesh, hw: HardwareProfile, marked: MarkedCoords = NONE): RankClasses {
  const { dp, tp, pp } = mesh.shape;
  if (dp * tp > 1 && stagesAreSymmetric(mesh, hw)) {
    const d = new Keys(dp, marked.dp);
    const t = new Keys(tp, marked.tp);
    const representatives: number[] = [];
    const sizes: number[] = [];
    for (let stage = 0; stage < pp; stage++) {
      for (let i = 0; i < d.count; i++) {
        for (let j = 0; j < t.count; j++) {
          representatives.push(mesh.rankOf({ pp: stage, dp: d.coordOf(i), tp: t.coordOf(j) }));
          sizes.push(d.sizeOf(i) * t.sizeOf(j));
        }
      }
    }
    return { byStage: true, representatives, classOf: classOfRank(mesh, true, marked), sizeOf: (cls) => sizes[cls] };
  }
  return {
    byStage: false,
    representatives: Array.from({ length: mesh.worldSize }, (_, rank) => rank),
    classOf: classOfRank(mesh, false),
    sizeOf: () => 1,
  };
}
