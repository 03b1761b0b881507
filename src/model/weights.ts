/**
 * A model's weights: named views of them by unit, and where they come from. The model names each unit of weights (the embedding, a layer,
 * the head) before a pass reads it and again after, in the pass's order, so that a sharded source
 * (ZeRO-3, src/parallel/zero.ts) can gather the unit then, free it after and start the next unit's
 * gather while this one computes. The default source holds every weight all the time.
 */
import type { Floats } from "../kernels/types.js";
import { tiesEmbeddings, type ModelConfig } from "./config.js";
import type { HeadWeights } from "./head.js";
import type { LayerWeights } from "./layer.js";
import { EMBED_NAME, FINAL_NORM_BIAS_NAME, FINAL_NORM_NAME, layerTensorName, layerTensorsOf, LM_HEAD_NAME, type StagePart } from "./layout.js";

/** Per layer of `part`, its tensors in `all` (named views of a flat buffer) by their short names. */
export function layerViews(config: ModelConfig, part: StagePart, all: Record<string, Floats>): LayerWeights[] {
  return Array.from({ length: part.numLayers }, (_, i) => {
    const out = {} as LayerWeights;
    for (const t of layerTensorsOf(config)) out[t] = all[layerTensorName(part.firstLayer + i, t)];
    return out;
  });
}

/** The head's tensors in `all`: with tied embeddings the LM head is the embedding (or its copy on a last stage). */
export function headViews(all: Record<string, Floats>, config: ModelConfig): HeadWeights {
  const lmHead = tiesEmbeddings(config) && all[EMBED_NAME] !== undefined ? all[EMBED_NAME] : all[LM_HEAD_NAME];
  return { norm: { weight: all[FINAL_NORM_NAME], bias: all[FINAL_NORM_BIAS_NAME] }, lmHead };
}

export interface WeightSource {
  /** `unit`'s weights are about to be read; `next` is the unit the pass reads after it (null at its end). */
  acquire(unit: readonly string[], next: readonly string[] | null): void;
  /** The pass is done reading `unit`. */
  release(unit: readonly string[]): void;
}

export const RESIDENT_WEIGHTS: WeightSource = { acquire() {}, release() {} };

/**
 * The units of `part` in forward order (backward visits them in reverse): `embed`, `L<layer>`,
 * `head`. A head that reads a tied embedding's table needs the embedding's unit with its own.
 */
export function forwardUnits(part: StagePart, headReadsEmbedding: boolean): string[][] {
  const layers = Array.from({ length: part.numLayers }, (_, l) => [`L${part.firstLayer + l}`]);
  const head = headReadsEmbedding ? ["head", "embed"] : ["head"];
  return [...(part.hasEmbedding ? [["embed"]] : []), ...layers, ...(part.hasHead ? [head] : [])];
}

/** One pass's walk over its units: `enter` acquires the next unit (charging the compute before it), `leave` releases it. */
export class UnitWalk {
  private i = 0;
  constructor(
    private readonly source: WeightSource,
    private readonly units: readonly string[][],
    private readonly flush: () => void,
  ) {}

  enter(): void {
    this.flush();
    this.source.acquire(this.units[this.i]!, this.units[this.i + 1] ?? null);
  }

  leave(): void {
    this.flush();
    this.source.release(this.units[this.i++]!);
  }

  /** `work` inside the next unit. */
  within<T>(work: () => T): T {
    this.enter();
    const result = work();
    this.leave();
    return result;
  }
}
