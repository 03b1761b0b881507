/** The WebAssembly kernels: every export is called from src/wasm (see its kernels.ts). */
export { gemm, GEMM_WORK_FLOATS } from "./gemm";
export { attentionForward, attentionBackward } from "./attention";
export { swigluForward, swigluBackward, addInto, addTo } from "./elementwise";
export { adamw, rope, scaleBy } from "./double";
export { rmsnormForward, rmsnormBackward } from "./rmsnorm";
