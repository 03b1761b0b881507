/**
 * A device: what one worker thread is. It holds its rank's model replica and optimizer, its clock
 * and its Comm, and walks each training step: compute actions charge FLOPs to the clock; data
 * crosses to other ranks only through Comm, which records bytes in the ledger.
 */
import type { NamedTensor } from "../checkpoint/safetensors.js";
import { Comm, type RankSpace } from "../comm/comm.js";
import { metaFloats } from "../kernels/meta.js";
import { drawBatch, sliceBatch, type Batch } from "../data/batches.js";
import { GradientSync, planBuckets, type Bucket } from "../parallel/data.js";
import { ownedChunks, ParameterGather, shardUnits, zeroUnits, type ZeroStage } from "../parallel/zero.js";
import { syncTpNormGrads, tpCommFrom, type TpComm } from "../parallel/tensor.js";
import { syncTiedEmbeddingGrads } from "../parallel/tied.js";
import type { TensorSpec } from "../model/layout.js";
import { buildMesh, type Group, type Mesh } from "../parallel/mesh.js";
import { classOfRank, type MarkedCoords } from "../parallel/symmetry.js";
import type { DeviceReport, MemoryReport } from "../run/results.js";
import { costDtypeOf, type Scenario } from "../scenario/schema.js";
import { Clock, type TimelineEvent } from "../sim/clock.js";
import { slowdownOf } from "../sim/slowdown.js";
import { INJECTED_CRASH } from "../errors.js";
import { stageParts } from "../parallel/pipeline.js";
import { stagesOfRank } from "../parallel/placement.js";
import { generateSchedule } from "../schedule/generators.js";
import { Trainer, modelConfigOf, type StepOutcome } from "../train/trainer.js";
import { PipelineExecutor, p2pOptions } from "./executor.js";
import { sabotagedPipeline, sabotagedTp, type Sabotage } from "./sabotage.js";
import { numericFormat, wireDtype, type NumericFormat } from "../train/precision.js";
import { DTYPE_BYTES } from "../kernels/round.js";
import type { WorkerInit } from "./worker.js";

/** What the main thread gives every device. */
export interface DeviceData {
  scenario: Scenario;
  /** The token stream (the same for every rank). */
  corpus: Int32Array;
  /** Initial weights from a checkpoint (already checked against the scenario), else seeded. */
  init?: NamedTensor[];
  /**
   * A resumed run: AdamW's update count and moments, and a 16-bit run's fp32 master weights (full
   * tensors by weight name, any layout's), and fp16's loss scale.
   */
  resume?: { optimizerStep: number; m: NamedTensor[]; v: NamedTensor[]; master?: NamedTensor[]; lossScale?: { scale: number; goodSteps: number } };
  /** Keep a copy of the reduced, unclipped gradients of this step (for equivalence tests). */
  captureGradientsAt?: number;
  /** Record timeline events (for traces and reports); totals are kept either way. */
  recordTimeline: boolean;
  /**
   * A shapes-only run: the device holds meta arrays (src/kernels/meta.ts), charges every cost and
   * computes nothing. Worker k simulates rank `representatives[k]`, which stands for `sizes[k]`
   * ranks: with `byStage`, every rank of its class, the ranks of its pipeline stage or, with
   * coordinates `marked` by faults, part of them (src/parallel/symmetry.ts).
   */
  shapes?: { representatives: number[]; byStage: boolean; marked: MarkedCoords; sizes: number[] };
  /** Tests only: a deliberate bug (src/runtime/sabotage.ts). */
  sabotage?: Sabotage;
}

