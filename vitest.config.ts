import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Multi-worker tests spawn their own threads; running test files in parallel on a
    // 2-core machine only makes them contend, so keep the file pool small.
    maxWorkers: 2,
  },
});
