import { expect } from "vitest";
import { InputError } from "../../src/errors.js";

/** Runs `run`, which must fail with an InputError, and returns its one-line message. */
export function inputErrorOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error("the input was accepted");
}
