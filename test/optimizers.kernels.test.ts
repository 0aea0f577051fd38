/**
 * The native kernels against the JavaScript reference: every optimizer, every
 * option in every combination, float32 and float64, 20 steps over tensors of
 * odd lengths in one optimizer. By design the two agree bit for bit (the
 * reference rounds to float32 after every operation, the C++ is compiled
 * without FMA contraction), so any difference is a bug in one of them.
 *
 * Also: gradScale, param groups with their own hyper-parameters and dtypes,
 * and params skipped with a null gradient.
 */
import { expect } from 'chai';
import type { DType, Tensor } from '../lib/tensor';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { expectBitIdentical, firstBitDifference } from './helpers/bits';
import {
  schedulesPerGroup,
  AnyOptimizer,
  OPTIMIZER_NAMES,
  OptimizerName,
  Options,
  Variant,
  allVariants,
  expectSameOptimizer,
  kernelVariants,
  makeOptimizer,
  paramsOf,
  variantLabel,
} from './helpers/optimizers';
import { cloneTensors, emptyTensor, randomTensors } from './helpers/random';
import { SyntheticLoss } from './helpers/synthetic';

const DTYPES: readonly DType[] = ['float32', 'float64'];
/** Odd lengths: vector tails everywhere, and one tensor large enough for the multi-threaded path. */
const LENGTHS = [1, 7, 1000, 100003];
const STEPS = 20;

/** Runs native and js side by side from the same params for `steps` steps, comparing everything after every step. */
function runSideBySide(
  variant: Variant,
  dtype: DType,
  loss: SyntheticLoss,
  seed: number,
  stepOptions: (step: number) => Options | undefined = () => undefined,
): { native: AnyOptimizer; js: AnyOptimizer; initial: Tensor[] } {
  const initial = randomTensors(dtype, loss.lengths, seed);
  const native = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options, 'native');
  const js = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options, 'js');
  expect(native.backend).to.equal('native');
  expect(js.backend).to.equal('js');
  for (let step = 1; step <= STEPS; step++) {
    // The gradients come from the native run's params; both runs read the same buffers.
    const grads = loss.grads(paramsOf(native), step);
    native.step(grads, stepOptions(step));
    js.step(grads, stepOptions(step));
    expectSameOptimizer(native, js, `${variantLabel(variant)} ${dtype}, step ${step}`);
  }
  return { native, js, initial };
}

describe('optimizers: native kernels vs the JavaScript reference, bit for bit', function () {
  // One thread: the many combinations here are about the formulas, and a fork/join per
  // step is slow on a busy machine. The multi-threaded path is proved bit-identical to
  // this one in optimizers.threads.test.ts, and the gradScale runs below use the default.
  let savedThreads = 1;
  before(() => {
    savedThreads = getNumThreads();
    setNumThreads(1);
  });
  after(() => setNumThreads(savedThreads));

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      const loss = new SyntheticLoss(dtype, LENGTHS, 1);
      for (const variant of allVariants()) {
        it(variantLabel(variant), () => {
          const { native, initial } = runSideBySide(variant, dtype, loss, 2);
          // Guard against a vacuous pass: every param really moved.
          paramsOf(native).forEach((p, i) => {
            expect(firstBitDifference(p, initial[i]), `params[${i}] moved`).to.be.at.least(0);
          });
        });
      }
    });
  }
});

describe('optimizers: gradScale', () => {
  const SCALES = [0.5, 3, 1 / 3, 1e-3, 1, 7.25];
  for (const dtype of DTYPES) {
    const loss = new SyntheticLoss(dtype, LENGTHS, 3);
    for (const variant of kernelVariants()) {
      it(`native and js agree with a different gradScale at every step: ${variantLabel(variant)} ${dtype}`, () => {
        runSideBySide(variant, dtype, loss, 4, (step) => ({ gradScale: SCALES[step % SCALES.length] }));
      });

      it(`multiplies the gradient inside the step: ${variantLabel(variant)} ${dtype}`, () => {
        // A power-of-two scale is exact, so step(g, {gradScale: s}) must equal step(s·g) bit for bit.
        const s = 0.25;
        const initial = randomTensors(dtype, LENGTHS, 5);
        const fused = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options);
        const prescaled = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options);
        for (let step = 1; step <= 5; step++) {
          const grads = loss.grads(paramsOf(fused), step);
          const scaled = grads.map((g) => g.map((x) => x * s) as Tensor);
          fused.step(grads, { gradScale: s });
          prescaled.step(scaled);
        }
        expectSameOptimizer(fused, prescaled, `${variantLabel(variant)} ${dtype}`);
      });
    }
  }

  it('gradScale 0 with no weight decay leaves SGD params unchanged (the gradient really is scaled, not ignored)', () => {
    const p = new Float64Array([1, -2, 3]);
    const opt = makeOptimizer('SGD', [p], { lr: 0.1 });
    opt.step([new Float64Array([5, 5, 5])], { gradScale: 0 });
    expect(Array.from(p)).to.deep.equal([1, -2, 3]);
  });
});

