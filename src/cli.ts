#!/usr/bin/env node
/**
 * The command line. commander lives here only: every command is a thin wrapper around a function
 * of src/index.ts, so tests and users can call the same code directly.
 */
import { LIMITS } from "./limits.js";
import { Command, CommanderError } from "commander";
import { InputError } from "./errors.js";
import { removeTemporaries, writeFileAtomic } from "./util/atomic.js";
import { checkOutputFile, checkOutputFolder } from "./util/outputs.js";
import { CHECKPOINT_FILES } from "./checkpoint/hf.js";
import { evaluateCheckpoint, loadEvalSequences, readCheckpoint, loadScenario, simulate, bundledScenarioPath, parseCosts, scheduleCommandOutput } from "./index.js";
import { readdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { expandVariations, parseVariation, readScenarioFile, inShapesMode, compareWithTimelines, type Expanded } from "./index.js";
import { formatCompareReport } from "./report/compare-report.js";
import { htmlReport } from "./report/html.js";
import { progressBar, statusLine } from "./report/progress.js";
import { formatRunReport } from "./report/run-report.js";
import { chromeTrace } from "./report/trace.js";
import { formatValidation, runValidation, TABLE5 } from "./run/validate.js";
import { plan } from "./plan/plan.js";
import { formatPlan } from "./plan/format.js";

/** A commander option parser for counts: a one-line InputError naming the option otherwise. */
function positiveInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1) throw new InputError(option, `must be a positive integer, got "${value}"`);
    return n;
  };
}

