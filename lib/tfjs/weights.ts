/**
 * The wrapped optimizer's state as TensorFlow.js "optimizer weights", so
 * model.save / loadLayersModel carry it (getWeights / setWeights).
 *
 *   [ iter, paramGroups[<g>]/<value> ..., <variable>/<key> ... ]
 *
 * `iter` first (TensorFlow.js's own convention, read by extractIterations).
 * Then the values each param group keeps besides its hyper-parameters, for
 * an optimizer that declares any (spec.groupState: Schedule-Free's k, lrMax,
 * weightSum, scheduledLr and trainMode), under `paramGroups[<g>]/<name>`
 * (brackets, which no tfjs-layers weight name has): a boolean as a bool
 * scalar; a number, exactly, as the int32 tensor [lo, hi] of the two 32-bit
 * halves of its IEEE-754 float64 bits (little-endian: lo holds the low
 * mantissa bits). Weights saved before these existed, and those of an
 * optimizer without group values, have none.
 * Then per param in the optimizer's order (see optimizer.ts) each
 * state entry under the variable's name and fusedoptim's state name:
 * buffers (`dense_Dense1/kernel/expAvg`) as float32 tensors of the variable's
 * shape ([1] for a scalar variable), per-param numbers (`.../step`) as int32 scalars when they are
 * integers, else float32. As with TensorFlow.js's own optimizers, state is
 * matched to params by position when loaded: a model loaded in the same
 * process gets renamed variables (`kernel_1`), and its params keep their order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ErrorCodes, makeError } from '../errors';
import type { OptimizerStateDict } from '../optim/core/optimizer';
import type { GroupState } from '../optim/core/spec';
import type { StateArray } from '../tensor';

/** A named tensor, as TensorFlow.js passes optimizer weights and gradients. */
export interface NamedTensor {
  /** The weight's name (`iter`, or `<variable>/<state>`). */
  name: string;
  /** Its value. */
  tensor: tf.Tensor;
}

/** Per param, in order: its state entries by fusedoptim's names (absent: no state yet). */
export type SavedParamState = Record<string, StateArray | number>;

const INT32_MAX = 2 ** 31 - 1;

/** Per param, by index: its state (a state dict's `state`, or what decodeState read). */
type StateByIndex = OptimizerStateDict['state'] | readonly SavedParamState[];

/** The state of params `names` (of variable shapes `shapes`) as named tensors (the caller disposes them, as TensorFlow.js does). */
export function encodeState(names: readonly string[], shapes: readonly number[][], state: StateByIndex, where: string): NamedTensor[] {
  const out: NamedTensor[] = [];
  names.forEach((name, i) => {
    const entries = (state as Record<number, SavedParamState | undefined>)[i];
    if (entries === undefined) return;
    for (const key of Object.keys(entries).sort()) {
      const value = entries[key];
      if (typeof value === 'number') {
        const integer = Number.isInteger(value) && Math.abs(value) <= INT32_MAX;
        out.push({ name: `${name}/${key}`, tensor: tf.scalar(value, integer ? 'int32' : 'float32') });
      } else if (value instanceof Float32Array) {
        // Rank 0 means a per-param number when loaded: a scalar variable's buffers are saved as [1].
        const fits = shapes[i].length > 0 && value.length === shapes[i].reduce((a, b) => a * b, 1);
        const shape = fits ? shapes[i] : [value.length];
        out.push({ name: `${name}/${key}`, tensor: tf.tensor(value.slice(), shape, 'float32') });
      } else {
        throw makeError(ErrorCodes.DTYPE_MISMATCH, `${where}: the state ${name}/${key} is a ${value.constructor.name}; TensorFlow.js weights hold float32 state only`);
      }
    }
  });
  return out;
}

/** The weight name of group `gi`'s value `name`. */
function groupWeightName(gi: number, name: string): string {
  return `paramGroups[${gi}]/${name}`;
}

const GROUP_WEIGHT = /^paramGroups\[(0|[1-9][0-9]*)\]\/(.+)$/;

/** Each group's values (the optimizer's groupState) as named tensors: booleans as bool scalars, numbers exactly as float64 bits in two int32. */
export function encodeGroups(groups: readonly GroupState[]): NamedTensor[] {
  const out: NamedTensor[] = [];
  groups.forEach((values, gi) => {
    for (const name of Object.keys(values)) {
      const value = values[name];
      const tensor = typeof value === 'boolean' ? tf.scalar(value, 'bool') : tf.tensor1d(float64Halves(value), 'int32');
      out.push({ name: groupWeightName(gi, name), tensor });
    }
  });
  return out;
}

/** The int32 halves [lo, hi] of `value`'s float64 bits (little-endian). */
function float64Halves(value: number): [number, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value, true);
  return [view.getInt32(0, true), view.getInt32(4, true)];
}

/** The float64 whose bits float64Halves gave as [lo, hi]. */
function fromFloat64Halves(lo: number, hi: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setInt32(0, lo, true);
  view.setInt32(4, hi, true);
  return view.getFloat64(0, true);
}

