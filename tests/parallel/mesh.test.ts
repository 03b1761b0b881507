import { describe, expect, it } from "vitest";
import { buildMesh, type Group, type Mesh, type MeshDim } from "../../src/parallel/mesh.js";

/** Every group along `dim`, each once, ordered by id construction (lowest first rank first). */
function groups(mesh: Mesh, dim: MeshDim): Group[] {
  const seen = new Map<string, Group>();
  for (let r = 0; r < mesh.worldSize; r++) {
    const g = mesh.groupOf(r, dim);
    if (!seen.has(g.id)) seen.set(g.id, g);
  }
  return [...seen.values()];
}

/** Pipeline neighbours of `rank` (same dp and tp index), or null at the ends. */
function prevStage(mesh: Mesh, rank: number): number | null {
  const c = mesh.coords(rank);
  return c.pp === 0 ? null : mesh.rankOf({ ...c, pp: c.pp - 1 });
}

function nextStage(mesh: Mesh, rank: number): number | null {
  const c = mesh.coords(rank);
  return c.pp === mesh.shape.pp - 1 ? null : mesh.rankOf({ ...c, pp: c.pp + 1 });
}

describe("buildMesh", () => {
  const mesh = buildMesh({ dp: 2, tp: 2, pp: 2 });

  it("orders ranks tp fastest, then dp, then pp", () => {
    expect(mesh.worldSize).toBe(8);
    const coords = Array.from({ length: 8 }, (_, r) => mesh.coords(r));
    expect(coords).toEqual([
      { dp: 0, pp: 0, tp: 0 },
      { dp: 0, pp: 0, tp: 1 },
      { dp: 1, pp: 0, tp: 0 },
      { dp: 1, pp: 0, tp: 1 },
      { dp: 0, pp: 1, tp: 0 },
      { dp: 0, pp: 1, tp: 1 },
      { dp: 1, pp: 1, tp: 0 },
      { dp: 1, pp: 1, tp: 1 },
    ]);
    for (let r = 0; r < 8; r++) expect(mesh.rankOf(mesh.coords(r))).toBe(r);
  });

  it("gives every rank its tp, dp and pp groups", () => {
    expect(mesh.groupOf(5, "tp")).toEqual({ id: "tp[pp=1,dp=0]", ranks: [4, 5] });
    expect(mesh.groupOf(5, "dp")).toEqual({ id: "dp[pp=1,tp=1]", ranks: [5, 7] });
    expect(mesh.groupOf(5, "pp")).toEqual({ id: "pp[dp=0,tp=1]", ranks: [1, 5] });
    expect(groups(mesh, "tp").map((g) => g.ranks)).toEqual([[0, 1], [2, 3], [4, 5], [6, 7]]);
    expect(groups(mesh, "dp").map((g) => g.ranks)).toEqual([[0, 2], [1, 3], [4, 6], [5, 7]]);
    expect(groups(mesh, "pp").map((g) => g.ranks)).toEqual([[0, 4], [1, 5], [2, 6], [3, 7]]);
  });

  it("finds pipeline neighbours", () => {
    const m = buildMesh({ dp: 1, tp: 2, pp: 4 });
    expect([prevStage(m, 1), nextStage(m, 1)]).toEqual([null, 3]);
    expect([prevStage(m, 5), nextStage(m, 5)]).toEqual([3, 7]);
    expect([prevStage(m, 7), nextStage(m, 7)]).toEqual([5, null]);
  });

  it("keeps a tp group inside one node of 8 for tp ≤ 8", () => {
    const m = buildMesh({ dp: 4, tp: 8, pp: 2 });
    for (const g of groups(m, "tp")) expect(new Set(g.ranks.map((r) => Math.floor(r / 8))).size).toBe(1);
  });

  it("rejects bad shapes and ranks", () => {
    expect(() => buildMesh({ dp: 0, tp: 1, pp: 1 })).toThrow(/parallel\.dp/);
    expect(() => buildMesh({ dp: 1, tp: 1.5, pp: 1 })).toThrow(/parallel\.tp/);
    expect(() => mesh.coords(8)).toThrow(RangeError);
  });
});