/** Writes an output file atomically; a path that cannot be written is bad input naming the option. */
function writeOutput(option: string, path: string, text: string): void {
  try {
    writeFileAtomic(path, text);
  } catch (err) {
    throw new InputError(option, `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Checks every output file option that is set, before any work starts. */
function checkOutputFiles(opts: Record<string, unknown>, options: readonly string[]): void {
  for (const name of options) {
    const path = opts[name];
    if (typeof path === "string") checkOutputFile(`--${name}`, path);
  }
}

const writeJson = (path: string, value: unknown): void => writeOutput("--json", path, JSON.stringify(value, null, 2) + "\n");

/** The bundled comparison: the numbered scenarios in scenarios/, which tell the story in order. */
function bundledComparison(): string[] {
  const dir = dirname(bundledScenarioPath("default.yaml"));
  return readdirSync(dir)
    .filter((f) => /^\d\d-.*\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function buildProgram(): Command {
  const program = new Command()
    .name("parasim")
    .description("Simulate data, tensor and pipeline parallel training of a Llama-style model")
    .showHelpAfterError(false)
    .configureOutput({ outputError: () => undefined })
    .exitOverride();
  addRunCommand(program);
  addEvalCommand(program);
  addCompareCommand(program);
  addScheduleCommand(program);
  addValidateCommand(program);
  addPlanCommand(program);
  return program;
}

function addRunCommand(program: Command): void {
  program
    .command("run")
    .description("train a scenario (default: the bundled scenarios/default.yaml) and report losses, time, bytes")
    .argument("[scenario]", "scenario file (YAML or JSON)")
    .option("--json <file>", "write the results as JSON")
    .option("--save <dir>", "write the checkpoint (Hugging Face format plus training state) to this folder, at the end and every training.checkpointEvery steps")
    .option("--init <dir>", "start from this checkpoint's weights instead of the seeded initialisation")
    .option("--resume <dir>", "continue the run from this checkpoint's weights and training state")
    .option("--quiet", "print only the summary line")
    .option("--shapes", "shapes only: real sizes, no numbers (overrides the scenario's mode)")
    .option("--per-rank", "one table row per rank, also where one row stands for many identical ranks")
    .action(async (file: string | undefined, opts: { json?: string; save?: string; init?: string; resume?: string; quiet?: boolean; shapes?: boolean; perRank?: boolean }) => {
      checkOutputFiles(opts, ["json"]);
      if (opts.save !== undefined) checkOutputFolder("--save", opts.save, CHECKPOINT_FILES);
      const scenario = loadScenario(file ?? bundledScenarioPath("default.yaml"), { shapes: opts.shapes });
      const bar = progressBar(scenario.training.steps, scenario.name);
      const result = await simulate(scenario, {
        init: opts.init,
        save: opts.save,
        resume: opts.resume,
        onStep: (s) => bar.update(s.step + 1, s.loss === null ? "shapes only" : `loss ${s.loss.toFixed(4)}`),
      });
      bar.finish();
      console.log(formatRunReport(result, { brief: opts.quiet === true, perRank: opts.perRank === true }));
      if (opts.json) writeJson(opts.json, result);
    });
}

function addValidateCommand(program: Command): void {
  program
    .command("validate")
    .description("simulate published runs (Korthikanti et al. 2022, Table 5) in shapes mode and print predicted vs measured iteration times")
    .option("--json <file>", "write the comparison as JSON")
    .action(async (opts: { json?: string }) => {
      checkOutputFiles(opts, ["json"]);
      const result = await runValidation(TABLE5, (row) => console.error(`${row.model} ${row.variant}: ${row.predicted.toFixed(2)} s`));
      console.log(formatValidation(result));
      if (opts.json) writeJson(opts.json, result);
    });
}

interface PlanCliOptions {
  model: string;
  devices: number;
  hardware: string;
  globalBatch: number;
  seq: number;
  precision: string;
  attention: string;
  top: number;
  json?: string;
  tpAcrossNodes?: boolean;
  threads?: number;
}

/** A commander option parser for a value out of a fixed list. */
function oneOf<T extends string>(option: string, values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InputError(option, `must be one of ${values.join(", ")}, got "${value}"`);
    return value as T;
  };
}

function addPlanCommand(program: Command): void {
  program
    .command("plan")
    .description("find the fastest layouts of a model on a cluster: enumerate them, prune what cannot divide, fit or win, simulate the rest in shapes mode")
    .requiredOption("--model <preset|config.json>", "a model preset (see README) or a Hugging Face config.json")
    .requiredOption("--devices <n>", "devices of the cluster", positiveInt("--devices"))
    .requiredOption("--hardware <profile>", "hardware profile: a100-80gb, h100-80gb, h200-141gb")
    .requiredOption("--global-batch <b>", "sequences per step", positiveInt("--global-batch"))
    .requiredOption("--seq <s>", "tokens per sequence", positiveInt("--seq"))
    .option("--precision <p>", "fp32 | bf16 | fp16", oneOf("--precision", ["fp32", "bf16", "fp16"] as const), "bf16")
    .option("--attention <kernel>", "flash | naive", oneOf("--attention", ["flash", "naive"] as const), "flash")
    .option("--top <k>", "layouts to print", positiveInt("--top"), 5)
    .option("--json <file>", "write the plan (every simulated layout, counts per prune reason) as JSON")
    .option("--tp-across-nodes", "let tensor-parallel groups span nodes")
    .option("--threads <n>", "simulations at a time (default: the machine's cores)", positiveInt("--threads"))
    .action((opts: PlanCliOptions) => runPlan(opts));
}

async function runPlan(opts: PlanCliOptions): Promise<void> {
  checkOutputFiles(opts as unknown as Record<string, unknown>, ["json"]);
  const request = {
    model: opts.model,
    devices: opts.devices,
    hardware: opts.hardware,
    globalBatch: opts.globalBatch,
    seqLen: opts.seq,
    precision: opts.precision as "fp32" | "bf16" | "fp16",
    attention: opts.attention as "flash" | "naive",
    top: opts.top,
    tpAcrossNodes: opts.tpAcrossNodes === true,
  };
  // How many layouts the search simulates is known only when it stops: a status line, not a bar.
  const status = statusLine("plan: simulated");
  const output = await plan(request, {
    threads: opts.threads,
    onSimulated: (done, _queued, kth) => status.update(done, Number.isFinite(kth) ? `layouts; #${opts.top} so far ${kth.toPrecision(4)} s per step` : "layouts"),
  });
  status.finish();
  console.log(formatPlan(output.result));
  if (opts.json) writeJson(opts.json, output.result);
  // Plug-in point: `output` (PlanOutput, src/plan/types.ts) is what the plan report (--report;
  // pass `timelines: true` to plan() above for the top three's timelines), --verify and --emit
  // take from here, e.g. output.result.ranked[0].scenario for the winning layout.
}

