/**
 * The executor: walks one rank's action list for one training step. The only place that knows
 * what each action does (DESIGN.md): F runs a stage's forward for a micro-batch, BW its fused
 * backward, B and W the two halves of a zero-bubble backward, and SEND/RECV move activations
 * forward (`pp-act`) and their gradients backward (`pp-grad`) through Comm.
 *
 * Activations are stashed per (stage, micro-batch) from F until the backward that consumes them
 * (BW, or W for a split backward, which still needs the saved inputs) and then returned to a
 * per-stage pool, so the pool's size is the peak number of micro-batches in flight.
 */
import type { Comm, P2POp } from "../comm/comm.js";
import { sliceBatch, type Batch } from "../data/batches.js";
import { isCompute, type Action } from "../schedule/actions.js";
import type { Activations } from "../model/activations.js";
import type { Trainer } from "../train/trainer.js";

export interface ExecutorShape {
  /** Pipeline ranks and chunks per rank; stage s lives on pipeline rank s mod p. */
  p: number;
  v: number;
  /** Micro-batches per step. */
  m: number;
  /** Global rank of each pipeline rank of this rank's pipeline (its pp group, in stage order). */
  stageRanks: readonly number[];
}

/** Per stage held by this rank: its activation pool and stash. */
interface StageState {
  free: Activations[];
  allocated: number;
  stash: Map<number, Activations>;
}

export class PipelineExecutor {
  private readonly stages = new Map<number, StageState>();
  /** Gradients received for (stage, micro-batch), waiting for that backward. */
  private readonly gradIn = new Map<string, Float32Array>();
  /** Input gradients produced by a backward, waiting for their SEND_B. */
  private readonly gradOut = new Map<string, Float32Array>();
  private readonly spare: Float32Array[] = [];
  private inFlight = 0;
  /** Peak number of micro-batches whose activations this rank held at once (all its stages). */
  peakStashed = 0;

  constructor(
    private readonly trainer: Trainer,
    private readonly comm: Comm,
    private readonly shape: ExecutorShape,
    private readonly actions: readonly Action[],
  ) {
    trainer.chunks.forEach((chunk, k) => {
      // Chunk k holds stage (this pipeline rank) + k·p; its model's default set seeds the pool.
      this.stages.set(this.stageOf(k), { free: [chunk.model.acts], allocated: 1, stash: new Map() });
    });
  }

  private get myPipelineRank(): number {
    return this.shape.stageRanks.indexOf(this.comm.rank);
  }

  private stageOf(chunk: number): number {
    return this.myPipelineRank + chunk * this.shape.p;
  }

  private chunkOf(stage: number) {
    return this.trainer.chunks[Math.floor(stage / this.shape.p)];
  }

  private rankOfStage(stage: number): number {
    return this.shape.stageRanks[stage % this.shape.p];
  }

