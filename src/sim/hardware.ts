/**
 * Hardware profiles: what one device computes and how fast its links move bytes.
 *
 * Figures come from vendor datasheets and published measurements (listed with their sources in
 * docs/architecture.md):
 * - A100 SXM4 80 GB: 312 TFLOP/s bf16 dense tensor core (NVIDIA A100 datasheet);
 *   NVLink 3: 600 GB/s total = 300 GB/s per direction per GPU;
 *   InfiniBand HDR 200 Gb/s = 25 GB/s per GPU (one NIC per GPU, DGX A100 layout).
 * - H100 SXM5 80 GB: 989 TFLOP/s bf16 dense (NVIDIA H100 datasheet);
 *   NVLink 4: 900 GB/s total = 450 GB/s per direction; InfiniBand NDR 400 Gb/s = 50 GB/s per GPU.
 * - efficiency 0.5: Megatron-LM (Narayanan et al. 2021) reaches 163 TFLOP/s per A100, 52 % of
 *   peak, at 3072 GPUs; large runs typically achieve 40–55 %.
 * - latencies (our choice, the α of the α–β model): NVLink 3 µs, InfiniBand 8 µs. nccl-tests
 *   report small-message all-reduce times of a few µs per hop inside a node and ~5–10 µs per
 *   hop across InfiniBand (software + NIC + switch); the exact value matters only for small
 *   messages, which is where α dominates anyway.
 */
import { z } from "zod";
import { InputError } from "../errors.js";

export interface LinkProfile {
  /** Bytes per second per direction per device. */
  bandwidth: number;
  /** Seconds per message (α). */
  latency: number;
}

export interface HardwareProfile {
  name: string;
  /** FLOP/s, dense bf16/fp16 tensor-core peak. */
  peakFlops: number;
  /** Achieved fraction of peak, 0 < efficiency ≤ 1. */
  efficiency: number;
  /** Devices per node; ranks r and q share a node iff ⌊r/devicesPerNode⌋ = ⌊q/devicesPerNode⌋. */
  devicesPerNode: number;
  intraNode: LinkProfile;
  interNode: LinkProfile;
  /** Device memory in bytes. */
  memoryBytes: number;
}

const GB = 1e9;

/** H100 SXM5 (figures and sources in the header above). */
const h100: HardwareProfile = {
  name: "h100-80gb",
  peakFlops: 989e12,
  efficiency: 0.5,
  devicesPerNode: 8,
  intraNode: { bandwidth: 450 * GB, latency: 3e-6 },
  interNode: { bandwidth: 50 * GB, latency: 8e-6 },
  memoryBytes: 80 * GB,
};

export const builtinProfiles = {
  "a100-80gb": {
    name: "a100-80gb",
    peakFlops: 312e12,
    efficiency: 0.5,
    devicesPerNode: 8,
    intraNode: { bandwidth: 300 * GB, latency: 3e-6 },
    interNode: { bandwidth: 25 * GB, latency: 8e-6 },
    memoryBytes: 80 * GB,
  },
  "h100-80gb": h100,
  /** H200 SXM: compute and links as H100 (the same GH100 die and NVLink 4; NVIDIA H200 datasheet), 141 GB HBM3e. */
  "h200-141gb": { ...h100, name: "h200-141gb", memoryBytes: 141 * GB },
  /**
   * Unit costs for tests and teaching: one FLOP takes one second, links are free
   * (latency 0, bandwidth Infinity), so only compute and waiting show on the clock.
   */
  unit: {
    name: "unit",
    peakFlops: 1,
    efficiency: 1,
    devicesPerNode: 8,
    intraNode: { bandwidth: Infinity, latency: 0 },
    interNode: { bandwidth: Infinity, latency: 0 },
    memoryBytes: Infinity,
  },
} as const satisfies Record<string, HardwareProfile>;

export type ProfileName = keyof typeof builtinProfiles;
export const profileNames = Object.keys(builtinProfiles) as ProfileName[];

/**
 * Bounds that keep every simulated time finite: a message costs latency + bytes / bandwidth and a
 * kernel flops / (peakFlops × efficiency), summed over a run. A rate under 1 per second or a
 * latency over a million seconds is no hardware, and lets those sums overflow to Infinity.
 */
const MIN_RATE = 1;
const MAX_LATENCY_SECONDS = 1e6;

/** Bandwidth may be Infinity (YAML `.inf`): a free link. */
const linkSchema = z.strictObject({
  bandwidth: z.union([z.number().min(MIN_RATE, `must be at least ${MIN_RATE} byte/s (or .inf for a free link)`), z.literal(Infinity)]).optional(),
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
  efficiency: z.number().positive().max(1).optional(),
  devicesPerNode: z.number().int().positive().optional(),
  intraNode: linkSchema.optional(),
  interNode: linkSchema.optional(),
  memoryBytes: z.number().positive().optional(),
});

export type HardwareSection = z.input<typeof hardwareSchema>;

/** Profile + overrides → a full profile. Validates `section` with `hardwareSchema`. */
export function resolveHardware(section: HardwareSection = {}): HardwareProfile {
  const s = parseHardwareSection(section);
  // Every field is copied below (links spread into new objects), so the built-in stays untouched.
  const base: HardwareProfile = builtinProfiles[s.profile];
  const peakFlops = s.peakFlops ?? base.peakFlops;
  const efficiency = s.efficiency ?? base.efficiency;
  if (peakFlops * efficiency < MIN_RATE) {
    const field = s.efficiency !== undefined ? "hardware.efficiency" : "hardware.peakFlops";
    throw new InputError(field, `peakFlops × efficiency = ${peakFlops * efficiency} FLOP/s; it must be at least ${MIN_RATE} FLOP/s, or simulated times overflow`);
  }
  return {
    name: s.name ?? (hasOverrides(s) ? `${base.name}+overrides` : base.name),
    peakFlops,
    efficiency,
    devicesPerNode: s.devicesPerNode ?? base.devicesPerNode,
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
