/** Output paths that cannot be written, corrupted checkpoints and training states, bad token ids. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCheckpoint } from "../../src/index.js";
import { editSafetensorsHeader, type Fixtures } from "./fixtures.js";
import { htmlWhole, leftovers, ok, parsesAsJson, refused, scenarioFile, wholeOrAbsent } from "./helpers.js";
import { BIN } from "./spawn.js";
import type { Case } from "./types.js";

/** Fills a file system until it has no free block; returns the filler's path. */
function fill(dir: string): string {
  const filler = join(dir, "filler");
  try {
    writeFileSync(filler, Buffer.alloc(2 * 2 ** 20, 1));
  } catch {
    // ENOSPC: the file holds what fitted, and the file system is full.
  }
  return filler;
}

interface Output {
  option: string;
  command: (target: string) => string[];
  folder: boolean;
}

function outputs(fx: Fixtures): Output[] {
  const s = scenarioFile(fx, {});
  return [
    { option: "--json", command: (t) => ["run", s, "--quiet", "--json", t], folder: false },
    { option: "--save", command: (t) => ["run", s, "--quiet", "--save", t], folder: true },
    { option: "--trace", command: (t) => ["compare", s, "--trace", t], folder: false },
    { option: "--report", command: (t) => ["compare", s, "--report", t], folder: false },
    { option: "--json", command: (t) => ["compare", s, "--json", t], folder: false },
  ];
}

function badOutputPaths(fx: Fixtures): Case[] {
  const cases: Case[] = [];
  for (const o of outputs(fx)) {
    const id = (what: string) => `outputs/${o.command("T")[0]} ${o.option} ${what}`;
    const file = fx.file("file.txt", "a file");
    cases.push(
      { id: id("into /proc"), args: o.command("/proc/x"), expect: refused(o.option) },
      { id: id("under a file"), args: o.command(join(file, "x")), expect: refused(o.option) },
      { id: id("in a missing folder"), args: o.command(join(fx.dir, "absent", "x")), expect: refused(o.option) },
      { id: id(o.folder ? "onto a file" : "onto a folder"), args: o.command(o.folder ? file : fx.folder("out")), expect: refused(o.option) },
    );
    if (o.folder) {
      const full = fx.folder("full");
      writeFileSync(join(full, "notes.txt"), "mine");
      cases.push({ id: id("over a folder of other files"), args: o.command(full), expect: refused(o.option), check: () => (existsSync(join(full, "notes.txt")) ? null : "the user's file is gone") });
    }
    if (fx.readOnly) cases.push({ id: id("in a read-only folder"), args: o.command(join(fx.readOnly, "x")), expect: refused(o.option) });
    if (fx.small) {
      const small = fx.small;
      const target = join(small, "x");
      let filler = "";
      cases.push({
        id: id("on a full file system"),
        args: o.command(target),
        expect: { ...refused(o.option), afterRun: true },
        before: () => (filler = fill(small)),
        check: () => {
          const left = leftovers(small);
          rmSync(filler, { force: true });
          rmSync(target, { recursive: true, force: true });
          return left.length > 0 ? `temporaries left: ${left.join(", ")}` : null;
        },
      });
    }
  }
  return cases;
}

