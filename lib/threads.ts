/**
 * The team size every native kernel call uses. It is passed with each call
 * (OpenMP `num_threads`), so it is a property of this JavaScript context: each
 * worker_thread has its own, and a service can cap the library at one thread
 * while its own work uses the other cores.
 */
import { optionalAddon } from './native';
import { checkNumber } from './validate';

export const MAX_THREADS = 1024;
let chosen: number | null = null;
let openmpDefault: number | null = null;

/** Sets the number of threads native kernels use (1..1024). */
export function setNumThreads(n: number): void {
  chosen = checkNumber('setNumThreads: n', n, { integer: true, min: 1, max: MAX_THREADS });
}

/** The number of threads native kernels use: setNumThreads' value, else OpenMP's default (OMP_NUM_THREADS, else the core count). */
export function getNumThreads(): number {
  if (chosen !== null) return chosen;
  // OpenMP reads OMP_NUM_THREADS once, at start-up: the default is a constant of
  // the process, and asking the addon for it (info() builds an object) cost
  // more than a small step's whole kernel call.
  if (openmpDefault === null) {
    const addon = optionalAddon();
    openmpDefault = addon ? Math.max(1, Math.min(MAX_THREADS, addon.info().defaultThreads)) : 1;
  }
  return openmpDefault;
}
