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
import { StateArray, Tensor, engineView, lengthOf } from '../tensor';
import { checkKernelBuffers, checkKernelScalars, checkNumber, isDetached } from '../validate';
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
  ) {}
}

function createPlan(kernel: KernelDef, buffers: readonly StateArray[]): UpdatePlan {
  const checked = checkKernelBuffers(kernel, buffers);
  return new JsPlan(kernel, checked.map((b) => new WeakRef(b)), checked.map(lengthOf)) as unknown as UpdatePlan;
}

/** The plan's kernel and buffers, after checking that none was collected, detached or resized. */
function checkedPlan(plan: UpdatePlan): { kernel: KernelDef; buffers: StateArray[] } {
  if (!(plan instanceof JsPlan)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, 'plan: expected a plan made by createPlan');
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
  return { kernel: plan.kernel, buffers };
}

function updatePlanned(plan: UpdatePlan, scalars: Float64Array): void {
  const { kernel, buffers } = checkedPlan(plan);
  run(kernel, buffers, checkKernelScalars(kernel, scalars));
}

function reducePlanned(plan: UpdatePlan, slot: number, kind: ReduceKind, p: number, initial: number): number {
  const { kernel, buffers } = checkedPlan(plan);
  checkNumber('slot', slot, { integer: true, min: 0, max: kernel.slots - kernel.stateSlots - 1 });
  const tensors: Tensor[] = [];
  for (let base = slot; base < buffers.length; base += kernel.slots) tensors.push(engineView(buffers[base] as Tensor));
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
