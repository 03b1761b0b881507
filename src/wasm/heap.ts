/**
 * The WebAssembly kernels' instance and its memory, one per thread (each device worker has its own).
 *
 * A WebAssembly instance addresses only its own memory. The model's float32 tensors are therefore
 * made inside it where they can be (`kernelFloats`: activations, workspaces, a single device's
 * weights, gradients and moments), and a kernel call hands the instance their addresses: no copy.
 * A real-mode device's arena, where its weights and gradients live for the collectives, is made
 * as this memory too (`useKernelMemory`, src/comm/shared.ts). A tensor made elsewhere (anything
 * past RESIDENT_LIMIT, a test's own arrays) is copied into a scratch region for the call and, if
 * the kernel writes it, back out (TypedArray.set: a memcpy). The bench measures that copy against
 * the kernel (`npm run bench -- matmul`).
 *
 * The memory is shared (a SharedArrayBuffer underneath), because growing a shared memory keeps
 * its address range: views made before a grow stay valid, which a tensor that lives for the whole
 * run needs. Nothing made here is freed: the model's buffers are made once and kept, and the limit
 * bounds what a process that builds many models (a test file) can hold.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";

/** The exports of assembly/index.ts (pointers are byte offsets into the memory). */
export interface KernelExports {
  GEMM_WORK_FLOATS: WebAssembly.Global;
  gemm(M: number, N: number, K: number, a: number, ars: number, acs: number, b: number, brs: number, bcs: number, c: number, ldc: number, beta: number, work: number): void;
  attentionForward(out: number, att: number, q: number, k: number, v: number, B: number, T: number, H: number, G: number, D: number, work: number): void;
  swigluForward(out: number, gate: number, up: number, n: number): void;
  swigluBackward(dgate: number, dup: number, dout: number, gate: number, up: number, n: number): void;
  addInto(dst: number, src: number, n: number): void;
  addTo(out: number, a: number, b: number, n: number): void;
  scaleBy(x: number, n: number, factor: number): void;
  adamw(p: number, g: number, m: number, v: number, n: number, beta1: number, c1: number, beta2: number, c2: number, lr: number, eps: number, bias1: number, bias2: number, shrink: number): void;
  rope(out: number, x: number, cos: number, sin: number, rows: number, firstRow: number, NH: number, T: number, half: number, backward: boolean): void;
  rmsnormForward(out: number, rstd: number, inp: number, weight: number, N: number, C: number, eps: number): void;
  rmsnormBackward(dinp: number, dweight: number, dout: number, inp: number, weight: number, rstd: number, N: number, C: number, dw: number): void;
  attentionBackward(dq: number, dk: number, dv: number, dout: number, att: number, q: number, k: number, v: number, B: number, T: number, H: number, G: number, D: number, work: number): void;
}

const WASM_PAGE = 65536;
/** WebAssembly memory is 32-bit: 65 536 pages of 64 KiB. */
const KERNEL_MAX_PAGES = 65536;
/**
 * Pages the module's own static data needs below the first allocation: its build's --initialMemory,
 * which the compiler refuses to build past (AssemblyScript's AS105).
 */
const STATIC_PAGES = 2;
/** Bytes below which a kernel memory holds the module's static data. */
export const KERNEL_STATIC_BYTES = STATIC_PAGES * WASM_PAGE;
/** Alignment of every region handed out (one cache line; v128 needs 16). */
const ALIGN = 64;
/** Bytes of tensors a thread keeps in its memory; past them, `kernelFloats` makes ordinary arrays. */
export const RESIDENT_LIMIT = 1 << 30;
/** The smallest scratch block; a call that needs more gets a block twice the last one's size. */
const MIN_SCRATCH = 1 << 20;

const aligned = (bytes: number): number => Math.ceil(bytes / ALIGN) * ALIGN;

