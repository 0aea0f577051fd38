/**
 * A tiny model for the training-loop tests: linear least squares in float64,
 *
 *   loss = mean_r 0.5 · (x_r · w + b − y_r)²,   dw = mean_r e_r x_r,   db = mean_r e_r,
 *
 * whose every number is known exactly, and deterministic data made from a seed alone.
 */
import { createRng } from '../../lib/seeded_rng';
import type { TrainModel } from '../../lib/train/loop';

export interface RegressionBatch {
  x: Float64Array;
  y: Float64Array;
  size: number;
}

export const FEATURES = 3;

export class LinearModel implements TrainModel<RegressionBatch> {
  readonly params: Float64Array[];
  readonly paramShapes = [[FEATURES], [1]];
  readonly paramNames = ['weight', 'bias'];
  readonly grads = [new Float64Array(FEATURES), new Float64Array(1)];
  /** Batches whose gradients come out NaN (by position in the order forwardBackward sees them). */
  poisonCalls = new Set<number>();
  calls = 0;
  trainCalls = 0;
  evalCalls = 0;

  constructor(seed = 1) {
    const rng = createRng(seed);
    this.params = [Float64Array.from({ length: FEATURES }, () => rng.normal() * 0.1), new Float64Array(1)];
  }

  forwardBackward(batch: RegressionBatch): { loss: number; grads: Float64Array[] } {
    const [dw, db] = this.grads;
    dw.fill(0);
    db.fill(0);
    let loss = 0;
    for (let r = 0; r < batch.size; r++) {
      const e = this.residual(batch, r);
      loss += 0.5 * e * e;
      for (let j = 0; j < FEATURES; j++) dw[j] += e * batch.x[r * FEATURES + j];
      db[0] += e;
    }
    for (let j = 0; j < FEATURES; j++) dw[j] /= batch.size;
    db[0] /= batch.size;
    if (this.poisonCalls.has(this.calls++)) {
      dw[0] = NaN;
      return { loss: NaN, grads: this.grads };
    }
    return { loss: loss / batch.size, grads: this.grads };
  }

  forward(batch: RegressionBatch): number {
    let loss = 0;
    for (let r = 0; r < batch.size; r++) {
      const e = this.residual(batch, r);
      loss += 0.5 * e * e;
    }
    return loss / batch.size;
  }

  /** e_r = x_r · w + b − y_r, summed from b − y_r so forward and forwardBackward round alike. */
  private residual(batch: RegressionBatch, r: number): number {
    const [w, b] = this.params;
    let e = b[0] - batch.y[r];
    for (let j = 0; j < FEATURES; j++) e += batch.x[r * FEATURES + j] * w[j];
    return e;
  }

  train(): void {
    this.trainCalls++;
  }

  eval(): void {
    this.evalCalls++;
  }
}

/** `count` examples of y = x · [1, -2, 0.5] + 0.3 + noise, from `seed`. */
export function regressionData(count: number, seed: number): RegressionBatch {
  const rng = createRng(seed);
  const x = new Float64Array(count * FEATURES);
  const y = new Float64Array(count);
  const truth = [1, -2, 0.5];
  for (let r = 0; r < count; r++) {
    let t = 0.3 + 0.05 * rng.normal();
    for (let j = 0; j < FEATURES; j++) {
      x[r * FEATURES + j] = rng.normal();
      t += truth[j] * x[r * FEATURES + j];
    }
    y[r] = t;
  }
  return { x, y, size: count };
}

/** Rows [start, start + size) of `data`. */
export function rows(data: RegressionBatch, start: number, size: number): RegressionBatch {
  return {
    x: data.x.slice(start * FEATURES, (start + size) * FEATURES),
    y: data.y.slice(start, start + size),
    size,
  };
}

/** `data` cut into consecutive batches of `size` rows (the last may be smaller). */
export function batchesOf(data: RegressionBatch, size: number): RegressionBatch[] {
  const out: RegressionBatch[] = [];
  for (let start = 0; start < data.size; start += size) out.push(rows(data, start, Math.min(size, data.size - start)));
  return out;
}

/** The batches of epoch `epoch`: `data` rotated by a seeded offset, so every epoch's order differs. */
export function epochData(data: RegressionBatch, size: number) {
  return (epoch: number): RegressionBatch[] => {
    const all = batchesOf(data, size);
    const shift = createRng(1000 + epoch).nextInt(all.length);
    return [...all.slice(shift), ...all.slice(0, shift)];
  };
}
