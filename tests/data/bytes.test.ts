import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCorpus } from "../../src/data/batches.js";
import { loadEvalSequences } from "../../src/run/evaluate.js";
import { validateScenario } from "../../src/scenario/load.js";
import { tempDir } from "../cli/helpers.js";

/** Invalid UTF-8 (0xff 0xfe, a lone continuation byte 0x80, a cut 3-byte lead 0xe4) around valid multi-byte characters. */
const BYTES = Buffer.concat([Buffer.from([0xff, 0xfe, 0x80]), Buffer.from("Grüße 世界", "utf8"), Buffer.from([0xe4, 0x41])]);

describe("files are tokenized as raw bytes", () => {
  it("a text corpus's token ids are the file's bytes, invalid UTF-8 included", () => {
    const dir = tempDir();
    const corpus = Buffer.concat(Array.from({ length: 4 }, () => BYTES));
    writeFileSync(join(dir, "corpus.bin"), corpus);
    const scenario = validateScenario({
      model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
      training: { steps: 1, globalBatch: 1, optimizer: { lr: 1e-2 }, data: { source: "text", path: join(dir, "corpus.bin") } },
    });
    // Decoding first would turn each invalid byte into U+FFFD (3 bytes: ef bf bd) and change the count.
    expect([...loadCorpus(scenario)]).toEqual([...corpus]);
  });

  it("eval --text reads the file's bytes", () => {
    const path = join(tempDir(), "eval.bin");
    writeFileSync(path, BYTES);
    // A context longer than the file: the whole file is one sequence.
    const [sequence, ...rest] = loadEvalSequences({ text: path }, 64);
    expect(rest).toHaveLength(0);
    expect([...sequence]).toEqual([...BYTES]);
  });
});
