/**
 * stateDict / loadStateDict (PyTorch's state_dict / load_state_dict): a plain
 * snapshot with params referred to by index; restoring it mid-training and
 * continuing gives the same bits as never having stopped; every mismatch is
 * rejected before anything changes; extra group keys (a scheduler's
 * initialLr) travel with the groups.
 */
import { expect } from 'chai';
import { ErrorCodes } from '../lib/errors';
import type { OptimizerStateDict } from '../lib/optim/core/optimizer';
import type { DType, Tensor } from '../lib/tensor';
import { expectBitIdentical } from './helpers/bits';
import { detach } from './helpers/buffers';
import { ExpectedError, expectError } from './helpers/errors';
import {
  AnyOptimizer,
  OPTIMIZER_NAMES,
  OptimizerName,
  Options,
  STORAGE_DEFAULTS,
  Variant,
  expectSameOptimizer,
  kernelVariants,
  makeOptimizer,
  paramsOf,
  variantLabel,
} from './helpers/optimizers';
import { cloneTensors, randomTensors } from './helpers/random';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';
import { SyntheticLoss } from './helpers/synthetic';

const { STATE_DICT_MISMATCH, OUT_OF_RANGE, NON_FINITE, INVALID_ARG_TYPE, DETACHED_BUFFER } =
  ErrorCodes;
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });

const LENGTHS = [7, 1000, 1];

/** Two groups (params 0–1 and param 2, the second with its own lr) over copies of `params`. */
function build(variant: Variant, params: readonly Tensor[], overrides: Options = {}): AnyOptimizer {
  const copies = cloneTensors(params);
  return makeOptimizer(
    variant.optimizer,
    [{ params: copies.slice(0, 2) }, { params: copies.slice(2), lr: (variant.options.lr as number) / 2 }],
    { ...variant.options, ...overrides },
  );
}

/** One step of `opt` with the loss's gradients; param 1 skipped at the steps listed. */
function stepWith(opt: AnyOptimizer, loss: SyntheticLoss, step: number, skip: readonly number[] = []): void {
  const grads: Array<Tensor | null> = loss.grads(paramsOf(opt), step);
  if (skip.includes(step)) grads[1] = null;
  opt.step(grads);
}

describe('optimizers: stateDict round trip mid-training continues bit for bit', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const variant of kernelVariants()) {
      it(`${variantLabel(variant)} ${dtype}`, () => {
        const loss = new SyntheticLoss(dtype, LENGTHS, 50);
        const initial = randomTensors(dtype, LENGTHS, 51);
        const a = build(variant, initial);
        // Param 1 misses a step, so the step counts differ and must be restored per param.
        for (let step = 1; step <= 5; step++) stepWith(a, loss, step, [2]);
        const sd = a.stateDict();
        // The restored optimizer starts from other hyper-parameters: the state dict's win.
        const b = build(variant, paramsOf(a), { lr: 0.123 });
        b.loadStateDict(sd);
        expectSameOptimizer(b, a, 'right after loading');
        expect(b.paramGroups.map((g) => g.lr)).to.deep.equal(a.paramGroups.map((g) => g.lr));
        // A structured clone (what crosses postMessage, or a checkpoint reader gives back) loads too.
        const c = build(variant, paramsOf(a));
        c.loadStateDict(structuredClone(sd));
        for (let step = 6; step <= 10; step++) {
          const grads = loss.grads(paramsOf(a), step);
          for (const o of [a, b, c]) o.step(grads);
        }
        expectSameOptimizer(b, a, 'five steps later');
        expectSameOptimizer(c, a, 'five steps later (structured clone)');
        expect(a.state[1].step).to.equal(9);
      });
    }
  }

  it('a state dict taken before the first step resets a trained optimizer to step 1', () => {
    const variant: Variant = { optimizer: 'Adam', options: { lr: 0.01 } };
    const loss = new SyntheticLoss('float64', LENGTHS, 52);
    const initial = randomTensors('float64', LENGTHS, 53);
    const fresh = build(variant, initial);
    const sd = fresh.stateDict();
    expect(sd.state).to.deep.equal({});
    const trained = build(variant, initial);
    for (let step = 1; step <= 3; step++) stepWith(trained, loss, step);
    trained.loadStateDict(sd);
    expect(trained.state.every((s) => Object.keys(s).length === 0)).to.equal(true);
    // Now both take "step 1" from the same params.
    const restart = build(variant, paramsOf(trained));
    const grads = loss.grads(paramsOf(trained), 4);
    trained.step(grads);
    restart.step(grads);
    expectSameOptimizer(trained, restart, 'after the restart');
  });
});

