/** Small builders the case lists share. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { stringify } from "yaml";
import { tiny, type Fixtures } from "./fixtures.js";
import type { Case, Expect, Observed } from "./types.js";

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A refusal whose line names one of `names` (a field, an option, a command, a file): first, or, for
 * a rule between two fields, as the other field of the rule (`model.hiddenSize: must be divisible
 * by model.numHeads`).
 */
export function refused(...names: string[]): Extract<Expect, { kind: "refused" }> {
  const any = names.map(escape).join("|");
  return { kind: "refused", names: new RegExp(`^(${any})(\\.\\d+)*: |^\\S+: .*(${any})(?![\\w.])`) };
}
/** A refusal naming a file and then `name`, as compare names a scenario among several. */
export const refusedIn = (file: string, name: string): Expect => ({ kind: "refused", names: new RegExp(`^${escape(file)}: ${escape(name)}|^${escape(name)}: .*${escape(file)}`) });
export const ok: Expect = { kind: "ok" };
export const failed = (mentions: RegExp): Expect => ({ kind: "failed", mentions });

/** `patch` merged into `base` section by section; an undefined value removes the key. */
export function merged(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const old = out[key];
    if (value === undefined) delete out[key];
    else if (isPlain(value) && isPlain(old)) out[key] = merged(old as Record<string, unknown>, value as Record<string, unknown>);
    else out[key] = value;
  }
  return out;
}
const isPlain = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);

/** A YAML scenario file of `tiny` with `patch` merged in (YAML writes NaN and ∞, which JSON cannot). */
export function scenarioFile(fx: Fixtures, patch: Record<string, unknown>, base: Record<string, unknown> = tiny): string {
  return fx.file("s.yaml", stringify(merged(base, patch)));
}

/** `run` of `tiny` with `patch`, expecting `expect`. */
export function runCase(fx: Fixtures, id: string, patch: Record<string, unknown>, expect: Expect, extra: string[] = []): Case {
  return { id, args: ["run", scenarioFile(fx, patch), "--quiet", ...extra], expect };
}

/** Temporary entries a write leaves beside its target (`.NAME.tmp-PID-…`, `.NAME.old-…`, `.NAME.probe-…`). */
export function leftovers(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => /\.(tmp|old|probe)-\d+-[0-9a-f]+$/.test(n)) : [];
}

/** A check that `dir` holds no temporaries and `path` is absent or passes `whole`. */
export function wholeOrAbsent(dir: string, path: string, whole: (path: string) => string | null, allowTemporaries = false): (o: Observed) => string | null {
  return () => {
    const left = leftovers(dir);
    if (left.length > 0 && !allowTemporaries) return `temporaries left: ${left.join(", ")}`;
    return existsSync(path) ? whole(path) : null;
  };
}

/** Null when `path` parses as JSON (optionally passing `more`), else what is wrong. */
export function parsesAsJson(more?: (value: unknown) => boolean): (path: string) => string | null {
  return (path) => {
    try {
      const value = JSON.parse(readFileSync(path, "utf8"));
      return more === undefined || more(value) ? null : `${path} parses but is not the expected document`;
    } catch (err) {
      return `${path} is partial: ${(err as Error).message.slice(0, 80)}`;
    }
  };
}

export function htmlWhole(path: string): string | null {
  return readFileSync(path, "utf8").trimEnd().endsWith("</html>") ? null : `${path} is partial (no </html>)`;
}
