/**
 * The worker side of a cluster: what a worker entry file uses.
 *
 *   import { exposeApi, workerInit } from "../src/runtime/worker.js";
 *   import { Comm } from "../src/comm/comm.js";
 *   const init = workerInit<{ seed: number }>();
 *   const comm = new Comm(init.shared, init.rank);
 *   exposeApi({ sum(x: number[]) { const b = Float32Array.from(x); comm.allReduce(b, [0, 1], "t"); return [...b]; } });
 */
import { parentPort, workerData, isMainThread } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";
import type { SharedMemory } from "../comm/shared.js";

/** What every worker of a cluster receives as `workerData`. */
export interface WorkerInit<D = unknown> {
  rank: number;
  worldSize: number;
  shared: SharedMemory;
  /** The user data passed to `Cluster.launch` (per rank if a function was given). */
  data: D;
  /** The entry file URL (used by workers/bootstrap.mjs). */
  entry: string;
}

export function workerInit<D = unknown>(): WorkerInit<D> {
  if (isMainThread || !workerData) throw new Error("workerInit() must be called inside a cluster worker");
  return workerData as WorkerInit<D>;
}

/** Exposes `api` to the main thread through comlink over this worker's parentPort. */
export function exposeApi(api: object): void {
  if (!parentPort) throw new Error("exposeApi() must be called inside a worker thread");
  Comlink.expose(api, nodeEndpoint(parentPort));
}
