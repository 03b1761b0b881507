/**
 * How pipeline messages move (scenario `parallel.p2p` and `parallel.pipelineScatterGather`):
 * - blocking: the sender's compute stream waits for its own sends as well (Megatron-LM's batched
 *   isend/irecv, then a wait on every request). A send that shares its batch with a receive ending
 *   later costs nothing more; a send alone costs its transfer, α + S/β, as pipeline communication.
 * - scatter/gather (tp > 1, no sequence parallelism): each tp rank sends its 1/tp part of a
 *   boundary message, and the receivers all-gather it inside their node (Narayanan et al. 2021, §4.1).
 * Times are compared exactly up to double round-off: the runs add the same few hundred terms in
 * the same order except the ones under test, so a relative 1e-12 of the makespan bounds the rest.
 */
import { describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import type { RunOutput } from "../../src/run/results.js";
import { expectEquivalent } from "./equivalence.js";

const GLOBAL_BATCH = 8;
const SEQ = 8;
const HIDDEN = 16;
/** Bytes of one float32 boundary message: b·s·h·4 with b = the global batch over m micro-batches. */
const message = (m: number) => (GLOBAL_BATCH / m) * SEQ * HIDDEN * 4;

function scenario(m: number, parallel: object, hardware: object, steps = 1) {
  return validateScenario({
    name: "p2p-test",
    model: { hiddenSize: HIDDEN, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: SEQ },
    training: { steps, globalBatch: GLOBAL_BATCH, microBatches: m, optimizer: { lr: 1e-2 } },
    parallel,
    hardware,
  });
}

const runs = new Map<string, Promise<RunOutput>>();
const run = (m: number, parallel: object, hardware: object = {}, steps = 1): Promise<RunOutput> => {
  const key = JSON.stringify([m, parallel, hardware, steps]);
  if (!runs.has(key)) runs.set(key, simulateWithTimeline(scenario(m, parallel, hardware, steps), { captureGradients: true }));
  return runs.get(key)!;
};

/** Unit compute; one link with latency α and bandwidth β so a message's cost is visible. */
const ALPHA = 0.25;
const BETA = 1000;
const oneLink = { profile: "unit", intraNode: { bandwidth: BETA, latency: ALPHA } };

describe("blocking pipeline sends (parallel.p2p: blocking)", () => {
  it("pp 2, one micro-batch: the last stage's lone gradient send costs α + S/β more pipeline communication; the first stage's send, batched with its receive, costs nothing more", async () => {
    const overlapped = (await run(1, { pp: 2 }, oneLink)).result.devices;
    const blocking = (await run(1, { pp: 2, p2p: "blocking" }, oneLink)).result.devices;
    const T = ALPHA + message(1) / BETA;
    const tol = 1e-12 * overlapped[0].makespanSeconds;
    // Rank 0 runs F, then SEND_F with RECV_B as one batch: the gradient arrives long after its own send did.
    for (const phase of ["ppComm", "bubble", "forward", "backward"] as const) {
      expect(Math.abs(blocking[0].breakdown[phase] - overlapped[0].breakdown[phase]), phase).toBeLessThanOrEqual(tol);
    }
    // Rank 1 ends with SEND_B alone: its compute stream now waits for the transfer; the step's
    // closing all-reduce (the gradient norm) waits for rank 0 anyway, so its idle shrinks by as much.
    expect(Math.abs(blocking[1].breakdown.ppComm - overlapped[1].breakdown.ppComm - T)).toBeLessThanOrEqual(tol);
    expect(Math.abs(overlapped[1].breakdown.bubble - blocking[1].breakdown.bubble - T)).toBeLessThanOrEqual(tol);
    expect(Math.abs(blocking[1].makespanSeconds - overlapped[1].makespanSeconds)).toBeLessThanOrEqual(tol);
  });

  it("an absent p2p is overlapped: the same timeline as p2p: overlapped", async () => {
    const absent = await run(4, { pp: 2 }, oneLink);
    const overlapped = await run(4, { pp: 2, p2p: "overlapped" }, oneLink);
    expect(absent.result.devices.map((d) => d.breakdown)).toEqual(overlapped.result.devices.map((d) => d.breakdown));
  });
});

describe("scatter/gather of pipeline messages (parallel.pipelineScatterGather)", () => {
  // Two devices per node: each stage's tp pair is one node, and the pipeline crosses the network.
  const net = { bandwidth: 500, latency: 0.5 };
  const twoPerNode = { ...oneLink, devicesPerNode: 2, nicsPerNode: 2, interNode: net };
  const layout = { tp: 2, pp: 2, pipelineScatterGather: true };

  it("tp 2 × pp 2 with blocking sends trains like one device", { timeout: 120_000 }, async () => {
    expectEquivalent(await run(2, { ...layout, p2p: "blocking" }, {}, 3), await run(2, {}, {}, 3));
  });

  it("each tp rank sends S/2 over the network (α_e + (S/2)/β_e) and the receivers all-gather S in their node ((n−1)α_i + (n−1)/n·S/β_i)", async () => {
    const m = 2;
    const S = message(m);
    const out = await run(m, layout, twoPerNode);
    const comm = out.timeline.filter((e) => e.stream === "comm" && e.label.includes("(pp-"));
    const sends = comm.filter((e) => e.label.startsWith("send("));
    const gathers = comm.filter((e) => e.label.startsWith("all-gather("));
    // Forward and backward, m micro-batches, 2 tp ranks: 2·m·2 of each.
    expect(sends).toHaveLength(2 * m * 2);
    expect(gathers).toHaveLength(2 * m * 2);
    for (const e of sends) {
      expect(e.bytes).toBe(S / 2);
      expect(e.end - e.start).toBeCloseTo(net.latency + S / 2 / net.bandwidth, 9);
    }
    for (const e of gathers) {
      expect(e.bytes).toBe(S);
      expect(e.end - e.start).toBeCloseTo(ALPHA + S / 2 / BETA, 9);
    }
    // What each rank sends: its parts of the messages, plus the other half of every message it received (the all-gather).
    for (const d of out.result.devices) expect((d.bytesByKind["pp-act"] ?? 0) + (d.bytesByKind["pp-grad"] ?? 0)).toBe(2 * m * (S / 2));
  });

  it("does nothing under sequence parallelism, whose boundary messages are already sequence shards", async () => {
    const sp = { tp: 2, pp: 2, sequenceParallel: true };
    const off = await run(2, sp, twoPerNode);
    const on = await run(2, { ...sp, pipelineScatterGather: true }, twoPerNode);
    expect(on.result.devices.map((d) => d.breakdown)).toEqual(off.result.devices.map((d) => d.breakdown));
    expect(on.result.communication.bytesByKind).toEqual(off.result.communication.bytesByKind);
  });
});