function addEvalCommand(program: Command): void {
  program
    .command("eval")
    .description("mean next-token loss of a checkpoint on a set of token sequences, as JSON")
    .argument("<checkpoint>", "checkpoint folder (config.json + model.safetensors)")
    .option("--tokens <file>", "JSON file holding a list of equal-length token sequences")
    .option("--text <file>", "raw text, cut into sequences of the checkpoint's context length")
    .action((dir: string, opts: { tokens?: string; text?: string }) => {
      if ((opts.tokens === undefined) === (opts.text === undefined)) {
        throw new InputError("eval", "give exactly one of --tokens FILE or --text FILE");
      }
      const checkpoint = readCheckpoint(dir);
      const sequences = loadEvalSequences(opts, checkpoint.config.seqLen);
      console.log(JSON.stringify(evaluateCheckpoint(checkpoint, sequences)));
    });
}

interface CompareCliOptions {
  vary: string[];
  json?: string;
  trace?: string;
  report?: string;
  maxWorldSize?: number;
  threads?: number;
  shapes?: boolean;
}

function addCompareCommand(program: Command): void {
  program
    .command("compare")
    .description("run several layouts of one model side by side (default: the bundled comparison in scenarios/)")
    .argument("[scenarios...]", "scenario files (YAML or JSON)")
    .option("--vary <path=values>", "cross product over a field, e.g. parallel.dp=1,2,4 (repeatable)", collect, [])
    .option("--json <file>", "write { runs: [...], skipped: [...] } as JSON")
    .option("--trace <file>", "write a Chrome trace (Perfetto, chrome://tracing) of every run")
    .option("--report <file>", "write a self-contained HTML report")
    .option("--max-world-size <n>", "skip layouts with more devices than this (default 16; shapes mode 65536)", positiveInt("--max-world-size"))
    .option("--shapes", "shapes only: real sizes, no numbers (overrides every scenario's mode)")
    .option("--threads <n>", "runs at a time (default: the machine's cores)", positiveInt("--threads"))
    .action((files: string[], opts: CompareCliOptions) => runComparison(files, opts));
}

/** Expands the scenarios and their variations, runs them on the pool, prints and writes the outputs. */
async function runComparison(files: string[], opts: CompareCliOptions): Promise<void> {
  checkOutputFiles(opts as unknown as Record<string, unknown>, ["json", "trace", "report"]);
  const variations = opts.vary.map(parseVariation);
  const paths = files.length > 0 ? files : bundledComparison();
  const runs: Expanded[] = [];
  const skipped: { layout: string; reason: string }[] = [];
  for (const path of paths) {
    const { raw, baseDir } = readScenarioFile(path);
    const shapes = opts.shapes === true || (raw as { mode?: unknown } | null)?.mode === "shapes";
    const maxWorldSize = opts.maxWorldSize ?? (shapes ? LIMITS.shapesWorldSize : 16);
    const expansion = expandVariations(opts.shapes ? inShapesMode(raw) : raw, baseDir, variations, maxWorldSize, path);
    const name = paths.length > 1 ? `${path}: ` : "";
    runs.push(...expansion.runs);
    skipped.push(...expansion.skipped.map((s) => ({ layout: name + s.layout, reason: s.reason })));
  }
  if (runs.length === 0) throw new InputError("compare", `no layout to run: ${skipped.map((s) => `${s.layout} (${s.reason})`).join("; ")}`);
  const bar = progressBar(runs.length, "compare");
  const output = await compareWithTimelines(runs, { skipped, threads: opts.threads, onRunDone: (done) => bar.update(done, "runs") });
  bar.finish();
  console.log(formatCompareReport(output.result));
  if (opts.json) writeJson(opts.json, output.result);
  if (opts.trace) {
    const traceRuns = output.result.runs.map((r, i) => ({ label: r.layout.label, result: r, timeline: output.timelines[i] }));
    writeOutput("--trace", opts.trace, JSON.stringify(chromeTrace(traceRuns)));
  }
  if (opts.report) writeOutput("--report", opts.report, htmlReport(output));
  const { failed } = output.result;
  if (failed.length > 0) throw new Error(`${failed.length} of ${runs.length} layout(s) failed: ${failed.map((f) => `${f.layout} (${f.file})`).join(", ")} (see the table)`);
  if (output.result.runs.some((r) => r.metrics.lossesAgree === false)) {
    throw new Error("layouts of the same model and data trained to different losses (see the table): a parallel layout is not equivalent to one device");
  }
}

