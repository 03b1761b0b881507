import { describe, expect, it } from "vitest";
import { builtinProfiles, hardwareSchema, parseHardwareSection, resolveHardware } from "../../src/sim/hardware.js";
import { collectiveTime, groupLink, linkBetween } from "../../src/sim/cost.js";

describe("hardware profiles", () => {
  it("defaults to a100-80gb with datasheet peaks and NCCL's achievable bandwidths", () => {
    const hw = resolveHardware();
    expect(hw).toEqual(builtinProfiles["a100-80gb"]);
    expect(hw.peakFlops).toBe(312e12);
    // nccl-tests bus bandwidth, not the 300 GB/s NVLink or 25 GB/s HDR line rates (sources in src/sim/hardware.ts).
    expect(hw.intraNode.bandwidth).toBe(200e9);
    expect(hw.interNode.bandwidth).toBe(24e9);
    expect(resolveHardware({ profile: "h100-80gb" }).interNode.bandwidth).toBe(47e9);
  });

  it("applies overrides field by field", () => {
    const hw = resolveHardware({ profile: "h100-80gb", efficiency: 0.4, interNode: { latency: 1e-5 } });
    expect(hw.efficiency).toBe(0.4);
    expect(hw.interNode).toEqual({ bandwidth: 47e9, latency: 1e-5 });
    expect(hw.intraNode).toEqual(builtinProfiles["h100-80gb"].intraNode);
    expect(hw.name).toBe("h100-80gb+overrides");
  });

  it("rejects unknown keys and bad values with the field path", () => {
    expect(() => parseHardwareSection({ profile: "a100-80gb", peakFlop: 1 })).toThrow(/hardware\.peakFlop/);
    expect(() => parseHardwareSection({ intraNode: { bandwith: 1 } })).toThrow(/hardware\.intraNode/);
    expect(() => parseHardwareSection({ efficiency: 1.5 })).toThrow(/hardware\.efficiency/);
    expect(() => parseHardwareSection({ profile: "tpu" })).toThrow(/hardware\.profile/);
    expect(hardwareSchema.safeParse({ devicesPerNode: 2.5 }).success).toBe(false);
  });

  it("charges the inter-node link when a group spans nodes", () => {
    const hw = resolveHardware({ devicesPerNode: 2 });
    expect(linkBetween(hw, 0, 1)).toEqual(hw.intraNode);
    expect(linkBetween(hw, 1, 2)).toEqual(hw.interNode);
    expect(groupLink(hw, [2, 3])).toEqual(hw.intraNode);
    expect(groupLink(hw, [0, 1, 2, 3])).toEqual(hw.interNode);
  });

  it("has the closed-form collective costs", () => {
    const link = { bandwidth: 1e9, latency: 1e-6 };
    expect(collectiveTime("all-reduce", 4, 8e6, link)).toBe(6e-6 + 1.5 * 8e-3);
    expect(collectiveTime("reduce-scatter", 4, 8e6, link)).toBe(3e-6 + 0.75 * 8e-3);
    expect(collectiveTime("broadcast", 5, 8e6, link)).toBe(3e-6 + 8e-3);
    expect(collectiveTime("all-reduce", 1, 8e6, link)).toBe(0);
  });
});
