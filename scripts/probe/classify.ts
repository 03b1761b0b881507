/** Whether what a case did is a clean outcome (types.ts says which outcomes are clean for each kind). */
import type { Case, Observed, Verdict } from "./types.js";

const EXIT_ON = { SIGINT: 130, SIGTERM: 143 } as const;

/** Failures no case may show, whatever it expects. */
function neverClean(o: Observed): string | null {
  if (o.timedOut) return `no exit within the time limit (${o.seconds.toFixed(0)} s): a hang`;
  if (o.overMemory) return `more than the memory bound (${(o.peakRssBytes / 2 ** 30).toFixed(2)} GiB resident)`;
  if (/\n\s+at .+:\d+/.test(o.stderr)) return "a stack trace on stderr";
  if (/FATAL ERROR|Aborted|core dumped/.test(o.stderr) || o.signal === "SIGABRT" || o.signal === "SIGSEGV") return `a crash (${o.signal ?? o.stderr.slice(0, 80)})`;
  if (/internal error/.test(o.stderr)) return "an internal error";
  return null;
}

const lines = (text: string): string[] => text.split("\n").filter((l) => l.trim() !== "");
const brief = (o: Observed): string => `exit ${o.status ?? o.signal}: ${JSON.stringify(lines(o.stderr).slice(0, 2).join(" | ").slice(0, 160))}`;

function expected(c: Case, o: Observed): string | null {
  const e = c.expect;
  const errLines = lines(o.stderr);
  switch (e.kind) {
    case "refused": {
      if (o.status !== 2) return `expected exit 2, got ${brief(o)}`;
      if (o.stdout !== "" && !e.afterRun) return `exit 2 but printed to stdout: ${JSON.stringify(o.stdout.slice(0, 80))}`;
      if (errLines.length !== 1) return `expected one stderr line, got ${errLines.length}: ${brief(o)}`;
      const rest = errLines[0].replace(/^parasim: /, "");
      if (rest === errLines[0]) return `the line does not start with "parasim: ": ${brief(o)}`;
      return e.names.test(rest) ? null : `the line does not name ${e.names}: ${brief(o)}`;
    }
    case "ok":
      if (o.status !== 0) return `expected exit 0, got ${brief(o)}`;
      return o.stderr === "" || e.stderr?.test(o.stderr) ? null : `exit 0 with stderr ${JSON.stringify(o.stderr.slice(0, 120))}`;
    case "failed":
      if (o.status !== 1) return `expected exit 1, got ${brief(o)}`;
      return errLines.length === 1 && e.mentions.test(errLines[0]) ? null : `exit 1 without one line matching ${e.mentions}: ${brief(o)}`;
    case "interrupted": {
      const sent = c.signal!.name as "SIGINT" | "SIGTERM";
      if (o.status === 0 || o.signal === sent) return null; // finished first, or stopped before the handler was installed
      if (o.status !== EXIT_ON[sent]) return `expected exit ${EXIT_ON[sent]} on ${sent}, got ${brief(o)}`;
      // Progress lines may come first (validate prints one per published run); no error may.
      const last = errLines[errLines.length - 1];
      const errors = errLines.slice(0, -1).filter((l) => l.startsWith("parasim: "));
      return last === `parasim: interrupted (${sent})` && errors.length === 0 ? null : `exit ${o.status} with ${brief(o)}`;
    }
    case "killed":
      return o.signal === "SIGKILL" || o.status === 0 ? null : `expected SIGKILL or exit 0, got ${brief(o)}`;
  }
}

/** How a clean outcome came about, for the report. */
function describeClean(c: Case, o: Observed): string {
  if (c.expect.kind === "refused") return lines(o.stderr)[0].slice(0, 140);
  if (c.signal) {
    const after = o.signalToExit === null ? "no signal sent" : `${o.signalToExit.toFixed(2)} s after ${c.signal.name}`;
    return `${o.signal ? `killed by ${o.signal}` : `exit ${o.status}`}, ${after}`;
  }
  return `exit ${o.status}${o.status === 1 ? `: ${lines(o.stderr)[0]?.slice(0, 120)}` : ""}`;
}

export function classify(c: Case, o: Observed): Verdict {
  let why = neverClean(o) ?? expected(c, o);
  if (why === null && c.signal && c.signal.name !== "SIGKILL" && o.signalToExit !== null && o.signalToExit > (c.promptSeconds ?? 5)) {
    why = `stopped ${o.signalToExit.toFixed(1)} s after ${c.signal.name}, more than ${c.promptSeconds ?? 5} s`;
  }
  if (why === null && c.signal && o.signalToExit === null && o.status !== 0) why = `the trigger never fired: ${brief(o)}`;
  why ??= c.check?.(o) ?? null;
  return { id: c.id, clean: why === null, why: why ?? describeClean(c, o), observed: o };
}
