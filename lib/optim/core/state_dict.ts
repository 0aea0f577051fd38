/**
 * An optimizer's state dict (PyTorch's state_dict): plain data, params
 * referred to by index. Taking one copies; loading one is checked whole
 * against the optimizer's declared state schema (every buffer's element type
 * and length, every per-param number) before anything changes.
 */
import { ErrorCodes, makeError } from '../../errors';
import { STATE_ARRAY_NAMES, StateArray, StateDType, Tensor, dtypeOf, lengthOf, stateDtypeOf } from '../../tensor';
import { allocStateSlab } from '../../alloc';
import { checkArray, checkNumber, checkObject, checkStateArray, describe } from '../../validate';
import { ParamGroup, checkExtra, fixedOptionsOf, resolveGroup } from './param_groups';
import { OptimizerSpec, ParamShape, ParamState, StateSchema, bufferLength } from './spec';
import { checkGroupValue } from './group_state';
import { convertLoadedEntry, storageOf, storedSchema } from '../../compact/state_storage';

/** A snapshot of an optimizer: plain data, params referred to by index. */
export interface OptimizerStateDict {
  /** Per param that has state: its step count, per-param numbers and copies of its buffers. */
  state: Record<number, Record<string, StateArray | number>>;
  /** Per group: its hyper-parameters, and its params as indices into `state`. */
  paramGroups: Array<
    Record<string, unknown> & {
      /** The indices of the group's params, counting through all groups in order. */
      params: number[];
    }
  >;
}

/** A copy of every group's hyper-parameters (params as indices) and of every param's state. */
export function takeStateDict<O>(paramGroups: readonly ParamGroup<O>[], state: readonly ParamState[]): OptimizerStateDict {
  let index = 0;
  const groups = paramGroups.map((group) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(group)) {
      if (key !== 'params') out[key] = Array.isArray(value) ? [...value] : value;
    }
    out.params = group.params.map(() => index++);
    return out as Record<string, unknown> & { params: number[] };
  });
  const copies: OptimizerStateDict['state'] = {};
  state.forEach((entry, i) => {
    const keys = Object.keys(entry);
    if (keys.length === 0) return;
    const copy: Record<string, StateArray | number> = {};
    for (const key of keys) {
      const value = entry[key]!;
      copy[key] = typeof value === 'number' ? value : value.slice();
    }
    copies[i] = copy;
  });
  return { state: copies, paramGroups: groups };
}

/** What a checked state dict changes, applied by the optimizer once nothing can throw any more. */
export interface CheckedStateDict<O> {
  groups: Array<{ hyper: O; extras: Record<string, unknown> }>;
  state: ParamState[];
}

/**
 * Checks `stateDict` against the optimizer (its groups, params and state
 * schema) and builds the state to install: fresh copies of every buffer.
 * Throws ERR_STATE_DICT_MISMATCH (or a type error naming the entry) on
 * anything that does not fit, having changed nothing.
 */
export function checkStateDict<O>(
  spec: OptimizerSpec<O>,
  paramGroups: readonly ParamGroup<O>[],
  params: readonly Tensor[],
  shapes: ReadonlyArray<ParamShape | null>,
  stateDict: unknown,
): CheckedStateDict<O> {
  const where = `${spec.name}: loadStateDict`;
  const mismatch = (msg: string) => makeError(ErrorCodes.STATE_DICT_MISMATCH, `${where}: ${msg}`);
  const sd = checkObject(`${where}: stateDict`, stateDict);
  const savedGroups = checkArray(`${where}: stateDict.paramGroups`, sd.paramGroups);
  if (savedGroups.length !== paramGroups.length) {
    throw mismatch(`stateDict.paramGroups has ${savedGroups.length} groups, the optimizer ${paramGroups.length}`);
  }
  // 1. Hyper-parameters of every group, and the param indices.
  let index = 0;
  const groupOf: number[] = [];
  const groups = savedGroups.map((raw, gi) => {
    const name = `${where}: stateDict.paramGroups[${gi}]`;
    const saved = checkObject(name, raw);
    const indices = checkArray(`${name}.params`, saved.params);
    const live = paramGroups[gi].params;
    if (indices.length !== live.length) {
      throw mismatch(`stateDict.paramGroups[${gi}].params has ${indices.length} params, the optimizer's group ${live.length}`);
    }
    indices.forEach((value, k) => checkNumber(`${name}.params[${k}]`, value, { integer: true, min: index + k, max: index + k }));
    for (let k = 0; k < live.length; k++) groupOf.push(gi);
    index += live.length;
    // The live group's state storage stays (state_storage.ts): the state below is converted to it.
    const hyper = resolveGroup(spec, withFixedOf(spec, saved, paramGroups[gi]), null, name, true);
    const extras: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(saved)) {
      if (key !== 'params' && !(key in spec.options)) extras[key] = checkExtra(`${name}.${key}`, value);
    }
    // The group's own values (Schedule-Free's k, trainMode, ...): each present, of its type.
    for (const value of spec.groupState ?? []) {
      if (!(value.name in saved)) throw mismatch(`stateDict.paramGroups[${gi}] lacks ${value.name}, which a ${spec.name} group keeps`);
      extras[value.name] = checkGroupValue(`${name}.${value.name}`, value, saved[value.name]);
    }
    return { hyper, extras };
  });
  // 2. State of every param, against the schema of its group's (loaded) options.
  const savedState = checkObject(`${where}: stateDict.state`, sd.state);
  const state: ParamState[] = params.map(() => ({}));
  for (const [key, raw] of Object.entries(savedState)) {
    const i = Number(key);
    if (!/^(0|[1-9][0-9]*)$/.test(key) || i >= params.length) {
      throw mismatch(`stateDict.state has an entry for param ${JSON.stringify(key)}, the optimizer has params 0..${params.length - 1}`);
    }
    const label = `stateDict.state[${i}]`;
    const entry = checkObject(`${where}: ${label}`, raw);
    const hyper = groups[groupOf[i]].hyper;
    const schema = spec.state(hyper, shapes[i]);
    const storage = storageOf(hyper as object, params[i].length);
    const converted = convertLoadedEntry(where, schema, storage, params[i], entry, label, mismatch);
    state[i] = checkParamState(storedSchema(schema, storage), params[i], shapes[i], converted, where, label, mismatch);
  }
  copyBuffers(state);
  return { groups, state };
}

