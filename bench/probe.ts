/**
 * The memory-bandwidth probe, run by the addon itself so that it shares the
 * process, the allocator, the thread pool and the alignment of the kernels it
 * is compared with:
 *  - in place: a ← a + s·b, the addon's Accumulate kernel (read a, read b, write a);
 *  - read only: Σ|b|, the addon's SumAbs reduction.
 * Called directly on the addon: no TypeScript checks, no allocation per call,
 * the cheapest pass over the memory the library can make.
 */
import { accumulateKernel } from '../lib/kernels/elementwise';
import { ReduceKind } from '../lib/kernels/reduce_kind';
import { nativeKernelIndex } from '../lib/backend/native_backend';
import { loadAddon } from '../lib/native';
import type { Tensor } from '../lib/tensor';

export interface Probe {
  inPlace: (threads: number) => void;
  readOnly: (threads: number) => void;
}

/** A probe over accumulators `a` and inputs `b` (same lengths, same dtype). */
export function makeProbe(a: readonly Tensor[], b: readonly Tensor[]): Probe {
  const addon = loadAddon();
  const pairs: Tensor[] = [];
  a.forEach((t, i) => pairs.push(t, b[i]));
  // A small factor keeps `a` bounded however many times the probe runs.
  const factor = Float64Array.of(1e-6);
  const inputs = [...b];
  const accumulate = nativeKernelIndex(accumulateKernel);
  return {
    inPlace: (threads) => addon.update(accumulate, pairs, factor, threads),
    readOnly: (threads) => void addon.reduce(ReduceKind.SumAbs, inputs, 1, threads),
  };
}
