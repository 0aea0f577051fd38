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
  /** Σx², Σ|x|, max|x|, Σ|x|^p or the non-finite flag over all elements of all tensors (one dtype). */
  reduce(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): number;
  reduceAsync(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): Promise<number>;
}
