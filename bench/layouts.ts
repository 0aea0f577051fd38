/**
 * How a size's parameters are cut into tensors. "one" is one flat tensor;
 * "1000" is a thousand tensors of size/1000 (a real model's layer list, and
 * the test of the multi-tensor path: one parallel region for all of them;
 * skipped below 16 elements per tensor);
 * "100x1K" is the small model: a hundred tensors of 1024, whatever the size.
 * Each tensor has its own ArrayBuffer, 64-byte aligned, as users allocate
 * them (`new Float32Array(n)` per layer): a step then checks one ArrayBuffer
 * per param and per gradient. `memory: 'shared'` makes a role's tensors
 * (params, grads, ...) views of one ArrayBuffer instead, as a model that keeps
 * its parameters flat holds them (and as the optimizers allocate their state).
 */
import { Tensor } from '../lib/tensor';
import { alignedFloat32, alignedFloat64, allocStateSlab } from '../lib/alloc';

export type Dtype = 'float32' | 'float64';
export type LayoutId = 'one' | '1000' | '100x1K';
/** Whether a layout's tensors each own their ArrayBuffer (what users have) or share one per role. */
export type Memory = 'own' | 'shared';
export const LAYOUT_IDS: readonly LayoutId[] = ['one', '1000', '100x1K'];

/** Tensor lengths for a layout at a nominal size, or null when the layout makes no sense there. */
export function tensorLengths(layout: LayoutId, size: number): number[] | null {
  switch (layout) {
    case 'one':
      return [size];
    case '1000': {
      const each = Math.floor(size / 1000);
      return each >= 16 ? new Array<number>(1000).fill(each) : null;
    }
    case '100x1K':
      return new Array<number>(100).fill(1024);
  }
}

/** A deterministic spread of values in [-1, 1) (a multiplicative hash of the index): no state, no RNG dependency. */
function fill(t: Tensor, salt: number): Tensor {
  for (let i = 0; i < t.length; i++) t[i] = (((Math.imul(i + salt, 0x9e3779b1) >>> 8) & 0xffff) / 0x8000 - 1) * 0.5;
  return t;
}

/** 64-byte aligned tensors of the given lengths, each in its own ArrayBuffer or views of one (`memory`), filled with small values (never subnormal, never zero everywhere). */
export function makeTensors(dtype: Dtype, lengths: readonly number[], salt: number, memory: Memory = 'own'): Tensor[] {
  const tensors =
    memory === 'shared'
      ? (allocStateSlab(lengths.map((length) => ({ dtype, length }))) as Tensor[])
      : lengths.map((length) => (dtype === 'float32' ? alignedFloat32(length) : alignedFloat64(length)));
  return tensors.map((t, k) => fill(t, salt + k * 7919));
}
