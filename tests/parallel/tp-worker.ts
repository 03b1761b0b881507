// Worker entry for the multi-worker tensor-parallel tests: each rank builds its shard of the
// model over the tp group [0, tp) and runs one step (or a small AdamW loop).
import { Comm } from "../../src/comm/comm.js";
import type { LedgerJSON } from "../../src/comm/ledger.js";
import type { ModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { buildLayout } from "../../src/model/layout.js";
import { LlamaModel } from "../../src/model/model.js";
import { exposeApi, workerInit } from "../../src/runtime/worker.js";
import { syncTpNormGrads, tpCommFrom, tpGradSquares } from "../../src/parallel/tensor.js";
import { AdamW } from "../../src/train/optimizer.js";

const init = workerInit();
const comm = new Comm(init.shared, init.rank);

export interface TpCase {
  config: ModelConfig;
  tp: number;
  sp: boolean;
  seed: number;
  B: number;
  T: number;
  defer?: boolean;
}

function setup(c: TpCase) {
  comm.ledger.reset();
  const tp = tpCommFrom(comm, Array.from({ length: c.tp }, (_, i) => i));
  const layout = buildLayout(c.config, undefined, { size: c.tp, index: tp.index });
  const params = new Float32Array(layout.totalSize);
  initParams(layout, params, c.seed);
  const grads = new Float32Array(layout.totalSize);
  const model = new LlamaModel(c.config, layout, params, grads, c.B, c.T, tp, { sequenceParallel: c.sp });
  return { tp, layout, params, grads, model };
}

const snap = (): LedgerJSON => comm.ledger.toJSON();

export const api = {
  /** One forward + backward of the batch; gradients before and after the norm sync. */
  step(c: TpCase, tokens: Int32Array, targets: Int32Array) {
    const { tp, layout, grads, model } = setup(c);
    const calls: [string, number][] = [];
    const ready: string[] = [];
    const firstEvent = comm.clock.events.length;
    model.hooks = {
      compute: (l, f) => {
        calls.push([l, f]);
        comm.clock.compute(l, f);
      },
      gradsReady: (names) => void ready.push(...names),
    };
    const loss = model.forward(tokens, targets);
    const fwd = snap();
    model.stageBackward(model.acts, null, 1 / (c.B * c.T), c.defer ?? false);
    if (c.defer) model.stageBackwardWeights(model.acts);
    const bwd = snap();
    const before = grads.slice();
    syncTpNormGrads(layout, grads, tp, c.sp);
    return {
      loss,
      before,
      grads: grads.slice(),
      fwd,
      bwd,
      all: snap(),
      calls,
      ready,
      activationBytes: model.activationBytes(),
      events: comm.clock.events.slice(firstEvent).map((e) => ({ kind: e.kind, label: e.label })),
    };
  },

  /**
   * Two pipeline stages on the same tp group, run back to back in this worker (stage 0: embedding
   * + layer 0, stage 1: layer 1 + head), zero-bubble split backward; returns both stages' grads.
   */
  staged(c: TpCase, tokens: Int32Array, targets: Int32Array) {
    comm.ledger.reset();
    const tp = tpCommFrom(comm, Array.from({ length: c.tp }, (_, i) => i));
    const parts = [
      { firstLayer: 0, numLayers: 1, hasEmbedding: true, hasHead: false },
      { firstLayer: 1, numLayers: 1, hasEmbedding: false, hasHead: true },
    ];
    const stages = parts.map((part) => {
      const layout = buildLayout(c.config, part, { size: c.tp, index: tp.index });
      const params = new Float32Array(layout.totalSize);
      initParams(layout, params, c.seed);
      const grads = new Float32Array(layout.totalSize);
      return { layout, grads, model: new LlamaModel(c.config, layout, params, grads, c.B, c.T, tp, { sequenceParallel: c.sp }) };
    });
    const [s0, s1] = stages;
    const a0 = s0.model.newActivations();
    const a1 = s1.model.newActivations();
    const out = s0.model.stageForward(a0, tokens).output!;
    const loss = s1.model.stageForward(a1, out, targets).loss!;
    const dIn = s1.model.stageBackward(a1, null, 1 / (c.B * c.T), true)!;
    s0.model.stageBackward(a0, dIn, 1 / (c.B * c.T), true);
    s1.model.stageBackwardWeights(a1);
    s0.model.stageBackwardWeights(a0);
    for (const s of stages) syncTpNormGrads(s.layout, s.grads, tp, c.sp);
    return { loss, outputLength: out.length, grads: stages.map((s) => s.grads) };
  },

  /** `batches.length` AdamW steps with global-norm clipping; returns the losses. */
  train(c: TpCase, batches: { tokens: Int32Array; targets: Int32Array }[], lr: number, clip: number) {
    const { tp, layout, params, grads, model } = setup(c);
    const ranges = layout.tensors.map((t) => ({ offset: t.offset, size: t.size, decay: t.shape.length >= 2 }));
    const opt = new AdamW({ lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, warmupSteps: 0, minLr: 0, clipGradNorm: clip }, layout.totalSize, ranges);
    const losses: number[] = [];
    const sq = new Float64Array(1);
    for (const b of batches) {
      grads.fill(0);
      losses.push(model.forward(b.tokens, b.targets));
      model.backward(1 / (c.B * c.T));
      syncTpNormGrads(layout, grads, tp, c.sp);
      sq[0] = tpGradSquares(layout, grads);
      tp.allReduce(sq, "test-clip");
      const norm = Math.sqrt(sq[0]);
      if (norm > clip) for (let i = 0; i < grads.length; i++) grads[i] *= clip / norm;
      opt.step(params, grads, lr);
    }
    return losses;
  },
};

exposeApi(api);
