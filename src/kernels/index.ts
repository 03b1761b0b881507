/** The kernels, one file per concern (see each file's legend). */
export * from "./types.js";
export * from "./linear.js";
export * from "./embedding.js";
export * from "./rmsnorm.js";
export * from "./rope.js";
export * from "./attention.js";
export * from "./flash-attention.js";
export * from "./sparse-pattern.js";
export * from "./sparse-attention.js";
export * from "./swiglu.js";
export * from "./layernorm.js";
export * from "./gelu.js";
export * from "./bias.js";
export * from "./residual.js";
export * from "./flops.js";
