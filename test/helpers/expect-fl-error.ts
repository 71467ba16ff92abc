import { expect } from "vitest";
import { FlError } from "../../shared/src/errors.js";

/** Asserts `fn` throws an FlError with this code whose message contains every fragment. */
export function expectFlError(fn: () => unknown, code: string, ...fragments: string[]): FlError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, "expected an FlError to be thrown").toBeInstanceOf(FlError);
  const error = caught as FlError;
  expect(error.code).toBe(code);
  for (const fragment of fragments) expect(error.message).toContain(fragment);
  return error;
}
