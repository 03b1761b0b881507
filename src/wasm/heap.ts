/**
 * The WebAssembly kernels' instance and its memory, one per thread (each device worker has its own).
 *
 * Tensors live in JavaScript (Float32Arrays over the devices' arenas and private buffers), and a
 * WebAssembly instance can address only its own memory, so a call copies its inputs in, runs, and
 * copies its outputs back out (TypedArray.set: a memcpy). The bench measures that copy against the
 * kernel (`npm run bench -- matmul`): a few per cent of a GEMM, whose work grows as n³ while
 * its copies grow as n². The memory grows to the largest call's need and is reused by every call.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The exports of assembly/index.ts (pointers are byte offsets into `memory`). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  GEMM_WORK_FLOATS: WebAssembly.Global;
  gemm(M: number, N: number, K: number, a: number, ars: number, acs: number, b: number, brs: number, bcs: number, c: number, ldc: number, beta: number, work: number): void;
  attentionForward(out: number, att: number, q: number, k: number, v: number, B: number, T: number, H: number, G: number, D: number, work: number): void;
  swigluForward(out: number, gate: number, up: number, n: number): void;
  swigluBackward(dgate: number, dup: number, dout: number, gate: number, up: number, n: number): void;
  addInto(dst: number, src: number, n: number): void;
  adamw(p: number, g: number, m: number, v: number, n: number, beta1: number, c1: number, beta2: number, c2: number, lr: number, eps: number, bias1: number, bias2: number, shrink: number): void;
  rope(out: number, x: number, cos: number, sin: number, rows: number, firstRow: number, NH: number, T: number, half: number, backward: boolean): void;
  rmsnormForward(out: number, rstd: number, inp: number, weight: number, N: number, C: number, eps: number): void;
  rmsnormBackward(dinp: number, dweight: number, dout: number, inp: number, weight: number, rstd: number, N: number, C: number, dw: number): void;
  attentionBackward(dq: number, dk: number, dv: number, dout: number, att: number, q: number, k: number, v: number, B: number, T: number, H: number, G: number, D: number, work: number): void;
}

const WASM_PAGE = 65536;
/** Alignment of every region handed out (one cache line; v128 needs 16). */
const ALIGN = 64;

/**
 * Bump allocation over the instance's memory for the duration of one kernel call: `reset`, `take`
 * each region, `view` (grows the memory if needed and returns a Float32Array over all of it).
 */
export class WasmHeap {
  private top: number;
  private f32: Float32Array;

  constructor(
    readonly kernels: KernelExports,
    /** First byte past the module's static data (the start of the call regions). */
    private readonly base: number,
  ) {
    this.top = base;
    this.f32 = new Float32Array(kernels.memory.buffer);
  }

  /** Starts a call: every region taken before is free again. */
  reset(): void {
    this.top = this.base;
  }

  /** Byte offset of a fresh region of `floats` float32 elements. */
  take(floats: number): number {
    const ptr = this.top;
    this.top += Math.ceil((floats * 4) / ALIGN) * ALIGN;
    return ptr;
  }

  /** Byte offset of a region holding a copy of `src`'s first `n` elements. */
  input(src: Float32Array, n: number): number {
    const ptr = this.take(n);
    this.view().set(n === src.length ? src : src.subarray(0, n), ptr >> 2);
    return ptr;
  }

  /** Byte offset of a region holding a copy of a Float64Array. */
  inputF64(src: Float64Array): number {
    const ptr = this.take(2 * src.length);
    this.view();
    new Float64Array(this.kernels.memory.buffer, ptr, src.length).set(src);
    return ptr;
  }

  /** Copies `n` floats at byte offset `ptr` into dst[0, n). */
  output(dst: Float32Array, ptr: number, n: number): void {
    dst.set(this.view().subarray(ptr >> 2, (ptr >> 2) + n));
  }

  /** The memory as floats, grown first to hold every region taken so far. */
  view(): Float32Array {
    const memory = this.kernels.memory;
    if (this.top > memory.buffer.byteLength) {
      try {
        memory.grow(Math.ceil((this.top - memory.buffer.byteLength) / WASM_PAGE));
      } catch {
        // WebAssembly memory is 32-bit: one call's operands and scratch must fit in 4 GiB.
        throw new RangeError(`a WebAssembly kernel call needs ${this.top} bytes, more than its memory can grow to; run with PARASIM_KERNELS=js`);
      }
    }
    if (this.f32.buffer !== memory.buffer) this.f32 = new Float32Array(memory.buffer);
    return this.f32;
  }
}

let heap: WasmHeap | null = null;

/** This thread's kernels and their heap, compiled and instantiated on first use (synchronously). */
export function wasmHeap(): WasmHeap {
  if (heap === null) {
    const path = fileURLToPath(new URL("./kernels.wasm", import.meta.url));
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new Error(`the WebAssembly kernels are not built (${path} is missing): run npm run build`);
    }
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    const kernels = instance.exports as unknown as KernelExports;
    // Call regions start past the memory the module was instantiated with (its static data is below).
    heap = new WasmHeap(kernels, kernels.memory.buffer.byteLength);
  }
  return heap;
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
