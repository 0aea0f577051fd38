/**
 * What an optimizer declares, and all it declares: its hyper-parameters, the
 * state it keeps per param (the schema), which kernel a group runs and that
 * kernel's per-step scalars. The base class (optimizer.ts) and its helpers do
 * everything else from these declarations: allocation, `opt.state[i]`,
 * stateDict / loadStateDict, checkpoints, validation.
 */
import type { KernelDef, ScalarWriter } from '../backend/kernel';
import type { StateArray, StateDType } from '../tensor';
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
  /** The value a new buffer is filled with (default 0). */
  readonly initial?: number;
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
  readonly name: string;
  /** Its value before the param's first step. */
  readonly initial: number;
}

/** Everything a param's state may hold under a group's options. */
export interface StateSchema {
  readonly buffers: readonly StateBufferSpec[];
  /** Per-param numbers; `step` (the count of steps taken) is always there and not listed. */
  readonly scalars: readonly StateScalarSpec[];
}

/** The kernel a group's step runs, and which of the schema's buffers fill its state slots, in order. */
export interface KernelChoice<S extends string> {
  readonly kernel: KernelDef<S>;
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
}

export interface OptimizerSpec<O, S extends string = string> {
  /** The class name, for messages and checkpoints. */
  readonly name: string;
  readonly options: OptionRules<O>;
  /** Checks that involve several hyper-parameters (Nesterov needs momentum, ...). */
  checkGroup?(group: O, where: string): void;
  /**
   * The state a param of this group may hold. A buffer stays when the option
   * that needed it is switched off (momentum → 0, amsgrad → false), so list
   * every buffer the optimizer can create, not only those the kernel uses now.
   */
  state(group: O): StateSchema;
  /** The kernel this group runs and its state buffers in slot order. */
  kernel(group: O): KernelChoice<S>;
  /**
   * Advances the per-param numbers of the schema for step `step` (called once
   * per param per step, after `step` itself advanced); absent: they never change.
   */
  advance?(group: O, step: number, state: ParamState): void;
  /** Writes the kernel's scalars for one call, by name (each starts as NaN: write every one). */
  scalars(group: O, context: ScalarContext, out: ScalarWriter<S>): void;
}

/** Per-param state: the step count, the per-param numbers and the buffers, under PyTorch's names in camelCase. */
export interface ParamState {
  step?: number;
  [name: string]: StateArray | number | undefined;
}

/** The number of elements of `buffer` for a param of `paramLength` elements. */
export function bufferLength(buffer: StateBufferSpec, paramLength: number): number {
  if (buffer.length !== undefined) return buffer.length;
  return buffer.blockSize === undefined ? paramLength : Math.ceil(paramLength / buffer.blockSize);
}