describe('optimizers: param groups with their own hyper-parameters and dtypes', () => {
  /** Three groups: float32 with the base options, float64 with overrides, float32 with other overrides. */
  const GROUP_OVERRIDES: Record<OptimizerName, [Options, Options, Options]> = {
    SGD: [{ lr: 0.01, momentum: 0.9 }, { lr: 0.003, weightDecay: 0.1, dampening: 0.2 }, { nesterov: true, maximize: true }],
    Adagrad: [{ lr: 0.05 }, { lr: 0.01, lrDecay: 0.1, initialAccumulatorValue: 0.5 }, { weightDecay: 0.01, eps: 1e-3 }],
    RMSprop: [{ lr: 0.01 }, { lr: 0.002, centered: true, alpha: 0.99 }, { momentum: 0.9, weightDecay: 0.01 }],
    Adam: [{ lr: 0.01 }, { lr: 0.003, betas: [0.8, 0.95], amsgrad: true }, { weightDecay: 0.1, maximize: true }],
    AdamW: [{ lr: 0.01 }, { lr: 0.003, weightDecay: 0.5, eps: 1e-4 }, { amsgrad: true, weightDecay: 0 }],
    Lion: [{ lr: 0.01 }, { lr: 0.003, betas: [0.8, 0.95], weightDecay: 0.1 }, { weightDecay: 0.3, maximize: true }],
    LAMB: [{ lr: 0.01 }, { lr: 0.003, betas: [0.8, 0.95], weightDecay: 0.1 }, { eps: 1e-3, maximize: true }],
    Adamax: [{ lr: 0.01 }, { lr: 0.003, betas: [0.8, 0.95], eps: 1e-3 }, { weightDecay: 0.1, maximize: true }],
    RAdam: [{ lr: 0.01 }, { lr: 0.003, betas: [0.9, 0.8], weightDecay: 0.1, decoupledWeightDecay: true }, { weightDecay: 0.1, maximize: true }],
    NAdam: [{ lr: 0.01 }, { lr: 0.003, momentumDecay: 0.1, weightDecay: 0.1, decoupledWeightDecay: true }, { weightDecay: 0.1, maximize: true }],
    Adadelta: [{ lr: 1 }, { lr: 0.5, rho: 0.5, eps: 1e-3 }, { weightDecay: 0.1, maximize: true }],
    Rprop: [{ lr: 0.01 }, { lr: 0.003, etas: [0.3, 1.5], stepSizes: [1e-4, 0.1] }, { maximize: true }],
    ASGD: [{ lr: 0.01, t0: 2 }, { lr: 0.003, lambd: 0.1, alpha: 0.5, weightDecay: 0.1 }, { t0: 0, maximize: true }],
    // Group 0 has no shapes (vectors), 1 and 2 factor their matrices.
    Adafactor: [
      { lr: 0.05 },
      { lr: 0.01, beta2Decay: -0.5, eps: [1e-30, 1e-2], shapes: [null, [1, 100003]] },
      { weightDecay: 0.1, d: 1.5, maximize: true, shapes: [[3, 11], [5, 1]] },
    ],
    AdamWScheduleFree: [{ lr: 0.01 }, { lr: 0.003, betas: [0.8, 0.95], warmupSteps: 2, r: 1 }, { weightDecay: 0.1, eps: 1e-3, weightLrPower: 0 }],
    SGDScheduleFree: [{ lr: 0.1 }, { lr: 0.03, momentum: 0.5, warmupSteps: 2 }, { weightDecay: 0.1, r: 0.5 }],
  };
  const groupDtypes: DType[] = ['float32', 'float64', 'float32'];
  const groupLengths = [
    [7, 1000],
    [1, 100003],
    [33, 5],
  ];

  for (const name of OPTIMIZER_NAMES) {
    it(`${name}: each group steps as its own optimizer would, native and js bit-identical`, () => {
      const [base, override1, override2] = GROUP_OVERRIDES[name];
      const groupOptions = [{}, override1, override2];
      const initial = groupLengths.map((lengths, gi) => randomTensors(groupDtypes[gi], lengths, 10 + gi));
      const losses = groupLengths.map((lengths, gi) => new SyntheticLoss(groupDtypes[gi], lengths, 20 + gi));
      const groups = (backend: 'native' | 'js') =>
        makeOptimizer(
          name,
          initial.map((ps, gi) => ({ params: cloneTensors(ps), ...groupOptions[gi] })),
          base,
          backend,
        );
      const native = groups('native');
      const js = groups('js');
      // The reference: one single-group optimizer per group, with the group's options merged over the base.
      const alone = initial.map((ps, gi) => makeOptimizer(name, cloneTensors(ps), { ...base, ...groupOptions[gi] }));
      expect(native.paramGroups.map((g) => g.lr)).to.deep.equal(alone.map((o) => o.lr));

      for (let step = 1; step <= 8; step++) {
        const grads = losses.flatMap((l, gi) => l.grads(alone[gi].paramGroups[0].params, step));
        native.step(grads);
        js.step(grads);
        let offset = 0;
        alone.forEach((o, gi) => {
          const n = groupLengths[gi].length;
          o.step(grads.slice(offset, offset + n));
          offset += n;
        });
      }
      expectSameOptimizer(native, js, `${name} groups`);
      let index = 0;
      alone.forEach((o, gi) => {
        o.paramGroups[0].params.forEach((p, k) => {
          expectBitIdentical(native.paramGroups[gi].params[k], p, `${name} group ${gi} param ${k}`);
          expect(Object.keys(native.state[index]).sort()).to.deep.equal(Object.keys(o.state[k]).sort());
          for (const [key, value] of Object.entries(o.state[k])) {
            const mine = native.state[index][key];
            if (typeof value === 'number') expect(mine, `state[${index}].${key}`).to.equal(value);
            else expectBitIdentical(mine as Tensor, value as Tensor, `${name} state[${index}].${key}`);
          }
          index++;
        });
      });
    });
  }
});

