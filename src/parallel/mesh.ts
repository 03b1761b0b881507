/**
 * The device mesh: rank ↔ (dp, pp, tp) coordinates and the groups of every rank.
 *
 * Order (Megatron-LM's): tp varies fastest, then dp, then pp:
 *   rank = pp_i · (dp · tp) + dp_i · tp + tp_i
 * so the ranks of one tp group are consecutive and sit inside one node whenever
 * tp ≤ devicesPerNode and devicesPerNode is a multiple of tp.
 *
 * Topology is a value: build it with `buildMesh` and pass it around; there is no global.
 */
import { InputError } from "../errors.js";

export type MeshDim = "dp" | "tp" | "pp";

export interface MeshShape {
  dp: number;
  tp: number;
  pp: number;
}

export interface Coords {
  dp: number;
  pp: number;
  tp: number;
}

/** A communication group: a stable id (e.g. `dp[pp=0,tp=1]`) and its ranks in group order. */
export interface Group {
  id: string;
  ranks: number[];
}

export interface Mesh {
  readonly shape: Readonly<MeshShape>;
  readonly worldSize: number;
  coords(rank: number): Coords;
  rankOf(coords: Coords): number;
  /** The group of `rank` along `dim`; ranks are ordered by that dimension's index. */
  groupOf(rank: number, dim: MeshDim): Group;
}

function checkDim(name: MeshDim, size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new InputError(`parallel.${name}`, "must be an integer ≥ 1");
}

export function buildMesh(shape: MeshShape): Mesh {
  const { dp, tp, pp } = shape;
  checkDim("dp", dp);
  checkDim("tp", tp);
  checkDim("pp", pp);
  const worldSize = dp * tp * pp;

  const checkRank = (rank: number): void => {
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new RangeError(`rank ${rank} is outside the mesh of ${worldSize} ranks`);
    }
  };
  const rankOf = (c: Coords): number => {
    if (c.dp < 0 || c.dp >= dp || c.tp < 0 || c.tp >= tp || c.pp < 0 || c.pp >= pp) {
      throw new RangeError(`coords ${JSON.stringify(c)} are outside the mesh ${dp}×${tp}×${pp}`);
    }
    return c.pp * dp * tp + c.dp * tp + c.tp;
  };
  const coords = (rank: number): Coords => {
    checkRank(rank);
    return { dp: Math.floor(rank / tp) % dp, pp: Math.floor(rank / (dp * tp)), tp: rank % tp };
  };
  const groupOf = (rank: number, dim: MeshDim): Group => {
    const c = coords(rank);
    const size = shape[dim];
    const ranks: number[] = [];
    for (let i = 0; i < size; i++) ranks.push(rankOf({ ...c, [dim]: i }));
    const fixed = (["pp", "dp", "tp"] as const).filter((d) => d !== dim).map((d) => `${d}=${c[d]}`);
    return { id: `${dim}[${fixed.join(",")}]`, ranks };
  };
  return { shape: Object.freeze({ dp, tp, pp }), worldSize, coords, rankOf, groupOf };
}
