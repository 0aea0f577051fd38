/**
 * Seeded test data: tensors whose every element is a pure function of a seed,
 * so a failure reproduces exactly and two processes (or two backends) can be
 * handed the same numbers. Built on the project's xoshiro128** generator.
 */
import { createRng, mixSeed } from '../../lib/seeded_rng';
import { dtypeOf } from '../../lib/tensor';
import type { DType, Tensor } from '../../lib/tensor';

export { createRng, mixSeed };
export type { Rng } from '../../lib/seeded_rng';

/** A new zero-filled tensor of the given dtype (a plain typed array, not an aligned one). */
export function emptyTensor(dtype: DType, length: number): Tensor {
  return dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
}

/** Normal deviates times `scale`, a pure function of `seed` (rounded to float32 on store for float32). */
export function randomTensor(dtype: DType, length: number, seed: number, scale = 1): Tensor {
  const rng = createRng(seed);
  const t = emptyTensor(dtype, length);
  for (let i = 0; i < length; i++) t[i] = scale * rng.normal();
  return t;
}

/** One random tensor per length, each from its own seed derived from `seed`. */
export function randomTensors(dtype: DType, lengths: readonly number[], seed: number, scale = 1): Tensor[] {
  return lengths.map((n, i) => randomTensor(dtype, n, mixSeed(seed, i), scale));
}

/** One random tensor per tensor of `like`, of its dtype and length, each from its own seed derived from `seed`. */
export function randomTensorsLike(like: readonly Tensor[], seed: number, scale = 1): Tensor[] {
  return like.map((t, i) => randomTensor(dtypeOf(t), t.length, mixSeed(seed, i), scale));
}

/** Copies of the tensors (same dtypes and lengths, own buffers). */
export function cloneTensors(tensors: readonly Tensor[]): Tensor[] {
  return tensors.map((t) => t.slice());
}
