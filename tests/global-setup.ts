/**
 * Builds the package once before the suite: the CLI tests run the built `bin`, and device workers
 * start from the compiled entry (tsc output of the same sources), which starts about 4× faster
 * than TypeScript compiled on the fly by tsx in every worker. Then the WebAssembly kernels
 * (scripts/build-wasm.mjs: compiled when assembly/ changed, copied beside the compiled loader),
 * so a fresh clone's `npm test` has them too.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit",
  });
  execFileSync(process.execPath, [fileURLToPath(new URL("../scripts/build-wasm.mjs", import.meta.url))], { cwd: root, stdio: "inherit" });
  process.env.PARASIM_WORKERS_DIR = fileURLToPath(new URL("../dist/workers", import.meta.url));
}