describe('optimizers: null gradients skip a param', () => {
  const LEN = [5, 1000, 37];
  // A param of an optimizer that schedules per group follows its group: test/schedule-free.test.ts.
  for (const variant of kernelVariants().filter((v) => !schedulesPerGroup(v.optimizer))) {
    for (const backend of ['native', 'js'] as const) {
      it(`a param first stepped late uses its own step count: ${variantLabel(variant)} (${backend})`, () => {
        const dtype: DType = 'float64';
        const loss = new SyntheticLoss(dtype, LEN, 30);
        const initial = randomTensors(dtype, LEN, 31);
        const opt = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options, backend);
        const params = paramsOf(opt);
        // Reference runs: params 0 and 2 on their own for all 6 steps; param 1 on its own from step 4.
        const others = makeOptimizer(variant.optimizer, [initial[0].slice(), initial[2].slice()], variant.options, backend);
        const late = makeOptimizer(variant.optimizer, [initial[1].slice()], variant.options, backend);
        for (let step = 1; step <= 6; step++) {
          const grads = loss.grads(params, step);
          const withNull: (Tensor | null)[] = step <= 3 ? [grads[0], null, grads[2]] : grads;
          opt.step(withNull);
          others.step([grads[0], grads[2]]);
          if (step > 3) late.step([grads[1]]);
          if (step <= 3) {
            expect(opt.state[1], `state of the skipped param after step ${step}`).to.deep.equal({});
            expectBitIdentical(params[1], initial[1], `skipped param after step ${step}`);
          }
        }
        expect(opt.state[0].step).to.equal(6);
        expect(opt.state[1].step).to.equal(3);
        expect(opt.state[2].step).to.equal(6);
        expectBitIdentical(params[0], paramsOf(others)[0], 'param 0');
        expectBitIdentical(params[2], paramsOf(others)[1], 'param 2');
        expectBitIdentical(params[1], paramsOf(late)[0], 'param 1 (stepped from step 4 on)');
        for (const [key, value] of Object.entries(late.state[0])) {
          if (typeof value === 'number') expect(opt.state[1][key]).to.equal(value);
          else expectBitIdentical(opt.state[1][key] as Tensor, value as Tensor, `state[1].${key}`);
        }
      });
    }

    it(`a param skipped mid-run keeps its values, state and step count: ${variantLabel(variant)}`, () => {
      const dtype: DType = 'float32';
      const loss = new SyntheticLoss(dtype, LEN, 40);
      const initial = randomTensors(dtype, LEN, 41);
      const opt = makeOptimizer(variant.optimizer, cloneTensors(initial), variant.options);
      const params = paramsOf(opt);
      const solo = makeOptimizer(variant.optimizer, [initial[1].slice()], variant.options);
      for (let step = 1; step <= 6; step++) {
        const grads = loss.grads(params, step);
        if (step === 3 || step === 4) {
          const before = params[1].slice();
          const stateBefore = Object.fromEntries(
            Object.entries(opt.state[1]).map(([k, v]) => [k, typeof v === 'number' ? v : (v as Tensor).slice()]),
          );
          opt.step([grads[0], null, grads[2]]);
          expectBitIdentical(params[1], before, `skipped param at step ${step}`);
          for (const [k, v] of Object.entries(stateBefore)) {
            if (typeof v === 'number') expect(opt.state[1][k]).to.equal(v);
            else expectBitIdentical(opt.state[1][k] as Tensor, v, `state[1].${k} at step ${step}`);
          }
        } else {
          opt.step(grads);
          solo.step([grads[1]]);
        }
      }
      expect(opt.state[0].step).to.equal(6);
      expect(opt.state[1].step).to.equal(4);
      expectBitIdentical(params[1], paramsOf(solo)[0], 'param 1 against a run that never saw the skipped steps');
    });
  }

  it('an all-null step changes nothing at all', () => {
    const p = [new Float32Array([1, 2]), new Float32Array([3])];
    const opt = makeOptimizer('Adam', p, { lr: 0.1 });
    opt.step([new Float32Array([1, 1]), new Float32Array([1])]);
    const before = p.map((t) => t.slice());
    const steps = opt.state.map((s) => s.step);
    opt.step([null, null]);
    p.forEach((t, i) => expectBitIdentical(t, before[i], `params[${i}]`));
    expect(opt.state.map((s) => s.step)).to.deep.equal(steps);
  });
});

