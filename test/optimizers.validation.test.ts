/**
 * Every bad input to the optimizer API: the error's class (TypeError or
 * RangeError), its stable code, a message naming the argument (and the index
 * where there is one), and that nothing changed — params, state, step counts,
 * param groups and the tensors passed in are compared bit for bit with a
 * snapshot taken before the call.
 */
import { expect } from 'chai';
import { ErrorCodes } from '../lib/errors';
import type { Tensor } from '../lib/tensor';
import { detach, viewsOfOneBuffer } from './helpers/buffers';
import { ExpectedError, expectError, expectFailure } from './helpers/errors';
import { AnyOptimizer, OPTIMIZER_NAMES, OptimizerName, Options, hasOption, makeOptimizer, paramsOf } from './helpers/optimizers';
import { randomTensors } from './helpers/random';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';
import { SyntheticLoss } from './helpers/synthetic';

const {
  INVALID_ARG_TYPE,
  INVALID_ARG_VALUE,
  OUT_OF_RANGE,
  NON_FINITE,
  SHAPE_MISMATCH,
  DTYPE_MISMATCH,
  DETACHED_BUFFER,
} = ErrorCodes;

const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });

/** Options that switch on every state buffer, so "nothing changed" covers all of them. */
const FULL_OPTIONS: Record<OptimizerName, Options> = {
  SGD: { lr: 0.1, momentum: 0.9, weightDecay: 0.01 },
  Adagrad: { lr: 0.1, lrDecay: 0.01 },
  RMSprop: { lr: 0.01, centered: true, momentum: 0.9 },
  Adam: { lr: 0.01, amsgrad: true },
  AdamW: { lr: 0.01, amsgrad: true },
  Lion: { lr: 0.01, weightDecay: 0.1 },
  LAMB: { lr: 0.01, weightDecay: 0.1 },
  Adamax: { lr: 0.01, weightDecay: 0.01 },
  RAdam: { lr: 0.01, weightDecay: 0.01 },
  NAdam: { lr: 0.01, weightDecay: 0.01 },
  Adadelta: { lr: 1, weightDecay: 0.01 },
  Rprop: { lr: 0.01 },
  ASGD: { lr: 0.01, t0: 1, weightDecay: 0.01 },
  Adafactor: { lr: 0.05, weightDecay: 0.01 },
  AdamWScheduleFree: { lr: 0.01, weightDecay: 0.01 },
  SGDScheduleFree: { lr: 0.1, weightDecay: 0.01 },
};

const LENGTHS = [3, 5, 1];

interface Trained {
  opt: AnyOptimizer;
  params: Tensor[];
  /** Good gradients for the next step (fresh tensors). */
  grads(): Tensor[];
}

/** An optimizer over three float32 params in two groups, two steps in, so it has state to protect. */
function trained(name: OptimizerName): Trained {
  const params = randomTensors('float32', LENGTHS, 7);
  const opt = makeOptimizer(name, [{ params: params.slice(0, 2) }, { params: params.slice(2), lr: 0.001 }], FULL_OPTIONS[name]);
  const loss = new SyntheticLoss('float32', LENGTHS, 8);
  let step = 0;
  const grads = () => loss.grads(params, ++step);
  opt.step(grads());
  opt.step(grads());
  return { opt, params, grads };
}

/** Asserts `call` throws `expected` and leaves the optimizer and the tensors in `extra` unchanged. */
function expectRejected(opt: AnyOptimizer, call: () => unknown, expected: ExpectedError, extra: ReadonlyArray<Tensor | null> = []): void {
  const snap = snapshotOptimizer(opt, extra);
  expectError(call, expected);
  expectUnchanged(opt, snap);
}

