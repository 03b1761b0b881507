/**
 * The few error classes parasim throws on purpose. Each has a distinct `name`, because a class
 * does not survive a worker boundary: what crosses is `{ name, message, rank, action }` as plain
 * data (see `toPlainError` / `fromPlainError`).
 */

/** Bad input from the user: a scenario field, a file, a checkpoint. The CLI exits with 2. */
export class InputError extends Error {
  override name = "InputError";
  readonly exitCode = 2;
  /** `field` is a dotted path such as `model.hiddenSize`; `rule` says what it must satisfy. */
  constructor(readonly field: string, readonly rule: string) {
    super(`${field}: ${rule}`);
  }
}

/**
 * A broken internal contract: a caller inside parasim passed what a function's contract forbids
 * (a buffer of the wrong length, a layout for another rank). Never the user's fault, so it does
 * not exit with 2 and its message says so; `invariant()` is the usual way to raise it.
 */
export class InternalError extends Error {
  override name = "InternalError";
  readonly exitCode = 1;
  constructor(what: string) {
    super(`internal error: ${what}`);
  }
}

/** Throws an InternalError saying `what` unless `condition` holds. */
export function invariant(condition: unknown, what: string): asserts condition {
  if (!condition) throw new InternalError(what);
}

/** A device (worker) failed while doing an action; the whole run is aborted. */
export class DeviceError extends Error {
  override name = "DeviceError";
  readonly exitCode = 1;
  constructor(
    readonly rank: number,
    readonly action: string,
    readonly causeMessage: string,
  ) {
    super(`rank ${rank} failed during ${action}: ${causeMessage}`);
  }
}

/** The error name of an injected crash (`faults.crash`): a device throws it, the main thread reports it as the fault. */
export const INJECTED_CRASH = "InjectedCrash";

/** A wait inside a collective or a receive ended because another rank aborted the run. */
export class AbortedError extends Error {
  override name = "AbortedError";
  constructor(readonly reason: string) {
    super(`aborted: ${reason}`);
  }
}

/** The plain-data form of an error, safe to post between threads. */
export interface PlainError {
  name: string;
  message: string;
  rank?: number;
  action?: string;
  field?: string;
  rule?: string;
}

export function toPlainError(err: unknown, rank?: number, action?: string): PlainError {
  const e = err instanceof Error ? err : new Error(String(err));
  const plain: PlainError = { name: e.name, message: e.message };
  if (rank !== undefined) plain.rank = rank;
  if (action !== undefined) plain.action = action;
  if (e instanceof InputError) {
    plain.field = e.field;
    plain.rule = e.rule;
  }
  return plain;
}

/** Rebuilds the class of an error that crossed a worker boundary as plain data. */
export function fromPlainError(plain: PlainError): Error {
  if (plain.name === "InputError" && plain.field !== undefined && plain.rule !== undefined) {
    return new InputError(plain.field, plain.rule);
  }
  if (plain.rank !== undefined) {
    return new DeviceError(plain.rank, plain.action ?? "unknown action", plain.message);
  }
  const e = new Error(plain.message);
  e.name = plain.name;
  return e;
}
