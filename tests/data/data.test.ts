import { describe, expect, it } from "vitest";
import { drawBatch, sliceBatch } from "../../src/data/batches.js";
import { syntheticText } from "../../src/data/synthetic.js";
import { decode, encode } from "../../src/data/tokenizer.js";

describe("byte tokenizer", () => {
  it("round-trips UTF-8 text through bytes", () => {
    const text = "Grüße, 世界!";
    const tokens = encode(text);
    expect(tokens.length).toBe(Buffer.byteLength(text));
    expect(Math.max(...tokens)).toBeLessThan(256);
    expect(decode(tokens)).toBe(text);
  });
});

describe("synthetic text", () => {
  it("is a pure function of the seed", () => {
    expect(syntheticText(3, 2000)).toBe(syntheticText(3, 2000));
    expect(syntheticText(3, 2000)).not.toBe(syntheticText(4, 2000));
  });

  it("has far less than 8 bits of entropy per byte (something to learn)", () => {
    const text = syntheticText(1, 50_000);
    const counts = new Map<string, number>();
    for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    let entropy = 0;
    for (const c of counts.values()) entropy -= (c / text.length) * Math.log(c / text.length);
    // ln 256 = 5.55 nats is what an untrained byte model pays; unigram structure alone must halve it.
    expect(entropy).toBeLessThan(Math.log(256) / 2);
  });
});

describe("batches", () => {
  const corpus = encode(syntheticText(1, 10_000));

  it("targets are the inputs shifted by one token", () => {
    const b = drawBatch(corpus, 1, 0, 4, 16);
    for (let r = 0; r < 4; r++) {
      for (let t = 0; t + 1 < 16; t++) expect(b.targets[r * 16 + t]).toBe(b.inputs[r * 16 + t + 1]);
    }
  });

  it("depends on seed and step only, and slices share rows", () => {
    const a = drawBatch(corpus, 1, 5, 4, 16);
    expect(drawBatch(corpus, 1, 5, 4, 16)).toEqual(a);
    expect(drawBatch(corpus, 1, 6, 4, 16).inputs).not.toEqual(a.inputs);
    const half = sliceBatch(a, 2, 2);
    expect(Array.from(half.inputs)).toEqual(Array.from(a.inputs.subarray(32, 64)));
  });
});
