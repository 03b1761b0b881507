// Compiles the WebAssembly kernels (assembly/, AssemblyScript with 128-bit SIMD) to
// src/wasm/kernels.wasm, and the same with relaxed SIMD's fused multiply-add in the GEMM to
// src/wasm/kernels-fma.wasm; copies both beside the compiled loader when dist/ exists.
// Skips the compile when the modules are newer than every source file (tests call this each run).
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sources = [...readdirSync(join(root, "assembly")).map((f) => join(root, "assembly", f)), fileURLToPath(import.meta.url)];
// The memory is imported and shared: src/wasm/heap.ts makes it (2 pages for the static data, up to
// the 32-bit maximum) so that tensors can live in it and keep their address when it grows.
const memory = ["--importMemory", "--sharedMemory", "--initialMemory", "2", "--maximumMemory", "65536"];
const builds = [
  { name: "kernels.wasm", features: ["simd", "threads"] },
  { name: "kernels-fma.wasm", features: ["simd", "threads", "relaxed-simd"] },
];

for (const { name, features } of builds) {
  const out = join(root, "src/wasm", name);
  const fresh = existsSync(out) && sources.every((f) => statSync(f).mtimeMs < statSync(out).mtimeMs);
  if (!fresh) {
    const asc = await import("assemblyscript/asc");
    const enable = features.flatMap((f) => ["--enable", f]);
    const { error, stderr } = await asc.main([join(root, "assembly/index.ts"), "--outFile", out, "-O3", "--noAssert", "--runtime", "stub", ...enable, ...memory]);
    if (error) {
      console.error(stderr.toString());
      console.error(`build-wasm: ${error.message}`);
      process.exit(1);
    }
  }
  if (existsSync(join(root, "dist"))) {
    mkdirSync(join(root, "dist/src/wasm"), { recursive: true });
    copyFileSync(out, join(root, "dist/src/wasm", name));
  }
}
