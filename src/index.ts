/**
 * parasim's library API: everything the CLI does, as functions and types users can call from
 * their own code and tests.
 */
export { InputError, InternalError, DeviceError, AbortedError } from "./errors.js";
export { loadScenario, validateScenario, bundledScenarioPath, readScenarioFile, inShapesMode } from "./scenario/load.js";
export type { Scenario, ScenarioInput } from "./scenario/schema.js";
export { simulate, simulateWithTimeline, type SimulateOptions } from "./run/simulate.js";
export type {
  RunResult,
  RunOutput,
  DeviceReport,
  MemoryReport,
  CompareResult,
  CompareOutput,
  CompareRun,
  LayoutSummary,
  RunMetrics,
} from "./run/results.js";
export { compare, compareWithTimelines, layoutSummary, type CompareOptions } from "./run/compare.js";
export { expandVariations, parseVariation, type Variation, type Expanded, type Expansion } from "./run/vary.js";
export { modelFlopsPerToken, utilisationOf } from "./run/utilisation.js";
export { verifyLayout, formatVerify, type VerifyOptions, type VerifyResult } from "./plan/verify.js";
export { runValidation, formatValidation, publishedScenario, TABLE5, type ValidationResult, type ValidationRow, type PublishedCase } from "./run/validate.js";
export { evaluateCheckpoint, forwardFlopsPerToken, loadEvalSequences, readEvalCheckpoint, type EvalResult } from "./run/evaluate.js";
export { readCheckpoint, writeCheckpoint } from "./checkpoint/hf.js";
export { drawBatch, loadCorpus, type Batch } from "./data/batches.js";
export { encode, decode } from "./data/tokenizer.js";
export { resolveHardware, builtinProfiles, type HardwareProfile } from "./sim/hardware.js";
export type { TimelineEvent } from "./sim/clock.js";
export {
  generateSchedule,
  validateSchedule,
  simulateSchedule,
  scheduleReport,
  scheduleCommandOutput,
  formatSchedule,
  parseCosts,
  type Schedule,
  type Action,
  type ScheduleReport,
} from "./schedule/index.js";
export { runResultSchema, compareResultSchema, deviceReportSchema } from "./run/results-schema.js";
export { chromeTrace } from "./report/trace.js";
export { htmlReport } from "./report/html.js";
export { planReportHtml } from "./report/plan-report.js";
export { emitLaunch, emitRefusal, EMIT_ENGINES, type EmitEngine, type EmittedLaunch } from "./plan/emit.js";
export { plan, rankLayouts, type PlanOptions } from "./plan/plan.js";
export { formatPlan } from "./plan/format.js";
export type { PlanRequest, PlanLayout, PlannedLayout, PlanCounts, PlanResult, PlanOutput } from "./plan/types.js";
