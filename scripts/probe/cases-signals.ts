/**
 * Ctrl-C (SIGINT), SIGTERM and SIGKILL at each phase of each command: starting, loading, starting
 * workers, training, saving (periodic, final, large), writing results, traces and reports,
 * comparing, evaluating, validating. SIGINT and SIGTERM must stop the run promptly and leave no
 * temporaries; SIGKILL cannot clean up, but must never leave a partial output in place.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCheckpoint } from "../../src/index.js";
import type { Fixtures } from "./fixtures.js";
import { htmlWhole, parsesAsJson, scenarioFile, wholeOrAbsent } from "./helpers.js";
import type { Case, Signal, Trigger } from "./types.js";

const TEMP = /\.tmp-\d+-/;
const endless = { training: { steps: 100_000 } };
/** About 12 M parameters: a 48 MB weights file and 96 MB of training state. */
const big = { name: "big", model: { hiddenSize: 512, intermediateSize: 1408, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 }, training: { steps: 1, globalBatch: 1, optimizer: { lr: 1e-2 } } };
/** About 51 M parameters: 204 MB of weights and 408 MB of training state to write. */
const large = { name: "large", model: { hiddenSize: 1024, intermediateSize: 2816, numLayers: 4, numHeads: 8, numKvHeads: 8, seqLen: 8 }, training: { steps: 1, globalBatch: 1, optimizer: { lr: 1e-2 } } };
/** Two pipeline ranks, 4 micro-batches, 80 steps: a trace of about 1.3 MB. */
const traced = { training: { steps: 80, microBatches: 4 }, parallel: { pp: 2 } };

const checkpointWhole = (p: string) => (readCheckpoint(p).tensors.size > 0 ? null : "an empty checkpoint");

interface Phase {
  phase: string;
  args: (target: string) => string[];
  /** The output the phase writes (a name in a fresh folder), when it writes one. */
  output?: { name: string; whole: (path: string) => string | null };
  when: (dir: string) => Trigger;
  /** Seconds the signal may take to stop it (default 5). */
  promptSeconds?: number;
  memoryBytes?: number;
}

