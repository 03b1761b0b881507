/**
 * A stage's cost is composed from probes of one and two layers (src/plan/probe.ts): a stage of n
 * layers costs the one-layer stage plus n − 1 layers. Checked against probing the whole stage
 * directly, for every part a pipeline has (first, middle, last, all of the model), with and
 * without sequence parallelism, for each recomputation and a split backward.
 *
 * Times: the composition adds the same per-launch doubles in another grouping; the relative
 * difference is bounded by a few units of round-off per term summed, far below 1e-12 for these
 * few hundred launches. Bytes and element counts are integers: exact.
 */
import { describe, expect, it } from "vitest";
import { probeStage, StageCosts, type ProbeSetting } from "../../src/plan/probe.js";
import { planSetup } from "../../src/plan/setup.js";
import { configFile, GPT, LLAMA, request } from "./helpers.js";

const TIMES = ["forward", "backward", "weights", "forwardTp", "backwardTp", "weightsTp"] as const;
const BYTES = ["parameters", "activationBytes", "deferredBytes", "workspaceBytes"] as const;

describe("stage probes", () => {
  for (const [name, config] of [["llama", LLAMA], ["gpt (tied embeddings)", GPT]] as const) {
    it(`compose a stage of n layers from one- and two-layer probes (${name})`, () => {
      const setup = planSetup(request(configFile(config), { attention: "naive" }));
      const costs = new StageCosts(setup.template);
      let compared = 0;
      for (const recompute of ["none", "selective", "full"] as const) {
        for (const [sequenceParallel, split] of [[false, false], [true, true]] as const) {
          if (recompute === "full" && split) continue;
          const setting: ProbeSetting = { tp: 2, tpRanks: [0, 1], sequenceParallel, recompute, microBatchSize: 2, split };
          const key = costs.keyOf(setting);
          for (const [hasEmbedding, hasHead] of [[true, false], [false, false], [false, true], [true, true]] as const) {
            const part = { firstLayer: 0, numLayers: 3, hasEmbedding, hasHead };
            const composed = costs.cost(setting, key, part);
            const direct = probeStage(setup.template, setting, part);
            for (const f of TIMES) expect(Math.abs(composed[f] - direct[f]), f).toBeLessThanOrEqual(1e-12 * Math.max(direct[f], 1e-30));
            for (const f of BYTES) expect(composed[f], f).toBe(direct[f]);
            for (const pass of ["forward", "backward", "weights"] as const) {
              expect(composed.units[pass].map((u) => u.elements)).toEqual(direct.units[pass].map((u) => u.elements));
              composed.units[pass].forEach((u, i) => expect(Math.abs(u.total - direct.units[pass][i]!.total)).toBeLessThanOrEqual(1e-12 * u.total));
            }
            expect(direct.forwardTp).toBeGreaterThan(0);
            compared++;
          }
        }
      }
      expect(compared).toBe(20);
    });
  }
});
