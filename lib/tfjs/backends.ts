/**
 * Where a TensorFlow.js tensor's values live, and the least copying way to
 * read and write them. TensorFlow.js keeps each tensor's data in the backend
 * that last used it (engine.state.tensorInfo); the paths:
 *
 *   'cpu'   the CPU backend keeps a float32 tensor's values in a plain
 *           Float32Array, which its public readSync() returns without a copy.
 *           Gradients are read there; a variable's values ARE the param buffer
 *           fusedoptim steps (adopted once, see param_slot.ts): no copy at all.
 *   'wasm'  the WASM backend keeps values in the module's memory;
 *           typedArrayFromHeap() views them without a copy. Gradients are read
 *           through views; the stepped param goes back as a new tensor (one
 *           copy into the module's memory) assigned to the variable. Not in
 *           place: the backend keeps state derived from a tensor's values under
 *           the tensor's id (XNNPACK's packed matmul weights), which an
 *           in-place write would leave stale; and the module may grow
 *           (detaching views) between steps.
 *   'copy'  any other backend (tfjs-node, WebGL, ...): dataSync() and assign().
 *
 * Only public backend methods are called (readSync, refCount,
 * typedArrayFromHeap), except for one value-preserving write described in
 * param_slot.ts. The engine's tensorInfo map is read to find the backend that
 * holds a tensor's data.
 */
import * as tf from '@tensorflow/tfjs-core';

/** How a variable's values reach the step and back: in place (cpu), through WASM memory, or by copies. */
export type WritePath = 'cpu' | 'wasm' | 'copy';

/** The parts of a backend the paths use; each is checked before use. */
export interface BackendLike {
  readSync(dataId: object): unknown;
  refCount(dataId: object): number;
  typedArrayFromHeap?(info: { shape: number[]; dtype: string; dataId: object }): Float32Array;
  /** The CPU backend's storage (read in param_slot.ts only). */
  data?: { get(dataId: object): { values: unknown } | undefined };
}

interface EngineInternals {
  state: { tensorInfo: WeakMap<object, { backend: BackendLike }> };
  findBackend(name: string): BackendLike | null;
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

/** The backend that holds `t`'s data now, and the path that fits it. */
export function holderOf(t: tf.Tensor): { backend: BackendLike; path: WritePath } {
  const e = engine();
  const info = e.state.tensorInfo.get(t.dataId);
  // Not found: an engine unlike the one this was written against; fall back to the public API.
  if (info === undefined) return { backend: tf.backend() as unknown as BackendLike, path: 'copy' };
  const backend = info.backend;
  if (backend === safeFind('cpu') && backend.data !== undefined) return { backend, path: 'cpu' };
  if (backend === safeFind('wasm') && typeof backend.typedArrayFromHeap === 'function') return { backend, path: 'wasm' };
  return { backend, path: 'copy' };
}

function safeFind(name: string): BackendLike | null {
  try {
    return engine().findBackend(name);
  } catch {
    return null;
  }
}

/**
 * `t`'s float32 values without a copy where the backend allows it (CPU:
 * its own array; WASM: a view of the module's memory, valid until the next
 * allocation in it), else a copy (dataSync). Null if the backend answered
 * something that is not `size` float32 values.
 */
export function valuesOf(t: tf.Tensor): Float32Array | null {
  const { backend, path } = holderOf(t);
  let values: unknown;
  if (path === 'cpu') values = backend.readSync(t.dataId);
  else if (path === 'wasm') values = backend.typedArrayFromHeap!({ shape: t.shape, dtype: t.dtype, dataId: t.dataId });
  else values = t.dataSync();
  return values instanceof Float32Array && values.length === t.size ? values : null;
}
