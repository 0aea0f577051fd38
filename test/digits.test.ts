import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { ErrorCodes } from '../lib/errors';
import { Tensor } from '../lib/tensor';
import {
  DIGITS_CLASSES,
  DIGITS_FEATURES,
  Examples,
  batchesPerEpoch,
  epochBatches,
  epochPermutation,
  findDigitsFile,
  loadDigits,
  parseDigitsCsv,
  splitTrainValidation,
  subset,
} from '../lib/cli/jobs/digits/data';
import { LabelledBatch, Mlp, createMlp } from '../lib/cli/jobs/digits/mlp';
import { createRng, mixSeed, shuffleInPlace } from '../lib/seeded_rng';

/** A row's pixels as the integers 0..16 of the file. */
function pixels(data: Examples, row: number): number[] {
  return Array.from(data.x.subarray(row * DIGITS_FEATURES, (row + 1) * DIGITS_FEATURES), (v) => v * 16);
}

/** A fingerprint of an example, to find it again after a split or shuffle. */
function key(data: Examples, row: number): string {
  return `${pixels(data, row).join(',')}|${data.y[row]}`;
}

/** Plain gradient descent, written out here so the test does not depend on lib/optim. */
function sgdStep(model: Mlp, grads: Tensor[], lr: number): void {
  model.params.forEach((p, i) => {
    for (let j = 0; j < p.length; j++) p[j] -= lr * grads[i][j];
  });
}

