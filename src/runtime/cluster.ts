/**
 * The cluster: one worker thread per rank, driven through comlink, sharing one SharedMemory.
 *
 * Failure handling (see docs/architecture.md): the first real failure — a call that throws, a
 * worker that dies or exits, a rank that a peer waited for longer than `watchdogMs`, a call that
 * runs past `timeoutMs` — is recorded once in shared memory and aborts every rank (their waits throw
 * AbortedError, which is never reported as the cause). The pending call rejects with a
 * DeviceError naming the failed rank, the action it was running and the cause, after every
 * worker has been terminated; the cluster is then closed. SIGINT terminates every worker too.
 *
 * Entries: a `.ts`/`.mts` entry (running from sources under vitest or tsx) starts
 * workers/bootstrap.mjs, which registers tsx and imports the entry; a `.js` entry (compiled,
 * dist/workers/device.js) starts directly. `workerEntry(import.meta.url, "../../workers/device")`
 * picks the extension matching the calling module.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";
import { DeviceError } from "../errors.js";
import { abortAll, allocateSharedMemory, readFailure, recordFailure, type SharedMemory } from "../comm/shared.js";
import type { WorkerInit } from "./worker.js";

export type { WorkerInit } from "./worker.js";

export interface LaunchOptions<D = unknown> {
  /** Worker entry file (URL or file URL string); `.ts` entries go through workers/bootstrap.mjs. */
  entry: URL | string;
  worldSize: number;
  /** Bytes per directed channel (see comm/shared.ts `defaultChannelBytes`). */
  channelBytes?: number;
  /** A rank waiting longer than this for a peer that makes no progress fails the run. Default 30 s. */
  watchdogMs?: number;
  /**
   * Bytes of each rank's shared arena, where `Comm.sharedArray` allocates buffers whose
   * collectives are zero-copy (see comm/shared.ts). Default 1 GiB of address space per rank.
   */
  arenaBytes?: number;
  /** Each rank's arena is the memory its WebAssembly kernels run on (see comm/shared.ts `kernelMemory`). */
  kernelMemory?: boolean;
  /** How long workers may take to start and expose their API. Default 60 s. */
  startupMs?: number;
  /** User data for every worker, or a function of the rank. Must be structured-cloneable. */
  data?: D | ((rank: number) => D);
}

export interface CallOptions {
  /** Ranks to call (default all). */
  ranks?: readonly number[];
  /** Fail the run if the call has not finished on every rank within this many ms. */
  timeoutMs?: number;
}

/** Picks `<base>/<relative>.ts` when the calling module runs from sources, `.js` when compiled. */
export function workerEntry(importMetaUrl: string, relativeNoExt: string): URL {
  const ext = isTypeScript(importMetaUrl) ? ".ts" : ".js";
  return new URL(relativeNoExt + ext, importMetaUrl);
}

const bootstrapUrl = new URL("../../workers/bootstrap.mjs", import.meta.url);

/** Whether a module runs from TypeScript sources (vitest, tsx) rather than the compiled build. */
function isTypeScript(url: string): boolean {
  return /\.[cm]?ts$/.test(new URL(url).pathname);
}

/**
 * One of parasim's own worker files in workers/: `compiled` next to the compiled build, `source`
 * when running from TypeScript sources — unless PARASIM_WORKERS_DIR names a folder of compiled
 * workers (the test suite points it at its fresh build: compiled workers start several times
 * faster than TypeScript compiled by tsx in every worker).
 */
export function workerFile(file: { compiled: string; source: string }): URL {
  const dir = process.env.PARASIM_WORKERS_DIR;
  if (dir) return pathToFileURL(join(dir, file.compiled));
  return new URL(`../../workers/${isTypeScript(import.meta.url) ? file.source : file.compiled}`, import.meta.url);
}

export class Cluster<Api> {
  private readonly exited: boolean[];
  private readonly actions = new Map<number, string>();
  private failure: DeviceError | null = null;
  /** The pending calls' rejections: a failure ends every call in flight, not only the latest. */
  private readonly failListeners = new Set<(e: DeviceError) => void>();
  private closing: Promise<void> | null = null;
  private readonly onSigint = (): void => {
    process.off("SIGINT", this.onSigint);
    abortAll(this.shared);
    void this.close().then(() => {
      if (process.listenerCount("SIGINT") === 0) process.kill(process.pid, "SIGINT");
    });
  };

  private constructor(
    readonly shared: SharedMemory,
    private readonly workers: Worker[],
    readonly remotes: Comlink.Remote<Api>[],
  ) {
    this.exited = workers.map(() => false);
  }

  get worldSize(): number {
    return this.workers.length;
  }

  /** Thread ids of the workers, by rank. */
  get threadIds(): number[] {
    return this.workers.map((w) => w.threadId);
  }

