/**
 * Shared memory of one cluster, allocated by the main thread and posted to every worker as a
 * plain object (SharedArrayBuffers cross `workerData` by reference).
 *
 * Layout of `control` (Int32, one 64-byte line per slot to avoid false sharing):
 *   line 0:                 abort flag, failure state (0 none, 1 writing, 2 written), culprit rank, text length
 *   line 1 + r:             doorbell of rank r (bumped and notified whenever something it may wait for changes)
 *   line 1 + n + r:         1 while rank r is inside a communication call
 *   line 1 + 2n + 2c (+1):  write counter (read counter) of channel c
 *   line 1 + 2n + 2C + r:   bytes of rank r's arena handed out, in 64-byte units (C = n(n−1) channels)
 * `data` holds one byte stream (ring buffer of `channelBytes`, a power of two) per ordered pair
 * src → dst, src ≠ dst; channel index c = src·(n−1) + (dst < src ? dst : dst − 1).
 * `text` holds the UTF-8 message of the first failure.
 * `arenas[r]` is rank r's shared arena (`arenaBytes` from byte `arenaBase`, zero pages committed
 * only when touched): rank r carves long-lived buffers out of it with `Comm.sharedArray`, and every
 * other rank can read them. Collectives on views of an arena are zero-copy: a ring step reads the
 * neighbour's chunk straight from the neighbour's arena (see zero-copy.ts). With `kernelMemory`,
 * each arena is the buffer of a shared WebAssembly memory (`arenaMemories[r]`) that rank r's
 * kernels run on, above the kernels' static data: the weights and gradients carved out of it are
 * then kernel operands without a copy too (src/wasm/heap.ts, `useKernelMemory`).
 */

import { KERNEL_STATIC_BYTES, kernelMemory } from "../wasm/heap.js";

export interface SharedMemory {
  worldSize: number;
  channelBytes: number;
  watchdogMs: number;
  /** ms, performance.timeOrigin-based: the wall-clock origin shared by every rank's clock. */
  wallOriginMs: number;
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  text: SharedArrayBuffer;
  /** Bytes of each rank's arena. */
  arenaBytes: number;
  /** Byte offset of every arena inside its buffer (0, or past the kernels' static data). */
  arenaBase: number;
  /** One per rank, by rank. */
  arenas: SharedArrayBuffer[];
  /** With `kernelMemory`: the WebAssembly memory whose buffer is each rank's arena, by rank. */
  arenaMemories?: WebAssembly.Memory[];
}

export interface SharedMemoryOptions {
  /** Bytes per directed channel; rounded down to a power of two, at least 64. Default: see `defaultChannelBytes`. */
  channelBytes?: number;
  /** How long a rank waits for a peer that makes no progress before failing the run. Default 30 s. */
  watchdogMs?: number;
  wallOriginMs?: number;
  /**
   * Bytes of each rank's shared arena (for `Comm.sharedArray`), rounded up to 64. Default 1 GiB:
   * address space only, pages are committed when a rank first writes them.
   */
  arenaBytes?: number;
  /**
   * Make each arena a shared WebAssembly memory that its rank's kernels run on (real-mode devices),
   * when the arena leaves room in the 32-bit memory for the rank's other tensors (KERNEL_ARENA_MAX).
   */
  kernelMemory?: boolean;
}

/** The largest arena made a kernel memory: half of WebAssembly's 4 GiB, the rest for activations. */
const KERNEL_ARENA_MAX = 2 ** 31;

/** Default bytes of a rank's shared arena (see `SharedMemoryOptions.arenaBytes`). */
export const DEFAULT_ARENA_BYTES = 1 << 30;
/** Alignment and allocation unit of arena buffers (one cache line). */
export const ARENA_ALIGN = 64;

const LINE = 16;
export const ABORT = 0;
export const FAIL_STATE = 1;
export const FAIL_RANK = 2;
export const FAIL_LEN = 3;
const TEXT_BYTES = 2048;

export const bellIndex = (r: number): number => LINE * (1 + r);
export const inCommIndex = (n: number, r: number): number => LINE * (1 + n + r);
export const channelIndex = (n: number, src: number, dst: number): number => src * (n - 1) + (dst < src ? dst : dst - 1);
export const writeIndex = (n: number, c: number): number => LINE * (1 + 2 * n + 2 * c);
export const readIndex = (n: number, c: number): number => LINE * (2 + 2 * n + 2 * c);
export const arenaTopIndex = (n: number, r: number): number => LINE * (1 + 2 * n + 2 * n * (n - 1) + r);

