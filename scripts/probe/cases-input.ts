/**
 * Scenario input: bad numbers in every section, huge sizes (each case the issue names), impossible
 * combinations, malformed files and data sources, all through `parasim run`.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { stringify } from "yaml";
import { tiny, type Fixtures } from "./fixtures.js";
import { failed, ok, refused, runCase, scenarioFile } from "./helpers.js";
import type { Case } from "./types.js";

/** [field path, bad value] pairs: each must be refused naming the field. */
const BAD_NUMBERS: [string, unknown][] = [
  ["model.vocabSize", 0], ["model.vocabSize", 100], ["model.vocabSize", 1.5], ["model.vocabSize", "256"],
  ["model.hiddenSize", 0], ["model.hiddenSize", -16], ["model.hiddenSize", 18], ["model.intermediateSize", 0],
  ["model.numLayers", 0], ["model.numLayers", 1025], ["model.numHeads", 3], ["model.numHeads", 0],
  ["model.numKvHeads", 3], ["model.numKvHeads", 8], ["model.seqLen", 0], ["model.seqLen", 2.5],
  ["model.ropeTheta", 0], ["model.ropeTheta", Infinity], ["model.rmsNormEps", NaN], ["model.initStd", -1],
  ["model.family", "bert"], ["model.tieEmbeddings", "yes"], ["model.attention", "fast"],
  ["training.steps", 0], ["training.steps", 1.5], ["training.steps", NaN], ["training.globalBatch", 0], ["training.globalBatch", -4],
  ["training.microBatches", 3], ["training.microBatches", 0], ["training.seed", -1], ["training.seed", 1.5],
  ["training.optimizer.lr", 0], ["training.optimizer.lr", -1], ["training.optimizer.lr", Infinity], ["training.optimizer.lr", NaN],
  ["training.optimizer.beta1", 1], ["training.optimizer.beta2", -0.1], ["training.optimizer.eps", 0], ["training.optimizer.weightDecay", -1],
  ["training.optimizer.warmupSteps", 5], ["training.optimizer.minLr", 1], ["training.optimizer.clipGradNorm", -1],
  ["training.recompute", "most"], ["training.precision", "fp8"], ["training.checkpointEvery", 0], ["training.gradReduceFp32", "yes"],
  ["parallel.dp", 0], ["parallel.dp", 3], ["parallel.tp", 3], ["parallel.tp", 8], ["parallel.pp", 3], ["parallel.pp", 0],
  ["parallel.bucketBytes", 0], ["parallel.overlapGradReduce", "no"], ["parallel.schedule", "zigzag"], ["parallel.zero", 4],
  ["parallel.zero", "3"], ["parallel.virtualStages", 0], ["parallel.layersPerStage", [3, 0]], ["parallel.sequenceParallel", 1],
  ["hardware.profile", "tpu-v9"], ["hardware.peakFlops", 1e-300], ["hardware.efficiency", 1e-300], ["hardware.intraNode.bandwidth", 0],
  ["hardware.interNode.latency", 1e300], ["hardware.interNode.bandwidth", -1], ["hardware.devicesPerNode", 0],
  ["name", ""], ["name", 5], ["mode", "fast"], ["description", 3],
];

/** A dotted path with a value, as a nested patch. */
function at(path: string, value: unknown): Record<string, unknown> {
  return path.split(".").reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}

function badNumbers(fx: Fixtures): Case[] {
  return BAD_NUMBERS.map(([path, value]) => runCase(fx, `numbers/${path}=${typeof value === "number" ? String(value) : JSON.stringify(value)}`, at(path, value), refused(path)));
}

/** `run` of a published model (no tiny fields, which would override the preset's) with `patch`. */
function presetCase(fx: Fixtures, id: string, patch: Record<string, unknown>, expect: Case["expect"]): Case {
  return { id, args: ["run", scenarioFile(fx, patch, { name: "preset", training: tiny.training }), "--quiet"], expect };
}

