/**
 * The stated limits: sizes no run can handle, refused with a one-line error before anything is
 * allocated. README.md ("Limits") lists them; keep the two in step.
 */
export const LIMITS = {
  /**
   * Elements of one typed array parasim allocates. V8 on 64-bit Node 20 refuses more than 2^32
   * (`new Float32Array(2 ** 32 + 1)` throws "Invalid typed array length"); parasim states
   * 2^31 − 1, below it with room to spare. It bounds a step's tokens (globalBatch·seqLen,
   * allocated in both modes) and, in real mode, every buffer of the model.
   */
  typedArrayElements: 2 ** 31 - 1,
  /** Layers of a model: the largest published Llama (3.1 405B) has 126; eight times that leaves room. */
  numLayers: 1024,
  /** pp·microBatches·virtualStages of a scenario's pipeline schedule (100,000 take about 2 s to check and simulate). */
  scheduleCells: 100_000,
  /** pp·microbatches·virtual of `parasim schedule`, which prints a grid with a cell per action. */
  printedScheduleCells: 10_000,
  /** Layouts one `--vary` sweep may expand to. */
  varyLayouts: 10_000,
  /** Devices of a real-mode run: each is a worker thread of some tens of MB before its model. */
  realWorldSize: 64,
  /** Ranks of a shapes-mode cluster: the largest published runs use 16,384 GPUs; four times that leaves room. */
  shapesWorldSize: 65_536,
  /** Workers a shapes-mode run starts (one per pipeline stage, or per rank when the layout is not node-aligned). */
  shapesWorkers: 64,
  /**
   * Layer passes of one run — a layer's forward and backward on one micro-batch on one worker:
   * steps·microBatches·numLayers, times dp·tp in real mode, where every rank is a worker doing its
   * own. Each costs the host about a millisecond with its actions and messages, on the smallest
   * model in real mode as on the largest published ones in shapes mode (README, "Limits"), so
   * 2,000,000 are about half an hour; a run past it is one no one waits for.
   */
  layerPasses: 2_000_000,
  /**
   * Model FLOPs of a real-mode run (6·N + 6·L·h·s per token over every step's tokens; README,
   * "Utilisation"), which real mode computes on this host's CPU cores at a few to a few tens of
   * GFLOP/s each: 10 TFLOP are minutes to an hour.
   */
  realModeFlops: 1e13,
} as const;

/** A count with thousands separators: 2147483647 as 2,147,483,647. */
export function grouped(n: number): string {
  return n.toLocaleString("en-US");
}