/**
 * `saved` with the live group's fixed options over its own (the state storage
 * options and the spec's fixedOptions): loading keeps how the live optimizer
 * lays out its state, and the state below is converted to it or refused.
 */
function withFixedOf<O>(spec: OptimizerSpec<O>, saved: Record<string, unknown>, live: ParamGroup<O>): Record<string, unknown> {
  return { ...saved, ...fixedOptionsOf(spec, live) };
}

/** Replaces every buffer of `state` by a copy, all copies in one ArrayBuffer (see allocStateSlab). */
function copyBuffers(state: ParamState[]): void {
  const sources: Array<{ entry: ParamState; key: string; array: StateArray }> = [];
  for (const entry of state) {
    for (const [key, value] of Object.entries(entry)) if (typeof value === 'object') sources.push({ entry, key, array: value });
  }
  const copies = allocStateSlab(sources.map(({ array }) => ({ dtype: stateDtypeOf(array)!, length: lengthOf(array) })));
  sources.forEach(({ entry, key, array }, k) => {
    copies[k].set(array as never);
    entry[key] = copies[k];
  });
}

function checkParamState(
  schema: StateSchema,
  param: Tensor,
  shape: ParamShape | null,
  entry: Record<string, unknown>,
  where: string,
  label: string,
  mismatch: (msg: string) => Error,
): ParamState {
  const name = `${where}: ${label}`;
  const restored: ParamState = {};
  const expected = () => ['step', ...schema.scalars.map((s) => s.name), ...schema.buffers.map((b) => b.name)].join(', ');
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'step') {
      restored.step = checkNumber(`${name}.step`, value, { integer: true, min: 0 });
      continue;
    }
    if (schema.scalars.some((s) => s.name === key)) {
      if (typeof value !== 'number') throw mismatch(`${label}.${key}: expected a number, got ${describe(value)}`);
      restored[key] = checkNumber(`${name}.${key}`, value, { allowInfinity: true });
      continue;
    }
    const buffer = schema.buffers.find((b) => b.name === key);
    if (buffer === undefined) throw mismatch(`${label} has an entry ${JSON.stringify(key)}; expected ${expected()}`);
    const array = checkStateArray(`${name}.${key}`, value);
    const dtype: StateDType = buffer.dtype === 'param' ? dtypeOf(param) : buffer.dtype;
    const length = bufferLength(buffer, lengthOf(param), shape);
    if (stateDtypeOf(array) !== dtype) {
      throw mismatch(`${label}.${key}: expected a ${STATE_ARRAY_NAMES[dtype]}, got ${describe(array)}`);
    }
    if (lengthOf(array) !== length) throw mismatch(`${label}.${key}: expected length ${length}, got length ${lengthOf(array)}`);
    restored[key] = array; // the caller's: replaced by a copy once every entry passed (copyBuffers)
  }
  // A step creates its state and its count together: state without a count
  // would restart the bias corrections (and SGD's first-step copy) at step 1.
  const keys = Object.keys(restored);
  if (restored.step === undefined && keys.length > 0) throw mismatch(`${label} has state but no step count`);
  // And a count comes with every per-param number.
  if (restored.step !== undefined) {
    for (const scalar of schema.scalars) {
      if (!(scalar.name in restored)) throw mismatch(`${label} has a step count but no ${scalar.name}`);
    }
  }
  return restored;
}
