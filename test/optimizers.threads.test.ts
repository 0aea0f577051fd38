/**
 * Thread-count independence: the same training at 1 and at 2 threads gives
 * bit-identical params and state, for every kernel, both dtypes, with tensors
 * large enough that the kernels really split the work (checked with the
 * addon's threadProbe, which runs the kernels' own work splitting), and with
 * thread boundaries falling inside tensors.
 */
import { expect } from 'chai';
import { loadAddon } from '../lib/native';
import type { DType } from '../lib/tensor';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { AnyOptimizer, Variant, expectSameOptimizer, kernelVariants, makeOptimizer, paramsOf, variantLabel } from './helpers/optimizers';
import { cloneTensors, randomTensors } from './helpers/random';
import { SyntheticLoss } from './helpers/synthetic';

/** Odd lengths; the big ones put thread boundaries mid-tensor and make the batch large enough for a team of 2. */
const LENGTHS = [100003, 7, 50001, 1, 65537];
const STEPS = 12;

describe('optimizers: results do not depend on the thread count', () => {
  let saved = 1;
  before(() => {
    saved = getNumThreads();
  });
  after(() => setNumThreads(saved));

  it('the batches here really run on two threads (and on one when asked)', function () {
    const addon = loadAddon();
    if (!addon.info().openmp) this.skip(); // a build without OpenMP is single-threaded by definition
    const total = LENGTHS.reduce((a, b) => a + b, 0);
    expect(addon.threadProbe(total, 2).threadsUsed).to.equal(2);
    expect(addon.threadProbe(total, 1).threadsUsed).to.equal(1);
  });

  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const variant of kernelVariants()) {
      it(`${variantLabel(variant)} ${dtype}: 1 thread ≡ 2 threads ≡ the JavaScript reference`, () => {
        const loss = new SyntheticLoss(dtype, LENGTHS, 90);
        const initial = randomTensors(dtype, LENGTHS, 91);
        const runs: Array<[AnyOptimizer, number]> = [
          [makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options, 'native'), 1],
          [makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options, 'native'), 2],
          [makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options, 'js'), 1],
        ];
        for (let step = 1; step <= STEPS; step++) {
          const grads = loss.grads(paramsOf(runs[0][0]), step);
          for (const [opt, threads] of runs) {
            setNumThreads(threads);
            opt.step(grads);
          }
        }
        expectSameOptimizer(runs[1][0], runs[0][0], `${variantLabel(variant)} ${dtype}: 2 threads vs 1`);
        expectSameOptimizer(runs[2][0], runs[0][0], `${variantLabel(variant)} ${dtype}: js vs native`);
      });
    }
  }

  it('stepAsync at 2 threads equals step at 1 thread', async () => {
    const variant: Variant = { optimizer: 'Adam', options: { lr: 0.01, amsgrad: true, weightDecay: 0.01 } };
    const loss = new SyntheticLoss('float32', LENGTHS, 92);
    const initial = randomTensors('float32', LENGTHS, 93);
    const sync = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options);
    const async = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options);
    for (let step = 1; step <= 5; step++) {
      const grads = loss.grads(paramsOf(sync), step);
      setNumThreads(1);
      sync.step(grads);
      setNumThreads(2);
      await async.stepAsync(grads);
    }
    expectSameOptimizer(async, sync, 'stepAsync at 2 threads vs step at 1');
  });
});
