/**
 * A synthetic comparison for the report tests: runs whose timelines follow the clock's rules
 * (per rank, the compute stream is a sequence of compute, idle and exposed-comm events; the comm
 * stream is a FIFO of transfers with bytes), including zero-length actions. No workers needed.
 */
import { validateScenario } from "../../src/index.js";
import type { CompareOutput, CompareRun, DeviceReport } from "../../src/run/results.js";
import type { TimelineEvent } from "../../src/sim/clock.js";

export interface FakeLayout {
  dp: number;
  tp: number;
  pp: number;
  schedule?: string;
  /** Overrides the layout label (to test escaping). */
  label?: string;
  /** Overrides the label of every compute action. */
  actionLabel?: string;
}

const STEPS = 2;

function fakeTimeline(world: number, layout: FakeLayout): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  for (let rank = 0; rank < world; rank++) {
    let now = 0;
    let commFree = 0;
    const push = (e: Omit<TimelineEvent, "rank" | "wallStart" | "wallEnd">) =>
      events.push({ ...e, rank, wallStart: 0.01 * events.length, wallEnd: 0.01 * events.length + 0.005 });
    for (let step = 0; step < STEPS; step++) {
      const compute = (label: string, seconds: number) => {
        push({ stream: "compute", kind: "compute", label: layout.actionLabel ?? label, start: now, end: now + seconds, step });
        now += seconds;
      };
      const send = (label: string, bytes: number, seconds: number) => {
        const start = Math.max(now, commFree);
        push({ stream: "comm", kind: "comm", label, start, end: start + seconds, step, bytes });
        commFree = start + seconds;
      };
      compute("F0:embed", 0); // zero-length, as the clock records an embedding lookup
      compute("F0:L0", 3e-9 * (1 + (rank % 3)));
      send("send(pp-act)", 512, 2e-6);
      if (rank % 2 === 1) {
        push({ stream: "compute", kind: "idle", label: "recv(pp-grad)", start: now, end: now + 1.5e-6, step });
        now += 1.5e-6;
      }
      push({ stream: "compute", kind: "comm", label: "recv(pp-grad)", start: now, end: now + 1e-6, step });
      now += 1e-6;
      compute("B0:L0", 6e-9);
      send("all-reduce(dp-grad)", 4096 * (rank + 1), 4e-6);
      push({ stream: "compute", kind: "comm", label: "wait(dp-grad)", start: now, end: Math.max(now, commFree), step });
      now = Math.max(now, commFree);
      compute("optimizer", 2e-9);
    }
  }
  return events;
}

function device(rank: number, layout: FakeLayout, events: TimelineEvent[]): DeviceReport {
  const mine = events.filter((e) => e.rank === rank);
  const sum = (f: (e: TimelineEvent) => boolean) => mine.filter(f).reduce((s, e) => s + e.end - e.start, 0);
  const sent = mine.filter((e) => e.stream === "comm").reduce((s, e) => s + (e.bytes ?? 0), 0);
  const pp = rank % layout.pp;
  const memory = { parameters: 4000, masterWeights: 0, gradients: 4000, optimizerState: 8000, activations: 1000 * (layout.pp - pp), workspace: 500 };
  return {
    rank,
    ranks: 1,
    coords: { dp: Math.floor(rank / layout.pp) % layout.dp, pp, tp: 0 },
    computeSeconds: sum((e) => e.stream === "compute" && e.kind === "compute"),
    commSeconds: sum((e) => e.stream === "compute" && e.kind === "comm"),
    idleSeconds: sum((e) => e.kind === "idle"),
    makespanSeconds: sum((e) => e.stream === "compute"),
    bytesSent: sent,
    bytesReceived: sent,
    bytesByKind: { "dp-grad": sent - 512 * STEPS, "pp-act": 512 * STEPS },
    memory: { ...memory, total: Object.values(memory).reduce((a, b) => a + b, 0), capacity: 80e9, fits: true },
    peakStashed: layout.pp - pp,
  };
}

export function fakeRun(layout: FakeLayout): { run: CompareRun; timeline: TimelineEvent[] } {
  const world = layout.dp * layout.tp * layout.pp;
  const schedule = layout.schedule ?? "1f1b";
  const scenario = validateScenario({
    model: { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 },
    training: { steps: STEPS, globalBatch: 8, microBatches: 4, optimizer: { lr: 1e-2 } },
  });
  const timeline = fakeTimeline(world, layout);
  const devices = Array.from({ length: world }, (_, r) => device(r, layout, timeline));
  const totalBytes = devices.reduce((s, d) => s + d.bytesSent, 0);
  const makespan = Math.max(...devices.map((d) => d.makespanSeconds));
  const run: CompareRun = {
    scenario,
    losses: [5.55, 5.4],
    lossScale: null,
    skippedSteps: [],
    finalLoss: 5.4,
    bitsPerByte: 5.4 / Math.LN2,
    wall: { seconds: 1.25, tokensPerSecond: 51.2 },
    worldSize: world,
    simulated: { stepSeconds: makespan / STEPS, tokensPerSecond: (64 * STEPS) / makespan },
    devices,
    communication: { totalBytes, bytesByKind: { "dp-grad": totalBytes - 512 * STEPS * world, "pp-act": 512 * STEPS * world } },
    layout: {
      label: layout.label ?? `dp${layout.dp}·tp${layout.tp}·pp${layout.pp} ${schedule}`,
      dp: layout.dp,
      tp: layout.tp,
      pp: layout.pp,
      schedule,
      virtualStages: 1,
      sequenceParallel: false,
      zero: 0,
      varied: {},
    },
    metrics: { mfu: 0.0123, bubbleFraction: 0.25, peakMemoryBytes: Math.max(...devices.map((d) => d.memory.total)), lossesAgree: true, fitsInMemory: true },
  };
  return { run, timeline };
}

export function fakeCompare(layouts: FakeLayout[], skipped: { layout: string; reason: string }[] = []): CompareOutput {
  const made = layouts.map(fakeRun);
  return { result: { runs: made.map((m) => m.run), skipped, failed: [] }, timelines: made.map((m) => m.timeline) };
}

/** The `data-rank` rows of each run's timeline section, from the page's markup. */
export function rankRowsPerRun(html: string): number[][] {
  const sections = html.split(/<section class="run" data-run="/).slice(1);
  return sections.map((s) => [...s.matchAll(/<g class="timeline-row" data-rank="(\d+)"/g)].map((m) => Number(m[1])));
}
