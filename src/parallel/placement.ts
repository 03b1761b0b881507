/**
 * Stage placement: where each pipeline stage lives. The only place that knows the layout.
 *
 * With p pipeline ranks and v chunks per rank there are p·v stages, 0..p·v−1. Megatron's
 * interleaving puts chunk k of rank r at stage r + k·p, so stage s lives on rank s mod p as that
 * rank's chunk ⌊s/p⌋: rank r holds stages r, r+p, r+2p, … Without interleaving (v = 1) stage and
 * rank coincide. Stage 0 takes the token ids, the last stage computes the loss.
 *
 * Ranks here are pipeline ranks 0..p−1 (a rank's index in its pp group), not global ranks.
 */

/** The pipeline's size: p ranks, v chunks (stages) per rank. */
export interface PipelineDims {
  p: number;
  v: number;
}

/** The number of stages, p·v. */
export function stageCount({ p, v }: PipelineDims): number {
  return p * v;
}

/** The index of the last stage, the one with the head and the loss. */
export function lastStage(dims: PipelineDims): number {
  return stageCount(dims) - 1;
}

/** Whether `stage` is the first, the one with the embedding. */
export function isFirstStage(stage: number): boolean {
  return stage === 0;
}

export function isLastStage(stage: number, dims: PipelineDims): boolean {
  return stage === lastStage(dims);
}

/** The stage that chunk `chunk` of pipeline rank `rank` holds. */
export function stageOf(rank: number, chunk: number, p: number): number {
  return rank + chunk * p;
}

/** The pipeline rank that holds `stage`. */
export function rankOfStage(stage: number, p: number): number {
  return stage % p;
}

/** Which of its rank's chunks `stage` is. */
export function chunkOfStage(stage: number, p: number): number {
  return Math.floor(stage / p);
}

/** The stages `rank` holds, in chunk order: rank, rank+p, rank+2p, … */
export function stagesOfRank(rank: number, dims: PipelineDims): number[] {
  return Array.from({ length: dims.v }, (_, chunk) => stageOf(rank, chunk, dims.p));
}

/** The pipeline rank of the stage after `stage`, where its activations go. */
export function nextStageRank(stage: number, p: number): number {
  return rankOfStage(stage + 1, p);
}

/** The pipeline rank of the stage before `stage`, where its input gradients go. */
export function previousStageRank(stage: number, p: number): number {
  return rankOfStage(stage - 1, p);
}
