/**
 * What `parasim schedule --kind K --pp P --microbatches M [--virtual V] [--costs F=1,B=2,W=1]
 * [--json]` prints: the makespan and, per rank, busy and idle time, bubble fraction and peak
 * stashed micro-batches, from the schedule simulation with free links.
 *
 * Costs are per rank's whole share of the layers (one stage of a plain pipeline). A fused
 * backward costs B + W. For the interleaved schedule each chunk holds 1/v of a rank's layers,
 * so every chunk action costs 1/v of the given cost; the makespans of all kinds compare directly.
 */
import { InputError } from "../errors.js";
import { grouped, LIMITS } from "../limits.js";
import type { Schedule } from "./actions.js";
import { generateSchedule, scheduleDims } from "./generators.js";
import { formatSchedule } from "./printer.js";
import { simulateSchedule, type Costs, type CostModel } from "./simulate.js";
import { validateSchedule } from "./validate.js";

export interface ScheduleReportOptions {
  kind: string;
  p: number;
  m: number;
  /** Chunks per rank, interleaved only (default 2). */
  v?: number;
  /** Default F = B = W = 1 (a fused backward costs 2, twice a forward). */
  costs?: Costs;
}

export interface ScheduleReport {
  makespan: number;
  ranks: { rank: number; busy: number; idle: number; bubbleFraction: number; peakStashed: number }[];
}

export const DEFAULT_COSTS: Costs = { F: 1, B: 1, W: 1 };

function checkCosts(costs: Costs): void {
  for (const key of ["F", "B", "W"] as const) {
    const value = costs[key];
    const positive = key !== "W";
    if (!Number.isFinite(value) || value < 0 || (positive && value === 0)) {
      throw new InputError("--costs", `${key} must be a finite number ${positive ? "> 0" : "≥ 0"}, got ${value}`);
    }
  }
}

/** Parses `F=1,B=2,W=1`; keys F, B, W in any order, each at most once, missing ones 1. */
export function parseCosts(text: string): Costs {
  const costs: Costs = { ...DEFAULT_COSTS };
  const seen = new Set<string>();
  const rule = `must look like F=1,B=2,W=1 (keys F, B, W; numbers), got "${text}"`;
  if (text.trim() === "") throw new InputError("--costs", rule);
  for (const part of text.split(",")) {
    const match = /^\s*([FBW])\s*=\s*([^=\s]+)\s*$/.exec(part);
    if (!match) throw new InputError("--costs", rule);
    const key = match[1] as keyof Costs;
    const value = Number(match[2]);
    if (seen.has(key)) throw new InputError("--costs", `${key} is given twice in "${text}"`);
    if (Number.isNaN(value)) throw new InputError("--costs", rule);
    seen.add(key);
    costs[key] = value;
  }
  checkCosts(costs);
  return costs;
}

/** The cost of each action of `kind`'s schedule: the per-rank costs, divided by v for chunks. */
export function chunkCosts(kind: string, costs: Costs, v: number): Costs {
  const divisor = kind === "interleaved" ? v : 1;
  return { F: costs.F / divisor, B: costs.B / divisor, W: costs.W / divisor };
}

/** Refuses a schedule with more cells than `parasim schedule` prints, naming the largest of its options. */
function checkScheduleSize(dims: { p: number; m: number; v: number }): void {
  const cells = dims.p * dims.m * dims.v;
  if (cells <= LIMITS.printedScheduleCells) return;
  const largest = dims.v > Math.max(dims.p, dims.m) ? "--virtual" : dims.p > dims.m ? "--pp" : "--microbatches";
  throw new InputError(largest, `--pp·--microbatches·--virtual = ${grouped(cells)} schedule cells; parasim schedule draws at most ${grouped(LIMITS.printedScheduleCells)}`);
}

/** Generates, validates and simulates; returns the schedule too, for printing. */
export function runSchedule(opts: ScheduleReportOptions): { schedule: Schedule; costs: CostModel; report: ScheduleReport } {
  const costs = opts.costs ?? DEFAULT_COSTS;
  checkCosts(costs);
  const dims = scheduleDims(opts.kind, opts);
  const schedule = generateSchedule(opts.kind, opts);
  validateSchedule(schedule, dims);
  const perAction = chunkCosts(opts.kind, costs, dims.v);
  const sim = simulateSchedule(schedule, perAction);
  const report: ScheduleReport = {
    makespan: sim.makespan,
    ranks: sim.ranks.map(({ rank, busy, idle, bubbleFraction, peakStashed }) => ({ rank, busy, idle, bubbleFraction, peakStashed })),
  };
  return { schedule, costs: perAction, report };
}

export function scheduleReport(opts: ScheduleReportOptions): ScheduleReport {
  return runSchedule(opts).report;
}

/** Up to 4 decimals, trailing zeros dropped: 2, 0.5, 0.2727. */
function upTo4Decimals(x: number): string {
  return String(Number(x.toFixed(4)));
}

/**
 * The text output: the unit-time grid (drawn with `costs`, the per-action costs, when given),
 * the makespan and a per-rank table.
 */
export function formatScheduleReport(report: ScheduleReport, schedule: Schedule, costs?: CostModel): string {
  const header = ["rank", "busy", "idle", "bubble", "peak stashed"];
  const rows = report.ranks.map((r) => [String(r.rank), upTo4Decimals(r.busy), upTo4Decimals(r.idle), `${(r.bubbleFraction * 100).toFixed(1)}%`, String(r.peakStashed)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [
    formatSchedule(schedule, costs),
    "",
    `makespan: ${upTo4Decimals(report.makespan)}`,
    line(header),
    ...rows.map(line),
  ].join("\n");
}

/** The `schedule` command's options for the scenario fields the generators name. */
const OPTION_OF_FIELD: Record<string, string> = {
  "parallel.schedule": "--kind",
  "parallel.pp": "--pp",
  "training.microBatches": "--microbatches",
  "parallel.virtualStages": "--virtual",
};

/** An error about scenario fields, reworded with the options the user typed. */
function inOptionTerms(err: InputError): InputError {
  const reword = (text: string) => text.replace(/parallel\.schedule|parallel\.pp|training\.microBatches|parallel\.virtualStages/g, (f) => OPTION_OF_FIELD[f]);
  return new InputError(reword(err.field), reword(err.rule));
}

/** Everything the `schedule` command prints to stdout, as JSON or as text. */
export function scheduleCommandOutput(opts: ScheduleReportOptions & { json?: boolean }): string {
  try {
    checkScheduleSize(scheduleDims(opts.kind, opts));
    const { schedule, costs, report } = runSchedule(opts);
    return opts.json ? JSON.stringify(report, null, 2) : formatScheduleReport(report, schedule, costs);
  } catch (err) {
    throw err instanceof InputError ? inOptionTerms(err) : err;
  }
}
