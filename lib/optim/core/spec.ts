/**
 * What an optimizer declares, and all it declares: its hyper-parameters, the
 * state it keeps per param (the schema), which kernel a group runs and that
 * kernel's per-step scalars. The base class (optimizer.ts) and its helpers do
 * everything else from these declarations: allocation, `opt.state[i]`,
 * stateDict / loadStateDict, checkpoints, validation.
 */
import { matricesOf } from '../../kernels/factored_shape';
import type { KernelDef, ScalarWriter } from '../../kernels/kernel_def';
import type { StateArray, StateDType, Tensor } from '../../tensor';
import type { OptionRules } from './options';

/** One state buffer a param may carry. */
export interface StateBufferSpec {
  /** PyTorch's name in camelCase (expAvg, momentumBuffer, ...). */
  readonly name: string;
  /** Its element type: the param's ('param'), or a fixed one (bfloat16 is stored in a Uint16Array). */
  readonly dtype: 'param' | StateDType;
  /** Elements: the param's (default), or one per block of this many of the param's elements (rounded up). */
  readonly blockSize?: number;
  /** Elements regardless of the param (a code map's 256). */
  readonly length?: number;
  /**
   * Elements: one per row ('rows') or column ('cols') of the param's matrices
   * (Adafactor's factored second moment: the param's shape with its last or
   * second-to-last dimension reduced to 1, as PyTorch keeps it).
   */
  readonly factor?: 'rows' | 'cols';
  /** The value a new buffer is filled with (default 0). */
  readonly initial?: number;
  /** A new buffer is a copy of its param instead (Schedule-Free's z: x, y and z all start at the param). */
  readonly fromParam?: boolean;
  /** One array every param's state refers to instead of a buffer of its own (the code maps of 8-bit state). */
  readonly shared?: Float32Array;
  /**
   * A moment that `stateDtype` may store compactly (state_storage.ts), and the
   * code map it takes as 8 bits: 'signed' for one that changes sign (a first
   * moment, momentum), 'unsigned' for one that does not (a mean of squares).
   */
  readonly compact?: 'signed' | 'unsigned';
}

/** A per-param number besides the step count (NAdam's muProduct, ASGD's eta and mu). */
export interface StateScalarSpec {
  /** Its name in `opt.state[i]` (PyTorch's, in camelCase). */
  readonly name: string;
  /** Its value before the param's first step. */
  readonly initial: number;
}

/**
 * A value a group keeps across steps besides its hyper-parameters, stored in
 * the group object as PyTorch keeps it (Schedule-Free's k, lrMax, weightSum
 * and trainMode): it goes into state dicts and checkpoints with the group.
 */
export interface GroupStateSpec {
  /** The key it is stored under in the group (and its state dict). */
  readonly name: string;
  /** Its value when the group is added; its type (number or boolean) is the value's for good. */
  readonly initial: number | boolean;
  /** A count (k): an integer >= 0. */
  readonly count?: boolean;
}

/** A group's values of its spec's groupState, by name. */
export type GroupState = Record<string, number | boolean>;

/** Everything a param's state may hold under a group's options. */
export interface StateSchema {
  /** The typed arrays, under PyTorch's names in camelCase. */
  readonly buffers: readonly StateBufferSpec[];
  /** Per-param numbers; `step` (the count of steps taken) is always there and not listed. */
  readonly scalars: readonly StateScalarSpec[];
}

/** The kernel a group's step runs, and which of the schema's buffers fill its state slots, in order. */
export interface KernelChoice<S extends string> {
  /** The kernel. */
  readonly kernel: KernelDef<S>;
  /** The names of the state buffers it steps, in the order of its state slots. */
  readonly buffers: readonly string[];
}

/** What the kernel's scalars may depend on besides the group's hyper-parameters. */
export interface ScalarContext {
  /** The params' step count after this step (1 on the first). */
  readonly step: number;
  /** True when this step created the state buffers. */
  readonly fresh: boolean;
  /** The factor the gradients are multiplied by (loss scaling, averaging, clipping); −1 folds in maximize. */
  readonly gradScale: number;
  /** The per-param numbers of the schema, as they are after this step's advance. */
  readonly state: Readonly<Record<string, number>>;
  /**
   * The same numbers as they were before this step's advance: for an
   * optimizer whose step uses the values the previous step left and then
   * updates them for the next (ASGD's η and μ).
   */
  readonly before: Readonly<Record<string, number>>;
  /** The group's values of the spec's groupState, as they are after this step's advanceGroup. */
  readonly group: Readonly<GroupState>;
}