/** A byte range [start, end) of the memory that the call in progress reads or writes. */
type Range = [start: number, end: number];
const overlaps = (a: Range, b: Range): boolean => a[0] < b[1] && b[0] < a[1];

/**
 * One thread's memory: resident tensors (`resident`) and, per kernel call, the addresses of its
 * operands (`read`, `write`, `update`) with scratch regions for those that must be copied, copied
 * back by `finish`.
 */
export class WasmHeap {
  /** Every buffer object the memory has handed out (a grow hands out a new one): views over them address the memory. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private f32: Float32Array = new Float32Array(0);
  /** First byte past everything handed out. */
  private end: number;
  private residentBytes = 0;
  /** The scratch block [block, blockEnd) of kernel calls, and the call's next free byte in it. */
  private block = 0;
  private blockEnd = 0;
  private cursor = 0;
  private reads: Range[] = [];
  private writes: Range[] = [];
  /** Written operands that live outside the memory: copied back by `finish`. */
  private copyBack: { dst: Float32Array; ptr: number; n: number }[] = [];
  /** Resident copies of the tables the kernels have read (`table`), by the arrays they copy. */
  private readonly tables = new WeakMap<Float64Array, number>();
  /** Bytes copied in and out so far (what resident tensors save; the tests read it). */
  copiedBytes = 0;

  constructor(
    readonly kernels: KernelExports,
    readonly memory: WebAssembly.Memory,
    /** Bytes of resident tensors this heap makes before `resident` says no. */
    private readonly limit: number = RESIDENT_LIMIT,
    /** The first byte it may hand out (past the static data, and past a device's arena). */
    start: number = KERNEL_STATIC_BYTES,
  ) {
    this.end = aligned(start);
    this.view();
  }