describe('digits example', () => {
  const all = loadDigits();

  describe('data', () => {
    it('loads 1797 rows of 64 pixels in [0, 1] with labels 0..9, about 180 of each', () => {
      expect(all.size).to.equal(1797);
      expect(all.x.length).to.equal(1797 * DIGITS_FEATURES);
      expect(all.y.length).to.equal(1797);
      expect(Math.min(...all.x)).to.equal(0);
      expect(Math.max(...all.x)).to.equal(1);
      expect(all.x.every((v) => Number.isInteger(v * 16))).to.equal(true);
      const counts = new Array(DIGITS_CLASSES).fill(0);
      all.y.forEach((label) => counts[label]++);
      expect(counts.every((n) => n >= 170 && n <= 190), String(counts)).to.equal(true);
      // The first row of the file: a zero.
      expect(pixels(all, 0).slice(0, 8)).to.deep.equal([0, 0, 5, 13, 9, 1, 0, 0]);
      expect(all.y[0]).to.equal(0);
    });

    it('finds the repository copy of the data from any directory below the repository', () => {
      const repo = path.resolve(__dirname, '..');
      const expected = path.join(repo, 'data', 'digits', 'digits.csv.gz');
      expect(findDigitsFile()).to.equal(expected);
      expect(findDigitsFile(path.join(repo, 'dist', 'examples', 'digits'))).to.equal(expected);
      expect(fs.existsSync(path.join(repo, 'data', 'digits', 'README.md')), 'the attribution travels with the data').to.equal(true);
    });

    it('rejects malformed rows, naming the line', () => {
      const row = (label: string): string => `${new Array(64).fill('3').join(',')},${label}`;
      expect(parseDigitsCsv(`${row('7')}\n${row('2')}\n`).size).to.equal(2);
      const fails = (text: string, code: string, message: RegExp): void => {
        expect(() => parseDigitsCsv(text, 'f.csv')).to.throw(message).with.property('code', code);
      };
      fails(`${row('7')}\n${row('10')}`, ErrorCodes.OUT_OF_RANGE, /f\.csv:2: label must be an integer in \[0, 9\], got "10"/);
      fails(row('1.5'), ErrorCodes.OUT_OF_RANGE, /label/);
      fails(`17${row('1').slice(1)}`, ErrorCodes.OUT_OF_RANGE, /f\.csv:1: pixel 0 .* got "17"/);
      fails(`-1${row('1').slice(1)}`, ErrorCodes.OUT_OF_RANGE, /pixel 0/);
      fails(`${row('7')},1`, ErrorCodes.SHAPE_MISMATCH, /expected 65 fields, got 66/);
      fails(`${row('7')}\n\n${row('7')}`, ErrorCodes.SHAPE_MISMATCH, /f\.csv:2: expected 65 fields, got 1/);
    });

    it('splits 1437 / 360, disjoint, covering everything, stratified, and the same for the same seed', () => {
      const { train, validation } = splitTrainValidation(all, { seed: 7 });
      expect([train.size, validation.size]).to.deep.equal([1437, 360]);
      const trainKeys = Array.from({ length: train.size }, (_, i) => key(train, i));
      const validationKeys = Array.from({ length: validation.size }, (_, i) => key(validation, i));
      const allKeys = Array.from({ length: all.size }, (_, i) => key(all, i));
      // The data set has duplicate images, so compare multisets: together the parts are exactly the whole.
      expect([...trainKeys, ...validationKeys].sort()).to.deep.equal(allKeys.sort());

      // Stratified: each class is held out in proportion to its size (its share of 360, rounded up or down).
      const perClass = new Array(DIGITS_CLASSES).fill(0);
      const classSizes = new Array(DIGITS_CLASSES).fill(0);
      validation.y.forEach((label) => perClass[label]++);
      all.y.forEach((label) => classSizes[label]++);
      perClass.forEach((n, c) => expect(Math.abs(n - (classSizes[c] * 360) / all.size), `class ${c}`).to.be.below(1));

      const again = splitTrainValidation(all, { seed: 7 });
      expect(Buffer.from(again.validation.x.buffer).equals(Buffer.from(validation.x.buffer))).to.equal(true);
      const other = splitTrainValidation(all, { seed: 8 });
      expect(Buffer.from(other.validation.x.buffer).equals(Buffer.from(validation.x.buffer))).to.equal(false);
    });

    it('splits disjointly by position too (no example in both parts)', () => {
      // Tag each example with its index in a spare feature-free copy to check positions, not contents.
      const tagged: Examples = { x: new Float32Array(all.size * DIGITS_FEATURES), y: all.y, size: all.size };
      for (let i = 0; i < all.size; i++) tagged.x[i * DIGITS_FEATURES] = i;
      const { train, validation } = splitTrainValidation(tagged, { seed: 3, validationFraction: 0.25 });
      const ids = (d: Examples): number[] => Array.from({ length: d.size }, (_, i) => d.x[i * DIGITS_FEATURES]);
      const trainIds = new Set(ids(train));
      expect(ids(validation).filter((i) => trainIds.has(i))).to.deep.equal([]);
      expect(trainIds.size + validation.size).to.equal(all.size);
      expect(validation.size).to.equal(Math.ceil(all.size * 0.25));
    });

    it('orders each epoch\'s batches as a function of (seed, epoch) only', () => {
      const { train } = splitTrainValidation(all, { seed: 1 });
      const labelsOf = (seed: number, epoch: number): string =>
        [...epochBatches(train, { batchSize: 32, seed, epoch })].map((b) => Array.from(b.y).join('')).join('|');
      expect(labelsOf(1, 3)).to.equal(labelsOf(1, 3));
      expect(labelsOf(1, 3)).to.not.equal(labelsOf(1, 4));
      expect(labelsOf(1, 3)).to.not.equal(labelsOf(2, 3));
      // Epoch 3's order does not depend on whether epochs 0..2 were iterated first (a resumed run).
      const permutation = epochPermutation(train.size, 1, 3);
      const fresh = epochPermutation(train.size, 1, 3);
      expect(Array.from(fresh)).to.deep.equal(Array.from(permutation));
      expect(Array.from(permutation).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: train.size }, (_, i) => i));
    });

    it('yields every example once per epoch, in batches of the requested size', () => {
      const { train } = splitTrainValidation(all, { seed: 1 });
      const batches = [...epochBatches(train, { batchSize: 100, seed: 5, epoch: 0 })];
      expect(batches).to.have.length(batchesPerEpoch(train.size, 100));
      expect(batches.map((b) => b.size)).to.deep.equal([...new Array(14).fill(100), 37]);
      for (const b of batches) expect([b.x.length, b.y.length]).to.deep.equal([b.size * DIGITS_FEATURES, b.size]);
      const seen = batches.flatMap((b) => Array.from({ length: b.size }, (_, i) => key(b, i))).sort();
      expect(seen).to.deep.equal(Array.from({ length: train.size }, (_, i) => key(train, i)).sort());

      expect([...epochBatches(train, { batchSize: 100, seed: 5, epoch: 0, dropLast: true })]).to.have.length(14);
      const resumed = [...epochBatches(train, { batchSize: 100, seed: 5, epoch: 0, firstBatch: 12 })];
      expect(resumed.map((b) => Array.from(b.y).join(''))).to.deep.equal(batches.slice(12).map((b) => Array.from(b.y).join('')));
    });

    it('checks batch options when called, not at the first batch', () => {
      expect(() => epochBatches(all, { batchSize: 0, seed: 1, epoch: 0 })).to.throw(RangeError);
      expect(() => epochBatches(all, { batchSize: 8, seed: 1, epoch: -1 })).to.throw(RangeError);
      expect(() => epochBatches(all, { batchSize: 8, seed: 1, epoch: 0, shuffle: true } as never)).to.throw(/unknown option "shuffle"/);
    });
  });

  describe('random numbers', () => {
    it('repeat for a seed and differ between seeds', () => {
      const draw = (seed: number): number[] => {
        const rng = createRng(seed);
        return Array.from({ length: 5 }, () => rng.nextUint32());
      };
      expect(draw(1)).to.deep.equal(draw(1));
      expect(draw(1)).to.not.deep.equal(draw(2));
      expect(draw(0)).to.not.deep.equal(draw(2 ** 32)); // the high word of the seed counts
      expect(mixSeed(1, 2)).to.not.equal(mixSeed(2, 1));
      expect(mixSeed(1, 2)).to.equal(mixSeed(1, 2));
    });

    it('are uniform in [0, 1), unbiased integers, and normal deviates with mean 0 and variance 1', () => {
      const rng = createRng(123);
      const n = 100000;
      let sum = 0;
      let sumSq = 0;
      let min = 1;
      let max = 0;
      for (let i = 0; i < n; i++) {
        const u = rng.nextFloat();
        min = Math.min(min, u);
        max = Math.max(max, u);
        const z = rng.normal();
        sum += z;
        sumSq += z * z;
      }
      expect(min).to.be.at.least(0);
      expect(max).to.be.below(1);
      expect(Math.abs(sum / n)).to.be.below(0.02);
      expect(Math.abs(sumSq / n - 1)).to.be.below(0.02);
      const counts = new Array(10).fill(0);
      for (let i = 0; i < n; i++) counts[rng.nextInt(10)]++;
      expect(counts.every((c) => Math.abs(c - n / 10) < 500), String(counts)).to.equal(true);
    });

    it('shuffles into a permutation', () => {
      const items = Array.from({ length: 50 }, (_, i) => i);
      shuffleInPlace(items, createRng(9));
      expect(items).to.not.deep.equal(Array.from({ length: 50 }, (_, i) => i));
      expect([...items].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    });
  });

  describe('MLP', () => {
    it('has aligned params and grads, PyTorch-style names and shapes, He-initialised weights and zero biases', () => {
      const model = createMlp({ sizes: [64, 128, 64, 10], seed: 1 });
      expect(model.paramNames).to.deep.equal([
        'layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias', 'layers.2.weight', 'layers.2.bias',
      ]);
      expect(model.paramShapes).to.deep.equal([[128, 64], [128], [64, 128], [64], [10, 64], [10]]);
      model.params.forEach((p, i) => {
        expect(p).to.be.instanceOf(Float32Array);
        expect(p.length).to.equal(model.paramShapes[i].reduce((a, b) => a * b, 1));
        expect(model.grads[i].length).to.equal(p.length);
        expect(model.grads[i]).to.not.equal(p);
      });
      const w = model.params[0];
      const variance = Array.from(w).reduce((s, v) => s + v * v, 0) / w.length;
      expect(variance).to.be.closeTo(2 / 64, 0.004);
      expect(model.params[1].every((b) => b === 0)).to.equal(true);
      expect(Array.from(createMlp({ sizes: [64, 128, 64, 10], seed: 1 }).params[2])).to.deep.equal(Array.from(model.params[2]));
      expect(createMlp({ sizes: [4, 2], seed: 1, dtype: 'float64' }).params[0]).to.be.instanceOf(Float64Array);
    });

    it('returns the same grads buffers from every forwardBackward', () => {
      const model = createMlp({ sizes: [64, 16, 10], seed: 2 });
      const first = model.forwardBackward(subset(all, [0, 1, 2])).grads;
      const second = model.forwardBackward(subset(all, [3, 4, 5, 6, 7])).grads;
      expect(second).to.equal(model.grads);
      first.forEach((g, i) => expect(second[i]).to.equal(g));
    });

    it('computes a loss of about ln(10) at initialisation and matches forward()', () => {
      const model = createMlp({ sizes: [64, 32, 10], seed: 3, dtype: 'float64' });
      const batch = subset(all, Array.from({ length: 300 }, (_, i) => i));
      const { loss } = model.forwardBackward(batch);
      expect(loss).to.be.within(1.5, 4);
      expect(model.forward(batch)).to.be.closeTo(loss, 1e-12); // forward() runs in chunks of 256 rows
    });

    it('has gradients that agree with central finite differences for every parameter (float64, relative error < 1e-6)', () => {
      const model = createMlp({ sizes: [64, 24, 16, 10], seed: 4, dtype: 'float64' });
      // Move the biases off zero so that they, too, are checked away from their initial value.
      const rng = createRng(99);
      model.params.forEach((p, i) => {
        if (i % 2 === 1) for (let j = 0; j < p.length; j++) p[j] = 0.1 * rng.normal();
      });
      const batch = subset(all, [0, 11, 222, 333, 444, 555, 666, 777]);
      const analytic = model.forwardBackward(batch).grads.map((g) => Float64Array.from(g));
      const eps = 1e-6;
      let worst = 0;
      model.params.forEach((p, i) => {
        for (let j = 0; j < p.length; j++) {
          const original = p[j];
          p[j] = original + eps;
          const plus = model.forward(batch);
          p[j] = original - eps;
          const minus = model.forward(batch);
          p[j] = original;
          const numeric = (plus - minus) / (2 * eps);
          const a = analytic[i][j];
          // Gradients that are (nearly) zero, e.g. of a unit the ReLU turned off for the whole
          // batch, are compared absolutely: their finite differences are rounding noise.
          const error = Math.abs(a - numeric) / Math.max(Math.abs(a) + Math.abs(numeric), 1e-7);
          expect(error, `${model.paramNames[i]}[${j}]: analytic ${a}, numeric ${numeric}`).to.be.below(1e-6);
          worst = Math.max(worst, error);
        }
      });
      expect(worst).to.be.above(0); // the loop ran and compared real numbers
    });

    it('learns: plain gradient descent lowers the loss, and one epoch reaches 80% validation accuracy', () => {
      const { train, validation } = splitTrainValidation(all, { seed: 1 });
      const model = createMlp({ sizes: [64, 128, 64, 10], seed: 1 });
      const batch = subset(train, Array.from({ length: 64 }, (_, i) => i));
      const losses: number[] = [];
      for (let step = 0; step < 10; step++) {
        const { loss, grads } = model.forwardBackward(batch);
        losses.push(loss);
        sgdStep(model, grads, 0.1);
      }
      for (let i = 1; i < losses.length; i++) expect(losses[i], losses.join(', ')).to.be.below(losses[i - 1]);

      // Tests check behaviour, never time: how long an epoch takes is the benchmark's business.
      for (const b of epochBatches(train, { batchSize: 32, seed: 1, epoch: 0 })) sgdStep(model, model.forwardBackward(b).grads, 0.1);
      expect(model.accuracy(validation)).to.be.above(0.8);
    });

    it('predicts the most likely class and scores accuracy', () => {
      const model = createMlp({ sizes: [64, 10], seed: 5 });
      const data = subset(all, [0, 1, 2, 3]);
      const predicted = model.predict(data.x, data.size);
      expect(predicted).to.be.instanceOf(Uint8Array);
      const correct = Array.from(predicted).filter((p, i) => p === data.y[i]).length;
      expect(model.accuracy(data)).to.equal(correct / 4);
    });

    it('rejects batches that do not fit the model', () => {
      const model = createMlp({ sizes: [64, 10], seed: 5 });
      const batch = subset(all, [0, 1]);
      const fails = (b: LabelledBatch, code: string): void => {
        expect(() => model.forwardBackward(b)).to.throw().with.property('code', code);
      };
      fails({ ...batch, size: 3 }, ErrorCodes.SHAPE_MISMATCH);
      fails({ ...batch, x: batch.x.subarray(1) }, ErrorCodes.SHAPE_MISMATCH);
      fails({ ...batch, y: new Uint8Array([1, 10]) }, ErrorCodes.OUT_OF_RANGE);
      fails({ ...batch, x: Array.from(batch.x) as never }, ErrorCodes.INVALID_ARG_TYPE);
      fails({ x: new Float32Array(0), y: new Uint8Array(0), size: 0 }, ErrorCodes.OUT_OF_RANGE);
      expect(() => model.accuracy({ x: new Float32Array(0), y: new Uint8Array(0), size: 0 })).to.throw(RangeError);
      expect(model.predict(new Float32Array(0), 0)).to.have.length(0);
      expect(() => createMlp({ sizes: [64], seed: 1 })).to.throw(/at least an input and an output/);
      expect(() => createMlp({ sizes: [64, 10], seed: 1, dtype: 'float16' as never })).to.throw(/expected one of "float32", "float64"/);
    });
  });
});
