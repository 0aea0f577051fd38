/**
 * The registry: every optimizer class of lib/optim/index.ts, with what the
 * rest of the library needs to know about it without building one. The TF.js
 * bridge (its classes by name, a class's options checked and its default lr,
 * whether it takes shapes or has modes), the test
 * tables and the benchmark read it, so a new optimizer is one line in
 * index.ts, not a line in each of them. (The CLI trains AdamW only: it has no
 * --optimizer yet.)
 *
 * What an entry says is derived from the class's declaration (`static spec`),
 * never written a second time: an optimizer takes `stateDtype` if its options
 * declare it, `shapes` likewise, and reduces per tensor if its kernel says so.
 */
import type { KernelDef } from '../kernels/kernel_def';
import * as classes from './index';
import { LBFGS } from './lbfgs/lbfgs';
import { Optimizer, resolveOptions } from './core/optimizer';
import type { OptimizerSpec } from './core/spec';
import { resolveGroup } from './core/param_groups';

/** What an optimizer can do besides a plain step. */
export interface OptimizerCapabilities {
  /** It takes `stateDtype` (bfloat16 or 8-bit state: compact state). */
  readonly compactState: boolean;
  /** It takes `shapes`: its state depends on each param's shape (Adafactor). */
  readonly shapes: boolean;
  /** Its step reduces over each whole param (LAMB's trust ratio, Adafactor's RMS): ZeRO cannot cut its params. */
  readonly perTensor: boolean;
  /** Its step takes a closure that re-evaluates the loss (LBFGS): not a `step(grads)` optimizer. */
  readonly closure: boolean;
  /**
   * It keeps a train and an eval mode (Schedule-Free: `train()` before stepping, `eval()` before
   * evaluating), starting in eval mode: whoever drives it calls them (TrainEvalModes, modesOf).
   */
  readonly modes: boolean;
}

/** A class that builds an optimizer: `new Class(params, options)`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OptimizerClass = new (params: any, options?: any) => Optimizer<any> | LBFGS;

/** One optimizer of the registry: its name, its class and what it can do. */
export interface OptimizerEntry {
  /** The class name (PyTorch's): 'AdamW', 'SGD', ... */
  readonly name: string;
  /** The class itself: `new entry.class(params, options)`. */
  readonly class: OptimizerClass;
  /** The declaration of a step optimizer (absent for LBFGS, which drives its own steps). */
  readonly spec: OptimizerSpec<Record<string, unknown>> | null;
  /** What it can do besides a plain step. */
  readonly capabilities: OptimizerCapabilities;
  /** The kernel a param without a shape runs under the default options (null for LBFGS). */
  readonly defaultKernel: KernelDef | null;
  /**
   * The options `new entry.class(params, options)` would be built with, checked as
   * its constructor checks them (only its hyper-parameters and `backend`; each
   * value; the backend's name) and resolved: every hyper-parameter, given or its
   * default, without building an optimizer. Throws the constructor's coded errors,
   * naming `<where>: options` (`where` defaults to the class name, as the
   * constructor's do). Null for LBFGS.
   */
  readonly resolveOptions: ((options: unknown, where?: string) => Readonly<Record<string, unknown>>) | null;
}

type SpecClass = OptimizerClass & { readonly spec: OptimizerSpec<Record<string, unknown>> };

/** A class that builds an optimizer: LBFGS, or a class that declares its own spec (not an abstract base such as ScheduleFreeOptimizer). */
function isOptimizerClass(value: unknown): value is OptimizerClass {
  return typeof value === 'function' && (value === LBFGS || (value.prototype instanceof Optimizer && Object.prototype.hasOwnProperty.call(value, 'spec')));
}

function entryOf(cls: OptimizerClass): OptimizerEntry {
  if (cls === LBFGS) {
    return {
      name: 'LBFGS',
      class: cls,
      spec: null,
      defaultKernel: null,
      resolveOptions: null,
      capabilities: { compactState: false, shapes: false, perTensor: false, closure: true, modes: false },
    };
  }
  const spec = (cls as SpecClass).spec;
  if (spec === undefined) throw new Error(`internal: ${cls.name} has no static spec`);
  const kernel = spec.kernel(resolveGroup(spec, {}, null, spec.name), null).kernel;
  return {
    name: spec.name,
    class: cls,
    spec,
    defaultKernel: kernel,
    resolveOptions: (options, where) => resolveOptions(spec, options, where).defaults,
    capabilities: {
      compactState: 'stateDtype' in spec.options,
      shapes: 'shapes' in spec.options,
      perTensor: kernel.perTensor === true,
      closure: false,
      modes: (spec.groupState ?? []).some((value) => value.name === 'trainMode'),
    },
  };
}

/** Every optimizer, once each (aliases such as AdaGrad fold into their class), by name. */
export const OPTIMIZERS: readonly OptimizerEntry[] = Object.freeze(
  [...new Set(Object.values(classes as Record<string, unknown>).filter(isOptimizerClass))].map(entryOf).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
);

/** The entry of the optimizer named `name` (its class name, any case: 'adamw' finds AdamW), or undefined. */
export function findOptimizer(name: string): OptimizerEntry | undefined {
  const lower = name.toLowerCase();
  return OPTIMIZERS.find((e) => e.name.toLowerCase() === lower);
}

/** The entry of `cls` (a registered class or a subclass of one), or undefined. */
export function entryOfClass(cls: unknown): OptimizerEntry | undefined {
  return OPTIMIZERS.find((e) => e.class === cls) ?? OPTIMIZERS.find((e) => typeof cls === 'function' && cls.prototype instanceof e.class);
}
