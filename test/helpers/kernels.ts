/**
 * Every update kernel the library declares (each lib/backend/js/*.ts module's
 * exported KernelDefs), and the addon's row of each, for tests that call the
 * addon or a backend directly.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { KernelDef } from '../../lib/backend/kernel';
import { nativeKernelIndex } from '../../lib/native';

const JS_DIR = path.join(__dirname, '..', '..', 'lib', 'backend', 'js');

function isKernelDef(value: unknown): value is KernelDef {
  return typeof value === 'object' && value !== null && typeof (value as KernelDef).reference === 'function' && Array.isArray((value as KernelDef).scalars);
}

/** Every KernelDef exported by lib/backend/js/, in file then export order. */
export const ALL_KERNELS: readonly KernelDef[] = fs
  .readdirSync(JS_DIR)
  .filter((f) => f.endsWith('.ts'))
  .sort()
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  .flatMap((f) => Object.values(require(path.join(JS_DIR, f)) as Record<string, unknown>).filter(isKernelDef));

/** The addon's table index of `kernel` (what addon.update takes). */
export const row = (kernel: KernelDef): number => nativeKernelIndex(kernel);
