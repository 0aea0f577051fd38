/** The native backend: the addon's fused multi-threaded kernels. */
import { loadAddon } from '../native';
import type { Backend } from './backend';

let instance: Backend | null = null;

/** The native backend; throws ERR_ADDON_NOT_LOADED (with how to build it) if the addon is missing. */
export function nativeBackend(): Backend {
  if (instance) return instance;
  const addon = loadAddon();
  instance = {
    name: 'native',
    update: (kind, buffers, scalars, threads) => addon.update(kind, buffers, scalars, threads),
    updateAsync: (kind, buffers, scalars, threads) => addon.updateAsync(kind, buffers, scalars, threads),
    reduce: (kind, tensors, p, threads) => addon.reduce(kind, tensors, p, threads),
    reduceAsync: (kind, tensors, p, threads) => addon.reduceAsync(kind, tensors, p, threads),
  };
  return instance;
}
