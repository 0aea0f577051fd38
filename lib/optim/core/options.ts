/**
 * How an optimizer declares its hyper-parameters: a default and a check for
 * each, so the base class can validate defaults, group overrides, values set
 * by schedulers and values loaded from a state dict in one way.
 */
import { ErrorCodes, makeError } from '../../errors';
import { NumberRule, checkArray, checkBoolean, checkNumber, describe } from '../../validate';

/** One hyper-parameter of an optimizer: its default, and how a value is checked and copied. */
export interface OptionRule<T> {
  /** The value a group takes when neither the constructor's options nor the group give one. */
  readonly default: T;
  /** Returns the value if it is valid, throws a TypeError/RangeError naming `name` otherwise. */
  check(name: string, value: unknown): T;
  /** A copy safe to hand out or store (arrays are copied). */
  copy(value: T): T;
}

export function numberOption(defaultValue: number, rule: NumberRule): OptionRule<number> {
  return { default: defaultValue, check: (name, value) => checkNumber(name, value, rule), copy: (v) => v };
}

export function booleanOption(defaultValue: boolean): OptionRule<boolean> {
  return { default: defaultValue, check: checkBoolean, copy: (v) => v };
}

/** Adam's (β₁, β₂): two numbers in [0, 1). */
export function betasOption(defaultValue: [number, number]): OptionRule<[number, number]> {
  return {
    default: defaultValue,
    check(name, value) {
      const list = checkArray(name, value);
      if (list.length !== 2) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: expected [beta1, beta2], got ${describe(value)}`);
      }
      return [
        checkNumber(`${name}[0]`, list[0], { min: 0, max: 1, maxExclusive: true }),
        checkNumber(`${name}[1]`, list[1], { min: 0, max: 1, maxExclusive: true }),
      ];
    },
    copy: (v) => [v[0], v[1]],
  };
}

/** One of a fixed set of strings. */
export function choiceOption<T extends string>(defaultValue: T, values: readonly T[]): OptionRule<T> {
  return {
    default: defaultValue,
    check(name, value) {
      if (typeof value !== 'string') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected one of ${values.map((v) => `'${v}'`).join(', ')}, got ${describe(value)}`);
      if (!(values as readonly string[]).includes(value)) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: expected one of ${values.map((v) => `'${v}'`).join(', ')}, got '${value}'`);
      }
      return value as T;
    },
    copy: (v) => v,
  };
}

/** The learning rate: every optimizer has one. */
export const lrOption = (defaultValue: number): OptionRule<number> => numberOption(defaultValue, { min: 0 });

/** An optimizer's hyper-parameters, each with its rule (an optimizer's `spec.options`). */
export type OptionRules<O> = { readonly [K in keyof O]: OptionRule<O[K]> };

/**
 * A pair of numbers (Rprop's `etas`, `stepSizes`): an array of two, each
 * checked by its own rule; `names` label the two in messages ([etaMinus, etaPlus]).
 */
export function numberPairOption(defaultValue: [number, number], names: [string, string], rules: [NumberRule, NumberRule]): OptionRule<[number, number]> {
  return {
    default: defaultValue,
    check(name, value) {
      const list = checkArray(name, value);
      if (list.length !== 2) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: expected [${names[0]}, ${names[1]}], got ${describe(value)}`);
      }
      return [checkNumber(`${name}[0]`, list[0], rules[0]), checkNumber(`${name}[1]`, list[1], rules[1])];
    },
    copy: (v) => [v[0], v[1]],
  };
}
