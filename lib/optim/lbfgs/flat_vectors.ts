/**
 * The vector arithmetic of LBFGS over flat vectors (all params' elements end to
 * end, in the params' element type). Each operation is one backend call where
 * a one-call kernel exists: y ← y + a·x is the `accumulate` kernel, x ← a·x the
 * `scale` kernel, max|x| and Σ|x| the reductions, so the native backend runs
 * them multi-threaded and the 'js' backend runs their reference twins. The dot
 * product has no kernel of its own (the reductions read one buffer), so it is
 * a plain loop here, in double, the same on both backends.
 */
import type { Backend } from '../../backend/backend';
import { scalarArray } from '../../kernels/kernel_def';
import { accumulateKernel, scaleKernel } from '../../kernels/elementwise';
import { ReduceKind } from '../../kernels/reduce_kind';
import { Tensor, dtypeOf, lengthOf } from '../../tensor';
import { getNumThreads } from '../../threads';

export class FlatVectors {
  /** Offsets of each param in the flat vector (params.length + 1 entries). */
  private readonly offsets: number[];
  readonly length: number;

  constructor(
    private readonly backend: Backend,
    private readonly params: readonly Tensor[],
  ) {
    this.offsets = [0];
    for (const p of params) this.offsets.push(this.offsets[this.offsets.length - 1] + lengthOf(p));
    this.length = this.offsets[params.length];
  }

  /** A new zero vector of the params' element type. */
  zeros(): Tensor {
    return dtypeOf(this.params[0]) === 'float32' ? new Float32Array(this.length) : new Float64Array(this.length);
  }

  /** A new vector holding `tensors` (one per param) end to end. */
  gather(tensors: readonly Tensor[]): Tensor {
    const out = this.zeros();
    tensors.forEach((t, i) => out.set(t, this.offsets[i]));
    return out;
  }

  copy(x: Tensor): Tensor {
    return x.slice();
  }

  /** y ← y + a·x */
  axpy(y: Tensor, a: number, x: Tensor): void {
    this.backend.update(accumulateKernel, [y, x], scalarArray(accumulateKernel, { scale: a }), getNumThreads());
  }

  /** x ← a·x */
  scale(x: Tensor, a: number): void {
    this.backend.update(scaleKernel, [x], scalarArray(scaleKernel, { scale: a }), getNumThreads());
  }

  /** θ ← θ + t·d for every param, in one call over all of them. */
  addToParams(t: number, d: Tensor): void {
    const buffers: Tensor[] = [];
    this.params.forEach((p, i) => buffers.push(p, d.subarray(this.offsets[i], this.offsets[i + 1])));
    this.backend.update(accumulateKernel, buffers, scalarArray(accumulateKernel, { scale: t }), getNumThreads());
  }

  /** Every param ← its saved copy. */
  setParams(saved: readonly Tensor[]): void {
    this.params.forEach((p, i) => p.set(saved[i]));
  }

  cloneParams(): Tensor[] {
    return this.params.map((p) => p.slice());
  }

  maxAbs(x: Tensor): number {
    return this.backend.reduce(ReduceKind.MaxAbs, [x], Infinity, getNumThreads());
  }

  sumAbs(x: Tensor): number {
    return this.backend.reduce(ReduceKind.SumAbs, [x], 1, getNumThreads());
  }

  /** Σ aᵢ·bᵢ in double, in index order. */
  dot(a: Tensor, b: Tensor): number {
    let sum = 0;
    for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
    return sum;
  }
}