/**
 * 256 MiB of channels in all, split over the n(n−1) channels, as a power of two between 64 KiB and
 * 16 MiB (n = 2, 4: 16 MiB; 8: 4 MiB; 16: 1 MiB). Pages are committed only when touched. Larger
 * channels mean fewer hand-offs: a 64 MB all-reduce over 4 workers took 98 ms with 1 MiB channels
 * and 61 ms with 4–16 MiB on the 2-core machine.
 */
export function defaultChannelBytes(worldSize: number): number {
  const channels = Math.max(1, worldSize * (worldSize - 1));
  const per = 2 ** Math.floor(Math.log2((256 << 20) / channels));
  return Math.min(16 << 20, Math.max(64 << 10, per));
}

export function allocateSharedMemory(worldSize: number, options: SharedMemoryOptions = {}): SharedMemory {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`worldSize must be an integer ≥ 1, got ${worldSize}`);
  const wanted = Math.max(64, Math.floor(options.channelBytes ?? defaultChannelBytes(worldSize)));
  const channelBytes = 2 ** Math.floor(Math.log2(wanted));
  const channels = worldSize * (worldSize - 1);
  const control = new SharedArrayBuffer(4 * LINE * (1 + 2 * worldSize + 2 * channels + worldSize));
  new Int32Array(control)[FAIL_RANK] = -1;
  const arenaWanted = options.arenaBytes ?? DEFAULT_ARENA_BYTES;
  if (!Number.isFinite(arenaWanted) || arenaWanted < 0) throw new RangeError(`arenaBytes must be a size in bytes ≥ 0, got ${arenaWanted}`);
  const arenaBytes = Math.ceil(arenaWanted / ARENA_ALIGN) * ARENA_ALIGN;
  const kernel = options.kernelMemory === true && arenaBytes <= KERNEL_ARENA_MAX;
  const arenaBase = kernel ? KERNEL_STATIC_BYTES : 0;
  const memories = kernel ? Array.from({ length: worldSize }, () => kernelMemory(arenaBase + arenaBytes)) : undefined;
  return {
    worldSize,
    channelBytes,
    watchdogMs: options.watchdogMs ?? 30_000,
    wallOriginMs: options.wallOriginMs ?? performance.timeOrigin + performance.now(),
    control,
    data: new SharedArrayBuffer(channels * channelBytes),
    text: new SharedArrayBuffer(TEXT_BYTES),
    arenaBytes,
    arenaBase,
    arenas: memories ? memories.map((m) => m.buffer as SharedArrayBuffer) : Array.from({ length: worldSize }, () => new SharedArrayBuffer(arenaBytes)),
    ...(memories ? { arenaMemories: memories } : {}),
  };
}

export interface FailureRecord {
  rank: number;
  message: string;
}

/**
 * Records the first failure of the run (later ones are ignored) and aborts every rank.
 * Returns false when another failure was recorded first.
 */
export function recordFailure(shared: SharedMemory, rank: number, message: string): boolean {
  const ctl = new Int32Array(shared.control);
  const won = Atomics.compareExchange(ctl, FAIL_STATE, 0, 1) === 0;
  if (won) {
    const bytes = new TextEncoder().encode(message).subarray(0, shared.text.byteLength);
    new Uint8Array(shared.text).set(bytes);
    Atomics.store(ctl, FAIL_RANK, rank);
    Atomics.store(ctl, FAIL_LEN, bytes.length);
    Atomics.store(ctl, FAIL_STATE, 2);
  }
  abortAll(shared);
  return won;
}

/** The first recorded failure, if any (and fully written). */
export function readFailure(shared: SharedMemory): FailureRecord | null {
  const ctl = new Int32Array(shared.control);
  if (Atomics.load(ctl, FAIL_STATE) !== 2) return null;
  const len = Atomics.load(ctl, FAIL_LEN);
  const bytes = Uint8Array.from(new Uint8Array(shared.text, 0, len));
  return { rank: Atomics.load(ctl, FAIL_RANK), message: new TextDecoder().decode(bytes) };
}

/** Sets the abort flag and wakes every rank; their waits throw `AbortedError`. */
export function abortAll(shared: SharedMemory): void {
  const ctl = new Int32Array(shared.control);
  Atomics.store(ctl, ABORT, 1);
  for (let r = 0; r < shared.worldSize; r++) {
    Atomics.add(ctl, bellIndex(r), 1);
    Atomics.notify(ctl, bellIndex(r));
  }
}