describe('optimizers: the shape of a state dict', () => {
  it('is plain data, PyTorch-like: groups with every hyper-parameter and params as indices, state by index', () => {
    const p = [new Float32Array([1, 2, 3]), new Float32Array([4]), new Float32Array([5, 6])];
    const opt = makeOptimizer('Adam', [{ params: [p[0], p[1]] }, { params: [p[2]], lr: 0.5, amsgrad: true }], { lr: 0.1 });
    opt.step([new Float32Array([1, 1, 1]), null, new Float32Array([1, 1])]);
    const sd = opt.stateDict();
    expect(Object.getPrototypeOf(sd)).to.equal(Object.prototype);
    expect(Object.keys(sd).sort()).to.deep.equal(['paramGroups', 'state']);
    expect(sd.paramGroups).to.deep.equal([
      { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...STORAGE_DEFAULTS, params: [0, 1] },
      { lr: 0.5, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: true, maximize: false, ...STORAGE_DEFAULTS, params: [2] },
    ]);
    // Param 1 never had a gradient: no entry, as PyTorch leaves it out.
    expect(Object.keys(sd.state)).to.deep.equal(['0', '2']);
    expect(Object.keys(sd.state[0]).sort()).to.deep.equal(['expAvg', 'expAvgSq', 'step']);
    expect(Object.keys(sd.state[2]).sort()).to.deep.equal(['expAvg', 'expAvgSq', 'maxExpAvgSq', 'step']);
    expect(sd.state[0].step).to.equal(1);
    expect(sd.state[0].expAvg).to.be.instanceOf(Float32Array);
    expect(Array.from(sd.state[0].expAvg as Float32Array)).to.deep.equal([0.1, 0.1, 0.1].map(Math.fround));
  });

  it('is a copy: changing it does not change the optimizer, and loading copies it in', () => {
    const p = [new Float64Array([1, 2])];
    const opt = makeOptimizer('SGD', p, { lr: 0.1, momentum: 0.9 });
    opt.step([new Float64Array([1, 1])]);
    const sd = opt.stateDict();
    const live = opt.state[0].momentumBuffer as Float64Array;
    expect(sd.state[0].momentumBuffer).to.not.equal(live);
    (sd.state[0].momentumBuffer as Float64Array).fill(42);
    sd.paramGroups[0].lr = 7;
    expect(Array.from(live)).to.deep.equal([1, 1]);
    expect(opt.lr).to.equal(0.1);
    opt.loadStateDict(sd);
    expect(opt.lr).to.equal(7);
    expect(Array.from(opt.state[0].momentumBuffer as Float64Array)).to.deep.equal([42, 42]);
    (sd.state[0].momentumBuffer as Float64Array).fill(0);
    sd.paramGroups[0].lr = 1;
    expect(Array.from(opt.state[0].momentumBuffer as Float64Array)).to.deep.equal([42, 42]);
    expect(opt.lr).to.equal(7);
    // The params are not part of the state dict and are not touched by loading it.
    expect(Array.from(p[0])).to.deep.equal([0.9, 1.9]);
  });

  it('betas are copied, not shared with the live group', () => {
    const opt = makeOptimizer('Adam', [new Float32Array(1)]);
    const sd = opt.stateDict();
    (sd.paramGroups[0].betas as number[])[0] = 0.5;
    expect(opt.paramGroups[0].betas).to.deep.equal([0.9, 0.999]);
  });
});

