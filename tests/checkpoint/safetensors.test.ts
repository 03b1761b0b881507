import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "../../src/checkpoint/safetensors.js";

describe("safetensors", () => {
  const dir = mkdtempSync(join(tmpdir(), "parasim-st-"));
  const path = join(dir, "t.safetensors");
  const a = { name: "a", shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, Math.PI) };
  const b = { name: "b", shape: [1], data: Float32Array.of(-0) };

  it("round-trips tensors bit-exactly", () => {
    writeSafetensors(path, [a, b], { format: "pt" });
    const back = readSafetensors(path);
    expect([...back.keys()]).toEqual(["a", "b"]);
    expect(back.get("a")!.shape).toEqual([2, 3]);
    expect(new Uint32Array(back.get("a")!.data.buffer)).toEqual(new Uint32Array(a.data.buffer));
    expect(Object.is(back.get("b")!.data[0], -0)).toBe(true);
  });

  it("writes the documented layout: u64 header length, JSON header, aligned data", () => {
    writeSafetensors(path, [a, b]);
    const file = readFileSync(path);
    const n = Number(file.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(file.subarray(8, 8 + n).toString());
    expect(header.a).toEqual({ dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
    expect(header.b).toEqual({ dtype: "F32", shape: [1], data_offsets: [24, 28] });
    expect(file.length).toBe(8 + n + 28);
  });

  it("rejects a truncated file with a one-line error", () => {
    writeSafetensors(path, [a]);
    const file = readFileSync(path);
    writeFileSync(path, file.subarray(0, file.length - 4));
    expect(() => readSafetensors(path)).toThrow(/checkpoint: a has data offsets that do not match/);
  });
});
