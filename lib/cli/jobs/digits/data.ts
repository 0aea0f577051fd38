/**
 * The handwritten-digits data set (UCI "Optical Recognition of Handwritten Digits", test part,
 * as shipped with scikit-learn; attribution in data/digits/README.md): 1797 images of 8x8
 * pixels with values 0..16, each labelled with its digit.
 *
 * Everything random here is a pure function of a seed: the train/validation split of (seed),
 * and the batch order of epoch e of (seed, e) alone, so a run resumed from a checkpoint at
 * epoch e sees exactly the batches an uninterrupted run would have seen.
 */
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { ErrorCodes, makeError } from '../../../errors';
import { checkBoolean, checkNumber, checkOptions, describe } from '../../../validate';
import { createRng, mixSeed, shuffleInPlace } from '../../../seeded_rng';
import { findPackageFile } from '../package_files';

export const DIGITS_FEATURES = 64;
export const DIGITS_CLASSES = 10;
/** Pixels are counts of set pixels in 4x4 blocks, 0..16. */
const MAX_PIXEL = 16;

/** Labelled examples: a whole data set, a split of one, or a batch. */
export interface Examples {
  /** size × 64 features, row-major, in [0, 1]. */
  x: Float32Array;
  /** size labels in 0..9. */
  y: Uint8Array;
  size: number;
}

/** Tags that give the split and the shuffles their own random streams from one user seed. */
const SPLIT_STREAM = 1;
const SHUFFLE_STREAM = 2;

const DATA_FILE = path.join('data', 'digits', 'digits.csv.gz');

/**
 * Where the data file is: `data/digits/digits.csv.gz` in the nearest ancestor directory of this
 * module that has one, so it is found from lib/cli/jobs/digits/ (ts-node) and from dist/ alike.
 */
export function findDigitsFile(from: string = __dirname): string {
  return findPackageFile(DATA_FILE, from);
}

/** Loads and checks the data set; pixels are scaled to [0, 1]. */
export function loadDigits(file: string = findDigitsFile()): Examples {
  return parseDigitsCsv(gunzipSync(fs.readFileSync(file)).toString('utf8'), file);
}