describe('optimizers: subclasses of Float32Array/Float64Array are tensors of that dtype', () => {
  class Weights32 extends Float32Array {}
  class Weights64 extends Float64Array {}
  for (const variant of kernelVariants()) {
    it(`${variantLabel(variant)}: native and js agree on subclass params with plain gradients`, () => {
      const make = (backend: 'native' | 'js') =>
        makeOptimizer(variant.optimizer, [{ params: [new Weights32([1, -2, 3])] }, { params: [new Weights64([0.5, 4])] }], variant.options, backend);
      const native = make('native');
      const js = make('js');
      for (let step = 1; step <= 3; step++) {
        const grads = [new Float32Array([0.5, step, -1]), new Float64Array([-step, 0.25])];
        native.step(grads);
        js.step(grads);
      }
      expectSameOptimizer(native, js, variantLabel(variant));
      expect(native.state[0].step).to.equal(3);
    });
  }
});

describe('optimizers: zeroGrad', () => {
  it('fills every gradient with zeros and skips nulls', () => {
    const p = [new Float32Array(3), new Float64Array(2)];
    const opt = makeOptimizer('SGD', [{ params: [p[0]] }, { params: [p[1]] }], { lr: 0.1 });
    const g = [new Float32Array([1, -2, 3]), null];
    const h = new Float64Array([4, 5]);
    opt.zeroGrad(g);
    opt.zeroGrad([null, h]);
    expect(Array.from(g[0]!)).to.deep.equal([0, 0, 0]);
    expect(Array.from(h)).to.deep.equal([0, 0]);
    // zeroGrad takes any list of gradients; a zero-length one is fine.
    opt.zeroGrad([emptyTensor('float32', 0)]);
  });
});
