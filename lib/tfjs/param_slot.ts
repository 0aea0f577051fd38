/**
 * One TensorFlow.js variable as fusedoptim sees it: the Float32Array param
 * that the optimizer steps, kept equal to the variable's values, and the
 * least copying way to get the stepped values back into the variable
 * (backends.ts describes the paths).
 *
 * A step goes prepare() → the optimizer's step → writeBack(). prepare()
 * changes no value any tensor shows: when the step throws, every variable is
 * as it was. On the CPU backend the variable's values ARE `param` once
 * adopted, so the step itself writes the variable and writeBack() has nothing
 * to do; TensorFlow.js treats tensor values as immutable, so prepare() first
 * makes sure no other tensor (a clone, a reshape kept by the user) shares
 * them, and if one does gives it a copy of the same values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { alignedFloat32 } from '../alloc';
import { BackendLike, WritePath, holderOf, valuesOf } from './backends';

export class ParamSlot {
  /** What fusedoptim steps: the variable's values, in a buffer this slot owns. */
  readonly param: Float32Array;
  private variable: tf.Variable;
  /** The data the variable had when `param` last equalled it (our last write), or null. */
  private synced: object | null = null;
  /** The CPU backend's entry whose values array is `param` (the adopted one), or null. */
  private adopted: { dataId: object; backend: BackendLike } | null = null;
  /** How this step's result reaches the variable (decided in prepare). */
  private pending: 'none' | 'adopt' | 'write' | 'assign' = 'assign';

  constructor(variable: tf.Variable) {
    this.variable = variable;
    this.param = alignedFloat32(variable.size);
  }

  get name(): string {
    return this.variable.name;
  }

  get shape(): number[] {
    return this.variable.shape;
  }

  /** True when the variable this slot writes has been disposed. */
  get disposed(): boolean {
    return this.variable.isDisposed;
  }

  /** The live variable this slot writes; a same-named variable registered later (a rebuilt model) replaces it. */
  bind(variable: tf.Variable): void {
    if (variable !== this.variable) {
      this.variable = variable;
      this.synced = null;
    }
  }

  /** The path this variable's values take now (for the measurements in docs/performance.md, and the tests). */
  get path(): WritePath {
    return holderOf(this.variable).path;
  }

  /** Makes `param` equal the variable and free to be written; changes no value any tensor shows. */
  prepare(): void {
    const v = this.variable;
    this.release();
    const inSync = this.synced === v.dataId;
    if (!inSync) this.param.set(valuesOf(v)!);
    const { backend, path } = holderOf(v);
    if (path === 'cpu') {
      const inPlace = inSync && this.adopted !== null && this.adopted.dataId === v.dataId;
      this.pending = inPlace ? 'none' : tf.backend() === (backend as unknown) ? 'adopt' : 'assign';
    } else if (path === 'wasm' && tf.backend() === (backend as unknown)) {
      this.pending = 'write';
    } else {
      this.pending = 'assign';
    }
  }

  /** Puts the stepped `param` into the variable, by the way prepare() chose. */
  writeBack(): void {
    const v = this.variable;
    switch (this.pending) {
      case 'none':
        break;
      case 'write':
        // The WASM backend copies what it is given into its memory at once. Not into the
        // variable's own memory in place: the backend keeps state derived from a tensor's
        // values under its id (XNNPACK's packed weights), which would go stale.
        this.assign(this.param);
        break;
      case 'adopt': {
        // The CPU backend stores the Float32Array it is given: from now on the variable's values are `param`.
        this.assign(this.param);
        const { backend, path } = holderOf(v);
        const entry = path === 'cpu' ? backend.data!.get(v.dataId) : undefined;
        this.adopted = entry !== undefined && entry.values === this.param ? { dataId: v.dataId, backend } : null;
        break;
      }
      case 'assign':
        // A backend may keep the array it is given (WebGL does until upload): give it a copy.
        this.assign(this.param.slice());
        break;
    }
    this.synced = v.dataId;
  }

  private assign(values: Float32Array): void {
    const t = tf.tensor(values, this.variable.shape, 'float32');
    try {
      this.variable.assign(t);
    } finally {
      t.dispose();
    }
  }

  /**
   * If the adopted CPU data is seen by any tensor but the variable alone, those
   * tensors get a copy of the same values, so stepping `param` changes only the
   * variable. (The one write into a backend's storage: the entry's values
   * array is swapped for an equal one.)
   */
  private release(): void {
    const a = this.adopted;
    if (a === null) return;
    const count = a.backend.refCount(a.dataId);
    if (count === 1 && a.dataId === this.variable.dataId) return;
    const entry = count > 0 ? a.backend.data!.get(a.dataId) : undefined;
    if (entry !== undefined && entry.values === this.param) entry.values = this.param.slice();
    this.adopted = null;
    if (this.synced === a.dataId && a.dataId !== this.variable.dataId) this.synced = null;
  }
}
