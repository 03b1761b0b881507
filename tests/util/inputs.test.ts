/** Input files (src/util/inputs.ts): only regular files are read; what is not one is refused at once, naming the field. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { checkInputFile, readInputFile } from "../../src/util/inputs.js";

const dir = mkdtempSync(join(tmpdir(), "parasim-inputs-"));

function refusal(path: string): InputError {
  try {
    readInputFile("--tokens", path);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error(`${path} was read`);
}

describe("input files", () => {
  it("reads a regular file's bytes as they are and gives its size", () => {
    const path = join(dir, "bytes.bin");
    writeFileSync(path, Uint8Array.of(0xff, 0x00, 0xc3));
    expect([...readInputFile("--text", path)]).toEqual([0xff, 0x00, 0xc3]);
    expect(checkInputFile("--text", path)).toBe(3);
  });

  it("refuses a missing file and a folder with the system's code", () => {
    expect(refusal(join(dir, "absent")).message).toBe(`--tokens: cannot read ${join(dir, "absent")}: ENOENT`);
    expect(refusal(dir).message).toBe(`--tokens: cannot read ${dir}: EISDIR`);
  });

  it("refuses a device and a pipe without reading or opening them (either would never end)", () => {
    const fifo = join(dir, "pipe");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    for (const path of ["/dev/zero", fifo]) {
      expect(refusal(path).message).toBe(`--tokens: ${path} is not a regular file: a device, pipe or socket cannot be read whole`);
    }
  });
});
