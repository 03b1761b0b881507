/**
 * Hardware profiles: what one device computes, how fast it streams memory, and how fast NCCL
 * moves bytes between devices. Every figure names its source (also listed in docs/architecture.md):
 *
 * A100 SXM4 80 GB (DGX A100):
 * - 312 TFLOP/s dense fp16/bf16 tensor core, 156 TF32, 19.5 fp32 non-tensor; 108 SMs; 80 GB,
 *   2,039 GB/s HBM2e (NVIDIA A100 datasheet; NVIDIA Ampere architecture whitepaper).
 * - efficiency 0.825: cuBLAS of 2022 (through PyTorch) ran an 8192 × 8192 × 8192 matmul on
 *   normally distributed inputs, as training's weights and activations are, at 257 of 312 TFLOP/s;
 *   the GPU's power limit holds it there (the same matmul on zeros: 295; H. He, "Strangely, Matrix
 *   Multiplications on GPUs Run Faster When Given 'Predictable' Data", thonking.ai, 2024). Its
 *   2,048 tiles of 256 × 128 fill 19 waves on 108 SMs to 2048/2052 (src/sim/roofline.ts), so
 *   inside full waves 257 / (312 · 0.998) = 0.825. The "Maximum Achievable Matmul FLOPS" table
 *   (S. Bekman, Machine Learning Engineering) reports 267.9–271.2 (0.859–0.869) with the cuBLAS of
 *   2023–2025: short runs at the best shape of a sweep, an upper bound (the sweep's later version,
 *   mamf-finder.py v4, adds the rate held over a 2 s window of full load, which "matches sustained
 *   training throughput").
 * - memory 0.88 of the datasheet: 1.80 of 2.04 TB/s measured by a streaming kernel and Nsight
 *   Compute (NVIDIA developer forum, "Trouble to reach peak bandwidth of A100").
 * - NVLink: NCCL all-reduce bus bandwidth ~200 GB/s on 8 × A100-SXM4-80GB (nccl-tests issue
 *   #149; 208 GB/s in issue #178), not the 300 GB/s line rate.
 * - network: 8 HDR 200 Gb/s NICs per node, one per GPU (DGX A100 user guide); NCCL reaches
 *   ~24 GB/s per HDR NIC (NCCL maintainer, NVIDIA/nccl issue #412).
 * H100 SXM5 80 GB (DGX H100):
 * - 989 TFLOP/s dense fp16/bf16, 494.7 TF32 dense, 67 fp32 non-tensor; 132 SMs; 80 GB,
 *   3.35 TB/s HBM3 (NVIDIA H100 datasheet).
 * - efficiency 0.801: 792.1 of 989 TFLOP/s (the "Maximum Achievable Matmul FLOPS" table above),
 *   the best shape of a sweep, so likely high as the A100's was (He 2024 finds the H100's matmuls
 *   limited by power too); no H100 measurement at a full-wave shape on random inputs is at hand.
 * - memory: the A100's measured 0.88 of the datasheet (no H100 measurement at hand; an assumption).
 * - NVLink 4: 450 GB/s line rate; NCCL's ring reaches ~370 GB/s after protocol overhead (NCCL
 *   maintainer, nccl-tests issue #212). NVLink SHARP all-reduce (~480 GB/s bus bandwidth) is not modelled.
 * - network: 8 NDR 400 Gb/s NICs per node (DGX H100 user guide); 46–48 GB/s per NIC with
 *   nccl-tests (NVIDIA, nccl-tests issue #290): 47.
 * H200 SXM 141 GB: the H100's die, clocks and links; 141 GB HBM3e at 4.8 TB/s (NVIDIA H200 datasheet).
 * All: latency per ring step, NCCL's own tuning model (src/graph/tuning.cc, Ring/Simple hardware
 * latency): 3.4 µs over NVLink, 9.6 µs over the network. Kernel launch overhead 2 µs: our choice,
 * in the range of back-to-back launches of short kernels ("Getting Started with CUDA Graphs",
 * NVIDIA technical blog); it matters only for small kernels.
 */
import { z } from "zod";
import { InputError } from "../errors.js";

export interface LinkProfile {
  /**
   * Bytes per second per direction. Intra-node: NCCL's achievable bus bandwidth per device.
   * Inter-node: NCCL's achievable bandwidth of one NIC (a device's share is `nicBandwidthPerDevice`).
   */
  bandwidth: number;
  /** Seconds per message or per ring step (α). */
  latency: number;
}