/** Work too large for any run, or for this host: each case the issue names, and their kin. */
function hugeSizes(fx: Fixtures): Case[] {
  const big = { hiddenSize: 4096, intermediateSize: 11008, numLayers: 12, numHeads: 32, numKvHeads: 32 };
  return [
    runCase(fx, "sizes/hiddenSize 65536", { model: { hiddenSize: 65536 } }, refused("model.hiddenSize")),
    runCase(fx, "sizes/numLayers 10000", { model: { numLayers: 10000 } }, refused("model.numLayers")),
    runCase(fx, "sizes/numLayers 10000 shapes", { mode: "shapes", model: { numLayers: 10000 } }, refused("model.numLayers")),
    runCase(fx, "sizes/a 40 GB model", { model: big, training: { globalBatch: 1 } }, refused("model.hiddenSize", "model.intermediateSize")),
    runCase(fx, "sizes/globalBatch 1e9", { training: { globalBatch: 1e9 } }, refused("training.globalBatch")),
    runCase(fx, "sizes/globalBatch 1e9 shapes", { mode: "shapes", training: { globalBatch: 1e9 } }, refused("training.globalBatch")),
    runCase(fx, "sizes/seqLen 100000", { model: { seqLen: 100_000 } }, refused("model.seqLen")),
    runCase(fx, "sizes/seqLen 1e9 shapes", { mode: "shapes", model: { seqLen: 1e9 } }, refused("model.seqLen", "training.globalBatch")),
    runCase(fx, "sizes/vocabSize 1e15", { model: { vocabSize: 1e15 } }, refused("model.vocabSize")),
    runCase(fx, "sizes/intermediateSize 1e12", { model: { intermediateSize: 1e12 } }, refused("model.intermediateSize")),
    runCase(fx, "sizes/microBatches 1e6 on pp 2", { training: { globalBatch: 2e6, microBatches: 1e6 }, parallel: { pp: 2 } }, refused("training.microBatches", "training.globalBatch")),
    runCase(fx, "sizes/real world of 128", { training: { globalBatch: 128 }, parallel: { dp: 128 } }, refused("parallel")),
    runCase(fx, "sizes/shapes world of 131072", { mode: "shapes", training: { globalBatch: 131072 }, parallel: { dp: 131072 } }, refused("parallel")),
    presetCase(fx, "sizes/preset llama-3-70b in real mode", { model: { preset: "llama-3-70b" }, training: { globalBatch: 1 } }, refused("model.preset")),
    // Possible, but hours of work: a run must not start what it cannot finish in reasonable time.
    runCase(fx, "sizes/steps 1e9 (hours of steps)", { training: { steps: 1e9 } }, refused("training.steps")),
    runCase(fx, "sizes/steps 1e7 in shapes mode", { mode: "shapes", training: { steps: 1e7 } }, refused("training.steps")),
    runCase(fx, "sizes/one step of 1e14 FLOPs in real mode", { model: { hiddenSize: 1024, intermediateSize: 2816, numLayers: 8, numHeads: 8, numKvHeads: 8, seqLen: 2048 }, training: { steps: 1, globalBatch: 64, microBatches: 64 } }, refused("training.globalBatch")),
    presetCase(fx, "sizes/llama-3.1-405b shapes for 10000 steps", { mode: "shapes", model: { preset: "llama-3.1-405b" }, training: { steps: 10_000, globalBatch: 16, microBatches: 16 }, parallel: { tp: 8, pp: 16 } }, refused("training.steps")),
    { id: "sizes/schedule --pp 100000 --microbatches 100000", args: ["schedule", "--kind", "1f1b", "--pp", "100000", "--microbatches", "100000"], expect: refused("--microbatches", "--pp") },
    { id: "sizes/schedule --virtual 100000", args: ["schedule", "--kind", "interleaved", "--pp", "2", "--microbatches", "2", "--virtual", "100000"], expect: refused("--virtual") },
    (() => {
      const values = Array.from({ length: 400 }, (_, i) => i + 1).join(",");
      return { id: "sizes/--vary product of 160000", args: ["compare", scenarioFile(fx, {}), "--vary", `training.seed=${values}`, "--vary", `training.steps=${values}`], expect: refused("--vary") };
    })(),
  ];
}

