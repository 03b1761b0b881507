/**
 * A device: what one worker thread is. It holds its rank's model replica and optimizer, its clock
 * and its Comm, and walks each training step: compute actions charge FLOPs to the clock; data
 * crosses to other ranks only through Comm, which records bytes in the ledger.
 */
import type { NamedTensor } from "../checkpoint/safetensors.js";
import { Comm, type RankSpace } from "../comm/comm.js";
import { metaFloats } from "../kernels/meta.js";
import { drawBatch, sliceBatch, type Batch } from "../data/batches.js";
import { GradientSync, planBuckets, zeroShard } from "../parallel/data.js";
import { syncTpNormGrads, tpCommFrom, type TpComm } from "../parallel/tensor.js";
import type { TensorSpec } from "../model/layout.js";
import { buildMesh, type Group, type Mesh } from "../parallel/mesh.js";
import { classOfRank } from "../parallel/symmetry.js";
import type { DeviceReport, MemoryReport } from "../run/results.js";
import type { Scenario } from "../scenario/schema.js";
import { Clock, type TimelineEvent } from "../sim/clock.js";
import { stageParts } from "../parallel/pipeline.js";
import { stagesOfRank } from "../parallel/placement.js";
import { generateSchedule } from "../schedule/generators.js";
import { Trainer, modelConfigOf, type StepOutcome } from "../train/trainer.js";
import { PipelineExecutor } from "./executor.js";
import { dtypeBytes, numericFormat, wireDtype } from "../train/precision.js";
import type { WorkerInit } from "./worker.js";

/** What the main thread gives every device. */
export interface DeviceData {
  scenario: Scenario;
  /** The token stream (the same for every rank). */
  corpus: Int32Array;
  /** Initial weights from a checkpoint (already checked against the scenario), else seeded. */
  init?: NamedTensor[];
  /** Keep a copy of the reduced, unclipped gradients of this step (for equivalence tests). */
  captureGradientsAt?: number;
  /** Record timeline events (for traces and reports); totals are kept either way. */
  recordTimeline: boolean;
  /**
   * A shapes-only run: the device holds meta arrays (src/kernels/meta.ts), charges every cost and
   * computes nothing. Worker k simulates rank `representatives[k]`; with `byStage` each stands for
   * every rank of its pipeline stage (src/parallel/symmetry.ts).
   */
  shapes?: { representatives: number[]; byStage: boolean };
}

/** The ranks a shapes-only device's Comm reaches, and the classes that let one rank stand for many. */
function rankSpaceOf(shapes: NonNullable<DeviceData["shapes"]>, mesh: Mesh, slot: number): RankSpace {
  const slots = new Map(shapes.representatives.map((rank, k) => [rank, k]));
  return {
    worldSize: mesh.worldSize,
    rank: shapes.representatives[slot]!,
    slotOf: (rank) => {
      const k = slots.get(rank);
      if (k === undefined) throw new Error(`rank ${rank} is not simulated in this shapes-only run, and no class of the caller holds it`);
      return k;
    },
    classOf: classOfRank(mesh, shapes.byStage),
  };
}

/** A batch of token id 0 of the right shape: a shapes-only run reads no data. */
function shapesBatch(rows: number, seqLen: number): Batch {
  return { rows, seqLen, inputs: new Int32Array(rows * seqLen), targets: new Int32Array(rows * seqLen) };
}

/**
 * A range of a rank's flat buffer (parameters or gradients) with the layout that says which
 * tensors, or tensor-parallel shards of them, it holds; the main thread assembles full tensors.
 */
export interface FlatPiece {
  /** The rank's place in the mesh: ranks with equal pp and tp hold the same layout. */
  coords: { dp: number; pp: number; tp: number };
  offset: number;
  values: Float32Array;
  totalSize: number;
  tensors: TensorSpec[];
}

export class Device {
  readonly rank: number;
  readonly mesh: Mesh;
  readonly clock: Clock;
  readonly comm: Comm;
  private readonly trainer: Trainer;
  private readonly executor: PipelineExecutor;
  private readonly dpGroup: Group;
  private readonly ppGroup: Group;
  private readonly tpGroup: Group;
  private readonly tpComm: TpComm;
  private readonly gradientSync: GradientSync;
  /** ZeRO-1: the optimizer state, and so the update, is sharded over the dp group. */
  private readonly zeroSharded: boolean;
  private captured: FlatPiece | null = null;

