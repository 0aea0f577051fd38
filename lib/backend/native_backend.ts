/** The native backend: the addon's fused multi-threaded kernels. */
import { ErrorCodes, makeError } from '../errors';
import { loadAddon } from '../native';
import type { NativePlan, NativeStep } from '../native';
import type { Backend, UpdatePlan, UpdateStep } from './backend';
import { KernelDef, snakeCase } from '../kernels/kernel_def';

const kernelIndices = new WeakMap<KernelDef, number>();

function rolesKey(roles: ReadonlyArray<{ kind: string; size: number }> | undefined): string {
  return roles === undefined ? 'plain' : roles.map((r) => `${r.kind}:${r.size}`).join(',');
}

/**
 * The addon's row for `kernel`: found by name the first time, after checking
 * that the row has the kernel's slots, scalar names (in order) and element
 * type combinations, so the two sides cannot drift apart silently.
 */
export function nativeKernelIndex(kernel: KernelDef): number {
  const known = kernelIndices.get(kernel);
  if (known !== undefined) return known;
  const rows = loadAddon().info().updateKernels;
  const index = rows.findIndex((row) => row.name === kernel.name);
  const row = rows[index];
  const variants = (kernel.variants ?? []).map((v) => `${v.param}/${v.state}`).join(',');
  const mismatch =
    index < 0
      ? 'it has no such kernel'
      : row.slots !== kernel.slots || row.stateSlots !== kernel.stateSlots
        ? `slots ${row.slots} (${row.stateSlots} state) against ${kernel.slots} (${kernel.stateSlots})`
        : row.scalars.join(',') !== kernel.scalars.map(snakeCase).join(',')
          ? `scalars [${row.scalars.join(', ')}] against [${kernel.scalars.map(snakeCase).join(', ')}]`
          : row.variants.map((v) => `${v.param}/${v.state}`).join(',') !== variants
            ? `element types ${row.variants.map((v) => `${v.param}/${v.state}`).join(', ')} against ${variants}`
            : rolesKey(row.roles) !== rolesKey(kernel.roles)
              ? `slot roles [${rolesKey(row.roles)}] against [${rolesKey(kernel.roles)}]`
              : null;
  if (mismatch !== null) {
    throw makeError(ErrorCodes.ADDON_NOT_LOADED, `fusedoptim: the addon's kernel ${JSON.stringify(kernel.name)} does not match its TypeScript declaration: ${mismatch}; rebuild the addon`);
  }
  kernelIndices.set(kernel, index);
  return index;
}

let instance: Backend | null = null;

/** The native backend; throws ERR_ADDON_NOT_LOADED (with how to build it) if the addon is missing. */
export function nativeBackend(): Backend {
  if (instance) return instance;
  const addon = loadAddon();
  instance = {
    name: 'native',
    update: (kernel, buffers, scalars, threads) => addon.update(nativeKernelIndex(kernel), buffers, scalars, threads),
    updateAsync: (kernel, buffers, scalars, threads) => addon.updateAsync(nativeKernelIndex(kernel), buffers, scalars, threads),
    // The addon type-tags its plans and refuses anything else, the JS backend's included.
    createPlan: (kernel, buffers) => addon.createPlan(nativeKernelIndex(kernel), buffers) as unknown as UpdatePlan,
    updatePlanned: (plans, scalars, threads) => addon.updatePlanned(nativePlans(plans), scalars, threads),
    reducePlanned: (plans, slot, kind, p, threads, initial) => addon.reducePlanned(nativePlans(plans), slot, kind, p, threads, initial),
    createStep: (plans) => addon.createStep(plans as unknown as readonly NativePlan[]) as unknown as UpdateStep,
    runStep: (step, scalars, threads, clip) => addon.runStep(step as unknown as NativeStep, scalars, threads, clip),
    reduce: (kind, tensors, p, threads) => addon.reduce(kind, tensors, p, threads),
    reduceAsync: (kind, tensors, p, threads) => addon.reduceAsync(kind, tensors, p, threads),
  };
  return instance;
}

/** A step's plans as the addon takes them: the usual single plan itself (the addon then reads no Array), else the list. */
function nativePlans(plans: readonly UpdatePlan[]): NativePlan | readonly NativePlan[] {
  return (plans.length === 1 ? plans[0] : plans) as unknown as NativePlan | readonly NativePlan[];
}