/** Parses rows of 64 pixel counts (0..16) and a label (0..9), comma-separated, no header. */
export function parseDigitsCsv(text: string, source = 'digits.csv'): Examples {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // the final newline ends the last row, it does not start one
  const size = lines.length;
  const x = new Float32Array(size * DIGITS_FEATURES);
  const y = new Uint8Array(size);
  lines.forEach((line, row) => {
    const where = `${source}:${row + 1}`;
    const fields = line.split(',');
    if (fields.length !== DIGITS_FEATURES + 1) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${where}: expected ${DIGITS_FEATURES + 1} fields, got ${fields.length}`);
    }
    for (let j = 0; j <= DIGITS_FEATURES; j++) {
      const field = fields[j].trim();
      const value = Number(field);
      const max = j < DIGITS_FEATURES ? MAX_PIXEL : DIGITS_CLASSES - 1;
      if (!/^\d+$/.test(field) || value > max) {
        const what = j < DIGITS_FEATURES ? `pixel ${j}` : 'label';
        throw makeError(ErrorCodes.OUT_OF_RANGE, `${where}: ${what} must be an integer in [0, ${max}], got ${describe(fields[j])}`);
      }
      if (j < DIGITS_FEATURES) x[row * DIGITS_FEATURES + j] = value / MAX_PIXEL;
      else y[row] = value;
    }
  });
  return { x, y, size };
}

/** The examples at `indices`, in that order, copied. */
export function subset(data: Examples, indices: ArrayLike<number>): Examples {
  const size = indices.length;
  const x = new Float32Array(size * DIGITS_FEATURES);
  const y = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const k = indices[i];
    x.set(data.x.subarray(k * DIGITS_FEATURES, (k + 1) * DIGITS_FEATURES), i * DIGITS_FEATURES);
    y[i] = data.y[k];
  }
  return { x, y, size };
}

export interface SplitOptions {
  /** Fraction of the examples held out for validation, in (0, 1); default 0.2. */
  validationFraction?: number;
  seed: number;
}

/**
 * A stratified random split: ceil(size × validationFraction) examples are held out for
 * validation (the count scikit-learn's train_test_split holds out: 360 of 1797 at 0.2, leaving
 * 1437 to train on), shared among the classes in proportion to their sizes, so both parts keep
 * the class balance. Each class is shuffled on its own; each part keeps the data set's order.
 */
export function splitTrainValidation(data: Examples, options: SplitOptions): { train: Examples; validation: Examples } {
  const opts = checkOptions('options', options, ['validationFraction', 'seed']);
  const fraction =
    opts.validationFraction === undefined
      ? 0.2
      : checkNumber('options.validationFraction', opts.validationFraction, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const rng = createRng(mixSeed(checkNumber('options.seed', opts.seed, { integer: true }), SPLIT_STREAM));

  const byClass: number[][] = Array.from({ length: DIGITS_CLASSES }, () => []);
  for (let i = 0; i < data.size; i++) byClass[data.y[i]].push(i);
  const quotas = heldOutPerClass(
    byClass.map((members) => members.length),
    Math.ceil(data.size * fraction),
  );
  const train: number[] = [];
  const validation: number[] = [];
  byClass.forEach((members, c) => {
    shuffleInPlace(members, rng);
    validation.push(...members.slice(0, quotas[c]));
    train.push(...members.slice(quotas[c]));
  });
  const ascending = (a: number, b: number): number => a - b;
  return { train: subset(data, train.sort(ascending)), validation: subset(data, validation.sort(ascending)) };
}

/**
 * Shares `total` among classes in proportion to their counts by the largest-remainder method:
 * each class gets the floor of its exact share, and the classes with the largest remainders
 * (the lower class first on a tie) one more, until the total is reached.
 */
function heldOutPerClass(counts: number[], total: number): number[] {
  const size = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((n) => (size === 0 ? 0 : (n * total) / size));
  const quotas = exact.map(Math.floor);
  let missing = total - quotas.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, c) => ({ c, remainder: e - Math.floor(e) })).sort((a, b) => b.remainder - a.remainder || a.c - b.c);
  for (const { c } of byRemainder) {
    if (missing === 0) break;
    if (quotas[c] < counts[c]) {
      quotas[c]++;
      missing--;
    }
  }
  return quotas;
}

/** The order in which epoch `epoch` visits the examples: a permutation of 0..size-1 that depends only on (seed, epoch). */
export function epochPermutation(size: number, seed: number, epoch: number): Uint32Array {
  checkNumber('size', size, { integer: true, min: 0 });
  const order = new Uint32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  shuffleInPlace(order, createRng(mixSeed(seed, SHUFFLE_STREAM, checkNumber('epoch', epoch, { integer: true, min: 0 }))));
  return order;
}

export interface BatchOptions {
  batchSize: number;
  seed: number;
  epoch: number;
  /** Drop the last batch when it is smaller than batchSize; default false. */
  dropLast?: boolean;
  /** Start at this batch of the epoch (to resume mid-epoch); default 0. */
  firstBatch?: number;
}

/** How many batches an epoch has. */
export function batchesPerEpoch(size: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
}

/**
 * The batches of one epoch, in the shuffled order of (seed, epoch). Each batch is a fresh copy.
 * The options are checked now, not when the first batch is asked for.
 */
export function epochBatches(data: Examples, options: BatchOptions): IterableIterator<Examples> {
  const opts = checkOptions('options', options, ['batchSize', 'seed', 'epoch', 'dropLast', 'firstBatch']);
  const batchSize = checkNumber('options.batchSize', opts.batchSize, { integer: true, min: 1 });
  const seed = checkNumber('options.seed', opts.seed, { integer: true });
  const epoch = checkNumber('options.epoch', opts.epoch, { integer: true, min: 0 });
  const dropLast = opts.dropLast === undefined ? false : checkBoolean('options.dropLast', opts.dropLast);
  const firstBatch = opts.firstBatch === undefined ? 0 : checkNumber('options.firstBatch', opts.firstBatch, { integer: true, min: 0 });

  const order = epochPermutation(data.size, seed, epoch);
  const count = batchesPerEpoch(data.size, batchSize, dropLast);
  return (function* batches() {
    for (let b = firstBatch; b < count; b++) {
      yield subset(data, order.subarray(b * batchSize, Math.min((b + 1) * batchSize, data.size)));
    }
  })();
}
