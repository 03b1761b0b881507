/**
 * The executor: walks one rank's action list for one training step. The only place that knows
 * what each action does: F runs a stage's forward for a micro-batch, BW its fused backward, B and
 * W the two halves of a zero-bubble backward, and SEND/RECV move activations forward (`pp-act`)
 * and their gradients backward (`pp-grad`) through Comm.
 *
 * Activations are stashed per (stage, micro-batch) from F until the backward that consumes them
 * (BW, or W for a split backward, which still needs the saved inputs) and then returned to a
 * per-stage pool, so the pool's size is the peak number of micro-batches in flight.
 */
import { metaFloats } from "../kernels/meta.js";
import { kernelFloats } from "../wasm/heap.js";
import type { P2POp } from "../comm/comm.js";
import { chunkOffset, chunkSize } from "../comm/ledger.js";
import type { Floats } from "../kernels/types.js";
import type { TpComm } from "../parallel/tensor.js";
import type { Scenario } from "../scenario/schema.js";
import type { PipelineComm } from "./sabotage.js";
import { sliceBatch, type Batch } from "../data/batches.js";
import type { Activations } from "../model/activations.js";
import { chunkOfStage, isFirstStage, isLastStage, nextStageRank, previousStageRank, stageOf } from "../parallel/placement.js";
import { isCompute, type Action } from "../schedule/actions.js";
import type { Trainer } from "../train/trainer.js";

export interface ExecutorShape {
  /** Pipeline ranks and chunks per rank (see src/parallel/placement.ts). */
  p: number;
  v: number;
  /** Micro-batches per step. */
  m: number;
  /** The global rank of each pipeline rank of this rank's pipeline (its pp group, in stage order). */
  ppGroup: readonly number[];
  /** The compute stream waits for this rank's sends too (scenario `parallel.p2p: blocking`). */
  blockingSends?: boolean;
  /**
   * Scatter/gather of boundary messages (scenario `parallel.pipelineScatterGather`, tp > 1 without
   * sequence parallelism): this rank's tp group. Each tp rank sends its 1/tp part of the replicated
   * message and the receivers all-gather it over this group.
   */
  scatterGather?: TpComm;
}

/** How the scenario's pipeline messages move: blocking or not, scatter/gather over `tp` or not. */
export function p2pOptions(parallel: Scenario["parallel"], tp: TpComm): Pick<ExecutorShape, "blockingSends" | "scatterGather"> {
  // Under sequence parallelism a boundary message is already a sequence shard (Megatron-LM turns scatter/gather off there too).
  const scatterGather = parallel.pipelineScatterGather === true && tp.size > 1 && !parallel.sequenceParallel;
  return { blockingSends: parallel.p2p === "blocking", scatterGather: scatterGather ? tp : undefined };
}

/** The activation sets of one stage held by this rank: free ones, and those stashed by micro-batch. */
interface ActivationPool {
  free: Activations[];
  /** Sets allocated so far: the pool's peak size. */
  allocated: number;
  stashed: Map<number, Activations>;
}

export class PipelineExecutor {
  /** This rank's index in its pipeline. */
  private readonly pipelineRank: number;
  private readonly pools = new Map<number, ActivationPool>();
  /** Gradients received for (stage, micro-batch), waiting for that backward. */
  private readonly receivedGrads = new Map<string, Float32Array>();
  /** Input gradients produced by a backward, waiting for their SEND_B. */
  private readonly gradsToSend = new Map<string, Float32Array>();
  /** Gradient buffers no message holds now, reused before allocating more. */
  private readonly spareGradBuffers: Float32Array[] = [];
  /** Micro-batches whose activations this rank holds now (all its stages). */
  private stashedNow = 0;
  /** Peak number of micro-batches whose activations this rank held at once (all its stages). */
  peakStashed = 0;

  constructor(
    private readonly trainer: Trainer,
    private readonly comm: PipelineComm,
    private readonly shape: ExecutorShape,
    private readonly actions: readonly Action[],
  ) {
    this.pipelineRank = shape.ppGroup.indexOf(comm.rank);
    trainer.chunks.forEach((chunk, k) => {
      // The chunk's model's default activation set seeds the pool.
      this.pools.set(this.stageOfChunk(k), { free: [chunk.model.acts], allocated: 1, stashed: new Map() });
    });
  }

  private stageOfChunk(chunk: number): number {
    return stageOf(this.pipelineRank, chunk, this.shape.p);
  }