describe('optimizers: extra group keys travel with the state dict', () => {
  it("a scheduler's initialLr is saved, restored, and replaced by the loaded groups' extras", () => {
    const make = () => makeOptimizer('SGD', [{ params: [new Float32Array(2)] }, { params: [new Float32Array(1)] }], { lr: 0.1 });
    const a = make();
    (a.paramGroups[0] as Record<string, unknown>).initialLr = 0.1;
    (a.paramGroups[1] as Record<string, unknown>).initialLr = 0.05;
    (a.paramGroups[1] as Record<string, unknown>).note = ['warmup', 3, true, null];
    const sd = a.stateDict();
    expect(sd.paramGroups[0].initialLr).to.equal(0.1);
    const b = make();
    (b.paramGroups[0] as Record<string, unknown>).stale = 'from before';
    b.loadStateDict(sd);
    expect((b.paramGroups[0] as Record<string, unknown>).initialLr).to.equal(0.1);
    expect((b.paramGroups[1] as Record<string, unknown>).initialLr).to.equal(0.05);
    expect((b.paramGroups[1] as Record<string, unknown>).note).to.deep.equal(['warmup', 3, true, null]);
    expect(b.paramGroups[0]).to.not.have.property('stale');
    // A round trip of the restored optimizer gives the same dict.
    expect(b.stateDict()).to.deep.equal(sd);
  });
});

describe('optimizers: loadStateDict keeps state that hyper-parameter changes left behind', () => {
  // The live optimizer keeps a buffer when an option that needs it is switched
  // off (momentum → 0, amsgrad → false, centered → false), and creates a missing one
  // when it is switched on. Its own state dict must load, and continue identically.
  const cases: Array<[OptimizerName, Options, Options]> = [
    ['SGD', { lr: 0.1, momentum: 0.9 }, { momentum: 0 }],
    ['SGD', { lr: 0.1 }, { momentum: 0.9 }],
    ['Adam', { lr: 0.01, amsgrad: true }, { amsgrad: false }],
    ['AdamW', { lr: 0.01 }, { amsgrad: true }],
    ['RMSprop', { lr: 0.01, centered: true, momentum: 0.9 }, { centered: false, momentum: 0 }],
    ['RMSprop', { lr: 0.01 }, { centered: true, momentum: 0.5 }],
  ];
  for (const [name, options, change] of cases) {
    it(`${name} ${JSON.stringify(options)} then ${JSON.stringify(change)}`, () => {
      const variant: Variant = { optimizer: name, options };
      const loss = new SyntheticLoss('float32', LENGTHS, 60);
      const a = build(variant, randomTensors('float32', LENGTHS, 61));
      for (let step = 1; step <= 3; step++) stepWith(a, loss, step);
      for (const g of a.paramGroups) Object.assign(g, change);
      const sd = a.stateDict();
      const b = build(variant, paramsOf(a));
      b.loadStateDict(sd);
      expectSameOptimizer(b, a, 'after loading');
      for (let step = 4; step <= 6; step++) {
        const grads = loss.grads(paramsOf(a), step);
        a.step(grads);
        b.step(grads);
      }
      expectSameOptimizer(b, a, 'three steps later');
    });
  }
});