  /** A zeroed resident tensor of n floats, or null past the limit or the 32-bit memory's end. */
  resident(n: number): Float32Array | null {
    const bytes = aligned(4 * n);
    if (this.residentBytes + bytes > this.limit || this.end + bytes > KERNEL_MAX_PAGES * WASM_PAGE) return null;
    const ptr = this.claim(bytes);
    this.residentBytes += bytes;
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  /** Registers a buffer object over this memory (one made in another thread), so views of it count as resident. */
  adopt(buffer: SharedArrayBuffer): void {
    this.buffers.add(buffer);
  }

  /** Whether x's elements live in this memory (kernels address them where they are). */
  isResident(x: Float32Array): boolean {
    return this.buffers.has(x.buffer);
  }

  /** Starts a call: its scratch regions and operand records are free again. */
  reset(): void {
    this.cursor = this.block;
    this.reads = [];
    this.writes = [];
    this.copyBack = [];
  }

  /** Byte offset of a fresh scratch region of `floats` float32 elements. */
  take(floats: number): number {
    const bytes = aligned(floats * 4);
    if (this.cursor + bytes > this.blockEnd) {
      // A larger block; regions this call already took stay valid in the old one.
      const size = Math.max(2 * (this.blockEnd - this.block), bytes, MIN_SCRATCH);
      this.block = this.claim(size);
      this.blockEnd = this.block + size;
      this.cursor = this.block;
    }
    const ptr = this.cursor;
    this.cursor += bytes;
    return ptr;
  }

  /** Address of an operand the kernel reads: x itself, or a copy (outside the memory, or overlapping one the kernel writes). */
  read(x: Float32Array, n: number = x.length): number {
    const own = this.own(x, n);
    if (own && !this.writes.some((w) => overlaps(w, own))) {
      this.reads.push(own);
      return own[0];
    }
    return this.copy(x, n);
  }

  /** Address where the kernel writes dst's first n floats: dst itself, or a scratch region copied back by `finish`. */
  write(dst: Float32Array, n: number = dst.length): number {
    return this.writable(dst, n, false);
  }

  /** As `write`, for an operand the kernel reads and then writes (an accumulation). */
  update(dst: Float32Array, n: number = dst.length): number {
    return this.writable(dst, n, true);
  }

  /** Copies back the written operands that live outside the memory; ends the call. */
  finish(): void {
    const f32 = this.view();
    for (const { dst, ptr, n } of this.copyBack) {
      dst.set(f32.subarray(ptr >> 2, (ptr >> 2) + n));
      this.copiedBytes += 4 * n;
    }
    this.copyBack = [];
  }

  /**
   * Byte offset of a Float64Array the kernels read as a table (RoPE's cos and sin), which must not
   * change after its first use: copied once into a resident region kept for later calls, or, past
   * the resident limit, into this call's scratch.
   */
  table(src: Float64Array): number {
    let ptr = this.tables.get(src);
    if (ptr === undefined) {
      const bytes = aligned(8 * src.length);
      const resident = this.residentBytes + bytes <= this.limit && this.end + bytes <= KERNEL_MAX_PAGES * WASM_PAGE;
      ptr = resident ? this.claim(bytes) : this.take(2 * src.length);
      new Float64Array(this.memory.buffer, ptr, src.length).set(src);
      if (!resident) return ptr;
      this.residentBytes += bytes;
      this.tables.set(src, ptr);
    }
    return ptr;
  }

  /** The memory as floats (a fresh view after a grow). */
  view(): Float32Array {
    const buffer = this.memory.buffer;
    if (this.f32.buffer !== buffer) {
      this.buffers.add(buffer);
      this.f32 = new Float32Array(buffer);
    }
    return this.f32;
  }

  private writable(dst: Float32Array, n: number, copyIn: boolean): number {
    const own = this.own(dst, n);
    if (own && !this.reads.some((r) => overlaps(r, own)) && !this.writes.some((w) => overlaps(w, own))) {
      this.writes.push(own);
      return own[0];
    }
    const ptr = copyIn ? this.copy(dst, n) : this.take(n);
    this.copyBack.push({ dst, ptr, n });
    return ptr;
  }

  /** Byte offset of a scratch copy of x's first n floats. */
  private copy(x: Float32Array, n: number): number {
    const ptr = this.take(n);
    this.view().set(n === x.length ? x : x.subarray(0, n), ptr >> 2);
    this.copiedBytes += 4 * n;
    return ptr;
  }

  /** x's first n floats as a byte range of the memory, or null if x lives elsewhere. */
  private own(x: Float32Array, n: number): Range | null {
    return this.isResident(x) ? [x.byteOffset, x.byteOffset + 4 * n] : null;
  }

  /** Byte offset of `bytes` fresh bytes past everything handed out, growing the memory. */
  private claim(bytes: number): number {
    const ptr = this.end;
    const pages = Math.ceil((ptr + bytes) / WASM_PAGE) - this.memory.buffer.byteLength / WASM_PAGE;
    if (pages > 0) {
      try {
        this.memory.grow(pages);
      } catch {
        // WebAssembly memory is 32-bit: one call's operands and scratch must fit in 4 GiB.
        throw new RangeError(`a WebAssembly kernel needs ${ptr + bytes} bytes, more than its memory can grow to; run with PARASIM_KERNELS=js`);
      }
    }
    this.end = ptr + bytes;
    this.view();
    return ptr;
  }
}

function moduleBytes(name: string): Buffer {
  const path = fileURLToPath(new URL(`./${name}`, import.meta.url));
  try {
    return readFileSync(path);
  } catch {
    throw new Error(`the WebAssembly kernels are not built (${path} is missing): run npm run build`);
  }
}

/**
 * Whether the engine takes relaxed SIMD, turning it on where it is behind a flag (Node 20's V8
 * 11.3 has it as --experimental-wasm-relaxed-simd; V8 11.4 and later ship it). V8's flags are
 * process-wide, so every worker sees what the first thread turned on.
 */
function relaxedSimd(bytes: Buffer): boolean {
  if (WebAssembly.validate(bytes)) return true;
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  return WebAssembly.validate(bytes);
}

let compiled: { module: WebAssembly.Module; fused: boolean } | null = null;

/**
 * The kernels' module, compiled once per thread: the build whose GEMM fuses each multiply-add
 * (about 1.25× the multiply-then-add rate on a Zen 4 core, and one rounding fewer per term) where
 * the engine takes relaxed SIMD, unless PARASIM_FMA=0; else the plain build. Relaxed SIMD's fused
 * multiply-add is one instruction wherever the CPU has one (every x64 core since 2013, every
 * arm64 core), so results are the same across such hosts.
 */
function kernelModule(): WebAssembly.Module {
  if (compiled === null) {
    const fma = process.env.PARASIM_FMA !== "0" ? moduleBytes("kernels-fma.wasm") : null;
    const fused = fma !== null && relaxedSimd(fma);
    compiled = { module: new WebAssembly.Module(fused ? fma : moduleBytes("kernels.wasm")), fused };
  }
  return compiled.module;
}

/** Which build this thread's kernels run: the GEMM's fused multiply-add, or a multiply and an add. */
export function kernelBuild(): "fused multiply-add" | "multiply and add" {
  kernelModule();
  return compiled!.fused ? "fused multiply-add" : "multiply and add";
}

/**
 * A new instance of the kernels (synchronously) on `memory` (default: a memory of its own), its
 * resident tensors up to `limit` bytes, handing out bytes from `start` on.
 */
export function instantiateKernels(limit: number = RESIDENT_LIMIT, memory?: WebAssembly.Memory, start?: number): WasmHeap {
  memory ??= kernelMemory();
  const instance = new WebAssembly.Instance(kernelModule(), { env: { memory } });
  return new WasmHeap(instance.exports as unknown as KernelExports, memory, limit, start);
}

/** A shared memory the kernels can run on, `bytes` long at first (in whole pages) and growable to 4 GiB. */
export function kernelMemory(bytes: number = KERNEL_STATIC_BYTES): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE), maximum: KERNEL_MAX_PAGES, shared: true });
}