describe('optimizers: bad input to step() is rejected and changes nothing', () => {
  for (const name of OPTIMIZER_NAMES) {
    describe(name, () => {
      it('grads is not an Array', () => {
        const { opt, grads } = trained(name);
        const g = grads();
        expectRejected(opt, () => opt.step(g[0] as never), type(INVALID_ARG_TYPE, 'step: grads', 'expected an Array'));
        expectRejected(opt, () => opt.step(undefined as never), type(INVALID_ARG_TYPE, 'step: grads'));
      });

      it('too few or too many gradients', () => {
        const { opt, grads } = trained(name);
        const g = grads();
        expectRejected(opt, () => opt.step(g.slice(0, 2)), range(SHAPE_MISMATCH, 'step: grads', 'expected 3 gradients', 'got 2'), g);
        expectRejected(opt, () => opt.step([...g, g[0]]), range(SHAPE_MISMATCH, 'step: grads', 'expected 3', 'got 4'), g);
        expectRejected(opt, () => opt.step([]), range(SHAPE_MISMATCH, 'got 0'));
      });

      it('a gradient of another dtype than its param', () => {
        const { opt, grads } = trained(name);
        const g: Array<Tensor | null> = grads();
        g[1] = new Float64Array(5);
        expectRejected(opt, () => opt.step(g), type(DTYPE_MISMATCH, 'grads[1]', 'Float32Array', 'params[1]'), g);
      });

      it('a gradient of another length than its param', () => {
        const { opt, grads } = trained(name);
        const g: Array<Tensor | null> = grads();
        g[2] = new Float32Array(2);
        expectRejected(opt, () => opt.step(g), range(SHAPE_MISMATCH, 'grads[2]', 'length 1', 'params[2]', 'length 2'), g);
        g[2] = new Float32Array(0);
        expectRejected(opt, () => opt.step(g), range(SHAPE_MISMATCH, 'grads[2]', 'length 1'), g);
      });

      it('a gradient that is not a Float32Array/Float64Array', () => {
        const { opt, grads } = trained(name);
        for (const bad of [[0, 0, 0, 0, 0], new Int32Array(5), new Uint8Array(20), new DataView(new ArrayBuffer(20)), 5, 'grad', {}, undefined]) {
          const g: unknown[] = grads();
          g[1] = bad;
          expectRejected(opt, () => opt.step(g as Tensor[]), type(INVALID_ARG_TYPE, 'grads[1]', 'Float32Array or Float64Array'));
        }
      });

      it('a detached gradient (its buffer transferred away)', () => {
        const { opt, grads } = trained(name);
        const g = grads();
        detach(g[1]);
        expectRejected(opt, () => opt.step(g), type(DETACHED_BUFFER, 'grads[1]', 'detached'), [g[0], g[2]]);
      });

      it('a detached param', () => {
        const { opt, params, grads } = trained(name);
        const g = grads();
        detach(params[1]);
        expectRejected(opt, () => opt.step(g), type(DETACHED_BUFFER, 'params[1]', 'detached'), g);
      });

      it('a detached state buffer', () => {
        const { opt, grads } = trained(name);
        const g = grads();
        const key = Object.keys(opt.state[2]).find((k) => typeof opt.state[2][k] !== 'number')!;
        detach(opt.state[2][key] as Tensor);
        expectRejected(opt, () => opt.step(g), type(DETACHED_BUFFER, `state[2].${key}`, 'detached'), g);
      });

      it("a gradient that is its own param's buffer", () => {
        const { opt, params, grads } = trained(name);
        const g = grads();
        g[0] = params[0];
        expectRejected(opt, () => opt.step(g), range(INVALID_ARG_VALUE, 'grads[0]', 'params[0]', 'shares memory'));
      });

      it("a gradient that is one of the optimizer's own state buffers (its param's or another's)", () => {
        const { opt, grads } = trained(name);
        const key = Object.keys(opt.state[1]).find((k) => typeof opt.state[1][k] !== 'number')!;
        const g: Tensor[] = grads();
        g[1] = opt.state[1][key] as Tensor;
        expectRejected(opt, () => opt.step(g), range(INVALID_ARG_VALUE, 'grads[1]', `state[1].${key}`));
        // Another param's state: two params of one length, the gradient of the first is the second's state.
        const twins = makeOptimizer(name, [new Float64Array([1, 2]), new Float64Array([3, 4])], FULL_OPTIONS[name]);
        twins.step([new Float64Array([1, 1]), new Float64Array([1, 1])]);
        // Through a state dict too: the loaded buffers are the ones checked.
        twins.loadStateDict(twins.stateDict());
        const other = twins.state[1][key] as Tensor;
        expectRejected(twins, () => twins.step([other, new Float64Array(2)]), range(INVALID_ARG_VALUE, 'grads[0]', `state[1].${key}`));
        expectRejected(twins, () => twins.step([other.subarray(1), new Float64Array(2)]), range(SHAPE_MISMATCH, 'grads[0]'));
      });

      it('a gradient that overlaps another param', () => {
        // Params 0 and 1 are views of one buffer; grad 0 is a view over the start of param 1.
        const [p0, p1, g0] = viewsOfOneBuffer('float32', [
          [0, 3],
          [4, 5],
          [5, 3],
        ]);
        const opt = makeOptimizer(name, [p0, p1], FULL_OPTIONS[name]);
        expectRejected(opt, () => opt.step([g0, new Float32Array(5)]), range(INVALID_ARG_VALUE, 'grads[0]', 'params[1]'));
      });

      it('a hyper-parameter made invalid between steps (paramGroups[i] written directly)', () => {
        const { opt, grads } = trained(name);
        const edits: Array<[number, Options, ExpectedError]> = [
          [0, { lr: NaN }, range(NON_FINITE, 'paramGroups[0].lr', 'NaN')],
          [1, { lr: -0.5 }, range(OUT_OF_RANGE, 'paramGroups[1].lr', '-0.5')],
          [1, { lr: Infinity }, range(NON_FINITE, 'paramGroups[1].lr')],
          [0, { lr: '0.1' }, type(INVALID_ARG_TYPE, 'paramGroups[0].lr')],
        ];
        if (hasOption(name, 'maximize')) edits.push([0, { maximize: 'yes' }, type(INVALID_ARG_TYPE, 'paramGroups[0].maximize', 'boolean')]);
        if (name === 'Lion') edits.push([1, { betas: [1, 0.99] }, range(OUT_OF_RANGE, 'paramGroups[1].betas[0]')]);
        if (name === 'Adam' || name === 'AdamW') {
          edits.push([0, { betas: [0.9, 1] }, range(OUT_OF_RANGE, 'paramGroups[0].betas[1]')]);
          edits.push([1, { eps: -1e-8 }, range(OUT_OF_RANGE, 'paramGroups[1].eps')]);
        }
        if (name === 'SGD') {
          edits.push([0, { momentum: -0.9 }, range(OUT_OF_RANGE, 'paramGroups[0].momentum')]);
          edits.push([0, { nesterov: true, dampening: 0.5 }, range(INVALID_ARG_VALUE, 'paramGroups[0].nesterov', 'dampening')]);
          edits.push([1, { nesterov: true, momentum: 0 }, range(INVALID_ARG_VALUE, 'paramGroups[1].nesterov', 'momentum')]);
        }
        if (name === 'RMSprop') edits.push([1, { alpha: 1.5 }, range(OUT_OF_RANGE, 'paramGroups[1].alpha')]);
        if (name === 'Adagrad') edits.push([0, { lrDecay: -1 }, range(OUT_OF_RANGE, 'paramGroups[0].lrDecay')]);
        if (name === 'Adamax' || name === 'RAdam' || name === 'NAdam') edits.push([1, { betas: [0.9, 1] }, range(OUT_OF_RANGE, 'paramGroups[1].betas[1]')]);
        if (name === 'NAdam') edits.push([0, { momentumDecay: NaN }, range(NON_FINITE, 'paramGroups[0].momentumDecay')]);
        if (name === 'Adadelta') edits.push([1, { rho: 2 }, range(OUT_OF_RANGE, 'paramGroups[1].rho')]);
        if (name === 'ASGD') edits.push([1, { alpha: NaN }, range(NON_FINITE, 'paramGroups[1].alpha')]);
        if (name === 'Rprop') {
          edits.push([0, { etas: [0.5, 0.9] }, range(OUT_OF_RANGE, 'paramGroups[0].etas[1]')]);
          edits.push([1, { stepSizes: [2, 1] }, range(INVALID_ARG_VALUE, 'paramGroups[1].stepSizes')]);
        }
        for (const [gi, patch, expected] of edits) {
          const group = opt.paramGroups[gi] as Record<string, unknown>;
          const good = Object.fromEntries(Object.keys(patch).map((k) => [k, group[k]]));
          Object.assign(group, patch);
          const g = grads();
          expectRejected(opt, () => opt.step(g), expected, g);
          Object.assign(group, good);
        }
        // Repaired, the optimizer steps again.
        opt.step(grads());
        expect(opt.state[0].step).to.equal(3);
      });

      it('an in-place edit of betas is seen too', () => {
        if (name !== 'Adam' && name !== 'AdamW' && name !== 'Lion') return;
        const { opt, grads } = trained(name);
        const betas = opt.paramGroups[0].betas as unknown as number[];
        betas[0] = 1;
        const g = grads();
        expectRejected(opt, () => opt.step(g), range(OUT_OF_RANGE, 'paramGroups[0].betas[0]'), g);
        betas[0] = 0.9;
        opt.step(grads());
      });

      it('bad step options', () => {
        const { opt, grads } = trained(name);
        const cases: Array<[unknown, ExpectedError]> = [
          [{ gradScale: NaN }, range(NON_FINITE, 'options.gradScale', 'NaN')],
          [{ gradScale: Infinity }, range(NON_FINITE, 'options.gradScale')],
          [{ gradScale: '2' }, type(INVALID_ARG_TYPE, 'options.gradScale')],
          [{ maxGradNorm: -1 }, range(OUT_OF_RANGE, 'options.maxGradNorm', '-1')],
          // NaN where Infinity is allowed is out of range (the library's convention, as clipGradNorm's maxNorm).
          [{ maxGradNorm: NaN }, range(NON_FINITE, 'options.maxGradNorm', 'NaN')],
          [{ maxGradNorm: 1, normType: 0 }, range(OUT_OF_RANGE, 'options.normType', '0')],
          [{ normType: -2 }, range(OUT_OF_RANGE, 'options.normType')],
          [{ normType: NaN }, range(NON_FINITE, 'options.normType')],
          [{ errorIfNonfinite: 1 }, type(INVALID_ARG_TYPE, 'options.errorIfNonfinite', 'boolean')],
          [{ gradscale: 2 }, range(INVALID_ARG_VALUE, 'options', '"gradscale"')],
          [5, type(INVALID_ARG_TYPE, 'step: options')],
          [[], type(INVALID_ARG_TYPE, 'step: options')],
        ];
        for (const [options, expected] of cases) {
          const g = grads();
          expectRejected(opt, () => opt.step(g, options as never), expected, g);
        }
      });

      it('stepAsync rejects the same inputs and changes nothing', async () => {
        const { opt, grads } = trained(name);
        const g = grads();
        const snap = snapshotOptimizer(opt, g);
        await expectFailure(() => opt.stepAsync(g.slice(1)), range(SHAPE_MISMATCH, 'grads'));
        await expectFailure(() => opt.stepAsync(g, { gradScale: NaN }), range(NON_FINITE, 'gradScale'));
        expectUnchanged(opt, snap);
        expect(opt.busy).to.equal(false);
        await opt.stepAsync(g);
      });

      it('the lr setter with a bad value', () => {
        const { opt } = trained(name);
        expectRejected(opt, () => (opt.lr = -1), range(OUT_OF_RANGE, 'lr', '-1'));
        expectRejected(opt, () => (opt.lr = NaN), range(NON_FINITE, 'lr', 'NaN'));
        expectRejected(opt, () => (opt.lr = '1e-3' as never), type(INVALID_ARG_TYPE, 'lr'));
        opt.lr = 0.5;
        expect(opt.paramGroups.map((g) => g.lr)).to.deep.equal([0.5, 0.5]);
      });

      it('zeroGrad checks every gradient before zeroing any', () => {
        const { opt, grads } = trained(name);
        const g = grads();
        const before = g[0].slice();
        expectError(() => opt.zeroGrad([g[0], 'x' as never, g[2]]), type(INVALID_ARG_TYPE, 'zeroGrad: grads[1]'));
        expect(Array.from(g[0])).to.deep.equal(Array.from(before));
        expectError(() => opt.zeroGrad(g[0] as never), type(INVALID_ARG_TYPE, 'zeroGrad: grads'));
      });
    });
  }
});

