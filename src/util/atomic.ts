/**
 * Files and folders that appear whole or not at all: each is written under a temporary name
 * beside its target (same folder, so the same file system), flushed to disk, then renamed into
 * place. A temporary path is registered while it exists, so a signal handler can remove it.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const temporaries = new Set<string>();

/** A fresh hidden name beside `path`, unique to this process: `.NAME.TAG-PID-RANDOM`. */
export function siblingName(path: string, tag: string): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Removes every temporary file or folder still being written (for signal handlers: synchronous). */
export function removeTemporaries(): void {
  for (const path of temporaries) rmSync(path, { recursive: true, force: true });
  temporaries.clear();
}

/** Runs `fill(temp)` on a registered temporary sibling of `target`, then `commit(temp)`; removes the temporary on failure. */
function throughTemporary(target: string, fill: (temp: string) => void, commit: (temp: string) => void): void {
  const temp = siblingName(target, "tmp");
  temporaries.add(temp);
  try {
    fill(temp);
    commit(temp);
  } finally {
    if (existsSync(temp)) rmSync(temp, { recursive: true, force: true });
    temporaries.delete(temp);
  }
}

/** Writes `data` to `path` atomically: the file at `path` is the old one or the whole new one, never a part. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  throughTemporary(
    path,
    (temp) => {
      const fd = openSync(temp, "wx", 0o644);
      try {
        writeFileSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
    (temp) => renameSync(temp, path),
  );
}

/**
 * Creates the folder `dir` with what `fill(folder)` writes into it, atomically: `dir` is the old
 * folder or the whole new one. Only the final folder is created; its parent must exist. An old
 * `dir` is moved aside just before the new one takes its place, then removed.
 */
export function writeFolderAtomic(dir: string, fill: (folder: string) => void): void {
  throughTemporary(
    dir,
    (temp) => {
      mkdirSync(temp);
      fill(temp);
    },
    (temp) => {
      if (!existsSync(dir)) return renameSync(temp, dir);
      const aside = siblingName(dir, "old");
      renameSync(dir, aside);
      try {
        renameSync(temp, dir);
      } catch (err) {
        renameSync(aside, dir);
        throw err;
      }
      rmSync(aside, { recursive: true, force: true });
    },
  );
}