function combinations(fx: Fixtures): Case[] {
  return [
    runCase(fx, "combos/full recompute with zb-h1", { training: { recompute: "full", microBatches: 2 }, parallel: { pp: 2, schedule: "zb-h1" } }, refused("training.recompute")),
    runCase(fx, "combos/interleaved with m not a multiple of pp", { training: { globalBatch: 6, microBatches: 3 }, parallel: { pp: 2, schedule: "interleaved", virtualStages: 2 }, model: { numLayers: 4 } }, refused("training.microBatches")),
    runCase(fx, "combos/virtualStages 3 with 1f1b", { parallel: { pp: 2, virtualStages: 3 } }, refused("parallel.virtualStages")),
    runCase(fx, "combos/layersPerStage of the wrong length", { parallel: { pp: 2, layersPerStage: [2] } }, refused("parallel.layersPerStage")),
    runCase(fx, "combos/sequenceParallel with tokens not divisible by tp", { model: { seqLen: 5 }, training: { globalBatch: 1 }, parallel: { tp: 2, sequenceParallel: true } }, refused("parallel.sequenceParallel")),
    runCase(fx, "combos/lossScale with bf16", { training: { precision: "bf16", lossScale: {} } }, refused("training.lossScale")),
    runCase(fx, "combos/minLr above lr", { training: { optimizer: { lr: 1e-3, minLr: 1e-2 } } }, refused("training.optimizer.minLr")),
    runCase(fx, "combos/sparse block not dividing seqLen", { model: { attentionPattern: { kind: "strided", block: 5, stride: 2 } } }, refused("model.attentionPattern.block")),
    runCase(fx, "combos/sparse pattern with flash", { model: { attention: "flash", attentionPattern: { kind: "strided", block: 4, stride: 2 } } }, refused("model.attentionPattern")),
    runCase(fx, "combos/tied llama with --save", { model: { tieEmbeddings: true } }, refused("--save"), ["--save", join(fx.folder("tied"), "c")]),
    runCase(fx, "combos/checkpointEvery without --save", { training: { checkpointEvery: 1 } }, refused("training.checkpointEvery")),
    runCase(fx, "combos/--shapes with --save", {}, refused("--save"), ["--shapes", "--save", join(fx.folder("shp"), "c")]),
    runCase(fx, "combos/crash on a rank past the world", { faults: { crash: { rank: 4, step: 1 } } }, refused("faults.crash.rank")),
    runCase(fx, "combos/slowDevice factor 0", { faults: { slowDevice: { rank: 0, factor: 0 } } }, refused("faults.slowDevice.factor", "faults.slowDevice.0.factor")),
    runCase(fx, "combos/slowLink with ranks and node", { parallel: { dp: 2 }, faults: { slowLink: { ranks: [0, 1], node: 0, factor: 2 } } }, refused("faults.slowLink", "faults.slowLink.ranks", "faults.slowLink.node")),
    runCase(fx, "combos/unknown preset", { model: { preset: "llama-9" } }, refused("model.preset")),
    runCase(fx, "combos/hfConfig file missing", { model: { hfConfig: "absent.json" } }, refused("model.hfConfig")),
    runCase(fx, "combos/unknown key in model", { model: { bogus: 1 } }, refused("model.bogus")),
    runCase(fx, "combos/unknown top-level key", { bogus: 1 }, refused("bogus")),
    runCase(fx, "combos/lr 1e308 diverges", { training: { optimizer: { lr: 1e308 } } }, failed(/^parasim: step \d+: the loss is (NaN|Infinity)/)),
    runCase(fx, "combos/injected crash", { training: { steps: 3 }, parallel: { dp: 2 }, faults: { crash: { rank: 1, step: 1 } } }, failed(/rank 1 failed during step 1/)),
  ];
}

/** Scenario files that are not scenarios, and data sources that are not text. */
function files(fx: Fixtures): Case[] {
  const fifo = join(fx.folder("fifo"), "pipe.yaml");
  execFileSync("mkfifo", [fifo]);
  const run = (id: string, path: string, names: string[]): Case => ({ id, args: ["run", path, "--quiet"], expect: refused(...names) });
  const data = (id: string, path: string): Case => runCase(fx, id, { training: { data: { source: "text", path } } }, refused("training.data.path"));
  const invalidUtf8 = fx.file("bytes.txt", Uint8Array.from({ length: 4096 }, (_, i) => (i * 37) % 256));
  return [
    run("files/missing scenario", join(fx.dir, "absent.yaml"), ["scenario"]),
    run("files/scenario is a folder", fx.folder("x"), ["scenario"]),
    run("files/empty scenario", fx.file("e.yaml", ""), ["scenario"]),
    run("files/YAML syntax error", fx.file("b.yaml", "model: {hiddenSize: [\n"), ["scenario"]),
    run("files/YAML unknown tag", fx.file("t.yaml", "name: !!python/object:os.system x\nmodel: {}\n"), ["scenario"]),
    run("files/YAML alias bomb", fx.file("bomb.yaml", billionLaughs()), ["scenario"]),
    run("files/JSON syntax error", fx.file("b.json", '{"model": '), ["scenario"]),
    run("files/JSON list", fx.file("l.json", "[1, 2]"), ["scenario"]),
    run("files/binary garbage", fx.file("g.yaml", Uint8Array.from({ length: 512 }, (_, i) => (i * 101) % 256)), ["scenario"]),
    run("files/scenario /dev/zero", "/dev/zero", ["scenario"]),
    run("files/scenario is a FIFO with no writer", fifo, ["scenario"]),
    { ...run("files/name with control characters", fx.file("n.json", JSON.stringify({ ...tiny, name: "evil\u001b[2J\u0007name" })), []), expect: ok, check: (o) => (/[\x00-\x08\x0b-\x1f\x7f]/.test(o.stdout) ? "a control character reached stdout" : null) },
    data("data/text corpus missing", "absent.txt"),
    data("data/text corpus is a folder", fx.folder("corpus")),
    data("data/text corpus shorter than seqLen", fx.file("short.txt", "abc")),
    data("data/text corpus /dev/zero", "/dev/zero"),
    runCase(fx, "data/text corpus of invalid UTF-8 bytes", { training: { data: { source: "text", path: invalidUtf8 } } }, ok),
    runCase(fx, "data/data source unknown", { training: { data: { source: "web" } } }, refused("training.data", "training.data.source")),
  ];
}

/** A YAML document whose aliases expand to 10^9 entries. */
function billionLaughs(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(",")}]`);
  return lines.join("\n") + "\n" + stringify({ model: {} });
}

export function inputCases(fx: Fixtures): Case[] {
  return [...badNumbers(fx), ...hugeSizes(fx), ...combinations(fx), ...files(fx)];
}
