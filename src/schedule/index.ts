/** The pipeline schedule IR: actions, generators, validator, printer, simulation, report. */
export * from "./actions.js";
export { ScheduleError } from "./error.js";
export { withComms, type ComputeStep } from "./comms.js";
export { gpipe, oneFOneB, interleaved, zbH1, generateSchedule, scheduleDims, SCHEDULE_KINDS, type ScheduleKind } from "./generators.js";
export { validateSchedule } from "./validate.js";
export { formatActionLists, type Cell } from "./grid.js";
export { formatSchedule } from "./printer.js";
export { simulateSchedule, costOf, messageKey, type Costs, type CostModel, type RankStats, type SimulationResult, type TimedAction } from "./simulate.js";
export {
  scheduleReport,
  runSchedule,
  formatScheduleReport,
  parseCosts,
  chunkCosts,
  scheduleCommandOutput,
  DEFAULT_COSTS,
  type ScheduleReport,
  type ScheduleReportOptions,
} from "./report.js";