  private chunkOf(stage: number): number {
    return chunkOfStage(stage, this.shape.p);
  }

  /** The global ranks of the ranks that hold the stages after and before `stage`. */
  private nextStagePeer(stage: number): number {
    return this.shape.ppGroup[nextStageRank(stage, this.shape.p)];
  }

  private previousStagePeer(stage: number): number {
    return this.shape.ppGroup[previousStageRank(stage, this.shape.p)];
  }

  /**
   * Runs this rank's actions on its rows of the step's batch; returns the mean loss over the
   * micro-batches if this rank holds the last stage, else null.
   */
  runStep(batch: Batch, tokensInGlobalBatch: number): number | null {
    const gradScale = 1 / tokensInGlobalBatch;
    let lossSum = 0;
    let losses = 0;
    this.trainer.grads.fill(0);
    const actions = this.actions;
    for (let i = 0; i < actions.length; ) {
      const action = actions[i];
      if (!isCompute(action)) {
        // A run of sends and receives goes out as one batch (like Megatron's
        // send_forward_recv_backward): two neighbours sending each other a payload larger than
        // their channel would otherwise both block.
        let end = i;
        while (end < actions.length && !isCompute(actions[end])) end++;
        this.communicate(actions.slice(i, end));
        i = end;
        continue;
      }
      i++;
      if (action.type === "F") {
        const loss = this.forward(action, batch);
        if (loss !== null) {
          lossSum += loss;
          losses++;
        }
      } else if (action.type === "W") {
        this.backwardWeights(action);
      } else {
        this.backward(action, gradScale, action.type === "B");
      }
    }
    return losses > 0 ? lossSum / losses : null;
  }

  /** Moves a run of SEND/RECV actions: activations forward (`pp-act`), their gradients backward (`pp-grad`). */
  private communicate(run: readonly Action[]): void {
    const ops: P2POp[] = [];
    const sent: Float32Array[] = [];
    // Received messages to all-gather over the tp group once the batch is done (scatter/gather).
    const gathers: P2POp[] = [];
    const push = (op: P2POp) => {
      ops.push({ ...op, buf: this.part(op.buf) });
      if (op.type === "recv" && this.shape.scatterGather) gathers.push(op);
    };
    for (const { type, stage, mb } of run) {
      const key = `${stage}:${mb}`;
      switch (type) {
        case "RECV_F":
          push({ type: "recv", buf: this.stash(stage, mb).hidden[0], peer: this.previousStagePeer(stage), kind: "pp-act" });
          break;
        case "SEND_F":
          push({ type: "send", buf: this.stashed(stage, mb).output, peer: this.nextStagePeer(stage), kind: "pp-act" });
          break;
        case "RECV_B": {
          const buf = this.gradBuffer();
          push({ type: "recv", buf, peer: this.nextStagePeer(stage), kind: "pp-grad" });
          this.receivedGrads.set(key, buf);
          break;
        }
        case "SEND_B": {
          const buf = this.gradsToSend.get(key)!;
          push({ type: "send", buf, peer: this.previousStagePeer(stage), kind: "pp-grad" });
          this.gradsToSend.delete(key);
          sent.push(buf);
          break;
        }
      }
    }
    this.comm.batch(ops, { blocking: this.shape.blockingSends });
    for (const { buf, kind } of gathers) this.shape.scatterGather!.allGather(buf, kind);
    // Sent gradients' buffers are free again only once the batch has moved them.
    this.spareGradBuffers.push(...sent);
  }

  /** What of a boundary message this rank moves: all of it, or its tp rank's part under scatter/gather. */
  private part(buf: Floats): Floats {
    const tp = this.shape.scatterGather;
    if (!tp) return buf;
    const offset = chunkOffset(buf.length, tp.size, tp.index);
    return buf.subarray(offset, offset + chunkSize(buf.length, tp.size, tp.index));
  }

  /** The forward of `action`'s stage and micro-batch; its loss on the last stage, else null. */
  private forward({ stage, mb }: Action, batch: Batch): number | null {
    const rows = this.trainer.microRows;
    // The first stage reads token ids; the others received their input into the stash (RECV_F).
    const acts = isFirstStage(stage) ? this.stash(stage, mb) : this.stashed(stage, mb);
    const micro = sliceBatch(batch, mb * rows, rows);
    const input = isFirstStage(stage) ? micro.inputs : acts.hidden[0];
    const targets = isLastStage(stage, this.shape) ? micro.targets : undefined;
    const { loss } = this.trainer.stageForward(this.chunkOf(stage), acts, input, targets, { label: `F${mb}` });
    // A next stage on this same rank (pp 1, interleaved) gets no message: hand the output over here.
    if (!isLastStage(stage, this.shape) && this.nextStagePeer(stage) === this.comm.rank) {
      this.stash(stage + 1, mb).hidden[0].set(acts.output);
    }
    return loss;
  }