function phases(fx: Fixtures): Phase[] {
  const s = (patch: Record<string, unknown>, base?: Record<string, unknown>) => scenarioFile(fx, patch, base);
  const long = s(endless);
  const world8 = s({ training: { steps: 3000, globalBatch: 8 }, parallel: { dp: 8 } });
  const bigFile = s({}, big);
  const periodic = s({ training: { steps: 6, checkpointEvery: 1 } }, big);
  const tracedFile = s(traced);
  const file = (delayMs = 0) => (dir: string): Trigger => ({ at: "file", dir, name: TEMP, delayMs });
  return [
    { phase: "at start", args: () => ["run", long, "--quiet"], when: () => ({ at: "spawn", delayMs: 0 }) },
    { phase: "while loading (300 ms)", args: () => ["run", long, "--quiet"], when: () => ({ at: "spawn", delayMs: 300 }) },
    { phase: "while loading (800 ms)", args: () => ["run", long, "--quiet"], when: () => ({ at: "spawn", delayMs: 800 }) },
    { phase: "while 8 workers start", args: () => ["run", world8, "--quiet"], when: () => ({ at: "threads", workers: 2, delayMs: 0 }) },
    { phase: "while training on 1 worker", args: (t) => ["run", long, "--quiet", "--json", t], output: { name: "r.json", whole: parsesAsJson() }, when: () => ({ at: "threads", workers: 1, delayMs: 1500 }) },
    { phase: "while training on 8 workers", args: () => ["run", world8, "--quiet"], when: () => ({ at: "threads", workers: 8, delayMs: 1000 }) },
    { phase: "while saving a periodic checkpoint", args: (t) => ["run", periodic, "--quiet", "--save", t], output: { name: "ckpt", whole: checkpointWhole }, when: file(0) },
    { phase: "while saving the final checkpoint", args: (t) => ["run", bigFile, "--quiet", "--save", t], output: { name: "ckpt", whole: checkpointWhole }, when: file(0) },
    { phase: "while saving a 612 MB checkpoint", args: (t) => ["run", s({}, large), "--quiet", "--save", t], output: { name: "ckpt", whole: checkpointWhole }, when: file(150), promptSeconds: 2, memoryBytes: 6 * 2 ** 30 },
    { phase: "while writing results JSON", args: (t) => ["run", tracedFile, "--quiet", "--json", t], output: { name: "r.json", whole: parsesAsJson() }, when: file(0) },
    { phase: "while comparing", args: () => ["compare", long, s({ ...endless, parallel: { dp: 2 } })], when: () => ({ at: "threads", workers: 2, delayMs: 1500 }) },
    { phase: "while writing a trace", args: (t) => ["compare", tracedFile, "--trace", t], output: { name: "t.json", whole: parsesAsJson() }, when: file(0) },
    { phase: "while writing a report", args: (t) => ["compare", tracedFile, "--report", t], output: { name: "r.html", whole: htmlWhole }, when: file(0) },
    { phase: "while resuming", args: (t) => ["run", s(endless), "--quiet", "--resume", fx.midCheckpoint(100_000), "--save", t], output: { name: "ckpt", whole: checkpointWhole }, when: () => ({ at: "threads", workers: 1, delayMs: 500 }) },
    { phase: "while evaluating", args: () => ["eval", fx.ckpt, "--text", fx.file("e.txt", Buffer.alloc(2 * 2 ** 20, "the quick brown fox "))], when: () => ({ at: "spawn", delayMs: 1500 }) },
    { phase: "while validating", args: (t) => ["validate", "--json", t], output: { name: "v.json", whole: parsesAsJson() }, when: () => ({ at: "spawn", delayMs: 2500 }) },
    { phase: "while drawing a schedule", args: () => ["schedule", "--kind", "interleaved", "--pp", "4", "--microbatches", "8"], when: () => ({ at: "spawn", delayMs: 200 }) },
  ];
}

function signalled(fx: Fixtures, p: Phase, name: Signal, delayMs?: number): Case {
  const dir = fx.folder("sig");
  const target = join(dir, p.output?.name ?? "unused");
  const when = p.when(dir);
  return {
    id: `signals/${name} ${p.phase}${delayMs !== undefined ? ` (+${delayMs} ms)` : ""}`,
    args: p.args(target),
    expect: { kind: name === "SIGKILL" ? "killed" : "interrupted" },
    signal: { name, when: delayMs !== undefined && when.at === "file" ? { ...when, delayMs } : when },
    promptSeconds: p.promptSeconds,
    memoryBytes: p.memoryBytes,
    check: wholeOrAbsent(dir, target, p.output?.whole ?? (() => null), name === "SIGKILL"),
  };
}

export function signalCases(fx: Fixtures): Case[] {
  const all = phases(fx);
  const cases = all.flatMap((p) => [signalled(fx, p, "SIGINT"), signalled(fx, p, "SIGTERM")]);
  for (const p of all.filter((p) => p.output && p.when(fx.dir).at === "file")) {
    for (const delayMs of [0, 5, 30]) cases.push(signalled(fx, p, "SIGKILL", delayMs));
  }
  // An old output must survive a kill during the write of its replacement.
  const dir = fx.folder("old");
  const target = join(dir, "t.json");
  cases.push({
    id: "signals/SIGKILL while replacing an old trace",
    args: ["compare", scenarioFile(fx, traced), "--trace", target],
    expect: { kind: "killed" },
    signal: { name: "SIGKILL", when: { at: "file", dir, name: TEMP, delayMs: 0 } },
    before: () => writeFileSync(target, '{"old": true}'),
    check: wholeOrAbsent(dir, target, parsesAsJson((v) => (v as { old?: boolean }).old === true || Array.isArray((v as { traceEvents?: unknown }).traceEvents)), true),
  });
  return cases;
}
