// Compiles the WebAssembly kernels (assembly/, AssemblyScript with 128-bit SIMD) to
// src/wasm/kernels.wasm, and copies the module beside the compiled loader when dist/ exists.
// Skips the compile when the module is newer than every source file (tests call this each run).
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "src/wasm/kernels.wasm");
const sources = [...readdirSync(join(root, "assembly")).map((f) => join(root, "assembly", f)), fileURLToPath(import.meta.url)];
const fresh = existsSync(out) && sources.every((f) => statSync(f).mtimeMs < statSync(out).mtimeMs);

if (!fresh) {
  const asc = await import("assemblyscript/asc");
  // The memory is imported and shared: src/wasm/heap.ts makes it (2 pages for the static data, up to
  // the 32-bit maximum) so that tensors can live in it and keep their address when it grows.
  const memory = ["--importMemory", "--sharedMemory", "--initialMemory", "2", "--maximumMemory", "65536"];
  const args = [join(root, "assembly/index.ts"), "--outFile", out, "-O3", "--noAssert", "--runtime", "stub", "--enable", "simd", "--enable", "threads", ...memory];
  const { error, stderr } = await asc.main(args);
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${error.message}`);
    process.exit(1);
  }
}
if (existsSync(join(root, "dist"))) {
  mkdirSync(join(root, "dist/src/wasm"), { recursive: true });
  copyFileSync(out, join(root, "dist/src/wasm/kernels.wasm"));
}
