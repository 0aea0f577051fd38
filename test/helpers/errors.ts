/**
 * Asserting the library's errors: the class (TypeError or RangeError), the
 * stable `code`, and that the message names what the caller needs to fix
 * (the argument, the index, what was expected).
 */
import { expect } from 'chai';

export interface ExpectedError {
  type: typeof TypeError | typeof RangeError;
  code: string;
  /** Substrings (or patterns) the message must contain. */
  mentions?: ReadonlyArray<string | RegExp>;
}

function check(err: unknown, expected: ExpectedError, what: string): Error {
  expect(err, `${what} threw a non-Error: ${String(err)}`).to.be.instanceOf(Error);
  const e = err as Error & { code?: unknown };
  expect(e, `${what}: ${e.name}: ${e.message}`).to.be.instanceOf(expected.type);
  expect(e.code, `${what}: code of "${e.message}"`).to.equal(expected.code);
  for (const m of expected.mentions ?? []) {
    if (typeof m === 'string') expect(e.message, `${what}: message`).to.include(m);
    else expect(e.message, `${what}: message`).to.match(m);
  }
  return e;
}

/** Calls `fn`, asserts it throws the expected error, and returns the error. */
export function expectError(fn: () => unknown, expected: ExpectedError, what = 'the call'): Error {
  let thrown: unknown;
  let threw = false;
  try {
    fn();
  } catch (err) {
    threw = true;
    thrown = err;
  }
  if (!threw) expect.fail(`${what} did not throw; expected ${expected.type.name} ${expected.code}`);
  return check(thrown, expected, what);
}

/**
 * For entry points that may either throw synchronously or return a rejected
 * promise (Node-API async functions validate before they queue): asserts that
 * one of the two happens with the expected error.
 */
export async function expectFailure(fn: () => unknown, expected: ExpectedError, what = 'the call'): Promise<Error> {
  let outcome: unknown;
  try {
    outcome = await fn();
  } catch (err) {
    return check(err, expected, what);
  }
  return expect.fail(`${what} succeeded with ${String(outcome)}; expected ${expected.type.name} ${expected.code}`);
}
