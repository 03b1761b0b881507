/** Shared assertion of the fault tests: a run that fails in time, with every worker terminated. */
import { expect } from "vitest";
import { DeviceError } from "../../src/errors.js";
import type { Cluster } from "../../src/runtime/cluster.js";

/** Awaits `run`, which must reject with a DeviceError within `maxMs`, leaving `cluster` closed and no worker alive. */
export async function expectFailure(cluster: Cluster<unknown>, run: Promise<unknown>, maxMs: number): Promise<DeviceError> {
  const t0 = performance.now();
  const err = await run.then(
    () => {
      throw new Error("expected the run to fail");
    },
    (e: unknown) => e,
  );
  expect(performance.now() - t0).toBeLessThan(maxMs);
  expect(err).toBeInstanceOf(DeviceError);
  expect(cluster.closed).toBe(true);
  expect(cluster.liveWorkers()).toBe(0);
  return err as DeviceError;
}