export interface HardwareProfile {
  name: string;
  /** FLOP/s, dense fp16/bf16 tensor-core peak. */
  peakFlops: number;
  /** FLOP/s of fp32 matmuls: dense TF32 tensor-core peak (fp32 inputs, as PyTorch with TF32 allowed and Megatron-LM run them). */
  peakFlopsFp32: number;
  /** FLOP/s of the non-tensor fp32 units, where elementwise kernels compute. */
  vectorFlops: number;
  /** Fraction of the matmul peak a large GEMM reaches inside full waves (measured; quantisation aside), 0 < efficiency ≤ 1. */
  efficiency: number;
  /** Streaming multiprocessors, over which GEMM tiles are quantised into waves; 0: no quantisation. */
  sms: number;
  /** Achieved HBM bandwidth in bytes per second (Infinity: memory traffic is free). */
  memoryBandwidth: number;
  /** Seconds every kernel launch adds. */
  launchOverhead: number;
  /** Devices per node; ranks r and q share a node iff ⌊r/devicesPerNode⌋ = ⌊q/devicesPerNode⌋. */
  devicesPerNode: number;
  /** Network interfaces per node, shared evenly by its devices. */
  nicsPerNode: number;
  intraNode: LinkProfile;
  interNode: LinkProfile;
  /** Device memory in bytes. */
  memoryBytes: number;
}

const GB = 1e9;
const TFLOPS = 1e12;
/** Achieved over datasheet HBM bandwidth (A100 measurement, header). */
const HBM_ACHIEVED = 0.88;
/** NCCL Ring/Simple per-step latency over NVLink and over the network (header). */
const NVLINK_LATENCY = 3.4e-6;
const NET_LATENCY = 9.6e-6;

/** H100 SXM5 (figures and sources in the header above). */
const h100: HardwareProfile = {
  name: "h100-80gb",
  peakFlops: 989 * TFLOPS,
  peakFlopsFp32: 494.7 * TFLOPS,
  vectorFlops: 67 * TFLOPS,
  efficiency: 0.801,
  sms: 132,
  memoryBandwidth: 3350 * GB * HBM_ACHIEVED,
  launchOverhead: 2e-6,
  devicesPerNode: 8,
  nicsPerNode: 8,
  intraNode: { bandwidth: 370 * GB, latency: NVLINK_LATENCY },
  interNode: { bandwidth: 47 * GB, latency: NET_LATENCY },
  memoryBytes: 80 * GB,
};

export const builtinProfiles = {
  "a100-80gb": {
    name: "a100-80gb",
    peakFlops: 312 * TFLOPS,
    peakFlopsFp32: 156 * TFLOPS,
    vectorFlops: 19.5 * TFLOPS,
    efficiency: 0.825,
    sms: 108,
    memoryBandwidth: 2039 * GB * HBM_ACHIEVED,
    launchOverhead: 2e-6,
    devicesPerNode: 8,
    nicsPerNode: 8,
    intraNode: { bandwidth: 200 * GB, latency: NVLINK_LATENCY },
    interNode: { bandwidth: 24 * GB, latency: NET_LATENCY },
    memoryBytes: 80 * GB,
  },
  "h100-80gb": h100,
  "h200-141gb": { ...h100, name: "h200-141gb", memoryBandwidth: 4800 * GB * HBM_ACHIEVED, memoryBytes: 141 * GB },
  /**
   * Unit costs for tests and teaching: one FLOP takes one second whatever the kernel, memory
   * traffic and launches are free, links are free (latency 0, bandwidth Infinity), so only
   * compute and waiting show on the clock.
   */
  unit: {
    name: "unit",
    peakFlops: 1,
    peakFlopsFp32: 1,
    vectorFlops: 1,
    efficiency: 1,
    sms: 0,
    memoryBandwidth: Infinity,
    launchOverhead: 0,
    devicesPerNode: 8,
    nicsPerNode: 8,
    intraNode: { bandwidth: Infinity, latency: 0 },
    interNode: { bandwidth: Infinity, latency: 0 },
    memoryBytes: Infinity,
  },
} as const satisfies Record<string, HardwareProfile>;

export type ProfileName = keyof typeof builtinProfiles;
export const profileNames = Object.keys(builtinProfiles) as ProfileName[];

/**
 * A device's share of its node's network bandwidth when all its devices talk at once (as the
 * tp ranks of a stage do): NIC bandwidth × NICs / devices, at most one NIC's (NCCL pairs each GPU
 * with its nearest NIC).
 */
export function nicBandwidthPerDevice(hw: HardwareProfile): number {
  return (hw.interNode.bandwidth * Math.min(hw.nicsPerNode, hw.devicesPerNode)) / hw.devicesPerNode;
}

/**
 * Bounds that keep every simulated time finite: a message costs latency + bytes / bandwidth and a
 * kernel flops / rate, summed over a run. A rate under 1 per second or a latency over a million
 * seconds is no hardware, and lets those sums overflow to Infinity.
 */
