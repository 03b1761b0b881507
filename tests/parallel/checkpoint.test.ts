import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCheckpoint, simulate, validateScenario } from "../../src/index.js";

function scenario(parallel: object, steps = 3) {
  return validateScenario({
    name: "ckpt-test",
    model: { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 },
    training: { steps, globalBatch: 4, microBatches: 2, optimizer: { lr: 1e-2 } },
    parallel,
  });
}

describe("checkpoints of sharded layouts", () => {
  const single = mkdtempSync(join(tmpdir(), "parasim-ckpt-"));
  const sharded = mkdtempSync(join(tmpdir(), "parasim-ckpt-"));

  it("a tp × pp run gathers on save into the same Hugging Face checkpoint as an unsharded run", async () => {
    await simulate(scenario({}), { save: single });
    await simulate(scenario({ tp: 2, pp: 2, dp: 2 }), { save: sharded });
    const a = readCheckpoint(single);
    const b = readCheckpoint(sharded);
    expect(b.config).toEqual(a.config);
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [name, t] of a.tensors) {
      const u = b.tensors.get(name)!;
      expect(u.shape).toEqual(t.shape);
      // Three steps of AdamW from the same start on round-off-equal gradients: parameters agree to ~lr·1e-4.
      let diff = 0;
      for (let i = 0; i < t.data.length; i++) diff = Math.max(diff, Math.abs(t.data[i] - u.data[i]));
      expect(diff, name).toBeLessThan(1e-5);
    }
  });

  it("a checkpoint loads into tp and pp shards: the first loss equals the unsharded one", async () => {
    const unsharded = await simulate(scenario({}, 1), { init: single });
    const loaded = await simulate(scenario({ tp: 2, pp: 2 }, 1), { init: single });
    // The loss of the loaded weights before any update: same weights, round-off-level difference.
    expect(Math.abs(loaded.losses[0] - unsharded.losses[0]) / unsharded.losses[0]).toBeLessThan(1e-6);
  });
});
