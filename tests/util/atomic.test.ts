/**
 * Atomic writes (src/util/atomic.ts): durable renames, a writer that leaves the event loop free,
 * devices and pipes written into rather than replaced, and temporaries a signal handler removes.
 * The file system calls are observed through a pass-through wrapper of node:fs, so the order of
 * renames and flushes is asserted, not assumed.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { removeTemporaries, writeFileAtomic, writeFileAtomicAsync, writeFolderAtomic } from "../../src/util/atomic.js";
import { ticksDuring } from "./event-loop.js";

/** Every rename and every fsync, in order, with the path each fsync'd descriptor was opened at. */
const calls = vi.hoisted(() => [] as string[]);

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const opened = new Map<number, string>();
  const wrapped = {
    ...fs,
    openSync: (...args: Parameters<typeof fs.openSync>) => {
      const fd = fs.openSync(...args);
      opened.set(fd, String(args[0]));
      return fd;
    },
    fsyncSync: (fd: number) => {
      calls.push(`fsync ${opened.get(fd)}`);
      fs.fsyncSync(fd);
    },
    renameSync: (from: Parameters<typeof fs.renameSync>[0], to: Parameters<typeof fs.renameSync>[1]) => {
      calls.push(`rename ${String(to)}`);
      fs.renameSync(from, to);
    },
  };
  return { ...wrapped, default: wrapped };
});

const fresh = () => mkdtempSync(join(tmpdir(), "parasim-atomic-"));
const temporaries = (dir: string) => readdirSync(dir).filter((n) => /\.(tmp|old)-\d+-/.test(n));

describe("atomic writes are durable", () => {
  it("flushes the file, renames it into place, then flushes its folder", () => {
    const dir = fresh();
    const target = join(dir, "r.json");
    calls.length = 0;
    writeFileAtomic(target, "{}");
    // Without the last flush the rename could be lost in a power cut, leaving the old file (or none).
    expect(calls).toHaveLength(3);
    expect(calls[0]).toMatch(new RegExp(`^fsync ${dir}/\\.r\\.json\\.tmp-\\d+-[0-9a-f]+$`));
    expect(calls.slice(1)).toEqual([`rename ${target}`, `fsync ${dir}`]);
    expect(readFileSync(target, "utf8")).toBe("{}");
  });

  it("flushes a new folder's entries before it takes its place, and the parent after", async () => {
    const dir = fresh();
    const target = join(dir, "ckpt");
    calls.length = 0;
    await writeFolderAtomic(target, (folder) => writeFileAtomic(join(folder, "a.json"), "1"));
    const renameAt = calls.indexOf(`rename ${target}`);
    expect(renameAt).toBeGreaterThan(0);
    expect(calls[renameAt - 1]).toMatch(/^fsync .*\/\.ckpt\.tmp-\d+-[0-9a-f]+$/);
    expect(calls.slice(renameAt + 1)).toEqual([`fsync ${dir}`]);
    expect(readFileSync(join(target, "a.json"), "utf8")).toBe("1");
  });
});

describe("the asynchronous writer", () => {
  it("leaves the event loop free while it writes, where the synchronous writer holds it", async () => {
    const dir = fresh();
    const data = new Uint8Array(64 * 2 ** 20).fill(7);
    // 64 MiB in chunks of 16 MiB: each chunk's write and flush are awaited, so the loop turns at
    // least once per chunk (a signal handler would run there).
    expect(await ticksDuring(() => writeFileAtomicAsync(join(dir, "a.bin"), data))).toBeGreaterThanOrEqual(4);
    expect(await ticksDuring(() => writeFileAtomic(join(dir, "b.bin"), data))).toBe(0);
    expect(statSync(join(dir, "a.bin")).size).toBe(data.length);
    expect(readFileSync(join(dir, "a.bin")).equals(readFileSync(join(dir, "b.bin")))).toBe(true);
  });

  it("writes pieces one after another, as one file", async () => {
    const dir = fresh();
    await writeFileAtomicAsync(join(dir, "p.bin"), [Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)]);
    expect([...readFileSync(join(dir, "p.bin"))]).toEqual([1, 2, 3]);
    expect(temporaries(dir)).toEqual([]);
  });
});

describe("targets that are not regular files", () => {
  it("writes into a pipe that has a reader instead of renaming a file over it", async () => {
    const dir = fresh();
    const pipe = join(dir, "pipe");
    expect(spawnSync("mkfifo", [pipe]).status).toBe(0);
    const reader = spawn("cat", [pipe]);
    let received = "";
    reader.stdout.on("data", (d: Buffer) => (received += d.toString()));
    const closed = new Promise((resolve) => reader.on("close", resolve));
    writeFileAtomic(pipe, "through the pipe");
    await closed;
    expect(received).toBe("through the pipe");
    expect(statSync(pipe).isFIFO()).toBe(true);
    expect(readdirSync(dir)).toEqual(["pipe"]);
  });
});

describe("a signal handler's removal of temporaries", () => {
  it("removes a folder being written; the write then fails and leaves the target absent", async () => {
    const dir = fresh();
    const target = join(dir, "ckpt");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const writing = writeFolderAtomic(target, async (folder) => {
      writeFileSync(join(folder, "half.bin"), "half");
      await gate;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(temporaries(dir)).toHaveLength(1);
    removeTemporaries();
    expect(temporaries(dir)).toEqual([]);
    release();
    await expect(writing).rejects.toThrow(/ENOENT/);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
