/**
 * A device: what one worker thread is. It holds its rank's model replica and optimizer, its clock
 * and its Comm, and walks each training step: compute actions charge FLOPs to the clock; data
 * crosses to other ranks only through Comm, which records bytes in the ledger.
 */
import type { NamedTensor } from "../checkpoint/safetensors.js";
import { Comm } from "../comm/comm.js";
import { drawBatch, sliceBatch } from "../data/batches.js";
import { buildMesh, type Mesh } from "../parallel/mesh.js";
import type { DeviceReport } from "../run/results.js";
import type { Scenario } from "../scenario/schema.js";
import { Clock, type TimelineEvent } from "../sim/clock.js";
import { Trainer, type ComputeHook, type StepOutcome } from "../train/trainer.js";
import { sumOfSquares } from "../train/optimizer.js";
import type { WorkerInit } from "./worker.js";

/** What the main thread gives every device. */
export interface DeviceData {
  scenario: Scenario;
  /** The token stream (the same for every rank). */
  corpus: Int32Array;
  /** Initial weights from a checkpoint (already checked against the scenario), else seeded. */
  init?: NamedTensor[];
}

export class Device {
  readonly rank: number;
  readonly mesh: Mesh;
  readonly clock: Clock;
  readonly comm: Comm;
  private readonly trainer: Trainer;
  private readonly timed: ComputeHook;

  constructor(private readonly ctx: WorkerInit<DeviceData>) {
    const { scenario, init } = ctx.data;
    this.rank = ctx.rank;
    this.mesh = buildMesh(scenario.parallel);
    this.clock = new Clock(ctx.rank, scenario.hardware, { wallOriginMs: ctx.shared.wallOriginMs });
    this.comm = new Comm(ctx.shared, ctx.rank, { clock: this.clock });
    const rows = scenario.training.globalBatch / scenario.parallel.dp;
    this.trainer = new Trainer(scenario, rows, init ? new Map(init.map((t) => [t.name, t])) : undefined);
    this.timed = (label, flops, work) => this.clock.timed(label, flops, work);
  }

  /** One training step on this rank's rows of the step's global batch. */
  step(step: number): StepOutcome {
    const { scenario, corpus } = this.ctx.data;
    const { globalBatch, seed } = scenario.training;
    const seqLen = scenario.model.seqLen;
    const global = drawBatch(corpus, seed, step, globalBatch, seqLen);
    const mine = sliceBatch(global, this.mesh.coords(this.rank).dp * this.trainer.rows, this.trainer.rows);
    const loss = this.trainer.accumulate(mine, globalBatch * seqLen, this.timed);
    const { gradNorm, lr } = this.trainer.update(step, sumOfSquares(this.trainer.grads), this.timed);
    return { step, loss, gradNorm, lr };
  }

  /** Simulated totals and ledger of this rank so far. */
  report(): DeviceReport {
    const totals = this.clock.totals();
    const ledger = this.comm.ledger.toJSON();
    const bytesByKind: Record<string, number> = {};
    for (const [kind, c] of Object.entries(ledger.byKind)) bytesByKind[kind] = c.sent;
    return {
      rank: this.rank,
      coords: this.mesh.coords(this.rank),
      computeSeconds: totals.computeSeconds,
      commSeconds: totals.commSeconds,
      idleSeconds: totals.idleSeconds,
      bytesSent: ledger.total.sent,
      bytesReceived: ledger.total.received,
      bytesByKind,
    };
  }

  /** The timeline events recorded since the last call (drained, so long runs do not pile them up twice). */
  events(): TimelineEvent[] {
    return this.clock.drainEvents();
  }

  /** Copies of this rank's weights with their Hugging Face names, for a checkpoint. */
  tensors(): NamedTensor[] {
    return this.trainer.tensors().map((t) => ({ ...t, data: t.data.slice() }));
  }
}

/** The calls the main thread makes on a device (plain data in and out, so they cross threads). */
export function deviceApi(device: Device) {
  return {
    step: (step: number) => device.step(step),
    report: () => device.report(),
    events: () => device.events(),
    tensors: () => device.tensors(),
  };
}
export type DeviceApi = ReturnType<typeof deviceApi>;