/** Outputs that are not regular files: a device is written into, never replaced. */
function specialTargets(fx: Fixtures): Case[] {
  const cases: Case[] = [];
  const s = scenarioFile(fx, {});
  const dev = join(fx.folder("dev"), "null");
  if (spawnSync("mknod", [dev, "c", "1", "3"]).status === 0) {
    cases.push({
      id: "outputs/run --json into a character device",
      args: ["run", s, "--quiet", "--json", dev],
      expect: ok,
      check: () => (statSync(dev).isCharacterDevice() ? null : `${dev} was replaced by a regular file`),
    });
  }
  // A pipe with a reader, as /dev/stdout is in `parasim run --json /dev/stdout | jq`.
  const piped = join(fx.folder("piped"), "pipe");
  const received = join(piped, "..", "received.json");
  spawnSync("mkfifo", [piped]);
  let reader: ChildProcess | undefined;
  cases.push({
    id: "outputs/run --json into a pipe with a reader",
    args: ["run", s, "--quiet", "--json", piped],
    expect: ok,
    before: () => (reader = spawn("sh", ["-c", `cat "${piped}" > "${received}"`], { stdio: "ignore" })),
    check: () => {
      reader?.kill();
      return statSync(piped).isFIFO() && readFileSync(received, "utf8").includes('"finalLoss"') ? null : "the JSON did not come through the pipe, or the pipe was replaced";
    },
  });
  const fifo = join(fx.folder("fifo-out"), "pipe");
  spawnSync("mkfifo", [fifo]);
  cases.push({ id: "outputs/run --json into a FIFO with no reader", args: ["run", s, "--quiet", "--json", fifo], expect: refused("--json") });
  const again = join(fx.folder("replace"), "ckpt");
  cases.push({
    id: "outputs/run --save over an earlier checkpoint",
    args: ["run", s, "--quiet", "--save", again],
    expect: ok,
    before: () => spawnSync(process.execPath, [BIN, "run", s, "--quiet", "--save", again]),
    check: wholeOrAbsent(join(again, ".."), again, (p) => (readCheckpoint(p).config.hiddenSize === 16 ? null : "wrong checkpoint")),
  });
  const json = join(fx.folder("json"), "r.json");
  cases.push({ id: "outputs/run --json", args: ["run", s, "--quiet", "--json", json], expect: ok, check: wholeOrAbsent(join(json, ".."), json, parsesAsJson()) });
  const html = join(fx.folder("html"), "r.html");
  cases.push({ id: "outputs/compare --report", args: ["compare", s, "--report", html], expect: ok, check: wholeOrAbsent(join(html, ".."), html, htmlWhole) });
  return cases;
}

/** A corrupted copy of the saved checkpoint, evaluated and used as --init. */
function corrupted(fx: Fixtures, id: string, corrupt: (ckpt: string) => void, names = ["checkpoint"]): Case[] {
  const ckpt = fx.ckptCopy("bad");
  corrupt(ckpt);
  const tokens = fx.file("t.json", [[1, 2, 3, 4]]);
  return [
    { id: `checkpoints/eval: ${id}`, args: ["eval", ckpt, "--tokens", tokens], expect: refused(...names) },
    { id: `checkpoints/--init: ${id}`, args: ["run", scenarioFile(fx, {}), "--quiet", "--init", ckpt], expect: refused("--init", "checkpoint", ...names) },
  ];
}

