import { describe, expect, it } from "vitest";
import { buildMesh } from "../../src/parallel/mesh.js";
import { rankClasses } from "../../src/parallel/symmetry.js";
import { resolveHardware } from "../../src/sim/hardware.js";
import { linkBetween, nodeOf } from "../../src/sim/cost.js";

const h100 = (devicesPerNode = 8) => ({ ...resolveHardware({ profile: "h100-80gb" }), devicesPerNode });

describe("rankClasses", () => {
  it("node-aligned layouts collapse to one representative per pipeline stage", () => {
    for (const [dp, tp, pp] of [[16, 8, 8], [128, 8, 16], [2, 4, 2], [4, 1, 2], [1, 8, 4]]) {
      const mesh = buildMesh({ dp, tp, pp });
      const classes = rankClasses(mesh, h100());
      expect(classes.byStage, `${dp}×${tp}×${pp}`).toBe(true);
      expect(classes.representatives).toEqual(Array.from({ length: pp }, (_, s) => s * dp * tp));
      expect(classes.sizeOf(0) * classes.representatives.length).toBe(mesh.worldSize);
      expect(classes.classOf(mesh.worldSize - 1)).toBe(pp - 1);
    }
  });

  it("a layout whose stages straddle nodes keeps every rank, because its ranks price their links differently", () => {
    // dp 3 per stage on nodes of 4: stage 1 holds ranks 3, 4, 5; rank 3 shares a node with stage 0's ranks, 4 and 5 do not.
    const mesh = buildMesh({ dp: 3, tp: 1, pp: 2 });
    const hw = h100(4);
    const classes = rankClasses(mesh, hw);
    expect(classes.byStage).toBe(false);
    expect(classes.representatives).toEqual([0, 1, 2, 3, 4, 5]);
    // The asymmetry is real: rank 3's previous stage is on its own node, rank 4's is not.
    expect(nodeOf(hw, 3)).toBe(nodeOf(hw, 0));
    expect(linkBetween(hw, 3, 0)).not.toEqual(linkBetween(hw, 4, 1));
  });

  it("a tp group that straddles a node boundary breaks the symmetry too", () => {
    // tp 3 on nodes of 4: group [0,1,2] fits in node 0, group [3,4,5] spans nodes 0 and 1.
    expect(rankClasses(buildMesh({ dp: 2, tp: 3, pp: 1 }), h100(4)).byStage).toBe(false);
  });
});
