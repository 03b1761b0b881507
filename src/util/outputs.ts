/**
 * Output paths checked before any work starts, so a run never trains for minutes and then fails
 * to write its results. Each check creates and removes a probe beside the target: permission bits
 * alone do not say whether a folder takes new entries (root ignores them; /proc refuses anyway).
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, rmdirSync, statSync, unlinkSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { InputError } from "../errors.js";
import { holdPipe, siblingName } from "./atomic.js";

/** `a`, `a and b`, `a, b and c`. */
function listed(names: readonly string[]): string {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Checks that `path`'s folder exists and takes a new entry, by making one (`probe`) and removing it. */
function checkParent(option: string, path: string, probe: (at: string) => void, remove: (at: string) => void): void {
  const parent = dirname(resolve(path));
  const at = siblingName(resolve(path), "probe");
  try {
    if (!statSync(parent).isDirectory()) throw Object.assign(new Error("not a folder"), { code: "ENOTDIR" });
    accessSync(parent, constants.W_OK);
    probe(at);
  } catch (err) {
    throw new InputError(option, `cannot create ${path}: ${parent} is not a writable folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  remove(at);
}

/**
 * Checks that a file can be written at `path`: a new file, one replacing an old file, or a device
 * or pipe that is written into (/dev/null, /dev/stdout). A pipe must have a reader now: writing to
 * one without would wait for ever.
 */
export function checkOutputFile(option: string, path: string): void {
  const stats = statOrNull(path);
  if (stats?.isDirectory()) throw new InputError(option, `${path} is a folder, not a file`);
  if (stats && !stats.isFile()) return checkSpecialOutput(option, path, stats);
  checkParent(option, path, (at) => closeSync(openSync(at, "wx")), unlinkSync);
}

function checkSpecialOutput(option: string, path: string, stats: Stats): void {
  try {
    if (stats.isFIFO()) holdPipe(path);
    else closeSync(openSync(path, constants.O_WRONLY));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(option, code === "ENXIO" && stats.isFIFO() ? `${path} is a pipe with no reader` : `cannot write ${path} (${code ?? String(err)})`);
  }
}

/**
 * Checks that a folder can be written at `path`. An existing folder is replaced as a whole, so it
 * must be empty or hold only the names in `replaceable` (what a previous write put there).
 */
export function checkOutputFolder(option: string, path: string, replaceable: readonly string[]): void {
  const stats = statOrNull(path);
  if (stats && !stats.isDirectory()) throw new InputError(option, `${path} is a file, not a folder`);
  if (stats) {
    const others = readdirSync(path).filter((name) => !replaceable.includes(name));
    if (others.length > 0) {
      throw new InputError(option, `${path} holds ${others.length === 1 ? others[0] : `${others.length} entries such as ${others[0]}`}; it is replaced as a whole, so it must be empty or hold only ${listed(replaceable)}`);
    }
  }
  checkParent(option, path, (at) => mkdirSync(at), rmdirSync);
}