/** The ranks a shapes-only device's Comm reaches, and the classes that let one rank stand for many. */
function rankSpaceOf(shapes: NonNullable<DeviceData["shapes"]>, mesh: Mesh, slot: number): RankSpace {
  const classOf = classOfRank(mesh, shapes.byStage, shapes.marked);
  const slots = new Map(shapes.representatives.map((rank, k) => [classOf(rank), k]));
  return {
    worldSize: mesh.worldSize,
    rank: shapes.representatives[slot]!,
    // A rank is reached through the worker of its class's representative.
    slotOf: (rank) => slots.get(classOf(rank))!,
    classOf,
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
  /** The ZeRO stage in effect (0 without data parallelism): what is sharded over the dp group (src/parallel/zero.ts). */
  private readonly zero: ZeroStage;
  /** Which tensors and payloads are 16-bit (src/train/precision.ts). */
  private readonly format: NumericFormat;
  /** ZeRO: the units each sharded over the dp group (this rank owns its chunk of each). */
  private readonly units: Bucket[] = [];
  /** ZeRO-3: gathers each unit of parameters before a pass reads it. */
  private readonly gather: ParameterGather | null = null;
  private captured: FlatPiece[] | null = null;

  constructor(private readonly worker: WorkerInit<DeviceData>) {
    const { scenario, init } = worker.data;
    const parallel = scenario.parallel;
    this.mesh = buildMesh(parallel);
    const shapes = worker.data.shapes;
    const ranks = shapes ? rankSpaceOf(shapes, this.mesh, worker.rank) : undefined;
    this.rank = ranks ? ranks.rank : worker.rank;
    const slowdown = slowdownOf(scenario.faults, this.rank, { worldSize: this.mesh.worldSize, devicesPerNode: scenario.hardware.devicesPerNode });
    const clockOptions = { wallOriginMs: worker.shared.wallOriginMs, recordEvents: worker.data.recordTimeline, dtype: costDtypeOf(scenario), slowdown };
    this.clock = new Clock(this.rank, scenario.hardware, clockOptions);
    const format = (this.format = numericFormat(scenario.training));
    this.comm = new Comm(worker.shared, worker.rank, { clock: this.clock, ranks, wire: (kind) => wireDtype(format, kind) });
    this.dpGroup = this.mesh.groupOf(this.rank, "dp");
    this.ppGroup = this.mesh.groupOf(this.rank, "pp");
    this.tpGroup = this.mesh.groupOf(this.rank, "tp");
    this.tpComm = sabotagedTp(tpCommFrom(this.comm, this.tpGroup), worker.data.sabotage, this.rank);
    this.zero = parallel.dp > 1 ? parallel.zero : 0;
    const coords = this.mesh.coords(this.rank);
    const rows = scenario.training.globalBatch / parallel.dp;
    const shape = { p: parallel.pp, v: parallel.virtualStages, layersPerStage: parallel.layersPerStage };
    const allParts = stageParts(modelConfigOf(scenario), shape);
    const parts = stagesOfRank(coords.pp, shape).map((s) => allParts[s]);
    const trainer = new Trainer(scenario, rows, {
      init: init ? byName(init) : undefined,
      observer: {
        compute: (label, flops, launches) => this.clock.compute(label, flops, launches),
        gradsReady: (names) => this.gradientSync.gradsReady(names),
      },
      parts,
      tp: { comm: this.tpComm, sequenceParallel: parallel.sequenceParallel },
      optimizerShard: this.zero > 0 ? (layout) => ownedChunks(shardUnits(this.zero, layout, this.bucketsOf(layout)), parallel.dp, coords.dp) : undefined,
      // Gradients are all-reduced (or reduce-scattered) and ZeRO all-gathers parameters: in
      // shared memory the ring reads neighbours' chunks in place instead of copying them through channels.
      allocate: shapes ? (n) => metaFloats(n) as Float32Array : (n) => this.comm.sharedArray(n),
    });
    this.trainer = trainer;
    const resume = worker.data.resume;
    if (resume) {
      const master = resume.master && byName(resume.master);
      trainer.resumeOptimizer(resume.optimizerStep, byName(resume.m), byName(resume.v), { master, lossScale: resume.lossScale });
    }
    const m = scenario.training.microBatches;
    const actions = generateSchedule(parallel.schedule, { p: parallel.pp, m, v: parallel.virtualStages })[coords.pp];
    const pipeline = { p: parallel.pp, v: parallel.virtualStages, m, ppGroup: this.ppGroup.ranks, ...p2pOptions(parallel, this.tpComm) };
    this.executor = new PipelineExecutor(trainer, sabotagedPipeline(this.comm, worker.data.sabotage, this.rank), pipeline, actions);
    const buckets = this.bucketsOf(trainer.layout);
    if (this.zero > 0) this.units = shardUnits(this.zero, trainer.layout, buckets);
    if (this.zero === 3) {
      this.gather = new ParameterGather(this.comm, this.dpGroup, trainer.params, zeroUnits(trainer.layout));
      for (const c of trainer.chunks) c.model.weights = this.gather;
    }
    // ZeRO-1 reduce-scatters the whole buffer after backward, so its buckets never launch early;
    // nor do ZeRO-2's and -3's when a tied embedding's gradient is summed across stages first.
    const tiedAcross = trainer.config.tieEmbeddings === true && parallel.pp * parallel.virtualStages > 1;
    const early = parallel.overlapGradReduce && this.zero !== 1 && !(this.zero > 1 && tiedAcross);
    const units = this.zero > 1 ? this.units : buckets;
    this.gradientSync = new GradientSync(this.comm, this.dpGroup, trainer.grads, units, early, this.zero > 1 ? "reduce-scatter" : "all-reduce");
  }

  /** The data-parallel gradient buckets of a flat layout (src/parallel/data.ts). */
  private bucketsOf(layout: { tensors: TensorSpec[]; totalSize: number }): Bucket[] {
    const { scenario } = this.worker.data;
    return planBuckets(layout, scenario.parallel.bucketBytes, DTYPE_BYTES[this.format.grads]);
  }

  /** One training step on this rank's rows of the step's global batch. */
  step(step: number): StepOutcome {
    const { scenario, corpus } = this.worker.data;
    this.crashIfInjected(step);
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
    const partial = this.zero > 0 ? this.reduceScatterGradients() : this.allReduceGradients();
    const sumSquares = this.addOver(this.ppGroup, this.addOver(this.tpGroup, partial));
    if (step === this.worker.data.captureGradientsAt) this.capture();
    const outcome = trainer.update(step, sumSquares);
    // A skipped step (fp16 overflow) changed no weights: there is nothing to gather. ZeRO-3
    // gathers each unit when a pass reads it.
    if ((this.zero === 1 || this.zero === 2) && !outcome.skipped) this.allGatherParameters();
    this.clock.waitAll();
    return { step, loss, ...outcome };
  }

  /**
   * `faults.crash`: this device fails as the step begins, before it sends anything, so its peers
   * are left waiting as they would be for a dead GPU. A resumed run stands for the restart on a
   * replaced device and does not replay the crash.
   */
  private crashIfInjected(step: number): void {
    const crash = this.worker.data.scenario.faults?.crash;
    if (!crash || crash.rank !== this.rank || crash.step !== step || this.worker.data.resume) return;
    throw Object.assign(new Error(`rank ${crash.rank} crashed at step ${crash.step}`), { name: INJECTED_CRASH });
  }

  /** Plain DP: finish the bucketed all-reduce; every replica then holds the whole summed gradient. */
  private allReduceGradients(): number {
    this.gradientSync.finish();
    this.syncTiedEmbeddings();
    return this.trainer.shardSumOfSquares();
  }

  /** Tied embeddings split over the first and last pipeline stage: their gradients summed (src/parallel/tied.ts). */
  private syncTiedEmbeddings(): void {
    const { trainer } = this;
    syncTiedEmbeddingGrads(this.comm, this.mesh, trainer.layout.tensors, trainer.grads, trainer.config.tieEmbeddings === true, this.format.grads);
  }

  /**
   * ZeRO: reduce-scatter gives this rank the summed gradients of its shard only (the whole buffer
   * at once under ZeRO-1; bucket by bucket or unit by unit under ZeRO-2 and -3, launched as backward
   * finished them), so the global norm needs the shards' squared norms added over the dp group.
   */
  private reduceScatterGradients(): number {
    this.syncTiedEmbeddings(); // before the shards, which do not line up between stages
    if (this.zero === 1) this.comm.reduceScatter(this.trainer.grads, this.dpGroup, "dp-grad");
    else this.gradientSync.finish();
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

  /** ZeRO-1 and -2: every rank's updated chunks to every rank, unit by unit (`dp-param`). */
  private allGatherParameters(): void {
    for (const u of this.units) this.comm.allGather(this.trainer.params.subarray(u.offset, u.offset + u.size), this.dpGroup, "dp-param");
  }

  private capture(): void {
    this.captured = this.pieces(this.trainer.shard.read(this.trainer.grads).slice());
  }

  private piece(offset: number, values: Float32Array): FlatPiece {
    const { tensors, totalSize } = this.trainer.layout;
    return { coords: this.mesh.coords(this.rank), offset, values, totalSize, tensors };
  }

  /** The pieces of this rank's optimizer shard, from its packed values. */
  private pieces(packed: Float32Array): FlatPiece[] {
    let at = 0;
    return this.trainer.shard.ranges.map((r) => this.piece(r.offset, packed.subarray(at, (at += r.size))));
  }

  /** Bytes of the buffers this rank allocated, by category. */
  memory(): MemoryReport {
    const trainer = this.trainer;
    const state = trainer.stateBytes();
    const { compute, grads } = this.format;
    // ZeRO-2 and -3 keep the gradients of their shard; ZeRO-3 its parameters and the gathered units at their peak.
    if (this.zero >= 2) state.gradients = trainer.shard.size * DTYPE_BYTES[grads];
    if (this.gather) state.parameters = (trainer.shard.size + this.gather.peakElements) * DTYPE_BYTES[compute];
    const report = {
      ...state,
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
    return {
      rank: this.rank,
      ranks: shapes ? shapes.sizes[this.worker.rank] : 1,
      coords: this.mesh.coords(this.rank),
      computeSeconds: totals.computeSeconds,
      commSeconds: totals.commSeconds,
      idleSeconds: totals.idleSeconds,
      makespanSeconds: totals.makespan,
      breakdown: this.clock.phases(),
      flops: this.clock.flops,
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

  /** This rank's parameters (its stages, its tensor shards; under ZeRO-3 its chunks of them), for a checkpoint. */
  parameters(): FlatPiece[] {
    return this.gather ? this.pieces(this.trainer.shard.read(this.trainer.params)) : [this.piece(0, this.trainer.params)];
  }

  capturedGradients(): FlatPiece[] | null {
    return this.captured;
  }

  /** This rank's AdamW moments (its optimizer shard of its flat buffer) and update count, for a checkpoint. */
  optimizerState(): { step: number; m: FlatPiece[]; v: FlatPiece[]; master: FlatPiece[] | null; lossScale: { scale: number; goodSteps: number } | null } {
    const { optimizer, master, scaler } = this.trainer;
    const [m, v] = [this.pieces(optimizer.m), this.pieces(optimizer.v)];
    return { step: optimizer.stepCount, m, v, master: master && this.pieces(master), lossScale: scaler && scaler.state() };
  }
}

const byName = (tensors: NamedTensor[]): Map<string, NamedTensor> => new Map(tensors.map((t) => [t.name, t]));

/** The calls the main thread makes on a device (plain data in and out, so they cross threads). */
export function deviceApi(device: Device) {
  return {
    /** One step, and the timeline events it recorded (drained, so each is sent once). */
    step: (step: number) => ({ ...device.step(step), events: device.events() }),
    report: () => device.report(),
    parameters: () => device.parameters(),
    capturedGradients: () => device.capturedGradients(),
    optimizerState: () => device.optimizerState(),
  };
}
export type DeviceApi = ReturnType<typeof deviceApi>;