  /** A fused backward (BW), or the input-gradient half of a split one (B). */
  private backward({ stage, mb }: Action, gradScale: number, split: boolean): void {
    const key = `${stage}:${mb}`;
    const dOutput = isLastStage(stage, this.shape) ? null : this.receivedGrads.get(key)!;
    // A fused backward completes the weight gradients; a split one leaves them to W.
    const pass = { label: `B${mb}`, completesGrads: !split && mb === this.shape.m - 1 };
    const dInput = this.trainer.stageBackward(this.chunkOf(stage), this.stashed(stage, mb), dOutput, gradScale, split, pass);
    if (dOutput) {
      this.receivedGrads.delete(key);
      this.spareGradBuffers.push(dOutput);
    }
    if (dInput) {
      // The model's input gradient lives in its workspace until the next backward: keep a copy for SEND_B.
      const copy = this.gradBuffer();
      copy.set(dInput);
      // The previous stage on this same rank (pp 1, interleaved) reads it without a message.
      if (this.previousStagePeer(stage) === this.comm.rank) this.receivedGrads.set(`${stage - 1}:${mb}`, copy);
      else this.gradsToSend.set(key, copy);
    }
    if (!split) this.release(stage, mb);
  }

  /** The weight-gradient half (W) of a split backward; frees the stash. */
  private backwardWeights({ stage, mb }: Action): void {
    const pass = { label: `W${mb}`, completesGrads: mb === this.shape.m - 1 };
    this.trainer.stageBackwardWeights(this.chunkOf(stage), this.stashed(stage, mb), pass);
    this.release(stage, mb);
  }

  /** A stash entry for (stage, micro-batch), taken from the stage's pool. */
  private stash(stage: number, mb: number): Activations {
    const pool = this.pools.get(stage)!;
    let acts = pool.free.pop();
    if (!acts) {
      acts = this.trainer.chunks[this.chunkOf(stage)].model.newActivations();
      pool.allocated++;
    }
    pool.stashed.set(mb, acts);
    this.stashedNow++;
    this.peakStashed = Math.max(this.peakStashed, this.stashedNow);
    return acts;
  }

  private stashed(stage: number, mb: number): Activations {
    const acts = this.pools.get(stage)!.stashed.get(mb);
    if (!acts) throw new Error(`stage ${stage} has no stashed activations for micro-batch ${mb}`);
    return acts;
  }

  private release(stage: number, mb: number): void {
    const pool = this.pools.get(stage)!;
    pool.free.push(this.stashed(stage, mb));
    pool.stashed.delete(mb);
    this.stashedNow--;
  }

  /** A buffer for a stage-boundary gradient in flight: a hidden state [rows·T, C] (its sequence shard under sequence parallelism). */
  private gradBuffer(): Float32Array {
    const n = this.hiddenElements;
    return this.spareGradBuffers.pop() ?? (this.trainer.shapesOnly ? (metaFloats(n) as Float32Array) : kernelFloats(n));
  }

  /** Elements of a stage-boundary hidden state. */
  private get hiddenElements(): number {
    return this.trainer.chunks[0].model.acts.hidden[0].length;
  }

  /**
   * Bytes of every activation set allocated (the pool's peak) — with a split backward each set
   * also keeps its weight-gradient inputs until W — plus the gradient buffers allocated.
   */
  activationBytes(): number {
    const split = this.actions.some((a) => a.type === "W");
    let bytes = 0;
    this.trainer.chunks.forEach((chunk, k) => {
      const pool = this.pools.get(this.stageOfChunk(k))!;
      bytes += pool.allocated * (chunk.model.activationBytes() + (split ? chunk.model.deferredWeightGradBytes() : 0));
    });
    const gradBuffers = this.spareGradBuffers.length + this.receivedGrads.size + this.gradsToSend.size;
    return bytes + gradBuffers * this.hiddenElements * Float32Array.BYTES_PER_ELEMENT;
  }
}
