/**
 * `parasim plan`: the command-line face of the search (src/plan/plan.ts), and what it hands on —
 * the HTML report, a verification of the best layout on a scaled-down copy, and the launch
 * configuration for Megatron-LM or torchtitan.
 */
import type { Command } from "commander";
import { checkOutputFiles, oneOf, positiveInt, writeJson, writeOutput } from "../cli-io.js";
import { InputError } from "../errors.js";
import { checkOutputFile } from "../util/outputs.js";
import { statusLine } from "../report/progress.js";
import { planReportHtml } from "../report/plan-report.js";
import { EMIT_ENGINES, emitLaunch, emitRefusal, type EmitEngine } from "./emit.js";
import { formatPlan } from "./format.js";
import { plan } from "./plan.js";
import type { PlannedLayout } from "./types.js";
import { formatVerify, verifyLayout } from "./verify.js";

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
  report?: string;
  verify?: boolean;
  emit?: EmitEngine;
  emitFile?: string;
}

export function addPlanCommand(program: Command): void {
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
    .option("--report <file>", "write a self-contained HTML page: step time against memory for every simulated layout, the table, the top three's timelines")
    .option("--verify", "train a scaled-down copy of the best layout in real mode and check it against one device")
    .option("--emit <engine>", "write the best layout's launch configuration: megatron | torchtitan", oneOf("--emit", EMIT_ENGINES))
    .option("--emit-file <file>", "where --emit writes (default: a name from the model in the current folder)")
    .action((opts: PlanCliOptions) => runPlan(opts));
}

async function runPlan(opts: PlanCliOptions): Promise<void> {
  checkOutputFiles(opts as unknown as Record<string, unknown>, ["json", "report"]);
  if (opts.emitFile !== undefined) checkOutputFile("--emit-file", opts.emitFile);
  if (opts.emitFile !== undefined && opts.emit === undefined) throw new InputError("--emit-file", "needs --emit megatron | torchtitan");
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
    timelines: opts.report !== undefined,
    onSimulated: (done, _queued, kth) => status.update(done, Number.isFinite(kth) ? `layouts; #${opts.top} so far ${kth.toPrecision(4)} s per step` : "layouts"),
  });
  status.finish();
  console.log(formatPlan(output.result));
  if (opts.json) writeJson(opts.json, output.result);
  if (opts.report) writeOutput("--report", opts.report, planReportHtml(output));
  const best = output.result.ranked.find((l) => l.fits);
  if (!best) {
    // Nothing to hand on: say so rather than skip what was asked for.
    if (opts.emit || opts.verify) throw new InputError(opts.emit ? "--emit" : "--verify", "no simulated layout fits in the device's memory");
    return;
  }
  if (opts.emit) emitBest(opts.emit, opts.emitFile, output.result.ranked.filter((l) => l.fits));
  if (opts.verify) {
    const verdict = await verifyLayout(best.scenario);
    console.log(formatVerify(verdict));
    // A layout that does not train like one device is a failure of the simulator, not bad input.
    if (!verdict.pass) process.exitCode = 1;
  }
}

/** Writes the launch configuration of the fastest fitting layout the engine can run, saying so when that is not #1. */
function emitBest(engine: EmitEngine, file: string | undefined, fitting: PlannedLayout[]): void {
  const runnable = fitting.find((l) => emitRefusal(engine, l.scenario) === undefined);
  const bestRefused = emitRefusal(engine, fitting[0].scenario);
  if (!runnable) throw new InputError("--emit", `${engine} can run none of the layouts that fit: ${bestRefused!.message}`);
  if (bestRefused) console.log(`emit: ${engine} cannot run #${fitting[0].rank} (${bestRefused.message}); writing #${runnable.rank} instead`);
  const launch = emitLaunch(engine, runnable.scenario);
  const path = file ?? launch.fileName;
  writeOutput(file ? "--emit-file" : "--emit", path, launch.text);
  console.log(`emit: ${engine} launch configuration of #${runnable.rank} ${runnable.label} written to ${path}`);
}

