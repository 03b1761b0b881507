/**
 * What every command shares: option parsers that fail with a one-line error naming the option,
 * and output files checked before any work and written atomically after it.
 */
import { InputError } from "./errors.js";
import { writeFileAtomic } from "./util/atomic.js";
import { checkOutputFile } from "./util/outputs.js";

/** A commander option parser for counts: a one-line InputError naming the option otherwise. */
export function positiveInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1) throw new InputError(option, `must be a positive integer, got "${value}"`);
    return n;
  };
}

/** Writes an output file atomically; a path that cannot be written is bad input naming the option. */
export function writeOutput(option: string, path: string, text: string): void {
  try {
    writeFileAtomic(path, text);
  } catch (err) {
    throw new InputError(option, `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Checks every output file option that is set, before any work starts. */
export function checkOutputFiles(opts: Record<string, unknown>, options: readonly string[]): void {
  for (const name of options) {
    const path = opts[name];
    if (typeof path === "string") checkOutputFile(`--${name}`, path);
  }
}

export const writeJson = (path: string, value: unknown): void => writeOutput("--json", path, JSON.stringify(value, null, 2) + "\n");

/** A commander option parser for a value out of a fixed list. */
export function oneOf<T extends string>(option: string, values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InputError(option, `must be one of ${values.join(", ")}, got "${value}"`);
    return value as T;
  };
}
