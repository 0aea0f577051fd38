/**
 * A deterministic stand-in for a model's loss: the gradient of
 * ½·Σ cⱼ(pⱼ − tⱼ)² plus seeded noise, at the params' current values. It feeds
 * back (the next gradient depends on where the optimizer moved the params), so
 * a single differing bit anywhere grows instead of washing out, and it spans
 * magnitudes from 1e-2 to 1e2 with some exact zeros, so eps, the square root of
 * tiny accumulators and sign changes are all exercised.
 *
 * Targets and noise depend only on (seed, dtype, lengths, step), never on the
 * params, so one instance can serve many optimizers run side by side; the noise
 * of each step is drawn once and kept.
 */
import type { DType, Tensor } from '../../lib/tensor';
import { createRng, emptyTensor, mixSeed, randomTensor } from './random';

const SCALES = [0.01, 0.1, 1, 10, 100];

export class SyntheticLoss {
  private readonly targets: Tensor[];
  private readonly noise = new Map<number, Float64Array[]>();

  constructor(
    readonly dtype: DType,
    readonly lengths: readonly number[],
    private readonly seed: number,
  ) {
    this.targets = lengths.map((n, i) => randomTensor(dtype, n, mixSeed(seed, 0x7a, i)));
  }

  /** New gradient tensors for step `step` (1-based) at the current values of `params`. */
  grads(params: readonly Tensor[], step: number): Tensor[] {
    return params.map((p, i) => {
      const g = emptyTensor(this.dtype, p.length);
      this.fill(g, p, i, step);
      return g;
    });
  }

  /** The gradient of param `i` at `p` for step `step`, written into `out`. */
  fill(out: Tensor, p: Tensor, i: number, step: number): void {
    if (p.length !== this.lengths[i] || out.length !== p.length) {
      throw new Error(`SyntheticLoss: param ${i} has length ${p.length}, expected ${this.lengths[i]}`);
    }
    const noise = this.noiseAt(step)[i];
    const t = this.targets[i];
    for (let j = 0; j < p.length; j++) {
      out[j] = j % 11 === 3 ? 0 : SCALES[j % SCALES.length] * (0.5 * (p[j] - t[j]) + 0.3 * noise[j]);
    }
  }

  private noiseAt(step: number): Float64Array[] {
    let n = this.noise.get(step);
    if (!n) {
      n = this.lengths.map((length, i) => {
        const rng = createRng(mixSeed(this.seed, step, i));
        const out = new Float64Array(length);
        for (let j = 0; j < length; j++) out[j] = 2 * rng.nextFloat() - 1;
        return out;
      });
      this.noise.set(step, n);
    }
    return n;
  }
}
