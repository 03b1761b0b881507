/**
 * The roofline of one kernel launch: its time is
 *   max(FLOPs / achieved compute rate, bytes / achieved memory bandwidth) + launch overhead.
 *
 * - A GEMM computes on the tensor cores at the dtype's matmul peak × `efficiency` (a large
 *   GEMM's measured share of peak inside full waves) × the shape's quantisation efficiency below.
 * - Any other kernel computes on the vector units (`vectorFlops`); elementwise kernels are
 *   memory-bound on real hardware, so their time is their bytes.
 *
 * Quantisation (NVIDIA, "Matrix Multiplication Background User's Guide", tile and wave
 * quantisation): cuBLAS splits the M×N output into tiles, one per thread block, and runs them in
 * waves of one tile per SM. A partial tile computes padding; a partial last wave leaves SMs idle:
 *   tileEff = M·N / (⌈M/tm⌉·tm · ⌈N/tn⌉·tn),   tiles = ⌈M/tm⌉·⌈N/tn⌉·batch,
 *   waveEff = tiles / (⌈tiles/SMs⌉ · SMs),       efficiency(shape) = max over tiles of tileEff · waveEff.
 * cuBLAS picks a tile per shape; parasim takes the best of 256×128, 128×256 and 128×128 (the
 * guide's typical large tiles) and assumes each reaches the profile's measured efficiency inside
 * full waves, which slightly flatters shapes that only a smaller tile fits. A profile with 0 SMs
 * (the unit profile) has no quantisation.
 */
import type { HardwareProfile } from "./hardware.js";
import { DTYPE_BYTES, type Dtype } from "../kernels/round.js";

/** The dtype of activations, weights and matmuls (src/kernels/round.ts) sets element sizes and the matmul peak. */
export { DTYPE_BYTES, type Dtype };
export const DTYPES = ["fp32", "bf16", "fp16"] as const satisfies readonly Dtype[];

/** A (batched) matrix product: batch × (M×K)·(K×N). */
export interface GemmShape {
  M: number;
  N: number;
  K: number;
  batch: number;
}

/** One kernel launch as the cost model sees it: FLOPs, bytes read + written, and its GEMM shape if it is one. */
export interface Launch {
  flops: number;
  bytes: number;
  gemm?: GemmShape;
}

/** The cost context of a device: its hardware and the dtype its kernels compute in. */
export interface CostContext {
  hardware: HardwareProfile;
  dtype: Dtype;
}

const TILES: readonly (readonly [number, number])[] = [
  [256, 128],
  [128, 256],
  [128, 128],
];

/** The fraction of a GEMM's work that is useful after tile and wave quantisation (header). */
export function quantisationEfficiency(sms: number, g: GemmShape): number {
  if (sms <= 0) return 1;
  let best = 0;
  for (const [tm, tn] of TILES) {
    const [rows, cols] = [Math.ceil(g.M / tm), Math.ceil(g.N / tn)];
    const tiles = rows * cols * g.batch;
    const tileEff = (g.M * g.N) / (rows * tm * cols * tn);
    const waveEff = tiles / (Math.ceil(tiles / sms) * sms);
    best = Math.max(best, tileEff * waveEff);
  }
  return best;
}

/** FLOP/s of the tensor cores for `dtype` at the profile's measured efficiency, before quantisation. */
export function matmulRate(hw: HardwareProfile, dtype: Dtype): number {
  return (dtype === "fp32" ? hw.peakFlopsFp32 : hw.peakFlops) * hw.efficiency;
}

/** Seconds of one launch (header). */
export function launchTime(ctx: CostContext, launch: Launch): number {
  const hw = ctx.hardware;
  const rate = launch.gemm ? matmulRate(hw, ctx.dtype) * quantisationEfficiency(hw.sms, launch.gemm) : hw.vectorFlops;
  const compute = launch.flops / rate;
  const memory = launch.bytes / hw.memoryBandwidth;
  return Math.max(compute, memory) + hw.launchOverhead;
}

/** Seconds of launches run one after another. */
export function launchesTime(ctx: CostContext, launches: readonly Launch[]): number {
  let t = 0;
  for (const l of launches) t += launchTime(ctx, l);
  return t;
}
