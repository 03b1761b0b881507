/** What one probe case runs, what counts as a clean outcome, and what a run of it observed. */

export type Signal = "SIGINT" | "SIGTERM" | "SIGKILL";

/**
 * When a case's signal is sent. `spawn`: `delayMs` after the process starts. `threads`: once the
 * process has at least `workers` threads more than a bare CLI (each device is a worker thread),
 * then `delayMs`. `file`: once an entry matching `name` appears in `dir` (a write has begun), then
 * `delayMs`.
 */
export type Trigger =
  | { at: "spawn"; delayMs: number }
  | { at: "threads"; workers: number; delayMs: number }
  | { at: "file"; dir: string; name: RegExp; delayMs: number };

/**
 * The outcomes that are clean for a case:
 * - `refused`: exit 2, nothing on stdout (unless `afterRun`: an output that fails to be written
 *   after the run has printed its report), one stderr line `parasim: NAME: RULE` whose NAME (a
 *   scenario field, an option, a command, a file) matches `names`.
 * - `ok`: exit 0, nothing on stderr unless `stderr` allows it.
 * - `failed`: exit 1, one stderr line matching `mentions` (a rank and action, or a step).
 * - `interrupted`: the signal stopped it (exit 130 or 143 with one `interrupted` line, or the
 *   signal itself before the CLI's handler was installed), or it had already finished (exit 0).
 * - `killed` (SIGKILL): killed, or already finished; the output is then judged by `check`.
 */
export type Expect =
  | { kind: "refused"; names: RegExp; afterRun?: boolean }
  | { kind: "ok"; stderr?: RegExp }
  | { kind: "failed"; mentions: RegExp }
  | { kind: "interrupted" }
  | { kind: "killed" };

export interface Case {
  /** `group/what`, unique. */
  id: string;
  args: string[];
  expect: Expect;
  signal?: { name: Signal; when: Trigger };
  /** Runs before the command (e.g. puts an old output in place). */
  before?: () => void;
  /** After the command: a problem with what it left (partial output, temporaries), or null. */
  check?: (run: Observed) => string | null;
  /** Wall-clock limit; past it the case hangs (default 60 s, 180 s for a signal case). */
  timeoutMs?: number;
  /** The most resident memory the process may take (default 1 GiB when refused, else 4 GiB). */
  memoryBytes?: number;
  /** Most seconds from the signal to the exit (default 5). */
  promptSeconds?: number;
}

export interface Observed {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  seconds: number;
  peakRssBytes: number;
  timedOut: boolean;
  overMemory: boolean;
  /** Seconds from sending the case's signal to the exit; null when no signal was sent. */
  signalToExit: number | null;
}

export interface Verdict {
  id: string;
  clean: boolean;
  /** Why not clean, or what the clean outcome was. */
  why: string;
  observed: Observed;
}
