/**
 * Files and folders that appear whole or not at all: each is written under a temporary name
 * beside its target (same folder, so the same file system), flushed to disk, then renamed into
 * place, and the folder holding the new name is flushed too, so that the rename itself survives a
 * power loss (rename(2) is atomic, but not durable until its directory is synced). A temporary
 * path is registered while it exists, so a signal handler can remove it.
 *
 * A target that exists and is not a regular file — a terminal, /dev/null, a pipe such as
 * /dev/stdout — is written into, not replaced: renaming over it would swap the device for a file.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

const temporaries = new Set<string>();

/** What a file is made of: text, bytes, or pieces of bytes written one after another (no copy into one buffer). */
export type FileContent = string | Uint8Array | readonly Uint8Array[];

/**
 * Bytes written and flushed at a time by the asynchronous writer. Each flush waits for at most
 * this much data to reach the disk, which bounds how long an exit on a signal waits for a write
 * already under way (milliseconds at the GB/s of a local SSD).
 */
const CHUNK_BYTES = 16 * 2 ** 20;

/** A fresh hidden name beside `path`, unique to this process: `.NAME.TAG-PID-RANDOM`. */
export function siblingName(path: string, tag: string): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/**
 * Removes every temporary file or folder still being written (for signal handlers: synchronous,
 * and never throwing). A write already handed to the thread pool may create a file in a folder
 * while the folder is removed (rmdir then fails with ENOTEMPTY), so the whole removal is retried
 * a few times, a few milliseconds apart; what still fails is left under its hidden name rather
 * than crash the handler (the target itself is untouched either way).
 */
export function removeTemporaries(): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const path of temporaries) {
    for (let attempt = 0; attempt < 5 && existsSync(path); attempt++) {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        Atomics.wait(pause, 0, 0, 20);
      }
    }
  }
  temporaries.clear();
}

/** Flushes a folder's entries to disk, so that a file created or renamed in it stays after a crash. */
export function syncFolder(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** True when `path` exists and is something other than a regular file or a folder (a device, a pipe, a socket). */
export function isSpecialFile(path: string): boolean {
  try {
    const stats = statSync(path);
    return !stats.isFile() && !stats.isDirectory();
  } catch {
    return false;
  }
}

/** Where a write to `path` lands: through a symbolic link to the file it names, so the link stays a link. */
function writtenPath(path: string): string {
  return existsSync(path) ? realpathSync(path) : path;
}

/** Pipes opened when checked for a reader, held open until written (holdPipe). */
const heldPipes = new Map<string, number>();

/**
 * Opens the pipe at `path` for writing without waiting (ENXIO when no process reads it) and holds
 * it open until writeFileAtomic writes it: were it closed now, a reader already waiting would see
 * the end of its input before the results come, and the write would then wait for ever.
 */
export function holdPipe(path: string): void {
  heldPipes.set(resolve(path), openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
}

/** Writes into a device or a pipe (opened afresh, so blocking; a held pipe has its reader), then lets go of it. */
function writeSpecial(path: string, data: FileContent): void {
  const fd = openSync(path, "w");
  try {
    for (const piece of piecesOf(data)) writeAll(fd, piece);
  } finally {
    closeSync(fd);
    const held = heldPipes.get(resolve(path));
    if (held !== undefined) closeSync(held);
    heldPipes.delete(resolve(path));
  }
}

const piecesOf = (data: FileContent): readonly Uint8Array[] => (typeof data === "string" ? [Buffer.from(data, "utf8")] : data instanceof Uint8Array ? [data] : data);

/** A registered temporary sibling of `target`, removed by a signal handler while it exists. */
function temporaryFor(target: string): string {
  const temp = siblingName(target, "tmp");
  temporaries.add(temp);
  return temp;
}

/** Removes what is left of a temporary (nothing, once renamed into place) and unregisters it. */
function release(temp: string): void {
  if (existsSync(temp)) rmSync(temp, { recursive: true, force: true });
  temporaries.delete(temp);
}

/**
 * Runs `fill(temp)` on a temporary sibling of `target`, then `commit(temp)` and a sync of the
 * target's folder; removes the temporary on failure. `commit` is synchronous on purpose: a signal
 * handler cannot run between the renames it makes.
 */
async function throughTemporary(target: string, fill: (temp: string) => Promise<void>, commit: (temp: string) => void): Promise<void> {
  const temp = temporaryFor(target);
  try {
    await fill(temp);
    commit(temp);
    syncFolder(dirname(target));
  } finally {
    release(temp);
  }
}

/**
 * Writes `data` to `path` atomically: the file at `path` is the old one or the whole new one,
 * never a part. Synchronous, for small files (a signal waits for it to finish); a large file
 * should go through writeFileAtomicAsync.
 */
export function writeFileAtomic(path: string, data: FileContent): void {
  if (isSpecialFile(path)) return writeSpecial(path, data);
  const target = writtenPath(path);
  const temp = temporaryFor(target);
  try {
    const fd = openSync(temp, "wx", 0o644);
    try {
      for (const piece of piecesOf(data)) writeAll(fd, piece);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    syncFolder(dirname(target));
  } finally {
    release(temp);
  }
}

/** writeSync until every byte of `piece` is written (one call may write less than asked). */
function writeAll(fd: number, piece: Uint8Array): void {
  for (let done = 0; done < piece.length; ) done += writeSync(fd, piece, done, Math.min(piece.length - done, CHUNK_BYTES));
}

/**
 * As writeFileAtomic, without blocking the event loop: the bytes go out in chunks of CHUNK_BYTES,
 * each flushed before the next, so a signal is handled at once and its handler's exit waits for
 * one chunk at most (the handler removes the temporary file; the target is untouched).
 */
export async function writeFileAtomicAsync(path: string, data: FileContent): Promise<void> {
  if (isSpecialFile(path)) return writeSpecial(path, data);
  const target = writtenPath(path);
  await throughTemporary(
    target,
    async (temp) => {
      const file = await open(temp, "wx", 0o644);
      try {
        for (const piece of piecesOf(data)) {
          for (let done = 0; done < piece.length; ) {
            const { bytesWritten } = await file.write(piece, done, Math.min(piece.length - done, CHUNK_BYTES));
            done += bytesWritten;
            await file.datasync();
          }
        }
        await file.sync();
      } finally {
        await file.close();
      }
    },
    (temp) => renameSync(temp, target),
  );
}

/**
 * Creates the folder `dir` with what `fill(folder)` writes into it, atomically: `dir` is the old
 * folder or the whole new one. Only the final folder is created; its parent must exist. The new
 * folder's entries are flushed before it is renamed into place. An old `dir` is moved aside just
 * before the new one takes its place, then removed.
 */
export async function writeFolderAtomic(dir: string, fill: (folder: string) => void | Promise<void>): Promise<void> {
  await throughTemporary(
    dir,
    async (temp) => {
      mkdirSync(temp);
      await fill(temp);
      syncFolder(temp);
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