let heap: WasmHeap | null = null;

/** This thread's kernels and their heap, instantiated on first use. */
export function wasmHeap(): WasmHeap {
  heap ??= instantiateKernels();
  return heap;
}

/**
 * Runs this thread's kernels on `memory`, whose buffer `arena` is a device's arena
 * (src/comm/shared.ts) owning the bytes up to `arenaEnd`: the weights and gradients carved out of
 * it become operands without a copy. Only before the kernels' first use in the thread; later the
 * arena stays outside and its tensors are copied, which is slower but the same.
 */
export function useKernelMemory(memory: WebAssembly.Memory, arena: SharedArrayBuffer, arenaEnd: number): void {
  if (!WASM_ON || heap !== null) return;
  heap = instantiateKernels(RESIDENT_LIMIT, memory, arenaEnd);
  heap.adopt(arena);
}

/**
 * n zeroed float32s for a tensor the kernels work on: inside this thread's WebAssembly memory when
 * the kernels run there and it has room (RESIDENT_LIMIT), else an ordinary array.
 */
export function kernelFloats(n: number): Float32Array {
  return (WASM_ON && wasmHeap().resident(n)) || new Float32Array(n);
}

/** Whether every buffer is float32 (the WebAssembly path); float64 buffers take the JavaScript kernels. */
export function allFloat32(...buffers: ArrayLike<number>[]): boolean {
  for (const b of buffers) if (!(b instanceof Float32Array)) return false;
  return true;
}

/**
 * Whether float32 kernels run in WebAssembly: yes unless PARASIM_KERNELS=js (read once per thread;
 * worker threads inherit the environment). The JavaScript kernels stay the float64 reference,
 * and the bench compares both in one run.
 */
const WASM_ON = process.env.PARASIM_KERNELS !== "js";
export function useWasm(): boolean {
  return WASM_ON;
}
