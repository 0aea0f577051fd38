/**
 * The shape of scheduler state dicts and the rules every loadStateDict follows:
 * plain JSON data (JSON.stringify / JSON.parse round-trips it), checked in full
 * before anything changes, and any fault reported as ERR_STATE_DICT_MISMATCH.
 */
import { ErrorCodes, isFusedOptimError, makeError } from '../errors';
import { checkNumber } from '../validate';

/** A value that JSON.stringify and JSON.parse carry unchanged: what scheduler state dicts are made of. */
export type JsonValue = number | string | boolean | null | JsonValue[] | JsonObject;
/** A JSON object: a scheduler's settings, and its state dict. */
export type JsonObject = { [key: string]: JsonValue };

/** What every scheduler's state dict holds; each scheduler adds its own fields. */
export interface SchedulerStateDict {
  /** The class that saved it; loading into another class is a mismatch. */
  scheduler: string;
  /** The index of the last step taken (PyTorch's `last_epoch`). */
  lastEpoch: number;
  /** The lr of each group after the last step. */
  lastLr: number[];
  [field: string]: JsonValue;
}

/**
 * Runs the checking half of a load. Whatever it throws (a wrong type, a value
 * out of range, a wrong count) is one kind of fault to the caller: this state
 * dict does not fit this scheduler.
 */
export function checkingStateDict<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (isFusedOptimError(err) && err.code !== ErrorCodes.STATE_DICT_MISMATCH) {
      throw makeError(ErrorCodes.STATE_DICT_MISMATCH, err.message);
    }
    throw err;
  }
}

/** The `scheduler` field must name the class loading it. */
export function checkSchedulerName(path: string, value: unknown, expected: string): void {
  if (value !== expected) {
    throw makeError(
      ErrorCodes.STATE_DICT_MISMATCH,
      `${path}.scheduler: expected ${JSON.stringify(expected)}, got ${JSON.stringify(value) ?? 'undefined'}`,
    );
  }
}

/** JSON has no Infinity (JSON.stringify writes null): infinite numbers are saved as the strings "Infinity" / "-Infinity". */
export function toJsonNumber(value: number): number | string {
  return Number.isFinite(value) ? value : String(value);
}

export function fromJsonNumber(name: string, value: unknown): number {
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return checkNumber(name, value);
}