  /** Workers that have not exited yet. */
  liveWorkers(): number {
    return this.exited.filter((e) => !e).length;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  static async launch<Api, D = unknown>(options: LaunchOptions<D>): Promise<Cluster<Api>> {
    const { worldSize } = options;
    const shared = allocateSharedMemory(worldSize, {
      channelBytes: options.channelBytes,
      watchdogMs: options.watchdogMs,
      arenaBytes: options.arenaBytes,
      kernelMemory: options.kernelMemory,
    });
    const entry = (options.entry instanceof URL ? options.entry : new URL(options.entry)).href;
    const viaBootstrap = isTypeScript(entry);
    const workers: Worker[] = [];
    const remotes: Comlink.Remote<Api>[] = [];
    for (let rank = 0; rank < worldSize; rank++) {
      const data = typeof options.data === "function" ? (options.data as (r: number) => D)(rank) : options.data;
      const init: WorkerInit<D | undefined> = { rank, worldSize, shared, data, entry };
      const worker = new Worker(viaBootstrap ? bootstrapUrl : new URL(entry), { workerData: init, name: `rank ${rank}` });
      workers.push(worker);
      remotes.push(Comlink.wrap<Api>(nodeEndpoint(worker)));
    }
    const cluster = new Cluster<Api>(shared, workers, remotes);
    workers.forEach((w, rank) => {
      w.on("error", (err: Error) => cluster.fatal(rank, `uncaught ${err.name}: ${err.message}`));
      w.on("exit", (code: number) => {
        cluster.exited[rank] = true;
        if (!cluster.closed) cluster.fatal(rank, `worker exited with code ${code}`);
      });
    });
    process.on("SIGINT", cluster.onSigint);
    try {
      await cluster.all("startup", (api) => (api as unknown as Record<string, Promise<unknown>>)["__parasimReady"], {
        timeoutMs: options.startupMs ?? 60_000,
      });
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /**
   * Runs `fn` for every rank (or `options.ranks`) concurrently; resolves with the results by rank
   * order of the call, or rejects with the DeviceError of the first real failure (the cluster is
   * then closed).
   */
  all<R>(action: string, fn: (api: Comlink.Remote<Api>, rank: number) => R | Promise<R>, options: CallOptions = {}): Promise<Awaited<R>[]> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`cluster is closed; cannot run ${action}`));
    const ranks = options.ranks ?? this.workers.map((_, r) => r);
    for (const r of ranks) this.actions.set(r, action);
    return new Promise<Awaited<R>[]>((resolve, reject) => {
      const results: Awaited<R>[] = new Array(ranks.length);
      const pending = new Set(ranks);
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        settled = true;
        if (timer) clearTimeout(timer);
        this.failListeners.delete(onFail);
        for (const r of ranks) this.actions.delete(r);
      };
      const onFail = (e: DeviceError): void => {
        if (settled) return;
        finish();
        reject(e);
      };
      this.failListeners.add(onFail);
      if (options.timeoutMs !== undefined && Number.isFinite(options.timeoutMs)) {
        timer = setTimeout(() => {
          const late = [...pending][0];
          if (late !== undefined) this.fatal(late, `did not finish ${action} within ${options.timeoutMs} ms`);
        }, options.timeoutMs);
      }
      ranks.forEach((rank, i) => {
        Promise.resolve()
          .then(() => fn(this.remotes[rank]!, rank))
          .then(
            (value) => {
              if (settled) return;
              results[i] = value as Awaited<R>;
              pending.delete(rank);
              if (pending.size === 0) {
                finish();
                resolve(results);
              }
            },
            (err: unknown) => {
              if (settled) return;
              const e = err instanceof Error ? err : new Error(String(err));
              if (e.name === "AbortedError") this.fatal(rank, e.message, false);
              else this.fatal(rank, `${e.name}: ${e.message}`);
            },
          );
      });
    });
  }

  /** Runs `fn` on one rank. */
  async one<R>(rank: number, action: string, fn: (api: Comlink.Remote<Api>) => R | Promise<R>, options: Omit<CallOptions, "ranks"> = {}): Promise<Awaited<R>> {
    const [r] = await this.all(action, (api) => fn(api), { ...options, ranks: [rank] });
    return r as Awaited<R>;
  }

  /** Terminates every worker (idempotent). */
  close(): Promise<void> {
    if (!this.closing) {
      process.off("SIGINT", this.onSigint);
      this.closing = Promise.all(
        this.workers.map((w, r) =>
          this.exited[r]
            ? Promise.resolve()
            : w.terminate().then(() => {
                this.exited[r] = true;
              }),
        ),
      ).then(() => undefined);
    }
    return this.closing;
  }

  /**
   * Records a failure of `rank` (the first one wins), aborts every rank, terminates the
   * workers and rejects the pending call. `real` = false for AbortedErrors: they only report a
   * failure already recorded (by a peer's watchdog or by this thread).
   */
  private fatal(rank: number, cause: string, real = true): void {
    if (this.failure) return;
    if (real) recordFailure(this.shared, rank, cause);
    else abortAll(this.shared);
    const recorded = readFailure(this.shared) ?? { rank, message: cause };
    const action = this.actions.get(recorded.rank) ?? "no action (between calls)";
    this.failure = new DeviceError(recorded.rank, action, recorded.message);
    const failure = this.failure;
    void this.close().then(() => {
      for (const listener of [...this.failListeners]) listener(failure);
    });
  }
}

/** Launches a cluster, runs `fn`, and always closes it. */
export async function withCluster<Api, D, R>(options: LaunchOptions<D>, fn: (cluster: Cluster<Api>) => Promise<R>): Promise<R> {
  const cluster = await Cluster.launch<Api, D>(options);
  try {
    return await fn(cluster);
  } finally {
    await cluster.close();
  }
}