describe('optimizers: loadStateDict rejects every mismatch and changes nothing', () => {
  type Corrupt = (sd: OptimizerStateDict & Record<string, unknown>, params: Tensor[]) => unknown;
  const any = (x: unknown) => x as Record<string, unknown> & { params: unknown; [k: number]: unknown };

  /** A trained Adam (amsgrad) over three float32 params in two groups, and its state dict. */
  function setup(name: OptimizerName = 'Adam') {
    const options: Record<OptimizerName, Options> = {
      SGD: { lr: 0.1, momentum: 0.9 },
      Adagrad: { lr: 0.1 },
      RMSprop: { lr: 0.01, centered: true, momentum: 0.9 },
      Adam: { lr: 0.01, amsgrad: true },
      AdamW: { lr: 0.01 },
      Lion: { lr: 0.01, weightDecay: 0.1 },
      LAMB: { lr: 0.01, weightDecay: 0.1 },
      Adamax: { lr: 0.01, weightDecay: 0.01 },
      RAdam: { lr: 0.01, decoupledWeightDecay: true, weightDecay: 0.01 },
      NAdam: { lr: 0.01, weightDecay: 0.01 },
      Adadelta: { lr: 1 },
      Rprop: { lr: 0.01 },
      ASGD: { lr: 0.01, t0: 1 },
      Adafactor: { lr: 0.05, weightDecay: 0.01 },
      AdamWScheduleFree: { lr: 0.01, weightDecay: 0.01 },
      SGDScheduleFree: { lr: 0.1 },
    };
    const variant: Variant = { optimizer: name, options: options[name] };
    const loss = new SyntheticLoss('float32', LENGTHS, 70);
    const opt = build(variant, randomTensors('float32', LENGTHS, 71));
    for (let step = 1; step <= 2; step++) stepWith(opt, loss, step);
    return { opt, sd: opt.stateDict() };
  }

  const cases: Array<[string, Corrupt, ExpectedError]> = [
    ['not an object', () => 5, type(INVALID_ARG_TYPE, 'loadStateDict: stateDict')],
    ['paramGroups missing', (sd) => ({ state: sd.state }), type(INVALID_ARG_TYPE, 'stateDict.paramGroups')],
    ['state missing', (sd) => ({ paramGroups: sd.paramGroups }), type(INVALID_ARG_TYPE, 'stateDict.state')],
    ['one group fewer', (sd) => ({ ...sd, paramGroups: sd.paramGroups.slice(1) }), range(STATE_DICT_MISMATCH, 'paramGroups', '1 groups', '2')],
    ['one group more', (sd) => ({ ...sd, paramGroups: [...sd.paramGroups, sd.paramGroups[1]] }), range(STATE_DICT_MISMATCH, '3 groups')],
    ['a param fewer in a group', (sd) => { sd.paramGroups[0].params = [0]; }, range(STATE_DICT_MISMATCH, 'paramGroups[0].params', '1 params', '2')],
    ['params out of order', (sd) => { sd.paramGroups[0].params = [1, 0]; }, range(OUT_OF_RANGE, 'paramGroups[0].params[0]')],
    ['a params entry that is not a number', (sd) => { any(sd.paramGroups[1]).params = ['2']; }, type(INVALID_ARG_TYPE, 'paramGroups[1].params[0]')],
    ['a state buffer of the wrong dtype', (sd) => { any(sd.state[0]).expAvg = new Float64Array(7); }, range(STATE_DICT_MISMATCH, 'state[0].expAvg', 'Float32Array')],
    ['a state buffer of the wrong length', (sd) => { any(sd.state[1]).expAvgSq = new Float32Array(999); }, range(STATE_DICT_MISMATCH, 'state[1].expAvgSq', 'length 1000')],
    ['a state buffer that is not a tensor', (sd) => { any(sd.state[2]).expAvg = [0]; }, type(INVALID_ARG_TYPE, 'state[2].expAvg')],
    ['a detached state buffer', (sd) => { detach(sd.state[0].expAvg as Tensor); }, type(DETACHED_BUFFER, 'state[0].expAvg')],
    ['an unknown buffer', (sd) => { any(sd.state[0]).momentumBuffer = new Float32Array(7); }, range(STATE_DICT_MISMATCH, 'state[0]', '"momentumBuffer"')],
    ['a non-integer step', (sd) => { any(sd.state[0]).step = 2.5; }, range(OUT_OF_RANGE, 'state[0].step', '2.5')],
    ['a negative step', (sd) => { any(sd.state[0]).step = -1; }, range(OUT_OF_RANGE, 'state[0].step')],
    ['a NaN step', (sd) => { any(sd.state[0]).step = NaN; }, range(NON_FINITE, 'state[0].step')],
    ['a step that is a string', (sd) => { any(sd.state[0]).step = '2'; }, type(INVALID_ARG_TYPE, 'state[0].step')],
    ['buffers without a step count', (sd) => { delete any(sd.state[1]).step; }, range(STATE_DICT_MISMATCH, 'state[1]', 'step')],
    ['an entry for a param that does not exist', (sd) => { any(sd.state)[3] = { step: 1 }; }, range(STATE_DICT_MISMATCH, '"3"')],
    ['an entry that is not an object', (sd) => { any(sd.state)[0] = 3; }, type(INVALID_ARG_TYPE, 'state[0]')],
    ['a bad hyper-parameter', (sd) => { sd.paramGroups[1].lr = -1; }, range(OUT_OF_RANGE, 'paramGroups[1].lr')],
    ['betas out of range', (sd) => { sd.paramGroups[0].betas = [1, 0.999]; }, range(OUT_OF_RANGE, 'paramGroups[0].betas[0]')],
    ['a missing hyper-parameter', (sd) => { delete any(sd.paramGroups[0]).eps; }, range(STATE_DICT_MISMATCH, 'paramGroups[0]', 'eps')],
    ['an extra key that is not plain data', (sd) => { any(sd.paramGroups[0]).initialLr = { a: 1 }; }, type(INVALID_ARG_TYPE, 'paramGroups[0].initialLr')],
    ['an extra key that is a function', (sd) => { any(sd.paramGroups[0]).hook = () => 1; }, type(INVALID_ARG_TYPE, 'paramGroups[0].hook')],
  ];
  for (const [what, corrupt, expected] of cases) {
    it(what, () => {
      const { opt, sd } = setup();
      // A corruption either edits the state dict in place (and returns nothing) or returns a replacement.
      const replaced = corrupt(sd as OptimizerStateDict & Record<string, unknown>, paramsOf(opt));
      const bad = replaced === undefined ? sd : replaced;
      const snap = snapshotOptimizer(opt);
      expectError(() => opt.loadStateDict(bad as OptimizerStateDict), expected);
      expectUnchanged(opt, snap);
    });
  }

  for (const name of OPTIMIZER_NAMES) {
    it(`${name}: the state dict of another optimizer class`, () => {
      const { opt } = setup(name);
      const other = setup(name === 'SGD' ? 'Adagrad' : 'SGD').sd;
      const snap = snapshotOptimizer(opt);
      const err = expectError(() => opt.loadStateDict(other), { type: RangeError, code: STATE_DICT_MISMATCH });
      expect(err.message).to.include(name);
      expectUnchanged(opt, snap);
    });
  }

  it('an unknown hyper-parameter name in a group is kept as an extra, not mistaken for an option', () => {
    const { opt, sd } = setup();
    (sd.paramGroups[0] as Record<string, unknown>).initialLr = 0.01;
    opt.loadStateDict(sd);
    expect((opt.paramGroups[0] as Record<string, unknown>).initialLr).to.equal(0.01);
  });
});

describe('optimizers: stateDict buffers are the optimizer state, bit for bit', () => {
  it('every buffer and step count equals opt.state', () => {
    const loss = new SyntheticLoss('float64', LENGTHS, 80);
    const opt = build({ optimizer: 'RMSprop', options: { lr: 0.01, centered: true, momentum: 0.9 } }, randomTensors('float64', LENGTHS, 81));
    for (let step = 1; step <= 3; step++) stepWith(opt, loss, step, [3]);
    const sd = opt.stateDict();
    opt.state.forEach((entry, i) => {
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value === 'number') expect(sd.state[i][key]).to.equal(value);
        else expectBitIdentical(sd.state[i][key] as Tensor, value as Tensor, `state[${i}].${key}`);
      }
    });
  });
});