const MIN_RATE = 1;
const MAX_LATENCY_SECONDS = 1e6;

/** Bandwidth may be Infinity (YAML `.inf`): a free link. */
const rate = (unit: string) => z.union([z.number().min(MIN_RATE, `must be at least ${MIN_RATE} ${unit} (or .inf for free)`), z.literal(Infinity)]);
const linkSchema = z.strictObject({
  bandwidth: rate("byte/s").optional(),
  latency: z.number().nonnegative().max(MAX_LATENCY_SECONDS, `must be at most ${MAX_LATENCY_SECONDS} s`).optional(),
});

/**
 * The `hardware` section of a scenario: a built-in profile (default `a100-80gb`) and optional
 * overrides of any of its fields. Unknown keys are errors.
 */
export const hardwareSchema = z.strictObject({
  profile: z.enum(profileNames as [ProfileName, ...ProfileName[]]).default("a100-80gb"),
  name: z.string().min(1).optional(),
  peakFlops: z.number().min(MIN_RATE, `must be at least ${MIN_RATE} FLOP/s`).optional(),
  peakFlopsFp32: z.number().min(MIN_RATE, `must be at least ${MIN_RATE} FLOP/s`).optional(),
  vectorFlops: z.number().min(MIN_RATE, `must be at least ${MIN_RATE} FLOP/s`).optional(),
  efficiency: z.number().positive().max(1).optional(),
  sms: z.number().int().nonnegative().optional(),
  memoryBandwidth: rate("byte/s").optional(),
  launchOverhead: z.number().nonnegative().max(MAX_LATENCY_SECONDS, `must be at most ${MAX_LATENCY_SECONDS} s`).optional(),
  devicesPerNode: z.number().int().positive().optional(),
  nicsPerNode: z.number().int().positive().optional(),
  intraNode: linkSchema.optional(),
  interNode: linkSchema.optional(),
  memoryBytes: z.number().positive().optional(),
});

export type HardwareSection = z.input<typeof hardwareSchema>;

/**
 * Profile + overrides → a full profile. Validates `section` with `hardwareSchema`. Overriding
 * `peakFlops` alone scales the profile's fp32 and vector rates in proportion (a device that is
 * x times slower is x times slower at everything it computes), unless they are given too.
 */
export function resolveHardware(section: HardwareSection = {}): HardwareProfile {
  const s = parseHardwareSection(section);
  // Every field is copied below (links spread into new objects), so the built-in stays untouched.
  const base: HardwareProfile = builtinProfiles[s.profile];
  const peakFlops = s.peakFlops ?? base.peakFlops;
  const efficiency = s.efficiency ?? base.efficiency;
  const scale = peakFlops / base.peakFlops;
  const rates = { peakFlops, peakFlopsFp32: s.peakFlopsFp32 ?? base.peakFlopsFp32 * scale, vectorFlops: s.vectorFlops ?? base.vectorFlops * scale };
  for (const [field, value] of Object.entries(rates)) {
    const matmul = field !== "vectorFlops";
    if ((matmul ? value * efficiency : value) >= MIN_RATE) continue;
    const named = s.efficiency !== undefined && matmul ? "hardware.efficiency" : `hardware.${field in s ? field : "peakFlops"}`;
    throw new InputError(named, `${field}${matmul ? " × efficiency" : ""} = ${matmul ? value * efficiency : value} FLOP/s; it must be at least ${MIN_RATE} FLOP/s, or simulated times overflow`);
  }
  return {
    name: s.name ?? (hasOverrides(s) ? `${base.name}+overrides` : base.name),
    ...rates,
    efficiency,
    sms: s.sms ?? base.sms,
    memoryBandwidth: s.memoryBandwidth ?? base.memoryBandwidth,
    launchOverhead: s.launchOverhead ?? base.launchOverhead,
    devicesPerNode: s.devicesPerNode ?? base.devicesPerNode,
    nicsPerNode: s.nicsPerNode ?? base.nicsPerNode,
    intraNode: { ...base.intraNode, ...stripUndefined(s.intraNode) },
    interNode: { ...base.interNode, ...stripUndefined(s.interNode) },
    memoryBytes: s.memoryBytes ?? base.memoryBytes,
  };
}
function hasOverrides(s: z.output<typeof hardwareSchema>): boolean {
  return Object.keys(s).some((k) => k !== "profile" && k !== "name");
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Validates a raw `hardware` section; errors become `InputError` with a dotted field path. */
export function parseHardwareSection(raw: unknown, path = "hardware"): z.output<typeof hardwareSchema> {
  const r = hardwareSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const keys = issue.code === "unrecognized_keys" ? `.${issue.keys.join(",")}` : "";
  const field = [path, ...issue.path.map(String)].join(".") + keys;
  throw new InputError(field, issue.message);
}
