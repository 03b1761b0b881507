/** The WebAssembly kernels: every export is called from src/wasm (see its kernels.ts). */
export { gemm, GEMM_WORK_FLOATS } from "./gemm";
export { attentionForward, attentionBackward } from "./attention";
