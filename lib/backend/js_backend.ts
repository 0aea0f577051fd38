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
import { ReduceKind } from '../kernels/reduce_kind';
import { clipCoefficient, mergeValues } from '../norm';
import { DType, StateArray, Tensor, dtypeOf, engineView, lengthOf } from '../tensor';
import { checkKernelBuffers, checkKernelScalars, checkNumber, describe, isDetached } from '../validate';
import { Backend, UpdatePlan, UpdateStep, stepRan } from './backend';
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

/** `scalars`, checked to be a Float64Array of every plan's scalars in turn. */
function checkPlannedScalars(list: readonly JsPlan[], scalars: Float64Array): Float64Array {
  const count = list.reduce((n, { kernel }) => n + kernel.scalars.length, 0);
  if (!(scalars instanceof Float64Array) || scalars.length !== count) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `scalars: expected a Float64Array of ${count} values, got ${describe(scalars)}`);
  }
  return scalars;
}

/** Every plan's buffers checked (unchangedBuffers) before any kernel runs, as the addon does: a refused step writes nothing. */
function updatePlanned(plans: readonly UpdatePlan[], scalars: Float64Array): void {
  const list = planList(plans);
  checkPlannedScalars(list, scalars);
  runPlans(list, list.map(unchangedBuffers), scalars);
}

function runPlans(list: readonly JsPlan[], buffers: readonly StateArray[][], scalars: Float64Array): void {
  let offset = 0;
  list.forEach(({ kernel }, k) => run(kernel, buffers[k], scalars.subarray(offset, (offset += kernel.scalars.length))));
}

/** The JS backend's step: its plans, in order and by the params' element type (float32, float64). */
class JsStep {
  constructor(
    readonly plans: readonly JsPlan[],
    readonly byDtype: readonly [readonly JsPlan[], readonly JsPlan[]],
  ) {}
}

function createStep(plans: readonly UpdatePlan[]): UpdateStep {
  if (!Array.isArray(plans)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, 'plans: expected a non-empty Array of plans');
  if (plans.length === 0) throw makeError(ErrorCodes.SHAPE_MISMATCH, 'plans: expected a non-empty Array of plans, got an empty Array');
  const list = plans.map((plan, i) => {
    if (!(plan instanceof JsPlan)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, `plans[${i}]: expected a plan made by createPlan`);
    return plan;
  });
  return new JsStep(list, [list.filter((p) => p.dtype !== 'float64'), list.filter((p) => p.dtype === 'float64')]) as unknown as UpdateStep;
}

/** The addon's runStep, as plain TypeScript (Backend.runStep): the same checks, the same bits. */
function runStep(step: UpdateStep, scalars: Float64Array, threads: number, clip: Float64Array | undefined): number | undefined {
  if (!(step instanceof JsStep)) throw makeError(ErrorCodes.INVALID_ARG_TYPE, 'step: expected a step made by createStep');
  const list = step.plans;
  checkPlannedScalars(list, scalars);
  checkNumber('threads', threads, { integer: true, min: 1, max: 1024 });
  if (clip === undefined) {
    runPlans(list, list.map(unchangedBuffers), scalars);
    return undefined;
  }
  if (!(clip instanceof Float64Array) || clip.length !== 4) throw makeError(ErrorCodes.INVALID_ARG_TYPE, `clip: expected a Float64Array of 4 values, got ${describe(clip)}`);
  const [kind, gradScale, maxNorm, flags] = clip;
  if (kind !== ReduceKind.SumSquares && kind !== ReduceKind.SumAbs && kind !== ReduceKind.MaxAbs) {
    throw makeError(ErrorCodes.OUT_OF_RANGE, 'clip[0]: expected the reduction of the 2-, 1- or ∞-norm (0, 1 or 2)');
  }
  checkNumber('clip[1]', gradScale);
  if (!(maxNorm >= 0)) throw makeError(ErrorCodes.OUT_OF_RANGE, 'clip[2]: expected a maxNorm >= 0 (or Infinity)');
  checkNumber('clip[3]', flags, { integer: true, min: 0, max: 3 });
  if (list.some(({ kernel }) => kernel.slots - kernel.stateSlots < 2)) throw makeError(ErrorCodes.OUT_OF_RANGE, 'clip: a plan of the step has no gradient slot');
  const buffers = list.map(unchangedBuffers);
  const p = kind === ReduceKind.SumSquares ? 2 : kind === ReduceKind.SumAbs ? 1 : Infinity;
  let total = 0;
  for (const group of step.byDtype) if (group.length > 0) total = mergeValues(kind, total, reducePlanned(group as unknown as UpdatePlan[], 1, kind, p, 0));
  const norm = kind === ReduceKind.SumSquares ? Math.sqrt(total) : total;
  if (!stepRan(clip, norm)) return norm;
  let scaled = scalars;
  if ((flags & 1) !== 0) {
    const coefficient = clipCoefficient(maxNorm, norm * Math.abs(gradScale));
    scaled = scalars.slice();
    let offset = 0;
    list.forEach(({ kernel }, k) => {
      const at = offset + kernel.scalars.indexOf('gradScale');
      offset += kernel.scalars.length;
      if (at < offset - kernel.scalars.length || Math.abs(scalars[at]) !== Math.abs(gradScale)) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `step: plans[${k}]: its scalars hold no grad_scale equal to ±gradScale`);
      }
      const magnitude = gradScale * coefficient;
      scaled[at] = Math.sign(1 / scalars[at]) !== Math.sign(1 / gradScale) ? -magnitude : magnitude;
    });
  }
  runPlans(list, buffers, scaled);
  return norm;
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
  createStep,
  runStep,
  reduce: (kind, tensors, p) => reduce(kind, tensors.map(engineView), p),
  reduceAsync: async (kind, tensors, p) => reduce(kind, tensors.map(engineView), p),
};