/** Saved optimizer weights, read: the iteration count, each group's values, and per param (in saved order) its state, variable name and shape. */
export interface DecodedState {
  iterations: number;
  /**
   * Per param group, in order, the values it keeps besides its
   * hyper-parameters (Schedule-Free's k, ..., trainMode); empty when the
   * weights hold none (an optimizer without such values, or weights saved
   * before they were). Checked against the optimizer when loaded.
   */
  groups: GroupState[];
  params: SavedParamState[];
  /** The variable names the state was saved under. */
  names: string[];
  /**
   * Per param, the variable's shape as far as the saved tensors tell it: the
   * shape of its buffers of rank ≥ 2, else [] (encodeState then saves every
   * buffer as [length], as it did). encodeState(names, shapes, params) gives
   * back the very tensors read.
   */
  shapes: number[][];
}

/**
 * Reads saved optimizer weights back into per-param state, in saved order.
 * Checks the layout (iter first, names `<variable>/<key>`, dtypes); the
 * state's fit to the optimizer is checked by its loadStateDict.
 */
export async function decodeState(weights: unknown, where: string): Promise<DecodedState> {
  if (!Array.isArray(weights) || weights.length === 0) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: expected a non-empty Array of { name, tensor } (iter first), got ${describeWeights(weights)}`);
  }
  const entries = weights.map((w, i) => checkNamedTensor(w, `${where}: weights[${i}]`));
  const iterTensor = entries[0].tensor;
  if (iterTensor.size !== 1) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `${where}: weights[0] (${entries[0].name}): expected the iteration count, a scalar, got shape [${iterTensor.shape}]`);
  }
  const iterations = (await iterTensor.data())[0];
  const groups: GroupState[] = [];
  const params: SavedParamState[] = [];
  const names: string[] = [];
  const shapes: number[][] = [];
  const indexOf = new Map<string, number>();
  for (let i = 1; i < entries.length; i++) {
    const { name, tensor } = entries[i];
    const group = GROUP_WEIGHT.exec(name);
    if (group !== null) {
      const gi = Number(group[1]);
      (groups[gi] ??= {})[group[2]] = await groupValue(tensor, `${where}: weights[${i}] (${name})`);
      continue;
    }
    const slash = name.lastIndexOf('/');
    if (slash <= 0 || slash === name.length - 1) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where}: weights[${i}]: expected a name <variable>/<state>, got ${JSON.stringify(name)}`);
    }
    const variable = name.slice(0, slash);
    const key = name.slice(slash + 1);
    let index = indexOf.get(variable);
    if (index === undefined) {
      index = params.length;
      indexOf.set(variable, index);
      params.push({});
      names.push(variable);
      shapes.push([]);
    }
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
      throw makeError(ErrorCodes.DTYPE_MISMATCH, `${where}: weights[${i}] (${name}): expected float32 or int32, got ${tensor.dtype}`);
    }
    const data = await tensor.data();
    // Scalars are the per-param numbers (step, ...); anything else is a buffer.
    params[index][key] = tensor.rank === 0 ? Number(data[0]) : Float32Array.from(data as Float32Array);
    if (tensor.rank >= 2) shapes[index] = tensor.shape.slice();
  }
  for (let gi = 0; gi < groups.length; gi++) {
    if (groups[gi] === undefined) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where}: the weights hold values of paramGroups[${groups.length - 1}] but none of paramGroups[${gi}]`);
    }
  }
  return { iterations, groups, params, names, shapes };
}

/** A group value as encodeGroups wrote it: a bool scalar, or a float64 as two int32. */
async function groupValue(tensor: tf.Tensor, where: string): Promise<number | boolean> {
  if (tensor.dtype === 'bool' && tensor.rank === 0) return (await tensor.data())[0] !== 0;
  if (tensor.dtype === 'int32' && tensor.rank === 1 && tensor.size === 2) {
    const [lo, hi] = await tensor.data();
    return fromFloat64Halves(lo, hi);
  }
  throw makeError(
    tensor.dtype === 'bool' || tensor.dtype === 'int32' ? ErrorCodes.SHAPE_MISMATCH : ErrorCodes.DTYPE_MISMATCH,
    `${where}: expected a group value: a bool scalar, or a number as the int32 halves [lo, hi] of its float64 bits; got ${tensor.dtype} of shape [${tensor.shape}]`,
  );
}

function checkNamedTensor(value: unknown, where: string): { name: string; tensor: tf.Tensor } {
  const w = value as { name?: unknown; tensor?: unknown } | null;
  if (typeof w !== 'object' || w === null || typeof w.name !== 'string' || !(w.tensor instanceof tf.Tensor)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}: expected { name: string, tensor: tf.Tensor }`);
  }
  if (w.tensor.isDisposed) throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where} (${w.name}): the tensor is disposed`);
  return { name: w.name, tensor: w.tensor };
}

function describeWeights(value: unknown): string {
  return Array.isArray(value) ? 'an empty Array' : typeof value;
}
