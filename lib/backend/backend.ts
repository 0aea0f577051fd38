/**
 * The kernel interface both backends implement: the native addon and the
 * plain-TypeScript reference. Optimizers, clipping and accumulation call only
 * this; which backend runs is a constructor option.
 */
import type { ReduceKind } from '../kernels/reduce_kind';
import type { StateArray, Tensor } from '../tensor';
import type { KernelDef } from '../kernels/kernel_def';

/** Which kernels run a step: the native addon, or the plain-TypeScript reference kernels (the same bits). */
export type BackendName = 'native' | 'js';

/**
 * An update kernel's buffers resolved once (createPlan), for calls that reuse
 * the very same typed arrays: the one thing called a plan. Opaque; a plan
 * belongs to the backend that made it.
 */
export interface UpdatePlan {
  readonly __updatePlan: never;
}

/**
 * The plans of one optimizer step, run together by one call (runStep): made
 * once by createStep. Opaque; a step belongs to the backend that made it.
 */
export interface UpdateStep {
  readonly __updateStep: never;
}

/**
 * Whether runStep, given `clip` ([kind, gradScale, maxNorm, flags]), ran the
 * kernels and returned `norm`: it runs none when the norm scaled by
 * |gradScale| is not finite and flags has 2 (skipIfNonfinite or
 * errorIfNonfinite). The caller's twin of the backends' own test.
 */
export function stepRan(clip: Float64Array, norm: number): boolean {
  return (clip[3] & 2) === 0 || Number.isFinite(norm * Math.abs(clip[1]));
}

export interface Backend {
  readonly name: BackendName;
  /**
   * Runs one elementwise kernel over a batch: `buffers` holds, for each tensor,
   * its `kernel.slots` buffers in order (param, grad, state...), params and
   * grads of one element type, state of one (a combination the kernel has).
   */
  update(kernel: KernelDef, buffers: readonly StateArray[], scalars: Float64Array, threads: number): void;
  /** The same, off the calling thread; the buffers must not be touched until it settles. */
  updateAsync(kernel: KernelDef, buffers: readonly StateArray[], scalars: Float64Array, threads: number): Promise<void>;
  /**
   * Checks `buffers` as update() does and remembers them for updatePlanned().
   * The plan holds its own copy of the list, and holds the buffers weakly: it
   * keeps none of them alive (their owners must), and refuses to run
   * (ERR_DETACHED_BUFFER) once one was collected.
   */
  createPlan(kernel: KernelDef, buffers: readonly StateArray[]): UpdatePlan;
  /**
   * update() over the buffers of each of `plans` (the calls of one step), with
   * each plan's scalars in turn in `scalars`. Throws ERR_DETACHED_BUFFER (or
   * ERR_SHAPE_MISMATCH for a resized buffer) without writing anything if a
   * buffer of any of them changed since its plan was made: every plan is
   * checked before any kernel runs.
   */
  updatePlanned(plans: readonly UpdatePlan[], scalars: Float64Array, threads: number): void;
  /**
   * reduce() over buffer `slot` (a param-typed slot: 1 is the gradient) of
   * every tensor of `plans` (params of one element type), their blocks merged
   * in order into `initial`: the same bits as one reduce() over all their
   * tensors. Checks the plans' buffers as updatePlanned does.
   */
  reducePlanned(plans: readonly UpdatePlan[], slot: number, kind: ReduceKind, p: number, threads: number, initial: number): number;
  /**
   * The plans of one optimizer step (at least one), to run together by
   * runStep: each distinct ArrayBuffer among all their buffers is checked once
   * per run. The step holds its plans; they hold their buffers weakly.
   */
  createStep(plans: readonly UpdatePlan[]): UpdateStep;
  /**
   * updatePlanned() over the step's plans, in one call: every distinct
   * ArrayBuffer checked first (refusing as updatePlanned does, having run
   * nothing). With `clip`, a Float64Array [kind, gradScale, maxNorm, flags]
   * (kind: ReduceKind SumSquares, SumAbs or MaxAbs; flags: 1 when maxNorm is
   * given, 2 to stop on a non-finite norm), it first takes the norm of every
   * plan's gradients (slot 1: the bits of reducePlanned per element type,
   * float32 then float64, merged, then the root), then multiplies each
   * kernel's gradScale scalar by PyTorch's clip coefficient of the norm times
   * |gradScale| when maxNorm is given (lib/norm.ts clipCoefficient), and
   * returns the norm; it runs no kernel when stepRan says so. Without `clip`,
   * returns undefined.
   */
  runStep(step: UpdateStep, scalars: Float64Array, threads: number, clip?: Float64Array): number | undefined;
  /** Σx², Σ|x|, max|x|, Σ|x|^p or the non-finite flag over all elements of all tensors (one dtype). */
  reduce(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): number;
  reduceAsync(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): Promise<number>;
}
