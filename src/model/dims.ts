/**
 * The local sizes one tensor-parallel rank works with for a micro-batch of B sequences of length
 * T (with tp = 1: the model's sizes).
 *
 * Legend: N = B·T rows, rows = N/tp with sequence parallelism else N (the rows the norms and
 * residual adds work on), C hidden, D head size, Hl = H/tp and Gl = G/tp query and kv heads per
 * rank, Fl = F/tp, Vl = V/tp.
 */
import { headDim, type ModelConfig } from "./config.js";

export interface ModelDims {
  N: number;
  rows: number;
  C: number;
  D: number;
  Hl: number;
  Gl: number;
  Fl: number;
  Vl: number;
}

export function modelDims(config: ModelConfig, B: number, T: number, tp = 1, sequenceParallel = false): ModelDims {
  const N = B * T;
  return {
    N,
    rows: sequenceParallel ? N / tp : N,
    C: config.hiddenSize,
    D: headDim(config),
    Hl: config.numHeads / tp,
    Gl: config.numKvHeads / tp,
    Fl: config.intermediateSize / tp,
    Vl: config.vocabSize / tp,
  };
}
