import { describe, expect, it } from "vitest";
import { bundledScenarioPath, loadScenario, simulate, validateScenario } from "../../src/index.js";

const tiny = () =>
  validateScenario({
    name: "tiny-test",
    model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 16 },
    training: { steps: 4, globalBatch: 4, microBatches: 2, optimizer: { lr: 1e-2, warmupSteps: 1 } },
  });

describe("simulate on one device", () => {
  it("trains the bundled default scenario: final loss below 60 % of the first step's", async () => {
    const result = await simulate(loadScenario(bundledScenarioPath("default.yaml")));
    expect(result.losses).toHaveLength(50);
    // An untrained byte model pays about ln 256 = 5.55 nats.
    expect(Math.abs(result.losses[0] - Math.log(256))).toBeLessThan(0.1);
    expect(result.finalLoss).toBeLessThan(0.6 * result.losses[0]);
    expect(result.bitsPerByte).toBeCloseTo(result.finalLoss! / Math.LN2, 12);
    // 50 steps of the hidden-64 model: ~15 s alone, several times that on a host busy with other runs.
  }, 240_000);

  it("is deterministic: two runs with one seed give bit-identical losses and simulated times", async () => {
    const a = await simulate(tiny());
    const b = await simulate(tiny());
    expect(b.losses).toEqual(a.losses);
    expect(b.devices).toEqual(a.devices);
    expect(b.simulated).toEqual(a.simulated);
    const c = await simulate({ ...tiny(), training: { ...tiny().training, seed: 2 } });
    expect(c.losses).not.toEqual(a.losses);
  });

  it("reports one device whose simulated compute time is its FLOPs over the achieved peak", async () => {
    const s = tiny();
    const r = await simulate(s);
    expect(r.worldSize).toBe(1);
    expect(r.devices).toHaveLength(1);
    const d = r.devices[0];
    expect(d.coords).toEqual({ dp: 0, pp: 0, tp: 0 });
    expect(d.commSeconds).toBe(0);
    expect(d.idleSeconds).toBe(0);
    expect(d.bytesSent).toBe(0);
    expect(r.communication).toEqual({ totalBytes: 0, bytesByKind: {} });
    // One device: the step time is all compute.
    expect(r.simulated.stepSeconds * s.training.steps).toBeCloseTo(d.computeSeconds, 15);
    expect(r.simulated.tokensPerSecond).toBeCloseTo((4 * 16) / r.simulated.stepSeconds, 3);
    expect(r.wall.seconds).toBeGreaterThan(0);
    expect(r.scenario.hardware.name).toBe("a100-80gb");
  });
});