  constructor(private readonly worker: WorkerInit<DeviceData>) {
    const { scenario, init } = worker.data;
    const parallel = scenario.parallel;
    this.mesh = buildMesh(parallel);
    const shapes = worker.data.shapes;
    const ranks = shapes ? rankSpaceOf(shapes, this.mesh, worker.rank) : undefined;
    this.rank = ranks ? ranks.rank : worker.rank;
    this.clock = new Clock(this.rank, scenario.hardware, { wallOriginMs: worker.shared.wallOriginMs, recordEvents: worker.data.recordTimeline });
    const format = numericFormat(scenario.training);
    this.comm = new Comm(worker.shared, worker.rank, { clock: this.clock, ranks, wire: (kind) => wireDtype(format, kind) });
    this.dpGroup = this.mesh.groupOf(this.rank, "dp");
    this.ppGroup = this.mesh.groupOf(this.rank, "pp");
    this.tpGroup = this.mesh.groupOf(this.rank, "tp");
    this.tpComm = tpCommFrom(this.comm, this.tpGroup);
    this.zeroSharded = parallel.zero === 1 && parallel.dp > 1;
    const coords = this.mesh.coords(this.rank);
    const rows = scenario.training.globalBatch / parallel.dp;
    const shape = { p: parallel.pp, v: parallel.virtualStages, layersPerStage: parallel.layersPerStage };
    const allParts = stageParts(modelConfigOf(scenario), shape);
    const parts = stagesOfRank(coords.pp, shape).map((s) => allParts[s]);
    const trainer = new Trainer(scenario, rows, {
      init: init ? new Map(init.map((t) => [t.name, t])) : undefined,
      observer: {
        compute: (label, flops) => this.clock.compute(label, flops),
        gradsReady: (names) => this.gradientSync.gradsReady(names),
      },
      parts,
      tp: { comm: this.tpComm, sequenceParallel: parallel.sequenceParallel },
      optimizerShard: this.zeroSharded ? (size) => zeroShard(size, parallel.dp, coords.dp) : undefined,
      // Gradients are all-reduced (or reduce-scattered) and ZeRO all-gathers parameters: in
      // shared memory the ring reads neighbours' chunks in place instead of copying them through channels.
      allocate: shapes ? (n) => metaFloats(n) as Float32Array : (n) => this.comm.sharedArray(n),
    });
    this.trainer = trainer;
    const m = scenario.training.microBatches;
    const actions = generateSchedule(parallel.schedule, { p: parallel.pp, m, v: parallel.virtualStages })[coords.pp];
    this.executor = new PipelineExecutor(trainer, this.comm, { p: parallel.pp, v: parallel.virtualStages, m, ppGroup: this.ppGroup.ranks }, actions);
    const buckets = planBuckets(trainer.layout, parallel.bucketBytes, dtypeBytes(format.grads));
    // ZeRO-1 reduce-scatters the whole buffer after backward, so its buckets never launch early.
    this.gradientSync = new GradientSync(this.comm, this.dpGroup, trainer.grads, buckets, parallel.overlapGradReduce && !this.zeroSharded);
  }

  /** One training step on this rank's rows of the step's global batch. */
  step(step: number): StepOutcome {
    const { scenario, corpus } = this.worker.data;
    const { globalBatch, seed } = scenario.training;
    const seqLen = scenario.model.seqLen;
    const trainer = this.trainer;
    const mine = trainer.shapesOnly
      ? shapesBatch(trainer.rows, seqLen)
      : sliceBatch(drawBatch(corpus, seed, step, globalBatch, seqLen), this.mesh.coords(this.rank).dp * trainer.rows, trainer.rows);
    this.clock.beginStep(step);
    const loss = this.executor.runStep(mine, globalBatch * seqLen);
    for (const chunk of trainer.chunks) {
      const grads = trainer.grads.subarray(chunk.offset, chunk.offset + chunk.layout.totalSize);
      syncTpNormGrads(chunk.layout, grads, this.tpComm, scenario.parallel.sequenceParallel);
    }
    const partial = this.zeroSharded ? this.reduceScatterGradients() : this.allReduceGradients();
    const sumSquares = this.addOver(this.ppGroup, this.addOver(this.tpGroup, partial));
    if (step === this.worker.data.captureGradientsAt) this.capture();
    const outcome = trainer.update(step, sumSquares);
    // A skipped step (fp16 overflow) changed no weights: there is nothing to gather.
    if (this.zeroSharded && !outcome.skipped) this.allGatherParameters();
    this.clock.waitAll();
    return { step, loss, ...outcome };
  }

