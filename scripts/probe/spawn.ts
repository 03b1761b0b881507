/**
 * Runs one case through the built CLI: a child process with a wall-clock limit, a resident-memory
 * bound (sampled from /proc) and, for signal cases, the signal sent when its trigger fires.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, watch, type FSWatcher } from "node:fs";
import type { Case, Observed, Trigger } from "./types.js";

/** The built CLI under test: this checkout's, or another build's (PARASIM_BIN, e.g. to probe an older commit). */
export const BIN = process.env.PARASIM_BIN ?? new URL("../../dist/src/cli.js", import.meta.url).pathname;

const GiB = 2 ** 30;
const SAMPLE_MS = 25;

/** Resident bytes of a live process (all its threads), or 0 once it is gone. */
function rssBytes(pid: number): number {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

/** Threads of a live process, or 0 once it is gone. */
export function threadCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

/** Threads of a CLI process before it starts any device worker; set by calibrateThreads. */
let bareThreads = 0;

/** Measures a bare CLI's threads: a one-device run's steady count less its one worker. */
export async function calibrateThreads(args: string[], cwd: string): Promise<number> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: "ignore" });
  let most = 0;
  const started = Date.now();
  while (Date.now() - started < 6000 && child.exitCode === null) {
    most = Math.max(most, threadCount(child.pid!));
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
  }
  child.kill("SIGKILL");
  bareThreads = most - 1;
  return bareThreads;
}

/** Calls `fire` once the trigger's condition holds; returns a function that stops watching. */
function arm(trigger: Trigger, pid: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  const later = (ms: number) => (timer = setTimeout(fire, ms));
  if (trigger.at === "spawn") later(trigger.delayMs);
  if (trigger.at === "file") {
    watcher = watch(trigger.dir, (_event, name) => {
      if (timer === undefined && name && trigger.name.test(name)) later(trigger.delayMs);
    });
  }
  if (trigger.at === "threads") {
    poll = setInterval(() => {
      if (timer === undefined && threadCount(pid) >= bareThreads + trigger.workers) {
        clearInterval(poll);
        later(trigger.delayMs);
      }
    }, SAMPLE_MS);
  }
  return () => {
    clearTimeout(timer);
    clearInterval(poll);
    watcher?.close();
  };
}

export function runCase(c: Case, cwd: string): Promise<Observed> {
  const limitMs = c.timeoutMs ?? (c.signal ? 180_000 : 60_000);
  const memory = c.memoryBytes ?? (c.expect.kind === "refused" ? 1 * GiB : 4 * GiB);
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...c.args], { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PARASIM_DEBUG: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let peak = 0;
    let overMemory = false;
    let timedOut = false;
    let signalledAt: number | null = null;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(child.pid!));
      if (peak > memory && !overMemory) {
        overMemory = true;
        child.kill("SIGKILL");
      }
    }, SAMPLE_MS);
    const limit = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, limitMs);
    const disarm = c.signal
      ? arm(c.signal.when, child.pid!, () => {
          signalledAt = performance.now();
          child.kill(c.signal!.name);
        })
      : () => undefined;
    child.on("close", (status, signal) => {
      const ended = performance.now();
      clearInterval(sampler);
      clearTimeout(limit);
      disarm();
      resolve({
        status,
        signal,
        stdout,
        stderr,
        seconds: (ended - started) / 1000,
        peakRssBytes: peak,
        timedOut,
        overMemory,
        signalToExit: signalledAt === null ? null : (ended - signalledAt) / 1000,
      });
    });
  });
}