  /**
   * Runs this rank's actions on its rows of the step's batch; returns the mean loss over the
   * micro-batches if this rank holds the last stage, else null.
   */
  runStep(batch: Batch, tokensInGlobalBatch: number): number | null {
    const { m, p, v } = this.shape;
    const last = p * v - 1;
    const rows = this.trainer.microRows;
    const gradScale = 1 / tokensInGlobalBatch;
    let lossSum = 0;
    let losses = 0;
    this.trainer.grads.fill(0);
    const actions = this.actions;
    for (let i = 0; i < actions.length; ) {
      const a = actions[i];
      if (!isCompute(a)) {
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
      switch (a.type) {
        case "F": {
          const acts = a.stage === 0 ? this.stash(a.stage, a.mb) : this.stashed(a.stage, a.mb);
          const micro = sliceBatch(batch, a.mb * rows, rows);
          this.trainer.phase = `F${a.mb}`;
          const input = a.stage === 0 ? micro.inputs : acts.hidden[0];
          const out = this.chunkOf(a.stage).model.stageForward(acts, input, a.stage === last ? micro.targets : undefined);
          if (out.loss !== null) {
            lossSum += out.loss;
            losses++;
          }
          break;
        }
        case "BW":
        case "B":
          this.backward(a, gradScale, a.type === "B");
          break;
        case "W":
          this.trainer.phase = `W${a.mb}`;
          this.trainer.lastMicroBatch = a.mb === m - 1;
          this.chunkOf(a.stage).model.stageBackwardWeights(this.stashed(a.stage, a.mb));
          this.trainer.lastMicroBatch = false;
          this.release(a.stage, a.mb);
          break;
      }
    }
    return losses > 0 ? lossSum / losses : null;
  }

  /** Moves a run of SEND/RECV actions: activations forward (`pp-act`), their gradients backward (`pp-grad`). */
  private communicate(run: readonly Action[]): void {
    const ops: P2POp[] = [];
    const sent: Float32Array[] = [];
    for (const a of run) {
      const key = `${a.stage}:${a.mb}`;
      switch (a.type) {
        case "RECV_F":
          ops.push({ type: "recv", buf: this.stash(a.stage, a.mb).hidden[0], peer: this.rankOfStage(a.stage - 1), kind: "pp-act" });
          break;
        case "SEND_F":
          ops.push({ type: "send", buf: this.stashed(a.stage, a.mb).output, peer: this.rankOfStage(a.stage + 1), kind: "pp-act" });
          break;
        case "RECV_B": {
          const buf = this.buffer();
          ops.push({ type: "recv", buf, peer: this.rankOfStage(a.stage + 1), kind: "pp-grad" });
          this.gradIn.set(key, buf);
          break;
        }
        case "SEND_B": {
          const buf = this.gradOut.get(key)!;
          ops.push({ type: "send", buf, peer: this.rankOfStage(a.stage - 1), kind: "pp-grad" });
          this.gradOut.delete(key);
          sent.push(buf);
          break;
        }
      }
    }
    this.comm.batch(ops);
    // Sent gradients' buffers are free again only once the batch has moved them.
    this.spare.push(...sent);
  }

  private backward(a: Action, gradScale: number, split: boolean): void {
    const key = `${a.stage}:${a.mb}`;
    const dOutput = a.stage === this.shape.p * this.shape.v - 1 ? null : this.gradIn.get(key)!;
    this.trainer.phase = `B${a.mb}`;
    // A fused backward completes the weight gradients; a split one leaves them to W.
    this.trainer.lastMicroBatch = !split && a.mb === this.shape.m - 1;
    const dInput = this.chunkOf(a.stage).model.stageBackward(this.stashed(a.stage, a.mb), dOutput, gradScale, split);
    this.trainer.lastMicroBatch = false;
    if (dOutput) {
      this.gradIn.delete(key);
      this.spare.push(dOutput as Float32Array);
    }
    if (dInput) {
      // The model's input gradient lives in its workspace until the next backward: keep a copy for SEND_B.
      const copy = this.buffer();
      copy.set(dInput);
      this.gradOut.set(key, copy);
    }
    if (!split) this.release(a.stage, a.mb);
  }

  /** A stash entry for (stage, micro-batch), taken from the stage's pool. */
  private stash(stage: number, mb: number): Activations {
    const s = this.stages.get(stage)!;
    let acts = s.free.pop();
    if (!acts) {
      acts = this.chunkOf(stage).model.newActivations();
      s.allocated++;
    }
    s.stash.set(mb, acts);
    this.inFlight++;
    this.peakStashed = Math.max(this.peakStashed, this.inFlight);
    return acts;
  }

  private stashed(stage: number, mb: number): Activations {
    const acts = this.stages.get(stage)!.stash.get(mb);
    if (!acts) throw new Error(`stage ${stage} has no stashed activations for micro-batch ${mb}`);
    return acts;
  }

  private release(stage: number, mb: number): void {
    const s = this.stages.get(stage)!;
    s.free.push(this.stashed(stage, mb));
    s.stash.delete(mb);
    this.inFlight--;
  }

  /** A buffer for a stage-boundary gradient in flight: a hidden state [rows·T, C] (its sequence shard under sequence parallelism). */
  private buffer(): Float32Array {
    return this.spare.pop() ?? new Float32Array(this.hiddenSize);
  }

  private get hiddenSize(): number {
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
      const s = this.stages.get(this.stageOf(k))!;
      bytes += s.allocated * (chunk.model.activationBytes() + (split ? chunk.model.deferredWeightGradBytes() : 0));
    });
    const gradBuffers = this.spare.length + this.gradIn.size + this.gradOut.size;
    return bytes + gradBuffers * this.hiddenSize * Float32Array.BYTES_PER_ELEMENT;
  }
}