  /** Plain DP: finish the bucketed all-reduce; every replica then holds the whole summed gradient. */
  private allReduceGradients(): number {
    this.gradientSync.finish();
    return this.trainer.shardSumOfSquares();
  }

  /**
   * ZeRO-1: reduce-scatter gives this rank the summed gradients of its shard only, so the global
   * norm needs the shards' squared norms added over the dp group.
   */
  private reduceScatterGradients(): number {
    this.comm.reduceScatter(this.trainer.grads, this.dpGroup, "dp-grad");
    return this.addOver(this.dpGroup, this.trainer.shardSumOfSquares());
  }

  /**
   * Adds a rank's share of the squared gradient norm over a group whose members hold different
   * parameters (ZeRO shards, pipeline stages, tensor shards): a one-element all-reduce, `grad-norm`.
   */
  private addOver(group: Group, sumSquares: number): number {
    if (group.ranks.length === 1) return sumSquares;
    const partial = Float64Array.of(sumSquares);
    this.comm.allReduce(partial, group, "grad-norm");
    return partial[0];
  }

  private allGatherParameters(): void {
    this.comm.allGather(this.trainer.params, this.dpGroup, "dp-param");
  }

  private capture(): void {
    const { offset, size } = this.trainer.shard;
    this.captured = this.piece(offset, this.trainer.grads.slice(offset, offset + size));
  }

  private piece(offset: number, values: Float32Array): FlatPiece {
    const { tensors, totalSize } = this.trainer.layout;
    return { coords: this.mesh.coords(this.rank), offset, values, totalSize, tensors };
  }

  /** Bytes of the buffers this rank allocated, by category. */
  memory(): MemoryReport {
    const trainer = this.trainer;
    const report = {
      ...trainer.stateBytes(),
      optimizerState: trainer.optimizer.stateBytes(),
      activations: this.executor.activationBytes(),
      workspace: trainer.chunks.reduce((n, c) => n + c.model.workspaceBytes(), 0),
    };
    const total = Object.values(report).reduce((a, b) => a + b, 0);
    const capacity = this.worker.data.scenario.hardware.memoryBytes;
    return { ...report, total, capacity, fits: total <= capacity };
  }

  /** Simulated totals, ledger and memory of this rank so far. */
  report(): DeviceReport {
    const totals = this.clock.totals();
    const ledger = this.comm.ledger.toJSON();
    const bytesByKind: Record<string, number> = {};
    for (const [kind, c] of Object.entries(ledger.byKind)) bytesByKind[kind] = c.sent;
    const shapes = this.worker.data.shapes;
    const { dp, tp } = this.mesh.shape;
    return {
      rank: this.rank,
      ranks: shapes?.byStage ? dp * tp : 1,
      coords: this.mesh.coords(this.rank),
      computeSeconds: totals.computeSeconds,
      commSeconds: totals.commSeconds,
      idleSeconds: totals.idleSeconds,
      makespanSeconds: totals.makespan,
      bytesSent: ledger.total.sent,
      bytesReceived: ledger.total.received,
      bytesByKind,
      memory: this.memory(),
      peakStashed: this.executor.peakStashed,
    };
  }

  /** The timeline events recorded since the last call (drained, so they are sent once). */
  events(): TimelineEvent[] {
    return this.clock.drainEvents();
  }

  /** This rank's parameters (its stages, its tensor shards), for a checkpoint. */
  parameters(): FlatPiece {
    return this.piece(0, this.trainer.params);
  }

  capturedGradients(): FlatPiece | null {
    return this.captured;
  }
}


/** The calls the main thread makes on a device (plain data in and out, so they cross threads). */
export function deviceApi(device: Device) {
  return {
    /** One step, and the timeline events it recorded (drained, so each is sent once). */
    step: (step: number) => ({ ...device.step(step), events: device.events() }),
    report: () => device.report(),
    parameters: () => device.parameters(),
    capturedGradients: () => device.capturedGradients(),
  };
}
export type DeviceApi = ReturnType<typeof deviceApi>;
