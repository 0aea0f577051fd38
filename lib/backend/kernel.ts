/**
 * A kernel, declared once on the TypeScript side: its name in the addon's
 * table (native/isa_kernels.cc), its buffer layout, its per-step scalars by
 * name, and its plain-TypeScript twin. Both backends run a KernelDef; the
 * native backend finds the addon's row of the same name when it first runs
 * one and checks that the row has the same slots and the same scalar names
 * (snake_case there, camelCase here), in the same order. So the position of a
 * scalar is written nowhere but in one list, and its count nowhere at all.
 */
import type { DType, StateArray, StateDType } from '../tensor';
import type { Round } from './js/round';

/** A kernel's per-step scalars, by name. */
export type KernelScalars<S extends string> = { readonly [K in S]: number };

/**
 * A JavaScript kernel: updates the tensor whose buffers start at
 * `buffers[base]` (param, grad, state... as the C++ kernel lists them).
 */
export type JsKernel<S extends string> = (r: Round, s: KernelScalars<S>, buffers: readonly StateArray[], base: number) => void;

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
  /** The reference implementation, with the native kernel's rounding (see JsKernel). */
  reference(r: Round, s: KernelScalars<S>, buffers: readonly StateArray[], base: number): void;
}

/** An instantiation of a kernel: params (and gradients) of one type, state of another. */
export interface KernelVariant {
  readonly param: DType;
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

/** Writes `values` into `out` (of the kernel's scalar count) in the kernel's order. */
export function packScalars<S extends string>(kernel: KernelDef<S>, values: KernelScalars<S>, out: Float64Array): Float64Array {
  const names = kernel.scalars;
  for (let k = 0; k < names.length; k++) out[k] = values[names[k]];
  return out;
}

/** A new Float64Array of `values` in the kernel's order. */
export function scalarArray<S extends string>(kernel: KernelDef<S>, values: KernelScalars<S>): Float64Array {
  return packScalars(kernel, values, new Float64Array(kernel.scalars.length));
}

/** The named view of a scalars array (the JavaScript backend's side of packScalars). */
export function unpackScalars<S extends string>(kernel: KernelDef<S>, scalars: Float64Array): KernelScalars<S> {
  const out = {} as Record<S, number>;
  kernel.scalars.forEach((name, k) => (out[name] = scalars[k]));
  return out;
}

/** `gradScale` → `grad_scale`: the addon's spelling of a scalar's name. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
}
