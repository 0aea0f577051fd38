/** The native backend: the addon's fused multi-threaded kernels. */
import { loadAddon, nativeKernelIndex } from '../native';
import type { NativePlan } from '../native';
import type { Backend, UpdatePlan } from './backend';

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
    reduce: (kind, tensors, p, threads) => addon.reduce(kind, tensors, p, threads),
    reduceAsync: (kind, tensors, p, threads) => addon.reduceAsync(kind, tensors, p, threads),
  };
  return instance;
}

/** A step's plans as the addon takes them: the usual single plan itself (the addon then reads no Array), else the list. */
function nativePlans(plans: readonly UpdatePlan[]): NativePlan | readonly NativePlan[] {
  return (plans.length === 1 ? plans[0] : plans) as unknown as NativePlan | readonly NativePlan[];
}
