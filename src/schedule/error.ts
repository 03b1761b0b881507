/**
 * The error a malformed schedule raises. Its message is a one-line summary followed by the
 * rank × step grid of the action lists with the faulty cell(s) marked `>>2B1<<`.
 */
export class ScheduleError extends Error {
  override name = "ScheduleError";
  constructor(
    readonly summary: string,
    readonly grid: string,
    /** The marked cells: rank and index in that rank's action list. */
    readonly cells: readonly { rank: number; index: number }[] = [],
  ) {
    super(`${summary}\n${grid}`);
  }
}
