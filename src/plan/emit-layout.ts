/**
 * What both launch emitters (emit-megatron.ts, emit-torchtitan.ts) read off a scenario: the
 * world size, the batch split and the layers of each pipeline stage, counted once.
 */
import { stageParts } from "../parallel/pipeline.js";
import { modelConfigOf } from "../model/config.js";
import type { Scenario } from "../scenario/schema.js";

/** The scenario's layout as both engines count it. */
export interface LaunchFacts {
  /** GPUs the launch needs: dp · tp · pp. */
  worldSize: number;
  /** Nodes of `hardware.devicesPerNode` GPUs that hold them. */
  nodes: number;
  /** Sequences per data-parallel replica per step: globalBatch / dp. */
  perReplicaBatch: number;
  /** Sequences per micro-batch: globalBatch / (dp · microBatches). */
  microBatchSize: number;
  /** Decoder layers of each pipeline stage, in stage order (stage = rank + chunk · pp). */
  stageLayers: number[];
  /** Every stage holds the same number of layers (the engines' own even split reproduces it). */
  evenStages: boolean;
}

export function launchFacts(s: Scenario): LaunchFacts {
  const { dp, tp, pp, virtualStages, layersPerStage } = s.parallel;
  const worldSize = dp * tp * pp;
  const perReplicaBatch = s.training.globalBatch / dp;
  const stageLayers = stageParts(modelConfigOf(s), { p: pp, v: virtualStages, layersPerStage }).map((part) => part.numLayers);
  return {
    worldSize,
    nodes: Math.ceil(worldSize / s.hardware.devicesPerNode),
    perReplicaBatch,
    microBatchSize: perReplicaBatch / s.training.microBatches,
    stageLayers,
    evenStages: stageLayers.every((n) => n === stageLayers[0]),
  };
}

/** A file-name-safe form of a scenario name: lower case, runs of other characters as one dash, no leading dot. */
export function fileSlug(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9._]+/g, "-").replace(/^[-.]+|-+$/g, "");
  return slug === "" ? "plan" : slug;
}

/** The plan's layout in one comment line, shared by both files' headers. */
export function launchSummary(s: Scenario, facts: LaunchFacts): string {
  const { dp, tp, pp, schedule, virtualStages } = s.parallel;
  const chunks = schedule === "interleaved" ? ` with ${virtualStages} chunks per rank` : "";
  const pipe = pp > 1 ? `${schedule}${chunks}, ` : "";
  return (
    `dp ${dp} × tp ${tp} × pp ${pp} = ${facts.worldSize} GPUs (${facts.nodes} node${facts.nodes === 1 ? "" : "s"} of ${s.hardware.devicesPerNode}); ` +
    `${pipe}${s.training.microBatches} micro-batch${s.training.microBatches === 1 ? "" : "es"} of ${facts.microBatchSize} sequence${facts.microBatchSize === 1 ? "" : "s"} per replica`
  );
}
