/**
 * Every update kernel the library declares (each lib/kernels/*.ts module's
 * exported KernelDefs), and the addon's row of each, for tests that call the
 * addon or a backend directly.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { KernelDef } from '../../lib/kernels/kernel_def';
import { blockwise8Kernel, nearestBf16Kernel, stochasticBf16Kernel } from '../../lib/compact/drivers';
import { nativeKernelIndex } from '../../lib/backend/native_backend';

const JS_DIR = path.join(__dirname, '..', '..', 'lib', 'kernels');

function isKernelDef(value: unknown): value is KernelDef {
  return typeof value === 'object' && value !== null && typeof (value as KernelDef).reference === 'function' && Array.isArray((value as KernelDef).scalars);
}

/** Every KernelDef exported by lib/kernels/, in file then export order. */
export const ALL_KERNELS: readonly KernelDef[] = fs
  .readdirSync(JS_DIR)
  .filter((f) => f.endsWith('.ts'))
  .sort()
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  .flatMap((f) => Object.values(require(path.join(JS_DIR, f)) as Record<string, unknown>).filter(isKernelDef));

/** The kernels of the optimizers that take stateDtype (native isa_kernels.cc's FUSEDOPTIM_COMPACT_ROWS). */
const COMPACT_CAPABLE = new Set([
  'sgd_momentum',
  'sgd_nesterov',
  'adagrad',
  'rmsprop',
  'rmsprop_centered',
  'rmsprop_momentum',
  'rmsprop_centered_momentum',
  'adam',
  'adam_amsgrad',
  'lion',
  'schedule_free_adamw',
  'adamax',
  'radam',
  'nadam',
]);

/**
 * Their compact-state drivers (the native table's "<name>_bf16",
 * "<name>_bf16_sr" and "<name>_int8" rows).
 */
export const COMPACT_KERNELS: readonly KernelDef[] = ALL_KERNELS.filter((k) => COMPACT_CAPABLE.has(k.name)).flatMap((k) => [
  nearestBf16Kernel(k),
  stochasticBf16Kernel(k),
  blockwise8Kernel(k),
]);

/** Every row of the native kernel table. */
export const TABLE_KERNELS: readonly KernelDef[] = [...ALL_KERNELS, ...COMPACT_KERNELS];

/** The addon's table index of `kernel` (what addon.update takes). */
export const row = (kernel: KernelDef): number => nativeKernelIndex(kernel);