/** A param's shape, as a group's `shapes` gives it (PyTorch's tensor shape: the data stays flat). */
export type ParamShape = readonly number[];

/**
 * What an optimizer class declares (its `static spec`, and its registry entry's `spec`): its
 * hyper-parameters with their defaults and checks, the state a param keeps, which kernel a group
 * runs and that kernel's per-step scalars. The base class does everything else from it.
 */
export interface OptimizerSpec<O, S extends string = string> {
  /** The class name, for messages and checkpoints. */
  readonly name: string;
  /** Its hyper-parameters: each one's default and check. */
  readonly options: OptionRules<O>;
  /** Checks that involve several hyper-parameters (Nesterov needs momentum, ...). */
  checkGroup?(group: O, where: string): void;
  /** Checks that involve the group's params (Adafactor's shapes against their lengths). */
  checkParams?(group: O, params: readonly Tensor[], where: string): void;
  /**
   * Options that decide how a group's state is laid out (Adafactor's shapes):
   * fixed when the group is added, as the state storage options are.
   */
  readonly fixedOptions?: readonly string[];
  /** The shape of param `k` of a group, for an optimizer whose state depends on it (absent: none does). */
  shapeOf?(group: O, k: number): ParamShape | null;
  /**
   * The state a param of this group may hold (of this shape, for an
   * optimizer with shapeOf; without one, every buffer any shape may hold). A
   * buffer stays when the option that needed it is switched off (momentum → 0,
   * amsgrad → false), so list every buffer the optimizer can create, not only
   * those the kernel uses now.
   */
  state(group: O, shape?: ParamShape | null): StateSchema;
  /**
   * The kernel this group runs (for a param of this shape) and its state
   * buffers in slot order: one of the spec's constant choices, the same object
   * each time it is chosen (params that share it share a kernel call).
   */
  kernel(group: O, shape?: ParamShape | null): KernelChoice<S>;
  /**
   * Advances the per-param numbers of the schema for step `step` (called once
   * per param per step, after `step` itself advanced); absent: they never change.
   */
  advance?(group: O, step: number, state: ParamState): void;
  /** Values each group keeps across steps (see GroupStateSpec); absent: none. */
  readonly groupState?: readonly GroupStateSpec[];
  /**
   * Advances a group's values for a step that runs (once per group per step,
   * params with gradients or not, before any kernel's scalars are written).
   */
  advanceGroup?(group: O, values: GroupState): void;
  /** Refuses, with a coded error, a step that a group's values forbid (Schedule-Free in eval mode); before anything changes. */
  checkStep?(group: O, values: Readonly<GroupState>, where: string): void;
  /** Writes the kernel's scalars for one call, by name (each starts as NaN: write every one). */
  scalars(group: O, context: ScalarContext, out: ScalarWriter<S>): void;
}

/** Per-param state: the step count, the per-param numbers and the buffers, under PyTorch's names in camelCase. */
export interface ParamState {
  /** The count of steps this param has taken. */
  step?: number;
  [name: string]: StateArray | number | undefined;
}

/** The number of elements of `buffer` for a param of `paramLength` elements and shape `shape`. */
export function bufferLength(buffer: StateBufferSpec, paramLength: number, shape: ParamShape | null = null): number {
  if (buffer.length !== undefined) return buffer.length;
  if (buffer.factor !== undefined) {
    const matrices = matricesOf(shape);
    if (matrices === null) throw new Error(`internal: the ${buffer.factor} buffer ${buffer.name} of a param without a matrix shape`);
    return matrices.matrices * (buffer.factor === 'rows' ? matrices.rows : matrices.cols);
  }
  return buffer.blockSize === undefined ? paramLength : Math.ceil(paramLength / buffer.blockSize);
}
