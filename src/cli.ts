#!/usr/bin/env node
/**
 * The command line. commander lives here only: every command is a thin wrapper around a function
 * of src/index.ts, so tests and users can call the same code directly.
 */
import { writeFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { InputError } from "./errors.js";
import { evaluateCheckpoint, loadEvalSequences, loadScenario, simulate, bundledScenarioPath, parseCosts, scheduleCommandOutput } from "./index.js";
import { progressBar } from "./report/progress.js";
import { formatRunReport } from "./report/run-report.js";

/** A commander option parser for counts: a one-line InputError naming the option otherwise. */
function positiveInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1) throw new InputError(option, `must be a positive integer, got "${value}"`);
    return n;
  };
}

function writeJson(path: string, value: unknown): void {
  try {
    writeFileSync(path, JSON.stringify(value, null, 2) + "\n");
  } catch (err) {
    throw new InputError("--json", `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function buildProgram(): Command {
  const program = new Command()
    .name("parasim")
    .description("Simulate data, tensor and pipeline parallel training of a Llama-style model")
    .showHelpAfterError(false)
    .exitOverride();

  program
    .command("run")
    .description("train a scenario (default: the bundled scenarios/default.yaml) and report losses, time, bytes")
    .argument("[scenario]", "scenario file (YAML or JSON)")
    .option("--json <file>", "write the results as JSON")
    .option("--save <dir>", "write the final checkpoint (Hugging Face format) to this folder")
    .option("--init <dir>", "start from this checkpoint instead of the seeded initialisation")
    .option("--quiet", "print only the summary line")
    .action(async (file: string | undefined, opts: { json?: string; save?: string; init?: string; quiet?: boolean }) => {
      const scenario = loadScenario(file ?? bundledScenarioPath("default.yaml"));
      const bar = progressBar(scenario.training.steps, scenario.name);
      const result = await simulate(scenario, {
        init: opts.init,
        save: opts.save,
        onStep: (s) => bar.update(s.step + 1, `loss ${s.loss.toFixed(4)}`),
      });
      bar.finish();
      console.log(formatRunReport(result, { brief: opts.quiet === true }));
      if (opts.json) writeJson(opts.json, result);
    });

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
      const sequences = loadEvalSequences(dir, opts);
      console.log(JSON.stringify(evaluateCheckpoint(dir, sequences)));
    });

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

  return program;
}

/** Runs the CLI; bad input exits 2 with one line, a failed run exits 1 naming rank and action. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; usage mistakes are bad input.
      return err.exitCode === 0 ? 0 : 2;
    }
    const e = err as Error & { exitCode?: number };
    console.error(`parasim: ${e.message}`);
    if (process.env.PARASIM_DEBUG) console.error(e.stack);
    return typeof e.exitCode === "number" ? e.exitCode : 1;
  }
}

process.exitCode = await main(process.argv);
