/**
 * Pipeline parallelism: which layers each stage holds. Where each stage lives is
 * src/parallel/placement.ts. With p ranks and v chunks per rank there are S = p·v stages; stage 0
 * also holds the embedding, stage S−1 the final norm, the LM head and the loss.
 *
 * Balancing rule (without `layersPerStage`): L layers over S stages as evenly as possible, the
 * first L mod S stages taking ⌈L/S⌉ and the rest ⌊L/S⌋ — so the last stage, which also runs the
 * LM head and the loss (a matmul of V columns, the largest of a small model), never takes the
 * extra layer. `layersPerStage` overrides it with an explicit list of S counts.
 */
import { InputError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import type { StagePart } from "../model/layout.js";
import { isFirstStage, isLastStage, stageCount, type PipelineDims } from "./placement.js";

/** p pipeline ranks, v model chunks per rank (interleaved schedules, else 1), and optionally each stage's layer count. */
export interface PipelineShape extends PipelineDims {
  layersPerStage?: number[];
}

/** The StagePart of every stage, in stage order. */
export function stageParts(config: ModelConfig, shape: PipelineShape): StagePart[] {
  const S = stageCount(shape);
  const L = config.numLayers;
  const counts = shape.layersPerStage ?? Array.from({ length: S }, (_, s) => Math.floor(L / S) + (s < L % S ? 1 : 0));
  let first = 0;
  return counts.map((numLayers, s) => {
    const part = { firstLayer: first, numLayers, hasEmbedding: isFirstStage(s), hasHead: isLastStage(s, shape) };
    first += numLayers;
    return part;
  });
}

/** Checks a pipeline layout against the model; one-line errors naming the field. */
export function checkPipeline(config: ModelConfig, shape: PipelineShape & { interleaved: boolean }): void {
  const { p, v } = shape;
  const stages = stageCount(shape);
  const L = config.numLayers;
  if (shape.interleaved) {
    if (v < 2) throw new InputError("parallel.virtualStages", `must be at least 2 for the interleaved schedule, got ${v}`);
    // The even split; an explicit layersPerStage (checked below) says what each stage holds instead.
    if (!shape.layersPerStage && L % p !== 0) throw new InputError("parallel.pp", `must divide model.numLayers = ${L} for the interleaved schedule, got ${p}`);
    if (!shape.layersPerStage && (L / p) % v !== 0) {
      throw new InputError("parallel.virtualStages", `must divide the layers per rank (numLayers / pp = ${L} / ${p}), got ${v}`);
    }
  } else if (v !== 1) {
    throw new InputError("parallel.virtualStages", `only the interleaved schedule has virtual stages; must be 1, got ${v}`);
  }
  if (stages > L) throw new InputError("parallel.pp", `pp × virtualStages = ${stages} stages must not exceed model.numLayers = ${L}`);
  const counts = shape.layersPerStage;
  if (counts) {
    if (counts.length !== stages) throw new InputError("parallel.layersPerStage", `must list ${stages} stages (pp × virtualStages), got ${counts.length}`);
    if (counts.some((c) => c < 1)) throw new InputError("parallel.layersPerStage", "every stage needs at least one layer");
    const sum = counts.reduce((a, b) => a + b, 0);
    if (sum !== L) throw new InputError("parallel.layersPerStage", `must add up to model.numLayers = ${L}, got ${sum}`);
  }
}
