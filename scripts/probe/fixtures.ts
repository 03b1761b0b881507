/**
 * The files the probe's cases use, made fresh in a temporary folder: small scenarios, a saved
 * checkpoint, corrupted copies of it, odd text files, and (when this process may mount) a
 * read-only folder and a 1 MiB file system that fills up.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN } from "./spawn.js";

// The test suite's way of corrupting a checkpoint on purpose.
export { editSafetensorsHeader } from "../../tests/cli/helpers.js";

export const tinyModel = { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 };
export const tiny = { name: "tiny", model: tinyModel, training: { steps: 3, globalBatch: 4, optimizer: { lr: 1e-2 } } };

export interface Fixtures {
  dir: string;
  /** Writes `value` (JSON, or text as given) to a fresh file in `dir` and returns its path. */
  file(name: string, value: unknown): string;
  /** A fresh empty folder in `dir`. */
  folder(name: string): string;
  /** A saved checkpoint of `tiny` (weights and training state). */
  ckpt: string;
  /** A copy of the checkpoint to corrupt. */
  ckptCopy(name: string): string;
  /** A checkpoint of `tiny` with `steps` steps, saved at step 2 by a run that then crashed (so it can be resumed). */
  midCheckpoint(steps: number): string;
  /** A read-only folder (a read-only bind mount), or null when mounting is not allowed here. */
  readOnly: string | null;
  /** A 1 MiB tmpfs, or null when mounting is not allowed here. */
  small: string | null;
  cleanup(): void;
}

function tryMount(args: string[]): boolean {
  return spawnSync("mount", args, { stdio: "ignore" }).status === 0;
}

export function makeFixtures(): Fixtures {
  const dir = mkdtempSync(join(tmpdir(), "parasim-probe-"));
  let n = 0;
  const file = (name: string, value: unknown): string => {
    const sub = join(dir, `f${n++}`);
    mkdirSync(sub);
    const path = join(sub, name);
    writeFileSync(path, typeof value === "string" || value instanceof Uint8Array ? value : JSON.stringify(value));
    return path;
  };
  const folder = (name: string): string => {
    const path = join(dir, `d${n++}`, name);
    mkdirSync(path, { recursive: true });
    return path;
  };
  const ckpt = join(folder("saved"), "ckpt");
  execFileSync(process.execPath, [BIN, "run", file("tiny.json", tiny), "--quiet", "--save", ckpt], { stdio: "ignore" });
  const ckptCopy = (name: string): string => {
    const copy = join(folder(name), "ckpt");
    cpSync(ckpt, copy, { recursive: true });
    return copy;
  };
  const midCheckpoint = (steps: number): string => {
    const dir = join(folder("mid"), "ckpt");
    const crashing = { ...tiny, training: { ...tiny.training, steps, checkpointEvery: 2 }, parallel: { dp: 2 }, faults: { crash: { rank: 1, step: 3 } } };
    spawnSync(process.execPath, [BIN, "run", file("crash.json", crashing), "--quiet", "--save", dir], { stdio: "ignore" });
    return dir;
  };
  const readOnly = folder("read-only");
  writeFileSync(join(readOnly, "keep.txt"), "kept");
  const haveReadOnly = tryMount(["--bind", "-o", "ro", readOnly, readOnly]);
  const small = folder("small");
  const haveSmall = tryMount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", small]);
  return {
    dir,
    file,
    folder,
    ckpt,
    ckptCopy,
    midCheckpoint,
    readOnly: haveReadOnly ? readOnly : null,
    small: haveSmall ? small : null,
    cleanup() {
      if (haveReadOnly) spawnSync("umount", [readOnly]);
      if (haveSmall) spawnSync("umount", [small]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
