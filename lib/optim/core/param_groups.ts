/**
 * Param groups and their hyper-parameters: resolving a group from the user's
 * input and the defaults, re-validating what schedulers and users write
 * between steps (cheaply: only values that changed), and the plain-data rule
 * for a group's extra keys.
 */
import { ErrorCodes, makeError } from '../../errors';
import type { Tensor } from '../../tensor';
import { checkObject, checkOptions, checkTensorList, describe } from '../../validate';
import type { OptionRules } from './options';
import type { OptimizerSpec } from './spec';
import { checkStorageParams, storageOptionValues } from '../../compact/state_storage';
import { SameValues, sameValuesCheck } from './compiled_checks';

/** A param group: its params and its hyper-parameters (writable: schedulers change `lr`). */
export type ParamGroup<O> = O & {
  /** The group's params, updated in place by every step. */
  params: Tensor[];
  [extra: string]: unknown;
};

/** What a user passes for a group: params plus any overrides of the defaults. */
export type ParamGroupInput<O> = {
  /** The group's params: Float32Arrays or Float64Arrays of one element type. */
  params: readonly Tensor[];
} & Partial<O>;

/** An optimizer's params: a list of tensors (one group), or a list of param groups. */
export type ParamsInput<O> = readonly Tensor[] | readonly ParamGroupInput<O>[];

/**
 * Every option of O, from `source` where given, else from `base` (the
 * defaults), else the rule's default; `complete` (a state dict) requires
 * every option to be given.
 */
export function resolveGroup<O>(spec: OptimizerSpec<O>, source: Record<string, unknown>, base: Readonly<O> | null, where: string, complete = false): O {
  const out: Record<string, unknown> = {};
  for (const [key, rule] of Object.entries(spec.options) as [string, OptionRules<O>[keyof O]][]) {
    if (source[key] !== undefined) out[key] = rule.check(`${where}.${key}`, source[key]);
    else if (complete) throw makeError(ErrorCodes.STATE_DICT_MISMATCH, `${where}: missing the hyper-parameter ${key}`);
    else out[key] = rule.copy(base ? (base as Record<string, never>)[key] : rule.default);
  }
  spec.checkGroup?.(out as O, where);
  return out as O;
}

/** A param group from the user: a plain object with params and known options only. */
export function checkGroupInput<O>(spec: OptimizerSpec<O>, defaults: Readonly<O>, input: unknown, where: string, paramsName = `${where}.params`): ParamGroup<O> {
  if (!isGroupLike(input)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: expected a param group { params, ...options }, got ${describe(input)}`);
  }
  const raw = checkObject(where, input);
  checkOptions(where, raw, ['params', ...Object.keys(spec.options)]);
  const params = checkTensorList(paramsName, raw.params);
  const hyper = resolveGroup(spec, raw, defaults, where);
  checkStorageParams(hyper as object, params, where);
  spec.checkParams?.(hyper, params, where);
  return { ...hyper, params: [...params] } as ParamGroup<O>;
}

/**
 * A group's options that decide how its state is laid out, by name: the state
 * storage options (state_storage.ts) and the spec's fixedOptions (Adafactor's
 * shapes). They are fixed when the group is added; loadStateDict keeps the
 * live group's.
 */
export function fixedOptionsOf<O>(spec: OptimizerSpec<O>, hyper: O): Record<string, unknown> {
  const out: Record<string, unknown> = storageOptionValues(hyper as object);
  for (const key of spec.fixedOptions ?? []) out[key] = JSON.parse(JSON.stringify((hyper as Record<string, unknown>)[key]));
  return out;
}

/** fixedOptionsOf as a string, to compare ('' when there are none). */
export function fixedKey<O>(spec: OptimizerSpec<O>, hyper: O): string {
  const fixed = fixedOptionsOf(spec, hyper);
  return Object.keys(fixed).length === 0 ? '' : JSON.stringify(fixed);
}

/** A param group is a plain object; arrays and typed arrays (which are objects too) are not. */
export function isGroupLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** Extra group keys (a scheduler's initialLr, ...) must be plain JSON-like data. */
export function checkExtra(name: string, value: unknown): unknown {
  const ok = (v: unknown): boolean =>
    v === null ||
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    (typeof v === 'number' && !Number.isNaN(v)) ||
    (Array.isArray(v) && v.every(ok));
  if (!ok(value)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a number, string, boolean or an Array of them, got ${describe(value)}`);
  }
  return Array.isArray(value) ? JSON.parse(JSON.stringify(value)) : value;
}

/**
 * Each group's hyper-parameters as last validated: a step re-validates a group
 * only when a value changed (a scheduler writing lr), so the checks stay and
 * cost a comparison.
 */
export class ValidatedHyper<O> {
  private readonly cache: Array<{ raw: unknown[]; hyper: O; fixedKey: string } | undefined> = [];
  /** Whether a group's values are those validated last: compiled once for the spec's option names (compiled_checks.ts). */
  private readonly same: SameValues;
  private readonly keys: readonly string[];

  constructor(
    private readonly spec: OptimizerSpec<O>,
    private readonly defaults: Readonly<O>,
  ) {
    this.keys = Object.keys(spec.options);
    this.same = sameValuesCheck(this.keys);
  }

  /** Group `gi`'s hyper-parameters, validated unless every value is the one validated last time; throws as resolveGroup does. */
  of(group: Record<string, unknown>, gi: number): O {
    const cached = this.cache[gi];
    if (cached && this.same(group, cached.raw)) return cached.hyper;
    const hyper = resolveGroup(this.spec, group, this.defaults, `${this.spec.name}: paramGroups[${gi}]`);
    // The fixed-options key with it, once per validated object: a step compares it with the group's as added.
    this.cache[gi] = { raw: this.keys.map((key) => copyValue(group[key])), hyper, fixedKey: fixedKey(this.spec, hyper) };
    return hyper;
  }

  /** fixedKey of the hyper-parameters `of(…, gi)` returned last (call `of` first). */
  fixedKeyOf(gi: number): string {
    return this.cache[gi]!.fixedKey;
  }
}

/** A copy of a hyper-parameter value as validated (arrays copied at every depth, so editing one in place shows). */
function copyValue(value: unknown): unknown {
  return Array.isArray(value) ? value.map(copyValue) : value;
}
