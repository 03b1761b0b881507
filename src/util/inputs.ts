/**
 * Input files read whole: scenarios, model configs, corpora, token lists, checkpoints. Each must
 * be a regular file. Reading a device such as /dev/zero never ends, and opening a pipe that has no
 * writer waits for ever — in a synchronous call, where not even Ctrl-C's handler can run.
 */
import { readFileSync, statSync } from "node:fs";
import { InputError } from "../errors.js";

const codeOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/** Checks that `path` is a regular file, naming `field` otherwise; returns its size in bytes. */
export function checkInputFile(field: string, path: string): number {
  let size: number;
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) throw Object.assign(new Error("a folder"), { code: "EISDIR" });
    if (!stats.isFile()) throw new InputError(field, `${path} is not a regular file: a device, pipe or socket cannot be read whole`);
    size = stats.size;
  } catch (err) {
    throw err instanceof InputError ? err : new InputError(field, `cannot read ${path}: ${codeOf(err)}`);
  }
  return size;
}

/** The bytes of the regular file `path`; errors name `field`. */
export function readInputFile(field: string, path: string): Buffer {
  checkInputFile(field, path);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InputError(field, `cannot read ${path}: ${codeOf(err)}`);
  }
}
