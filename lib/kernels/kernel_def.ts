/**
 * A kernel, declared once on the TypeScript side: its name in the addon's
 * table (native/dispatch/isa_kernels.cc), its buffer layout, its per-step scalars by
 * name, and its plain-TypeScript twin. Both backends run a KernelDef; the
 * native backend finds the addon's row of the same name when it first runs
 * one and checks that the row has the same slots and the same scalar names
 * (snake_case there, camelCase here), in the same order. So the position of a
 * scalar is written nowhere but in one list, and its count nowhere at all.
 */
import type { DType, StateArray, StateDType } from '../tensor';
import type { Round } from './round';

/** A kernel's per-step scalars, by name. */
export type KernelScalars<S extends string> = { readonly [K in S]: number };

/**
 * A JavaScript kernel: updates the tensor whose buffers start at
 * `buffers[base]` (param, grad, state... as the C++ kernel lists them).
 */
export type JsKernel<S extends string> = (r: Round, s: KernelScalars<S>, buffers: readonly StateArray[], base: number) => void;

/**
 * A kernel as both backends run it: its name in the addon, its buffers per tensor, its per-step
 * scalars by name and its plain-TypeScript reference (an optimizer's registry entry shows the
 * one it runs by default).
 */
export interface KernelDef<S extends string = string> {
  /** The addon's name for the kernel ('adam'). */
  readonly name: string;
  /** Buffers per tensor. */
  readonly slots: number;
  /** How many of them, at the end, are state (of the state's element type); the rest have the param's. */
  readonly stateSlots: number;
  /** The per-step scalars, in the order the kernels read them. */
  readonly scalars: readonly S[];
  /**
   * The (param, state) element types it runs on (the native kernel is
   * instantiated for exactly these). Default: state of the param's type,
   * float32 and float64.
   */
  readonly variants?: ReadonlyArray<KernelVariant>;
  /**
   * Each slot's role, when some slots are neither param-like nor state of the
   * param's length (8-bit state's block scales and code maps: see SlotRole).
   * Absent: the first `slots - stateSlots` are params, the rest state.
   */
  readonly roles?: readonly SlotRole[];
  /**
   * True when the update reduces over each whole tensor before moving it
   * (LAMB's trust ratio, Adafactor's RMS): a tensor cannot then be cut into
   * pieces stepped apart (DistributedOptimizer's shardState refuses it).
   */
  readonly perTensor?: boolean;
  /** The reference implementation, with the native kernel's rounding (see JsKernel). */
  reference(r: Round, s: KernelScalars<S>, buffers: readonly StateArray[], base: number): void;
}

/**
 * What one of a kernel's buffers per tensor is (native/dispatch/kernel_table.h's SlotRole):
 * 'param' (the param's type and length: param, grad), 'state' (the state's type,
 * the param's length), 'blocks' (float32, one per `size` elements of the param,
 * rounded up), 'table' (float32, exactly `size` elements, read only), 'rows' and
 * 'cols' (the state's type, one per row or column of the param's matrices: their
 * lengths are checked together, as a shape, by factoredShape).
 */
export interface SlotRole {
  /** What the slot holds (see above). */
  readonly kind: 'param' | 'state' | 'blocks' | 'table' | 'rows' | 'cols';
  /** For 'blocks', the param elements per element; for 'table', its length; otherwise 0. */
  readonly size: number;
}

/** Slots of the state's element type: state, and a factored param's row and column statistics. */
export function isStateTyped(role: SlotRole): boolean {
  return role.kind === 'state' || role.kind === 'rows' || role.kind === 'cols';
}

/** The role of slot `slot` of `kernel`. */
export function slotRole(kernel: KernelDef, slot: number): SlotRole {
  if (kernel.roles !== undefined) return kernel.roles[slot];
  return slot < kernel.slots - kernel.stateSlots ? PARAM_ROLE : STATE_ROLE;
}
const PARAM_ROLE: SlotRole = Object.freeze({ kind: 'param', size: 0 });
const STATE_ROLE: SlotRole = Object.freeze({ kind: 'state', size: 0 });

/** The number of elements slot `role` holds for a param of `length` elements (not for 'rows' and 'cols', which need its shape). */
export function slotLength(role: SlotRole, length: number): number {
  return role.kind === 'blocks' ? Math.ceil(length / role.size) : role.kind === 'table' ? role.size : length;
}

/** The scalar names of a kernel (`ScalarsOf<typeof adamKernel>`), for a spec that writes them. */
export type ScalarsOf<K> = K extends KernelDef<infer S> ? S : never;

/** An instantiation of a kernel: params (and gradients) of one type, state of another. */
export interface KernelVariant {
  /** The element type of the params and gradients. */
  readonly param: DType;
  /** The element type of the state. */
  readonly state: StateDType;
}

const SAME_TYPE_VARIANTS: readonly KernelVariant[] = [
  { param: 'float32', state: 'float32' },
  { param: 'float64', state: 'float64' },
];

export function defineKernel<const S extends string>(def: KernelDef<S>): KernelDef<S> & { readonly variants: readonly KernelVariant[] } {
  return Object.freeze({ ...def, scalars: Object.freeze([...def.scalars]), variants: def.variants ?? SAME_TYPE_VARIANTS });
}

/** Whether `kernel` runs on params of `param` with state of `state`. */
export function hasVariant(kernel: KernelDef, param: DType, state: StateDType): boolean {
  return (kernel.variants ?? SAME_TYPE_VARIANTS).some((v) => v.param === param && v.state === state);
}

/**
 * A kernel's scalars array seen by name: `w.gradScale = x` writes the element
 * the kernel reads as grad_scale. One accessor per name on a per-kernel
 * prototype, so a spec's writes are plain, monomorphic property stores and a
 * step allocates nothing. Every element starts as NaN (`reset`): a scalar a
 * spec forgets to write poisons the result instead of passing as 0.
 */
export type ScalarWriter<S extends string> = { [K in S]: number } & {
  /** The scalars in the kernel's order, as the backend passes them. */
  readonly array: Float64Array;
  /** Sets every scalar to NaN. */
  reset(): void;
};

const writerClasses = new WeakMap<KernelDef, new (array: Float64Array) => ScalarWriter<string>>();

/** A writer over `array` (of the kernel's scalar count; a new one if omitted). */
export function scalarWriter<S extends string>(kernel: KernelDef<S>, array: Float64Array = new Float64Array(kernel.scalars.length)): ScalarWriter<S> {
  let Writer = writerClasses.get(kernel as KernelDef);
  if (Writer === undefined) {
    class Scalars {
      constructor(readonly array: Float64Array) {}
      reset(): void {
        this.array.fill(NaN);
      }
    }
    kernel.scalars.forEach((name, k) =>
      Object.defineProperty(Scalars.prototype, name, {
        get(this: Scalars) {
          return this.array[k];
        },
        set(this: Scalars, value: number) {
          this.array[k] = value;
        },
      }),
    );
    Writer = Scalars as unknown as new (array: Float64Array) => ScalarWriter<string>;
    writerClasses.set(kernel as KernelDef, Writer);
  }
  return new Writer(array) as unknown as ScalarWriter<S>;
}

/** A new Float64Array of `values` in the kernel's order (for tests and benchmarks; steps write through a ScalarWriter). */
export function scalarArray<S extends string>(kernel: KernelDef<S>, values: KernelScalars<S>): Float64Array {
  const writer = scalarWriter(kernel);
  for (const name of kernel.scalars) (writer as unknown as Record<string, number>)[name] = values[name];
  return writer.array;
}

/** `gradScale` → `grad_scale`: the addon's spelling of a scalar's name. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
}
