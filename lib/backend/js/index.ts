/**
 * The JavaScript backend: every kernel in plain TypeScript with the semantics
 * (and rounding) of the native one. It is the oracle of the tests and the
 * baseline of the benchmark; it ignores the thread count.
 */
import { ErrorCodes, makeError } from '../../errors';
import { UPDATE_KERNELS, UpdateKind } from '../../kernels';
import type { Tensor } from '../../tensor';
import { isDetached } from '../../validate';
import type { Backend, UpdatePlan } from '../backend';
import { adagrad } from './adagrad';
import { adamAmsgrad, adamPlain } from './adam';
import { accumulate, clamp, scale } from './elementwise';
import { reduce } from './reduce';
import { rmspropCentered, rmspropCenteredMomentum, rmspropMomentum, rmspropPlain } from './rmsprop';
import { JsKernel, roundFor } from './round';
import { sgdMomentum, sgdNesterov, sgdPlain } from './sgd';

const KERNELS: Record<UpdateKind, JsKernel> = {
  [UpdateKind.Sgd]: sgdPlain,
  [UpdateKind.SgdMomentum]: sgdMomentum,
  [UpdateKind.SgdNesterov]: sgdNesterov,
  [UpdateKind.Adagrad]: adagrad,
  [UpdateKind.RMSprop]: rmspropPlain,
  [UpdateKind.RMSpropCentered]: rmspropCentered,
  [UpdateKind.RMSpropMomentum]: rmspropMomentum,
  [UpdateKind.RMSpropCenteredMomentum]: rmspropCenteredMomentum,
  [UpdateKind.Adam]: adamPlain,
  [UpdateKind.AdamAmsgrad]: adamAmsgrad,
  [UpdateKind.Accumulate]: accumulate,
  [UpdateKind.Scale]: scale,
  [UpdateKind.Clamp]: clamp,
};

/** The same structural checks the addon makes (native/args.cc), so both backends reject the same calls. */
function checkBatch(kind: UpdateKind, buffers: readonly Tensor[], scalars: Float64Array): void {
  const { slots, scalarCount } = UPDATE_KERNELS[kind];
  if (buffers.length % slots !== 0) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `buffers: expected a multiple of ${slots} buffers, got ${buffers.length}`);
  }
  if (!(scalars instanceof Float64Array) || scalars.length !== scalarCount) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `scalars: expected a Float64Array of ${scalarCount} values`);
  }
  // By element type, as the addon reads it (a subclass of Float32Array is a
  // Float32Array), never by constructor identity.
  const double = buffers.length > 0 && buffers[0] instanceof Float64Array;
  for (let i = 0; i < buffers.length; i++) {
    const b = buffers[i];
    if (!(b instanceof Float32Array || b instanceof Float64Array)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `buffers[${i}]: expected a Float32Array or Float64Array`);
    }
    if (b instanceof Float64Array !== double) {
      throw makeError(ErrorCodes.DTYPE_MISMATCH, `buffers[${i}]: expected a ${double ? 'Float64Array' : 'Float32Array'} like buffers[0]`);
    }
    const head = i - (i % slots);
    if (b.length !== buffers[head].length) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `buffers[${i}]: expected length ${buffers[head].length} like buffers[${head}], got ${b.length}`);
    }
  }
}

function update(kind: UpdateKind, buffers: readonly Tensor[], scalars: Float64Array): void {
  checkBatch(kind, buffers, scalars);
  const { slots } = UPDATE_KERNELS[kind];
  const kernel = KERNELS[kind];
  for (let base = 0; base < buffers.length; base += slots) kernel(roundFor(buffers[base]), scalars, buffers, base);
}

function checkAttached(name: string, t: Tensor): void {
  if (isDetached(t)) throw makeError(ErrorCodes.DETACHED_BUFFER, `${name}: its ArrayBuffer is detached`);
}

/** The JS backend's plan: the checked list and each tensor's length, which a detached or resized buffer no longer has. */
class JsPlan {
  constructor(
    readonly kind: UpdateKind,
    readonly buffers: readonly Tensor[],
    readonly lengths: readonly number[],
  ) {}
}

function createPlan(kind: UpdateKind, buffers: readonly Tensor[]): UpdatePlan {
  const kinds = Object.keys(KERNELS).length;
  if (!Number.isInteger(kind) || kind < 0 || kind >= kinds) throw makeError(ErrorCodes.OUT_OF_RANGE, `kind: expected an integer in [0, ${kinds - 1}]`);
  checkBatch(kind, buffers, new Float64Array(UPDATE_KERNELS[kind].scalarCount));
  for (let i = 0; i < buffers.length; i++) checkAttached(`buffers[${i}]`, buffers[i]);
  return new JsPlan(kind, [...buffers], buffers.map((b) => b.length)) as unknown as UpdatePlan;
}

function updatePlanned(plan: UpdatePlan, scalars: Float64Array): void {
  if (!(plan instanceof JsPlan)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, 'plan: expected a plan made by createPlan');
  const { kind, buffers, lengths } = plan;
  for (let i = 0; i < buffers.length; i++) {
    if (buffers[i].length !== lengths[i]) {
      checkAttached(`plan: buffers[${i}]`, buffers[i]);
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `plan: buffers[${i}]: expected length ${lengths[i]} as when the plan was made, got ${buffers[i].length}`);
    }
  }
  update(kind, buffers, scalars);
}

export const jsBackend: Backend = {
  name: 'js',
  update: (kind, buffers, scalars) => update(kind, buffers, scalars),
  updateAsync: async (kind, buffers, scalars) => update(kind, buffers, scalars),
  createPlan,
  updatePlanned: (plan, scalars) => updatePlanned(plan, scalars),
  reduce: (kind, tensors, p) => reduce(kind, tensors, p),
  reduceAsync: async (kind, tensors, p) => reduce(kind, tensors, p),
};