function checkpoints(fx: Fixtures): Case[] {
  const weights = (c: string) => join(c, "model.safetensors");
  const config = (c: string) => join(c, "config.json");
  const editConfig = (c: string, patch: Record<string, unknown>) => writeFileSync(config(c), JSON.stringify({ ...JSON.parse(readFileSync(config(c), "utf8")), ...patch }));
  const header = (edit: Parameters<typeof editSafetensorsHeader>[1]) => (c: string) => editSafetensorsHeader(weights(c), edit);
  const bytes = (c: string) => readFileSync(weights(c));
  const norm = "model.norm.weight";
  return [
    ...corrupted(fx, "no config.json", (c) => rmSync(config(c))),
    ...corrupted(fx, "config.json not JSON", (c) => writeFileSync(config(c), "{")),
    ...corrupted(fx, "config.json a list", (c) => writeFileSync(config(c), "[]")),
    ...corrupted(fx, "hidden_size -1", (c) => editConfig(c, { hidden_size: -1 }), ["config.json.hidden_size"]),
    ...corrupted(fx, "hidden_size a string", (c) => editConfig(c, { hidden_size: "16" }), ["config.json.hidden_size"]),
    ...corrupted(fx, "num_attention_heads 3", (c) => editConfig(c, { num_attention_heads: 3 }), ["config.json.num_attention_heads", "config.json.hidden_size"]),
    ...corrupted(fx, "vocab_size 1e15", (c) => editConfig(c, { vocab_size: 1e15 }), ["config.json.vocab_size", "checkpoint"]),
    ...corrupted(fx, "num_hidden_layers 1e6", (c) => editConfig(c, { num_hidden_layers: 1e6 }), ["config.json.num_hidden_layers"]),
    ...corrupted(fx, "tie_word_embeddings true", (c) => editConfig(c, { tie_word_embeddings: true }), ["config.json.tie_word_embeddings"]),
    ...corrupted(fx, "no model.safetensors", (c) => rmSync(weights(c))),
    ...corrupted(fx, "empty model.safetensors", (c) => writeFileSync(weights(c), "")),
    ...corrupted(fx, "weights cut to 100 bytes", (c) => writeFileSync(weights(c), bytes(c).subarray(0, 100))),
    ...corrupted(fx, "weights cut in the data", (c) => writeFileSync(weights(c), bytes(c).subarray(0, bytes(c).length - 8))),
    ...corrupted(fx, "header length 2^63", (c) => { const b = bytes(c); b.writeBigUInt64LE(2n ** 63n, 0); writeFileSync(weights(c), b); }),
    ...corrupted(fx, "header not JSON", (c) => { const b = bytes(c); b.write("!", 8); writeFileSync(weights(c), b); }),
    ...corrupted(fx, "dtype F16", header((h) => (h[norm].dtype = "F16"))),
    ...corrupted(fx, "shape [17]", header((h) => (h[norm].shape = [17]))),
    ...corrupted(fx, "shape of 2^60 elements", header((h) => (h[norm].shape = [2 ** 30, 2 ** 30]))),
    ...corrupted(fx, "overlapping data_offsets", header((h) => (h["model.layers.1.input_layernorm.weight"].data_offsets = [...h["model.layers.0.input_layernorm.weight"].data_offsets]))),
    ...corrupted(fx, "data_offsets past the end", header((h) => (h[norm].data_offsets = [h[norm].data_offsets[0] + 2 ** 40, h[norm].data_offsets[1] + 2 ** 40]))),
    ...corrupted(fx, "negative data_offsets", header((h) => (h[norm].data_offsets = [-64, 0]))),
    ...corrupted(fx, "a missing tensor", header((h) => delete (h as Record<string, unknown>)[norm])),
    ...corrupted(fx, "a NaN weight", (c) => poke(weights(c), norm, NaN)),
    ...corrupted(fx, "an infinite weight", (c) => poke(weights(c), norm, -Infinity)),
    { id: "checkpoints/--init of another model", args: ["run", scenarioFile(fx, { model: { hiddenSize: 32 } }), "--quiet", "--init", fx.ckpt], expect: refused("--init", "checkpoint") },
  ];
}

/** A sparse file of `bytes` (zeros, taking no disk space). */
function sparse(fx: Fixtures, name: string, bytes: number): string {
  const path = fx.file(name, "");
  truncateSync(path, bytes);
  return path;
}

/** Writes `value` into the first element of tensor `name`. */
function poke(path: string, name: string, value: number): void {
  const b = readFileSync(path);
  const length = Number(b.readBigUInt64LE(0));
  const [begin] = JSON.parse(b.subarray(8, 8 + length).toString("utf8"))[name].data_offsets;
  b.writeFloatLE(value, 8 + length + begin);
  writeFileSync(path, b);
}

function trainingStates(fx: Fixtures): Case[] {
  const resume = (id: string, corrupt: (c: string) => void, patch: Record<string, unknown> = {}): Case => {
    const ckpt = fx.ckptCopy("state");
    corrupt(ckpt);
    const s = scenarioFile(fx, merge({ training: { steps: 6 } }, patch));
    return { id: `states/--resume: ${id}`, args: ["run", s, "--quiet", "--resume", ckpt], expect: refused("--resume", "checkpoint") };
  };
  const state = (c: string) => join(c, "training-state.json");
  const editState = (c: string, patch: Record<string, unknown>) => writeFileSync(state(c), JSON.stringify({ ...JSON.parse(readFileSync(state(c), "utf8")), ...patch }));
  return [
    resume("no training state", (c) => rmSync(state(c))),
    resume("state not JSON", (c) => writeFileSync(state(c), "{")),
    resume("state of another format", (c) => editState(c, { format: "other" })),
    resume("state version 2", (c) => editState(c, { version: 2 })),
    resume("step past steps", (c) => editState(c, { step: 99 })),
    resume("negative step", (c) => editState(c, { step: -1 })),
    resume("losses of strings", (c) => editState(c, { losses: ["x"] })),
    resume("state tensors cut", (c) => writeFileSync(join(c, "training-state.safetensors"), readFileSync(join(c, "training-state.safetensors")).subarray(0, 50))),
    resume("another seed", () => undefined, { training: { seed: 7 } }),
    resume("another model", () => undefined, { model: { numLayers: 3 } }),
    { id: "states/--resume a run that crashed, to its end", args: ["run", scenarioFile(fx, { training: { steps: 6 } }), "--quiet", "--resume", fx.midCheckpoint(6)], expect: ok },
  ];
}

