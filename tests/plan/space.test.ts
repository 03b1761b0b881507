/**
 * The space and its rules (src/plan/space.ts). The rules must agree with the scenario schema,
 * which validates every layout the search simulates: a candidate the rules keep validates, and a
 * candidate they drop for a rule the schema has is refused by it — so the cheap checks neither
 * lose a valid layout nor let an invalid one through. Reasons that are not the schema's (tp
 * across nodes, ZeRO or selective recomputation that would change nothing, shapes mode's worker
 * limit, GPipe with one micro-batch) are checked by what they say.
 */
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { generateSchedule } from "../../src/schedule/generators.js";
import { layoutKey, layoutScenario } from "../../src/plan/scenario.js";
import { planSetup } from "../../src/plan/setup.js";
import { divisors, enumerateLayouts, PRUNE, Rules } from "../../src/plan/space.js";
import { configFile, LLAMA, request } from "./helpers.js";

const NOT_SCHEMA_RULES = new Set<string>([PRUNE.tpAcrossNodes, PRUNE.zeroWithoutDp, PRUNE.selectiveWithFlash, PRUNE.gpipeOneMicroBatch, PRUNE.shapesWorkers]);

describe("plan space", () => {
  it("enumerates every combination once, and its rules agree with the scenario schema", () => {
    // 16 devices, 8 per node: tp 16 straddles nodes; tp 8 does not divide 4 kv heads; a micro-batch of 6 tokens does not split over tp 4, 8 or 16.
    const setup = planSetup(request(configFile({ ...LLAMA, num_hidden_layers: 6, num_key_value_heads: 4 }), { devices: 16, globalBatch: 16, seqLen: 6, attention: "naive" }));
    const layouts = [...enumerateLayouts(setup)];
    expect(new Set(layouts.map(layoutKey)).size).toBe(layouts.length);
    for (const l of layouts) expect(l.dp * l.tp * l.pp).toBe(16);
    // Schedules per pp: gpipe, 1f1b, zb-h1, and interleaved for each v ≥ 2 dividing 6 / pp (pp = 2: v = 3; pp = 1 has none, nor pp that does not divide 6).
    const perMesh = (pp: number) => 3 + (pp === 2 ? 1 : 0);
    const expected = divisors(16).reduce((n, tp) => n + divisors(16 / tp).reduce((m, pp) => m + perMesh(pp) * divisors(16).length * (tp > 1 ? 2 : 1) * 3 * 4, 0), 0);
    expect(layouts.length).toBe(expected);
    const rules = new Rules(setup);
    const seen = new Map<string, number>();
    for (const l of layouts) {
      const reason = rules.broken(l);
      seen.set(reason ?? "kept", (seen.get(reason ?? "kept") ?? 0) + 1);
      if (reason && NOT_SCHEMA_RULES.has(reason)) continue;
      let refused: string | null = null;
      try {
        layoutScenario(setup, l);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        refused = err.message;
      }
      expect(refused === null, `${JSON.stringify(l)}: rules say ${reason}, schema says ${refused}`).toBe(reason === null);
    }
    for (const reason of [PRUNE.tpAcrossNodes, PRUNE.tpDivides, PRUNE.pipelineDivides, PRUNE.batchDivides, PRUNE.interleavedMicroBatches, PRUNE.spTokens, PRUNE.fullRecomputeZbH1, PRUNE.zeroWithoutDp, PRUNE.gpipeOneMicroBatch]) {
      expect(seen.get(reason) ?? 0, reason).toBeGreaterThan(0);
    }
    expect(seen.get("kept")).toBeGreaterThan(0);
  });

  it("keeps tp inside a node unless asked, and then only what shapes mode can simulate", () => {
    const model = configFile({ ...LLAMA, num_key_value_heads: 16 });
    const inside = new Rules(planSetup(request(model, { devices: 32 })));
    const across = new Rules(planSetup(request(model, { devices: 32, tpAcrossNodes: true })));
    const l = { dp: 1, tp: 16, pp: 2, schedule: "1f1b", virtualStages: 1, microBatchSize: 1, microBatches: 16, sequenceParallel: false, recompute: "none", zero: 0 } as const;
    expect(inside.broken(l)).toBe(PRUNE.tpAcrossNodes);
    expect(across.broken(l)).toBeNull();
    // 16 devices per tp group over nodes of 8 is still aligned with the nodes; dp 2 × tp 16 × pp 1 is too.
    expect(across.broken({ ...l, dp: 2, pp: 1, microBatches: 8 })).toBeNull();
  });

  it("prunes GPipe with one micro-batch only because its action lists are 1F1B's", () => {
    for (let p = 1; p <= 8; p++) expect(generateSchedule("gpipe", { p, m: 1 })).toEqual(generateSchedule("1f1b", { p, m: 1 }));
    expect(generateSchedule("gpipe", { p: 2, m: 2 })).not.toEqual(generateSchedule("1f1b", { p: 2, m: 2 }));
  });

  it("prunes selective recomputation under flash attention, which keeps nothing to recompute", () => {
    const rules = new Rules(planSetup(request(configFile(LLAMA), { devices: 8 })));
    const l = { dp: 8, tp: 1, pp: 1, schedule: "1f1b", virtualStages: 1, microBatchSize: 1, microBatches: 2, sequenceParallel: false, recompute: "selective", zero: 0 } as const;
    expect(rules.broken(l)).toBe(PRUNE.selectiveWithFlash);
    expect(rules.broken({ ...l, recompute: "full" })).toBeNull();
  });
});
