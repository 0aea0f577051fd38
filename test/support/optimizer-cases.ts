/**
 * Deterministic optimizer problems shared by the service-embedding tests
 * (async.test.ts, workers.test.ts and the worker they start): every optimizer
 * and variant, params and gradient streams that are pure functions of a seed,
 * and a byte-exact comparison. A worker_thread and the main thread that build
 * the same case get the same bytes, so their results can be compared bit for bit.
 */
import { expect } from 'chai';
import { createRng, mixSeed } from '../../examples/digits/rng';
import { Adagrad, Adam, AdamW, Optimizer, RMSprop, SGD } from '../../lib';
import type { DType, Tensor } from '../../lib';

type AnyOptimizer = Optimizer<{ lr: number }>;

export interface OptimizerCase {
  readonly name: string;
  make(params: Tensor[]): AnyOptimizer;
}

/** Every kernel the optimizers can select, with hyper-parameters that exercise every term. */
export const OPTIMIZER_CASES: readonly OptimizerCase[] = [
  { name: 'SGD', make: (p) => new SGD(p, { lr: 0.05, weightDecay: 0.01 }) },
  { name: 'SGD momentum', make: (p) => new SGD(p, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }) },
  { name: 'SGD nesterov', make: (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, maximize: true }) },
  { name: 'Adagrad', make: (p) => new Adagrad(p, { lr: 0.1, lrDecay: 0.01, weightDecay: 0.01, initialAccumulatorValue: 0.1 }) },
  { name: 'RMSprop', make: (p) => new RMSprop(p, { lr: 0.01, weightDecay: 0.01 }) },
  { name: 'RMSprop centered', make: (p) => new RMSprop(p, { lr: 0.01, centered: true }) },
  { name: 'RMSprop momentum', make: (p) => new RMSprop(p, { lr: 0.01, momentum: 0.9 }) },
  { name: 'RMSprop centered momentum', make: (p) => new RMSprop(p, { lr: 0.01, centered: true, momentum: 0.9, maximize: true }) },
  { name: 'Adam', make: (p) => new Adam(p, { lr: 0.01, weightDecay: 0.01 }) },
  { name: 'Adam amsgrad', make: (p) => new Adam(p, { lr: 0.01, amsgrad: true }) },
  { name: 'AdamW', make: (p) => new AdamW(p, { lr: 0.01, weightDecay: 0.1 }) },
];

export function findCase(name: string): OptimizerCase {
  const found = OPTIMIZER_CASES.find((c) => c.name === name);
  if (!found) throw new Error(`no optimizer case called ${name}`);
  return found;
}

/**
 * Param lengths: odd sizes (vector tails), one below and one above the size at
 * which the kernels open a parallel region, so both the single-thread and the
 * multi-thread paths run.
 */
export const PARAM_LENGTHS: readonly number[] = [1, 37, 1000, 70_001];

function filled(dtype: DType, length: number, seed: number, scale: number): Tensor {
  const rng = createRng(seed);
  const t = dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
  for (let i = 0; i < length; i++) t[i] = scale * rng.normal();
  return t;
}

/** Params of the given lengths, a pure function of the seed. */
export function makeParams(dtype: DType, seed: number, lengths: readonly number[] = PARAM_LENGTHS): Tensor[] {
  return lengths.map((n, i) => filled(dtype, n, mixSeed(seed, 1, i), 1));
}

/** The gradients of step `step`, like `params`, a pure function of (seed, step). */
export function makeGrads(params: readonly Tensor[], seed: number, step: number): Tensor[] {
  return params.map((p, i) => filled(p instanceof Float32Array ? 'float32' : 'float64', p.length, mixSeed(seed, 2, step, i), 0.5));
}

/** Every buffer an optimizer owns or updates, in a fixed order: the params, then each param's state buffers by name. */
export function snapshot(opt: AnyOptimizer): Tensor[] {
  const out: Tensor[] = opt.paramGroups.flatMap((g) => g.params.map((p) => p.slice() as Tensor));
  for (const entry of opt.state) {
    for (const key of Object.keys(entry).sort()) {
      const value = entry[key];
      if (typeof value !== 'number' && value !== undefined) out.push(value.slice() as Tensor);
    }
  }
  return out;
}

/** The bytes of a tensor: equal bytes means bit-identical, including NaN payloads and signed zeros. */
export function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

/** Asserts two lists of tensors are bit-identical, naming the first element that differs. */
export function expectBitIdentical(actual: readonly Tensor[], expected: readonly Tensor[], what: string): void {
  expect(actual.length, `${what}: tensor count`).to.equal(expected.length);
  actual.forEach((a, t) => {
    const e = expected[t];
    expect(a.constructor, `${what}: tensor ${t} dtype`).to.equal(e.constructor);
    expect(a.length, `${what}: tensor ${t} length`).to.equal(e.length);
    if (Buffer.compare(bytesOf(a), bytesOf(e)) === 0) return;
    const i = a.findIndex((x, k) => !Object.is(x, e[k]));
    expect.fail(`${what}: tensor ${t} differs first at element ${i}: ${a[i]} vs ${e[i]}`);
  });
}
