/**
 * The JavaScript backend: runs each kernel's reference twin (KernelDef's
 * `reference`), with the semantics and rounding of the native kernel. It is
 * the oracle of the tests and the baseline of the benchmark; it ignores the
 * thread count. It checks its arguments with the same validation layer as the
 * public API (lib/validate.ts), so it refuses what the addon refuses.
 *
 * Its loops run over engine views of the buffers (engineView), so they walk the elements the
 * addon walks: a typed array whose own `length` claims 2^40 elements would otherwise keep a
 * reference loop running for hours.
 */
import { ErrorCodes, makeError } from '../errors';
import type { ReduceKind } from '../kernels/reduce_kind';
import { DType, StateArray, Tensor, dtypeOf, engineView, lengthOf } from '../tensor';
import { checkKernelBuffers, checkKernelScalars, checkNumber, describe, isDetached } from '../validate';
import type { Backend, UpdatePlan } from './backend';
import { KernelDef, scalarWriter } from '../kernels/kernel_def';
import { reduce } from '../kernels/reduce';
import { roundFor } from '../kernels/round';

function run(kernel: KernelDef, checked: readonly StateArray[], scalars: Float64Array): void {
  const named = scalarWriter(kernel, scalars); // read by name
  const buffers = checked.map(engineView);
  for (let base = 0; base < buffers.length; base += kernel.slots) kernel.reference(roundFor(buffers[base]), named, buffers, base);
}

function update(kernel: KernelDef, buffers: readonly StateArray[], scalars: Float64Array): void {
  const checked = checkKernelBuffers(kernel, buffers);
  run(kernel, checked, checkKernelScalars(kernel, scalars));
}

/**
 * The JS backend's plan: the checked list, held weakly as the native plan holds it (a plan keeps
 * nothing alive; the buffers' owners do), and each buffer's length, which a detached or resized
 * buffer no longer has.
 */
class JsPlan {
  constructor(
    readonly kernel: KernelDef,
    readonly buffers: readonly WeakRef<StateArray>[],
    readonly lengths: readonly number[],
    /** The params' element type (float32 for an empty plan, as the addon's). */
    readonly dtype: DType,
  ) {}
}

function createPlan(kernel: KernelDef, buffers: readonly StateArray[]): UpdatePlan {
  const checked = checkKernelBuffers(kernel, buffers);
  const dtype = checked.length > 0 ? dtypeOf(checked[0] as Tensor) : 'float32';
  return new JsPlan(kernel, checked.map((b) => new WeakRef(b)), checked.map(lengthOf), dtype) as unknown as UpdatePlan;
}

/** The plans of a call, as the addon reads them: each one a plan of this backend, at least one. */
function planList(plans: readonly UpdatePlan[]): JsPlan[] {
  if (plans.length === 0) throw makeError(ErrorCodes.SHAPE_MISMATCH, 'plan: expected a plan or a non-empty Array of plans, got an empty Array');
  return plans.map((plan, i) => {
    if (!(plan instanceof JsPlan)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${plans.length === 1 ? 'plan' : `plan[${i}]`}: expected a plan made by createPlan`);
    return plan;
  });
}

/** The plan's buffers, after checking that none was collected, detached or resized. */
function unchangedBuffers(plan: JsPlan): StateArray[] {
  const { lengths } = plan;
  const buffers = plan.buffers.map((ref, i) => {
    const buffer = ref.deref();
    if (buffer === undefined) {
      throw makeError(ErrorCodes.DETACHED_BUFFER, `plan: buffers[${i}]: was garbage-collected (a plan does not keep its buffers alive; their owner must)`);
    }
    return buffer;
  });
  for (let i = 0; i < buffers.length; i++) {
    if (lengthOf(buffers[i]) !== lengths[i]) {
      if (isDetached(buffers[i])) throw makeError(ErrorCodes.DETACHED_BUFFER, `plan: buffers[${i}]: its ArrayBuffer is detached`);
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `plan: buffers[${i}]: expected length ${lengths[i]} as when the plan was made, got ${lengthOf(buffers[i])}`);
    }
  }
  return buffers;
}

/** Every plan's buffers checked (unchangedBuffers) before any kernel runs, as the addon does: a refused step writes nothing. */
function updatePlanned(plans: readonly UpdatePlan[], scalars: Float64Array): void {
  const list = planList(plans);
  const count = list.reduce((n, { kernel }) => n + kernel.scalars.length, 0);
  if (!(scalars instanceof Float64Array) || scalars.length !== count) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `scalars: expected a Float64Array of ${count} values, got ${describe(scalars)}`);
  }
  const buffers = list.map(unchangedBuffers);
  let offset = 0;
  list.forEach(({ kernel }, k) => run(kernel, buffers[k], scalars.subarray(offset, (offset += kernel.scalars.length))));
}

function reducePlanned(plans: readonly UpdatePlan[], slot: number, kind: ReduceKind, p: number, initial: number): number {
  const list = planList(plans);
  // One element type at a time, as the addon reduces (the partial sums of float32 and float64 merge apart).
  if (list.some(({ dtype }) => dtype !== list[0].dtype)) throw makeError(ErrorCodes.DTYPE_MISMATCH, 'plan: expected plans whose params are all of one element type');
  const slots = Math.min(...list.map(({ kernel }) => kernel.slots - kernel.stateSlots));
  checkNumber('slot', slot, { integer: true, min: 0, max: slots - 1 });
  const tensors: Tensor[] = [];
  for (const plan of list) {
    const buffers = unchangedBuffers(plan);
    for (let base = slot; base < buffers.length; base += plan.kernel.slots) tensors.push(engineView(buffers[base] as Tensor));
  }
  return reduce(kind, tensors, p, initial);
}

export const jsBackend: Backend = {
  name: 'js',
  update: (kernel, buffers, scalars) => update(kernel, buffers, scalars),
  updateAsync: async (kernel, buffers, scalars) => update(kernel, buffers, scalars),
  createPlan,
  updatePlanned: (plan, scalars) => updatePlanned(plan, scalars),
  reducePlanned: (plan, slot, kind, p, _threads, initial) => reducePlanned(plan, slot, kind, p, initial),
  reduce: (kind, tensors, p) => reduce(kind, tensors.map(engineView), p),
  reduceAsync: async (kind, tensors, p) => reduce(kind, tensors.map(engineView), p),
};
