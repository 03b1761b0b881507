/**
 * The buffers one tensor-parallel rank keeps for one micro-batch: the single-device set
 * (src/model/activations.ts, same field names) with local sizes. Activation memory is the sum
 * of the bytes actually allocated here.
 *
 * Legend: N = B·T rows; rows = N/tp under sequence parallelism, else N; C hidden; Hl, Gl query
 * and kv heads per rank; D head size; Fl = F/tp; Vl = V/tp.
 *
 * What sequence parallelism shrinks: the residual stream (hidden states, res1), the norms' rstd
 * and the head's final-norm rstd, from N to N/tp rows. What it does not: the norm outputs that
 * feed column-parallel layers (ln1, ln2, lnf) are kept as the gathered [N,C] buffers the weight
 * gradients need (Megatron instead re-gathers them in backward, trading an extra all-gather per
 * layer for memory; parasim keeps the documented volume). Head-sharded buffers (q, k, v, att,
 * attOut, gate, up, act, logits, probs) are 1/tp with or without sequence parallelism.
 */
import type { Floats } from "../kernels/types.js";
import type { FloatsCtor, HeadActivations, LayerActivations, LayerWeightGradInputs } from "../model/activations.js";
import type { ModelConfig } from "../model/config.js";
import type { StagePart } from "../model/layout.js";
import { tpDims } from "./tp-flops.js";

/** Allocates and counts. */
function allocator(ctor: FloatsCtor): { f: (n: number) => Floats; bytes: () => number } {
  let bytes = 0;
  return {
    f: (n) => {
      bytes += n * ctor.BYTES_PER_ELEMENT;
      return new ctor(n);
    },
    bytes: () => bytes,
  };
}

export class TpActivations {
  readonly tokens: Int32Array;
  readonly targets: Int32Array;
  /** numLayers + 1 hidden states [rows,C]. */
  readonly hidden: Floats[];
  readonly layers: LayerActivations[];
  /** lnf [N,C] (gathered), rstdf [rows], logits and probs [N,Vl], losses [N]. */
  readonly head: HeadActivations | null;
  readonly bytes: number;

  constructor(config: ModelConfig, part: StagePart, B: number, T: number, tp: number, sp: boolean, ctor: FloatsCtor) {
    const { N, rows, C, D, Hl, Gl, Fl, Vl } = tpDims(config, B, T, tp, sp);
    const { f, bytes } = allocator(ctor);
    this.tokens = new Int32Array(part.hasEmbedding ? N : 0);
    this.targets = new Int32Array(part.hasHead ? N : 0);
    this.hidden = Array.from({ length: part.numLayers + 1 }, () => f(rows * C));
    this.layers = Array.from({ length: part.numLayers }, () => ({
      ln1: f(N * C),
      rstd1: f(rows),
      q: f(N * Hl * D),
      k: f(N * Gl * D),
      v: f(N * Gl * D),
      att: f(B * Hl * T * T),
      attOut: f(N * Hl * D),
      res1: f(rows * C),
      ln2: f(N * C),
      rstd2: f(rows),
      gate: f(N * Fl),
      up: f(N * Fl),
      act: f(N * Fl),
    }));
    this.head = part.hasHead ? { lnf: f(N * C), rstdf: f(rows), logits: f(N * Vl), probs: f(N * Vl), losses: f(N) } : null;
    this.bytes = bytes() + this.tokens.byteLength + this.targets.byteLength;
  }

  /** The stage's output hidden state [rows,C]. */
  get output(): Floats {
    return this.hidden[this.hidden.length - 1];
  }
}

/**
 * What the weight-gradient half needs, per micro-batch: dDown and dRes1 [N,C] (gathered under
 * SP), dgate/dup [N,Fl], dln1/dln2 [rows,C] (reduced), dqr [N,Hl·D], dkr/dv [N,Gl·D],
 * dlogits [N,Vl], dlnf [rows,C], dEmbed [N,C].
 */
export class TpWeightGradInputs {
  readonly layers: LayerWeightGradInputs[];
  readonly dlogits: Floats;
  readonly dlnf: Floats;
  readonly dEmbed: Floats;
  readonly bytes: number;
  pending = false;

  constructor(config: ModelConfig, part: StagePart, B: number, T: number, tp: number, sp: boolean, ctor: FloatsCtor) {
    const { N, rows, C, D, Hl, Gl, Fl, Vl } = tpDims(config, B, T, tp, sp);
    const { f, bytes } = allocator(ctor);
    this.layers = Array.from({ length: part.numLayers }, () => ({
      dDown: f(N * C),
      dgate: f(N * Fl),
      dup: f(N * Fl),
      dln2: f(rows * C),
      dRes1: f(N * C),
      dqr: f(N * Hl * D),
      dkr: f(N * Gl * D),
      dv: f(N * Gl * D),
      dln1: f(rows * C),
    }));
    this.dlogits = f(part.hasHead ? N * Vl : 0);
    this.dlnf = f(part.hasHead ? rows * C : 0);
    this.dEmbed = f(part.hasEmbedding ? N * C : 0);
    this.bytes = bytes();
  }
}