const merge = (a: Record<string, unknown>, b: Record<string, unknown>) => ({ ...a, ...b, training: { ...(a.training as object), ...(b.training as object) } });

function tokens(fx: Fixtures): Case[] {
  const t = (id: string, text: string, names = ["--tokens"]): Case => ({ id: `tokens/${id}`, args: ["eval", fx.ckpt, "--tokens", fx.file("t.json", text)], expect: refused(...names) });
  const text = (id: string, path: string): Case => ({ id: `tokens/--text ${id}`, args: ["eval", fx.ckpt, "--text", path], expect: refused("--text") });
  return [
    t("id 4294967361", "[[1, 2, 4294967361]]"),
    t("id 2^53", `[[1, 2, ${2 ** 53}]]`),
    t("id -1", "[[1, 2, -1]]"),
    t("id 1.5", "[[1, 2, 1.5]]"),
    t("id 256 (vocab 256)", "[[1, 2, 256]]"),
    t("id a string", '[[1, 2, "3"]]'),
    t("id 1e400", "[[1, 2, 1e400]]"),
    t("one token", "[[1]]"),
    t("no sequence", "[]"),
    t("ragged sequences", "[[1, 2, 3], [1, 2]]"),
    t("not a list", '{"a": 1}'),
    t("a list of numbers", "[1, 2, 3]"),
    t("nested too deep", "[[[1, 2]]]"),
    t("longer than the context", JSON.stringify([Array.from({ length: 40 }, (_, i) => i)])),
    t("not JSON", "[[1, 2,"),
    { id: "tokens/--tokens missing file", args: ["eval", fx.ckpt, "--tokens", join(fx.dir, "absent.json")], expect: refused("--tokens") },
    { id: "tokens/--tokens a folder", args: ["eval", fx.ckpt, "--tokens", fx.folder("tk")], expect: refused("--tokens") },
    { id: "tokens/--tokens /dev/zero", args: ["eval", fx.ckpt, "--tokens", "/dev/zero"], expect: refused("--tokens") },
    text("missing file", join(fx.dir, "absent.txt")),
    text("empty file", fx.file("e.txt", "")),
    text("one byte", fx.file("o.txt", "a")),
    text("/dev/zero", "/dev/zero"),
    { id: "tokens/--text of invalid UTF-8", args: ["eval", fx.ckpt, "--text", fx.file("b.txt", Uint8Array.from({ length: 300 }, (_, i) => 128 + (i % 128)))], expect: ok, check: (o) => (/"loss":\s*[\d.]+/.test(o.stdout) ? null : "no loss printed") },
    { id: "tokens/--text of 1 GiB (hours of forward passes)", args: ["eval", fx.ckpt, "--text", sparse(fx, "huge.txt", 2 ** 30)], expect: refused("--text") },
    { id: "tokens/--text of 256 KiB", args: ["eval", fx.ckpt, "--text", fx.file("k.txt", Buffer.alloc(2 ** 18, "the quick brown fox "))], expect: ok },
  ];
}

export function fileCases(fx: Fixtures): Case[] {
  return [...badOutputPaths(fx), ...specialTargets(fx), ...checkpoints(fx), ...trainingStates(fx), ...tokens(fx)];
}