function addScheduleCommand(program: Command): void {
  program
    .command("schedule")
    .description("draw a pipeline schedule and measure its bubbles with unit costs and free links (no training)")
    .requiredOption("--kind <kind>", "gpipe | 1f1b | interleaved | zb-h1")
    .requiredOption("--pp <p>", "pipeline stages (ranks)", positiveInt("--pp"))
    .requiredOption("--microbatches <m>", "micro-batches per step", positiveInt("--microbatches"))
    .option("--virtual <v>", "model chunks per rank (interleaved only; default 2)", positiveInt("--virtual"))
    .option("--costs <costs>", "cost of a forward, input-gradient and weight-gradient action per stage, e.g. F=1,B=2,W=1 (default F=1,B=1,W=1)")
    .option("--json", "print { makespan, ranks: [...] } as JSON")
    .action((opts: { kind: string; pp: number; microbatches: number; virtual?: number; costs?: string; json?: boolean }) => {
      const costs = opts.costs === undefined ? undefined : parseCosts(opts.costs);
      console.log(scheduleCommandOutput({ kind: opts.kind, p: opts.pp, m: opts.microbatches, v: opts.virtual, costs, json: opts.json }));
    });
}

/**
 * A usage mistake as one `OPTION: RULE` line. commander's own messages read `error: unknown option
 * '--foo'`; the first quoted word names the option, command or argument.
 */
export function usageMessage(err: CommanderError): string {
  const text = err.message.replace(/^error:\s*/, "").split("\n")[0];
  const name = /'([^' ]+)/.exec(text)?.[1];
  const hint = /\(Did you mean [^)]*\)/.exec(err.message)?.[0];
  const rules: Record<string, string> = {
    "commander.unknownOption": "unknown option",
    "commander.unknownCommand": "unknown command (the commands are run, eval, compare, schedule, validate, plan)",
    "commander.optionMissingArgument": "needs a value",
    "commander.missingMandatoryOptionValue": "must be given",
    "commander.missingArgument": "must be given",
    "commander.excessArguments": text.replace(/ for '[^']*'/, "").toLowerCase(),
  };
  const rule = rules[err.code];
  if (name === undefined || rule === undefined) return text;
  return `${name}: ${rule}${hint ? ` ${hint}` : ""}`;
}

/** SIGINT and SIGTERM stop at any phase: temporary files go, the exit code is 128 + the signal's number. */
function exitOnSignals(): void {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      removeTemporaries();
      console.error(`parasim: interrupted (${signal})`);
      process.exit(code);
    });
  }
}

/** Runs the CLI; bad input exits 2 with one line, a failed run exits 1 naming rank and action. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; usage mistakes are bad input.
      if (err.exitCode !== 0 && err.code !== "commander.help") console.error(`parasim: ${usageMessage(err)}`);
      return err.exitCode === 0 ? 0 : 2;
    }
    const e = err as Error & { exitCode?: number };
    console.error(`parasim: ${e.message}`);
    if (process.env.PARASIM_DEBUG) console.error(e.stack);
    return typeof e.exitCode === "number" ? e.exitCode : 1;
  }
}

exitOnSignals();
process.exitCode = await main(process.argv);
