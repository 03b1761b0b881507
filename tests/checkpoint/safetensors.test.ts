import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "../../src/checkpoint/safetensors.js";
import { InputError } from "../../src/errors.js";

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
    expect(new Uint32Array(back.get("a")!.data.buffer, back.get("a")!.data.byteOffset, back.get("a")!.data.length)).toEqual(new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length));
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

  /** Writes a safetensors file with this header (JSON) and `dataBytes` zero bytes of data. */
  const craft = (header: unknown, dataBytes = 24) => {
    const json = Buffer.from(JSON.stringify(header), "utf8");
    const out = Buffer.alloc(8 + json.length + dataBytes);
    out.writeBigUInt64LE(BigInt(json.length), 0);
    json.copy(out, 8);
    writeFileSync(path, out);
    return path;
  };

  it.each([
    ["an entry that is not an object", { a: 7 }, /^checkpoint: a has a header entry that is not an object$/],
    ["a null entry", { a: null }, /^checkpoint: a has a header entry that is not an object$/],
    ["a missing dtype", { a: { shape: [6], data_offsets: [0, 24] } }, /^checkpoint: a has dtype undefined; it must be a string$/],
    ["a missing shape", { a: { dtype: "F32", data_offsets: [0, 24] } }, /^checkpoint: a has shape undefined; it must be a list/],
    ["a negative dimension", { a: { dtype: "F32", shape: [-2, -3], data_offsets: [0, 24] } }, /^checkpoint: a has shape \[-2,-3\]; it must be a list of non-negative integers$/],
    ["a fractional dimension", { a: { dtype: "F32", shape: [1.5, 4], data_offsets: [0, 24] } }, /^checkpoint: a has shape \[1\.5,4\]/],
    ["missing data offsets", { a: { dtype: "F32", shape: [6] } }, /^checkpoint: a has data_offsets undefined; they must be two integers/],
    ["one data offset", { a: { dtype: "F32", shape: [6], data_offsets: [24] } }, /^checkpoint: a has data_offsets \[24\]/],
    ["a negative begin", { a: { dtype: "F32", shape: [6], data_offsets: [-24, 0] } }, /^checkpoint: a has data_offsets \[-24,0\]/],
    ["begin after end", { a: { dtype: "F32", shape: [0], data_offsets: [24, 0] } }, /^checkpoint: a has data_offsets \[24,0\]/],
    ["non-integer offsets", { a: { dtype: "F32", shape: [6], data_offsets: [0.5, 24.5] } }, /^checkpoint: a has data_offsets \[0\.5,24\.5\]/],
    ["string offsets", { a: { dtype: "F32", shape: [6], data_offsets: ["0", "24"] } }, /^checkpoint: a has data_offsets \["0","24"\]/],
  ])("rejects a header with %s as an InputError naming the tensor", (_what, header, expected) => {
    const file = craft({ __metadata__: { format: "pt" }, ...header });
    let caught: unknown;
    try {
      readSafetensors(file);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as Error).message).toMatch(expected);
  });

  it("rejects a header that is not a JSON object", () => {
    expect(() => readSafetensors(craft([1, 2]))).toThrow(/^checkpoint: .* has a header that is not a JSON object$/);
    expect(() => readSafetensors(craft(null))).toThrow(InputError);
  });

  it("still reads a well-formed hand-written header", () => {
    const back = readSafetensors(craft({ a: { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] } }));
    expect(back.get("a")!.data).toEqual(new Float32Array(6));
  });
});