describe('optimizers: bad constructor arguments', () => {
  const p = () => new Float32Array(4);

  /** Every constructor rejection: the input tensors are left as they were. */
  function expectConstructorError(name: OptimizerName, params: unknown, options: unknown, expected: ExpectedError): void {
    const tensors = (Array.isArray(params) ? params : []).flatMap((x: unknown) =>
      x instanceof Float32Array || x instanceof Float64Array ? [x] : [],
    );
    const before = tensors.map((t) => (t.length === 0 ? [] : Array.from(t)));
    expectError(() => makeOptimizer(name, params as never, options as Options), expected, `new ${name}`);
    tensors.forEach((t, i) => expect(t.length === 0 ? [] : Array.from(t)).to.deep.equal(before[i]));
  }

  const HYPER: Array<[OptimizerName, Options, ExpectedError]> = [];
  for (const name of OPTIMIZER_NAMES) {
    HYPER.push(
      [name, { lr: -1 }, range(OUT_OF_RANGE, `${name}: options.lr`, '-1')],
      [name, { lr: NaN }, range(NON_FINITE, 'options.lr', 'NaN')],
      [name, { lr: Infinity }, range(NON_FINITE, 'options.lr')],
      [name, { lr: '0.1' }, type(INVALID_ARG_TYPE, 'options.lr')],
      hasOption(name, 'maximize')
        ? [name, { maximize: 'no' }, type(INVALID_ARG_TYPE, 'options.maximize')]
        : [name, { maximize: true }, range(INVALID_ARG_VALUE, 'options', '"maximize"')],
      [name, { learningRate: 0.1 }, range(INVALID_ARG_VALUE, 'options', '"learningRate"')],
    );
    // Rprop has no weight decay (as PyTorch's): the key is unknown there.
    if (name === 'Rprop') HYPER.push([name, { weightDecay: 0.1 }, range(INVALID_ARG_VALUE, 'options', '"weightDecay"')]);
    else HYPER.push([name, { weightDecay: -0.1 }, range(OUT_OF_RANGE, 'options.weightDecay')]);
  }
  for (const name of ['Adamax', 'RAdam', 'NAdam'] as const) {
    HYPER.push(
      [name, { betas: [1, 0.999] }, range(OUT_OF_RANGE, 'options.betas[0]', '1')],
      [name, { betas: [0.9, 1] }, range(OUT_OF_RANGE, 'options.betas[1]')],
      [name, { betas: [0.9, NaN] }, range(NON_FINITE, 'options.betas[1]')],
      [name, { betas: [0.9] }, range(INVALID_ARG_VALUE, 'options.betas')],
      [name, { eps: -1e-8 }, range(OUT_OF_RANGE, 'options.eps')],
    );
  }
  HYPER.push(
    ['RAdam', { decoupledWeightDecay: 1 }, type(INVALID_ARG_TYPE, 'options.decoupledWeightDecay')],
    ['NAdam', { decoupledWeightDecay: 'yes' }, type(INVALID_ARG_TYPE, 'options.decoupledWeightDecay')],
    ['NAdam', { momentumDecay: -4e-3 }, range(OUT_OF_RANGE, 'options.momentumDecay', '-0.004')],
    ['NAdam', { momentumDecay: Infinity }, range(NON_FINITE, 'options.momentumDecay')],
    ['Adamax', { decoupledWeightDecay: true }, range(INVALID_ARG_VALUE, 'options', '"decoupledWeightDecay"')],
    ['Adadelta', { rho: 1.5 }, range(OUT_OF_RANGE, 'options.rho', '1.5')],
    ['Adadelta', { rho: -0.1 }, range(OUT_OF_RANGE, 'options.rho')],
    ['Adadelta', { eps: -1e-6 }, range(OUT_OF_RANGE, 'options.eps')],
    ['Adadelta', { betas: [0.9, 0.99] }, range(INVALID_ARG_VALUE, 'options', '"betas"')],
    ['Rprop', { etas: [1, 1.2] }, range(OUT_OF_RANGE, 'options.etas[0]', '1')],
    ['Rprop', { etas: [0, 1.2] }, range(OUT_OF_RANGE, 'options.etas[0]', '0')],
    ['Rprop', { etas: [0.5, 1] }, range(OUT_OF_RANGE, 'options.etas[1]', '1')],
    ['Rprop', { etas: [0.5] }, range(INVALID_ARG_VALUE, 'options.etas', 'etaMinus, etaPlus')],
    ['Rprop', { etas: 0.5 }, type(INVALID_ARG_TYPE, 'options.etas')],
    ['Rprop', { stepSizes: [-1e-6, 50] }, range(OUT_OF_RANGE, 'options.stepSizes[0]')],
    ['Rprop', { stepSizes: [1e-6, NaN] }, range(NON_FINITE, 'options.stepSizes[1]')],
    ['Rprop', { stepSizes: [1, 0.5] }, range(INVALID_ARG_VALUE, 'options.stepSizes', 'stepSizeMin <= stepSizeMax')],
    ['Rprop', { stepSizes: [1e-6, 50, 3] }, range(INVALID_ARG_VALUE, 'options.stepSizes', 'stepSizeMin, stepSizeMax')],
    ['ASGD', { lambd: -1e-4 }, range(OUT_OF_RANGE, 'options.lambd')],
    ['ASGD', { alpha: -0.75 }, range(OUT_OF_RANGE, 'options.alpha')],
    ['ASGD', { t0: -1 }, range(OUT_OF_RANGE, 'options.t0', '-1')],
    ['ASGD', { t0: Infinity }, range(NON_FINITE, 'options.t0')],
    ['ASGD', { lambd: '1e-4' }, type(INVALID_ARG_TYPE, 'options.lambd')],
  );
  HYPER.push(
    ['SGD', { momentum: -0.1 }, range(OUT_OF_RANGE, 'options.momentum')],
    ['SGD', { dampening: NaN }, range(NON_FINITE, 'options.dampening')],
    ['SGD', { nesterov: true }, range(INVALID_ARG_VALUE, 'options.nesterov', 'momentum')],
    ['SGD', { nesterov: true, momentum: 0.9, dampening: 0.1 }, range(INVALID_ARG_VALUE, 'options.nesterov', 'dampening')],
    ['SGD', { nesterov: 1, momentum: 0.9 }, type(INVALID_ARG_TYPE, 'options.nesterov')],
    ['Adagrad', { eps: -1e-10 }, range(OUT_OF_RANGE, 'options.eps')],
    ['Adagrad', { lrDecay: -0.1 }, range(OUT_OF_RANGE, 'options.lrDecay')],
    ['Adagrad', { initialAccumulatorValue: -1 }, range(OUT_OF_RANGE, 'options.initialAccumulatorValue')],
    ['RMSprop', { alpha: -0.1 }, range(OUT_OF_RANGE, 'options.alpha')],
    ['RMSprop', { alpha: 1.01 }, range(OUT_OF_RANGE, 'options.alpha')],
    ['RMSprop', { eps: -1 }, range(OUT_OF_RANGE, 'options.eps')],
    ['RMSprop', { momentum: -0.5 }, range(OUT_OF_RANGE, 'options.momentum')],
    ['RMSprop', { centered: 0 }, type(INVALID_ARG_TYPE, 'options.centered')],
  );
  HYPER.push(
    ['Lion', { betas: [1, 0.99] }, range(OUT_OF_RANGE, 'options.betas[0]', '1')],
    ['Lion', { betas: [0.9, 1] }, range(OUT_OF_RANGE, 'options.betas[1]')],
    ['Lion', { betas: [0.9, -0.5] }, range(OUT_OF_RANGE, 'options.betas[1]')],
    ['Lion', { betas: [NaN, 0.99] }, range(NON_FINITE, 'options.betas[0]')],
    ['Lion', { betas: [0.9] }, range(INVALID_ARG_VALUE, 'options.betas')],
    ['Lion', { betas: '0.9' }, type(INVALID_ARG_TYPE, 'options.betas')],
    ['Lion', { eps: 1e-8 }, range(INVALID_ARG_VALUE, 'options', '"eps"')],
  );
  for (const name of ['Adam', 'AdamW'] as const) {
    HYPER.push(
      [name, { betas: [1, 0.999] }, range(OUT_OF_RANGE, 'options.betas[0]', '1')],
      [name, { betas: [0.9, 1] }, range(OUT_OF_RANGE, 'options.betas[1]')],
      [name, { betas: [-0.1, 0.999] }, range(OUT_OF_RANGE, 'options.betas[0]')],
      [name, { betas: [0.9, NaN] }, range(NON_FINITE, 'options.betas[1]')],
      [name, { betas: [0.9] }, range(INVALID_ARG_VALUE, 'options.betas')],
      [name, { betas: 0.9 }, type(INVALID_ARG_TYPE, 'options.betas')],
      [name, { eps: -1e-8 }, range(OUT_OF_RANGE, 'options.eps')],
      [name, { amsgrad: 'true' }, type(INVALID_ARG_TYPE, 'options.amsgrad')],
    );
  }
  for (const [name, options, expected] of HYPER) {
    it(`${name} ${JSON.stringify(options, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}`, () => {
      expectConstructorError(name, [p()], options, expected);
      // The same value in a param group names the group: "options.lr" becomes "params[1].lr".
      const mentions = (expected.mentions ?? []).map((m) => (typeof m === 'string' ? m.replace('options', 'params[1]') : m));
      expectConstructorError(name, [{ params: [p()] }, { params: [p()], ...options }], {}, { ...expected, mentions });
    });
  }

  for (const name of OPTIMIZER_NAMES) {
    describe(name, () => {
      it('params that are not an Array', () => {
        expectConstructorError(name, p(), {}, type(INVALID_ARG_TYPE, `${name}: params`, 'expected an Array', 'Float32Array'));
        expectConstructorError(name, undefined, {}, type(INVALID_ARG_TYPE, 'params'));
        expectConstructorError(name, { params: [p()] }, {}, type(INVALID_ARG_TYPE, 'params'));
      });

      it('empty params', () => {
        expectConstructorError(name, [], {}, range(INVALID_ARG_VALUE, 'params', 'empty'));
        expectConstructorError(name, [{ params: [] }], {}, range(INVALID_ARG_VALUE, 'params[0].params', 'empty'));
      });

      it('a param that is not a Float32Array/Float64Array', () => {
        for (const bad of [new Int32Array(4), new Uint8Array(4), [1, 2, 3], 3, null, new DataView(new ArrayBuffer(8))]) {
          expectConstructorError(name, [p(), bad], {}, type(INVALID_ARG_TYPE, 'params[1]', 'Float32Array or Float64Array'));
        }
        expectConstructorError(name, [new Int32Array(4)], {}, type(INVALID_ARG_TYPE, 'params[0]', 'Float32Array or Float64Array'));
        expectConstructorError(name, [{ params: [p(), 'x'] }], {}, type(INVALID_ARG_TYPE, 'params[0].params[1]'));
      });

      it('a group list with a bare tensor in it', () => {
        expectConstructorError(name, [{ params: [p()] }, p()], {}, type(INVALID_ARG_TYPE, 'params[1]', 'param group'));
      });

      it('mixed dtypes in a group', () => {
        expectConstructorError(name, [p(), new Float64Array(4)], {}, type(DTYPE_MISMATCH, 'params[1]', 'Float32Array', 'Float64Array'));
        expectConstructorError(name, [{ params: [new Float64Array(2), p()] }], {}, type(DTYPE_MISMATCH, 'params[0].params[1]', 'Float64Array'));
      });

      it('groups of different dtypes are fine', () => {
        const opt = makeOptimizer(name, [{ params: [p()] }, { params: [new Float64Array(3)] }]);
        expect(opt.paramGroups.length).to.equal(2);
      });

      it('the same buffer twice, and overlapping views of one buffer', () => {
        const a = p();
        expectConstructorError(name, [a, a], {}, range(INVALID_ARG_VALUE, 'params[1]', 'params[0]', 'shares memory'));
        expectConstructorError(name, [{ params: [a] }, { params: [p(), a] }], {}, range(INVALID_ARG_VALUE, 'params[2]', 'params[0]'));
        const [x, y] = viewsOfOneBuffer('float32', [
          [0, 4],
          [3, 4],
        ]);
        expectConstructorError(name, [x, y], {}, range(INVALID_ARG_VALUE, 'params[1]', 'params[0]'));
        // An empty view hides nothing: x overlaps z although an empty view sits between them.
        const [big, empty, inside] = viewsOfOneBuffer('float32', [
          [0, 10],
          [0, 0],
          [5, 2],
        ]);
        expectConstructorError(name, [big, empty, inside], {}, range(INVALID_ARG_VALUE, 'params[2]', 'params[0]'));
        // Disjoint views of one buffer are fine.
        const [u, v] = viewsOfOneBuffer('float32', [
          [0, 4],
          [4, 4],
        ]);
        makeOptimizer(name, [u, v]);
      });

      it('a detached param', () => {
        const a = p();
        detach(a);
        expectConstructorError(name, [p(), a], {}, type(DETACHED_BUFFER, 'params[1]', 'detached'));
      });

      it('options that are not an object, an unknown key in a group, an unknown backend', () => {
        expectConstructorError(name, [p()], 5, type(INVALID_ARG_TYPE, 'options'));
        expectConstructorError(name, [{ params: [p()], lR: 0.1 }], {}, range(INVALID_ARG_VALUE, 'params[0]', '"lR"'));
        expectConstructorError(name, [p()], { backend: 'gpu' }, range(INVALID_ARG_VALUE, 'options.backend', '"gpu"'));
      });
    });
  }
});

