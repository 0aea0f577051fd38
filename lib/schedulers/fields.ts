/**
 * Reading a scheduler's settings: validated, named fields out of either the
 * options object given to a constructor or a state dict given to
 * loadStateDict. Both entry points read a value through the same rule, so they
 * accept the same things and name them the same way in an error:
 *
 *   StepLR: stepSize: expected an integer >= 1, got 0                       (options)
 *   StepLR: loadStateDict: stateDict.stepSize: expected an integer >= 1, got 0  (state dict)
 *
 * A reader only reads; callers build everything first and mutate afterwards.
 */
import { ErrorCodes, makeError } from '../errors';
import {
  NumberRule,
  checkArray,
  checkBoolean,
  checkFunction,
  checkNumber,
  checkObject,
  checkOptions,
  checkString,
  describe,
} from '../validate';

/** Learning rates, momenta, floors: finite and >= 0. */
export const NON_NEGATIVE: NumberRule = { min: 0 };
/** Multiplicative factors that must not zero the lr for good (gamma, ...): finite and > 0. */
export const POSITIVE: NumberRule = { min: 0, minExclusive: true };
/** Step counts, periods: integers >= 1. */
export const COUNT: NumberRule = { integer: true, min: 1 };

export class FieldReader {
  private constructor(
    /** What goes before a field's key in a message: `StepLR: ` or `StepLR: loadStateDict: stateDict.`. */
    private readonly prefix: string,
    private readonly record: Record<string, unknown>,
    /** Options fall back to defaults; a state dict must hold every field (a default would hide a truncated one). */
    private readonly useDefaults: boolean,
  ) {}

  /** The options of a constructor: undefined means {}, unknown keys are rejected, absent keys take their defaults. */
  static forOptions(owner: string, options: unknown, known: readonly string[]): FieldReader {
    return new FieldReader(`${owner}: `, checkOptions(`${owner}: options`, options, known), true);
  }

  /** A state dict (or a part of one) at `path`, e.g. `StepLR: loadStateDict: stateDict`. */
  static forStateDict(path: string, stateDict: unknown): FieldReader {
    return new FieldReader(`${path}.`, checkObject(path, stateDict), false);
  }

  /** How the field `key` is named in messages. */
  name(key: string): string {
    return this.prefix + key;
  }

  /** True when the field is present (not undefined). */
  has(key: string): boolean {
    return this.record[key] !== undefined;
  }

  /** The field as given, unchecked (for a caller that checks it itself, or passes it on to a reader of its own). */
  raw(key: string): unknown {
    return this.record[key];
  }

  private value(key: string, fallback: unknown): unknown {
    const value = this.record[key];
    return value === undefined && this.useDefaults ? fallback : value;
  }

  number(key: string, rule: NumberRule, fallback?: number): number {
    return checkNumber(this.name(key), this.value(key, fallback), rule);
  }

  /** A number with no fixed default (undefined when left out), the caller working one out. */
  optionalNumber(key: string, rule: NumberRule): number | undefined {
    const value = this.record[key];
    return value === undefined ? undefined : checkNumber(this.name(key), value, rule);
  }

  boolean(key: string, fallback?: boolean): boolean {
    return checkBoolean(this.name(key), this.value(key, fallback));
  }

  choice<T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    return checkString(this.name(key), this.value(key, fallback), allowed);
  }

  /** A function option (never in a state dict: functions are not saved). */
  optionalFunction<F extends (...args: never[]) => unknown>(key: string): F | undefined {
    const value = this.record[key];
    return value === undefined ? undefined : checkFunction<F>(this.name(key), value);
  }

  /**
   * A setting each param group may have its own value of: one value for all
   * groups, or an Array of exactly one value per group (PyTorch's `_format_param`).
   */
  perGroup<T>(key: string, groupCount: number, readOne: (name: string, value: unknown) => T, fallback?: T): T[] {
    const name = this.name(key);
    const value = this.value(key, fallback);
    if (!Array.isArray(value)) {
      const one = readOne(name, value);
      return Array.from({ length: groupCount }, () => one);
    }
    if (value.length !== groupCount) {
      throw makeError(
        ErrorCodes.SHAPE_MISMATCH,
        `${name}: expected one value or an Array of one value per param group (${groupCount}), got ${describe(value)}`,
      );
    }
    return value.map((item, i) => readOne(`${name}[${i}]`, item));
  }

  /** perGroup for numbers under one rule. */
  perGroupNumbers(key: string, groupCount: number, rule: NumberRule, fallback?: number): number[] {
    return this.perGroup(key, groupCount, (name, value) => checkNumber(name, value, rule), fallback);
  }

  /** An Array of integers, each obeying `rule`, increasing (milestones): strictly, or with repeats allowed. */
  increasingIntegers(key: string, rule: NumberRule, order: 'strict' | 'repeats allowed' = 'strict'): number[] {
    const name = this.name(key);
    const list = checkArray(name, this.record[key]);
    const values = list.map((v, i) => checkNumber(`${name}[${i}]`, v, { ...rule, integer: true }));
    const strict = order === 'strict';
    for (let i = 1; i < values.length; i++) {
      if (strict ? !(values[i] > values[i - 1]) : !(values[i] >= values[i - 1])) {
        throw makeError(
          ErrorCodes.INVALID_ARG_VALUE,
          `${name}: expected ${strict ? 'strictly increasing' : 'non-decreasing'} values, got ${values[i - 1]} then ${values[i]} at index ${i}`,
        );
      }
    }
    return values;
  }

  /** An Array field, unchecked inside (a state dict's list of nested states). */
  array(key: string): unknown[] {
    return checkArray(this.name(key), this.record[key]);
  }
}