describe('optimizers: addParamGroup rejects bad groups and changes nothing', () => {
  for (const name of OPTIMIZER_NAMES) {
    it(name, () => {
      const { opt, params } = trained(name);
      const bad: Array<[unknown, ExpectedError]> = [
        [{ params: [params[0]] }, range(INVALID_ARG_VALUE, 'params[3]', 'params[0]')],
        [{ params: [new Float32Array(2), new Float64Array(2)] }, type(DTYPE_MISMATCH, 'params[1]')],
        [{ params: [new Float32Array(2)], lr: -1 }, range(OUT_OF_RANGE, 'group.lr')],
        [{ params: [new Float32Array(2)], nope: 1 }, range(INVALID_ARG_VALUE, '"nope"')],
        [{ params: [] }, range(INVALID_ARG_VALUE, 'group.params')],
        [[new Float32Array(2)], type(INVALID_ARG_TYPE, 'addParamGroup: group')],
      ];
      for (const [group, expected] of bad) expectRejected(opt, () => opt.addParamGroup(group as never), expected);
      // A good group: its params start with empty state and the defaults.
      const q = new Float32Array(2);
      opt.addParamGroup({ params: [q], lr: 0.5 });
      expect(paramsOf(opt)).to.have.length(4);
      expect(opt.state[3]).to.deep.equal({});
      expect(opt.paramGroups[2].lr).to.equal(0.5);
    });
  }
});
