/**
 * Schedule-Free AdamW and SGD against the facebookresearch/schedule_free
 * package itself (its single-tensor path, run under PyTorch 2.6 by
 * test/fixtures/schedule_free/generate.py): every param, z, the second
 * moment and every group number after every train / step / eval of a
 * sequence, float32 and float64, one and several groups. Then what the
 * package's tests cannot show: native ≡ js bit for bit (odd lengths, 1 and 2
 * threads, compact state), steps refused in eval mode with nothing changed,
 * state dicts and checkpoints that resume exactly (mode included), and the
 * options' checks.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamWScheduleFree, SGDScheduleFree } from '../lib';
import type { BackendName } from '../lib/backend';
import { ErrorCodes } from '../lib/errors';
import type { DType, Tensor } from '../lib/tensor';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { loadCheckpoint, readCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import { train } from '../lib/train/loop';
import { expectAllBitIdentical, expectBitIdentical } from './helpers/bits';
import { expectError, expectFailure } from './helpers/errors';
import { LinearModel, batchesOf, regressionData } from './helpers/tiny-model';
import { randomTensors } from './helpers/random';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';

interface ReferenceCase {
  optimizer: 'AdamWScheduleFree' | 'SGDScheduleFree';
  dtype: DType;
  groups: Array<{ indices: number[]; options: Record<string, unknown> }>;
  ops: Array<'train' | 'eval' | 'step'>;
  initial: number[][];
  grads: number[][][];
  after: Array<{
    params: number[][];
    state: Array<Record<string, number[]>>;
    groups: Array<{ k: number; lr_max: number; weight_sum: number; scheduled_lr: number; train_mode: boolean }>;
  }>;
}

const reference = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'schedule_free', 'reference.json'), 'utf8')) as { cases: ReferenceCase[] };

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const tensorOf = (dtype: DType, xs: readonly number[]): Tensor => (dtype === 'float32' ? new Float32Array(xs) : new Float64Array(xs));
type ScheduleFree = AdamWScheduleFree | SGDScheduleFree;

function build(c: ReferenceCase, backend: BackendName): { opt: ScheduleFree; params: Tensor[] } {
  const params = c.initial.map((xs) => tensorOf(c.dtype, xs));
  const groups = c.groups.map((g) => {
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(g.options)) options[camel(key)] = value;
    return { params: g.indices.map((i) => params[i]), ...options };
  });
  const Class = c.optimizer === 'AdamWScheduleFree' ? AdamWScheduleFree : SGDScheduleFree;
  return { opt: new Class(groups as never, { backend }), params };
}

/**
 * How far apart the package's values and ours may be: 4 units of the dtype's ε (at the value's
 * scale, or 1e-3 for values near 0). The package's tensor ops run PyTorch's vectorized kernels,
 * which fuse `y + α·u` and the lerp into FMAs on most elements; ours round every operation
 * (native ≡ js bit for bit), so the two differ in the last bits and never more (measured: all
 * within 4, 14 of 16 cases within 2).
 */
const ULPS = 4;

/** The largest difference in units of the dtype's epsilon at the expected value's scale. */
function ulpsApart(dtype: DType, got: ArrayLike<number>, want: readonly number[]): number {
  const eps = dtype === 'float32' ? 2 ** -23 : 2 ** -52;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (eps * Math.max(Math.abs(want[i]), 1e-3)));
  return worst;
}

describe('Schedule-Free: the schedule_free package (foreach=False) step by step', () => {
  for (const c of reference.cases) {
    for (const backend of ['native', 'js'] as const) {
      const title = `${c.optimizer} ${c.dtype}, ${c.groups.length} group(s), ${backend}: params, z, expAvgSq and the group numbers after each of ${c.ops.join(' ')}`;
      it(title, () => {
        const { opt, params } = build(c, backend);
        let stepIndex = 0;
        c.ops.forEach((op, t) => {
          if (op === 'train') opt.train();
          else if (op === 'eval') opt.eval();
          else opt.step(c.grads[stepIndex++].map((g) => tensorOf(c.dtype, g)));
          const want = c.after[t];
          want.params.forEach((xs, i) => expect(ulpsApart(c.dtype, params[i], xs), `param ${i} after op ${t} (${op})`).to.be.at.most(ULPS));
          want.state.forEach((entry, i) => {
            for (const [key, xs] of Object.entries(entry)) {
              expect(ulpsApart(c.dtype, opt.state[i][camel(key)] as Tensor, xs), `${camel(key)} of param ${i} after op ${t}`).to.be.at.most(ULPS);
            }
          });
          want.groups.forEach((g, gi) => {
            const group = opt.paramGroups[gi] as unknown as Record<string, unknown>;
            expect(group.k).to.equal(g.k);
            expect(group.trainMode).to.equal(g.train_mode);
            for (const key of ['lr_max', 'weight_sum', 'scheduled_lr'] as const) {
              expect(group[camel(key)] as number, `${key} of group ${gi} after op ${t}`).to.be.closeTo(g[key], 1e-15 * Math.max(1, Math.abs(g[key])));
            }
          });
        });
      });
    }
  }
});

const LENGTHS = [1, 7, 33, 1000, 4099];
const gradsFor = (dtype: DType, step: number) => randomTensors(dtype, LENGTHS, 500 + step, 0.5);

/** A run of `steps` steps with a train/eval round trip in the middle; returns params and state. */
function runFor(make: (params: Tensor[], backend: BackendName) => ScheduleFree, dtype: DType, backend: BackendName, threads: number, steps = 5) {
  const before = getNumThreads();
  setNumThreads(threads);
  try {
    const params = randomTensors(dtype, LENGTHS, 7);
    const opt = make(params, backend);
    opt.train();
    for (let t = 0; t < steps; t++) {
      opt.step(gradsFor(dtype, t));
      if (t === 2) {
        opt.eval();
        opt.train();
      }
    }
    opt.eval();
    return { params, opt };
  } finally {
    setNumThreads(before);
  }
}

const MAKERS: Array<[string, DType[], (params: Tensor[], backend: BackendName) => ScheduleFree]> = [
  ['AdamWScheduleFree', ['float32', 'float64'], (p, backend) => new AdamWScheduleFree(p, { lr: 0.01, weightDecay: 0.02, warmupSteps: 2, backend })],
  ['AdamWScheduleFree, bfloat16 state', ['float32'], (p, backend) => new AdamWScheduleFree(p, { lr: 0.01, stateDtype: 'bfloat16', backend })],
  ['AdamWScheduleFree, bfloat16 state rounded stochastically', ['float32'], (p, backend) => new AdamWScheduleFree(p, { lr: 0.01, stateDtype: 'bfloat16', stochasticRounding: true, roundingSeed: 9, backend })],
  ['AdamWScheduleFree, 8-bit state', ['float32'], (p, backend) => new AdamWScheduleFree(p, { lr: 0.01, stateDtype: 'int8', backend })],
  ['SGDScheduleFree', ['float32', 'float64'], (p, backend) => new SGDScheduleFree(p, { lr: 0.1, momentum: 0.85, weightDecay: 0.01, r: 1, backend })],
];

describe('Schedule-Free: native ≡ js bit for bit', () => {
  for (const [name, dtypes, make] of MAKERS) {
    for (const dtype of dtypes) {
      for (const threads of [1, 2]) {
        it(`${name}, ${dtype}, ${threads} thread(s), lengths ${LENGTHS.join(', ')}: params and every state buffer`, () => {
          const native = runFor(make, dtype, 'native', threads);
          const js = runFor(make, dtype, 'js', threads);
          native.params.forEach((p, i) => expectBitIdentical(p, js.params[i], `param ${i}`));
          native.opt.state.forEach((state, i) => {
            for (const [key, value] of Object.entries(state)) {
              if (typeof value === 'number') expect(value, `${key} of param ${i}`).to.equal(js.opt.state[i][key]);
              else expectBitIdentical(value as Tensor, js.opt.state[i][key] as Tensor, `${key} of param ${i}`);
            }
          });
        });
      }
    }
  }

  it('8-bit state keeps z in float32 (a point, not a moment) and stores expAvgSq as codes', () => {
    const { opt } = runFor(MAKERS[3][2], 'float32', 'native', 1);
    const big = opt.state[4];
    expect(big.z).to.be.instanceOf(Float32Array);
    expect(big.expAvgSq).to.be.instanceOf(Uint8Array);
    // The small params keep full state (min8bitSize).
    expect(opt.state[0].expAvgSq).to.be.instanceOf(Float32Array);
  });
});

describe('Schedule-Free: modes', () => {
  it('a new optimizer is in eval mode; a step then throws ERR_NOT_IN_TRAIN_MODE and changes nothing', () => {
    const params = randomTensors('float32', [5, 3], 1);
    const opt = new AdamWScheduleFree(params);
    expect(opt.training).to.equal(false);
    const snap = snapshotOptimizer(opt);
    expectError(() => opt.step(randomTensors('float32', [5, 3], 2)), { type: RangeError, code: ErrorCodes.NOT_IN_TRAIN_MODE, mentions: ['AdamWScheduleFree', 'paramGroups[0]', 'eval mode', 'train()'] });
    expectUnchanged(opt, snap);
  });

  it('stepAsync in eval mode rejects with the same code, and nothing changes', async () => {
    const params = randomTensors('float64', [5], 1);
    const opt = new SGDScheduleFree(params);
    opt.train();
    opt.step(randomTensors('float64', [5], 2));
    opt.eval();
    const snap = snapshotOptimizer(opt);
    let error: unknown;
    await opt.stepAsync(randomTensors('float64', [5], 3)).catch((e: unknown) => (error = e));
    expect((error as { code?: string }).code).to.equal(ErrorCodes.NOT_IN_TRAIN_MODE);
    expectUnchanged(opt, snap);
  });

  it('train() and eval() are idempotent, and a round trip returns the params to x up to rounding', () => {
    const params = randomTensors('float64', [9], 1);
    const opt = new AdamWScheduleFree(params, { lr: 0.05 });
    opt.train();
    opt.train();
    for (let t = 0; t < 3; t++) opt.step(randomTensors('float64', [9], 10 + t));
    opt.eval();
    const x = Float64Array.from(params[0]);
    opt.eval();
    expectBitIdentical(params[0], x, 'eval() twice');
    opt.train();
    opt.eval();
    for (let i = 0; i < x.length; i++) expect(params[0][i]).to.be.closeTo(x[i], 1e-14);
  });

  it('before any step, train() and eval() leave the params as they are (x = y = z)', () => {
    const params = randomTensors('float32', [7], 1);
    const copy = Float32Array.from(params[0]);
    const opt = new SGDScheduleFree(params);
    opt.train();
    opt.eval();
    expectBitIdentical(params[0], copy, 'params');
  });

  it('the gradients are read, never written (the package divides p.grad in place)', () => {
    const params = randomTensors('float32', [33], 1);
    const opt = new AdamWScheduleFree(params, { weightDecay: 0.1 });
    opt.train();
    const grads = randomTensors('float32', [33], 2);
    const copy = Float32Array.from(grads[0]);
    opt.step(grads);
    expectBitIdentical(grads[0], copy, 'grad');
  });

  it('a group added later takes group 0 mode; train()/eval() move every group', () => {
    const [a, b] = randomTensors('float32', [4, 6], 1);
    const opt = new AdamWScheduleFree([a]);
    opt.train();
    opt.addParamGroup({ params: [b], lr: 0.01 });
    expect((opt.paramGroups[1] as unknown as { trainMode: boolean }).trainMode).to.equal(true);
    opt.step(randomTensors('float32', [4, 6], 2));
    opt.eval();
    expect(opt.paramGroups.map((g) => (g as unknown as { trainMode: boolean }).trainMode)).to.deep.equal([false, false]);
  });

  it('a group whose mode was set to eval by hand refuses the step, naming the group', () => {
    const [a, b] = randomTensors('float32', [4, 6], 1);
    const opt = new SGDScheduleFree([{ params: [a] }, { params: [b] }]);
    opt.train();
    (opt.paramGroups[1] as unknown as { trainMode: boolean }).trainMode = false;
    expectError(() => opt.step(randomTensors('float32', [4, 6], 2)), { type: RangeError, code: ErrorCodes.NOT_IN_TRAIN_MODE, mentions: ['paramGroups[1]'] });
    (opt.paramGroups[1] as unknown as { trainMode: unknown }).trainMode = 'yes';
    expectError(() => opt.step(randomTensors('float32', [4, 6], 2)), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['paramGroups[1].trainMode', 'boolean'] });
  });

  it("a param whose first gradient comes late follows its group's schedule, as in the package (k counts the group's steps)", () => {
    for (const Class of [AdamWScheduleFree, SGDScheduleFree]) {
      for (const backend of ['native', 'js'] as const) {
        const [a, b] = randomTensors('float64', [5, 9], 1);
        const opt = new Class([a, b], { lr: 0.05, warmupSteps: 2, backend });
        // The same params, where b is given zero gradients instead of none: without weight decay a
        // zero gradient moves nothing (z = y from b's first step on, and v stays 0), so from step 4
        // on b must step as this one does, under the group's k, lrMax and weightSum.
        const zeros = new Class([a.slice(), b.slice()], { lr: 0.05, warmupSteps: 2, backend });
        opt.train();
        zeros.train();
        for (let t = 0; t < 6; t++) {
          const [ga, gb] = randomTensors('float64', [5, 9], 20 + t);
          opt.step([ga, t < 3 ? null : gb]);
          zeros.step([ga, t < 3 ? new Float64Array(9) : gb]);
        }
        expect(opt.paramGroups[0].k).to.equal(6);
        expect(opt.state[1].step).to.equal(3);
        expectBitIdentical(b, zeros.paramGroups[0].params[1], `${Class.name} ${backend}: the late param`);
        expectBitIdentical(opt.state[1].z as Tensor, zeros.state[1].z as Tensor, `${Class.name} ${backend}: its z`);
      }
    }
  });

  it('lr 0 with weightLrPower > 0: every averaging weight is 0 and the params stay (the package catches the 0/0)', () => {
    const params = randomTensors('float64', [5], 1);
    const copy = Float64Array.from(params[0]);
    const opt = new SGDScheduleFree(params, { lr: 0 });
    opt.train();
    opt.step(randomTensors('float64', [5], 2));
    opt.eval();
    expect(opt.paramGroups[0].weightSum).to.equal(0);
    for (let i = 0; i < 5; i++) expect(params[0][i]).to.be.closeTo(copy[i], 1e-15);
  });
});

describe('Schedule-Free: state dicts and checkpoints resume exactly, mode included', () => {
  const make = (params: Tensor[]) => new AdamWScheduleFree(params, { lr: 0.02, warmupSteps: 3, r: 0.5 });
  const lengths = [5, 300];

  function uninterrupted() {
    const params = randomTensors('float32', lengths, 1);
    const opt = make(params);
    opt.train();
    for (let t = 0; t < 6; t++) opt.step(randomTensors('float32', lengths, 100 + t));
    opt.eval();
    return params;
  }

  for (const via of ['stateDict', 'checkpoint'] as const) {
    it(`${via}: saved in train mode after 3 steps, resumed into a new optimizer: the same bits as the uninterrupted run`, () => {
      const want = uninterrupted();
      const params = randomTensors('float32', lengths, 1);
      const a = make(params);
      a.train();
      for (let t = 0; t < 3; t++) a.step(randomTensors('float32', lengths, 100 + t));
      const copies = params.map((p) => Float32Array.from(p));
      const b = make(copies);
      if (via === 'stateDict') {
        b.loadStateDict(a.stateDict());
      } else {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sf-')), 'ck.safetensors');
        saveCheckpoint(file, { model: { params }, optimizer: a });
        loadCheckpoint(file, { model: { params: copies }, optimizer: b });
      }
      expect(b.training).to.equal(true);
      expect(b.paramGroups[0].k).to.equal(3);
      for (let t = 3; t < 6; t++) b.step(randomTensors('float32', lengths, 100 + t));
      b.eval();
      copies.forEach((p, i) => expectBitIdentical(p, want[i], `param ${i}`));
    });
  }

  it('a state dict without the group numbers, or with a wrong one, is refused and changes nothing', () => {
    const params = randomTensors('float32', lengths, 1);
    const a = make(params);
    a.train();
    a.step(randomTensors('float32', lengths, 2));
    const b = make(params.map((p) => Float32Array.from(p)));
    const snap = snapshotOptimizer(b);
    const missing = a.stateDict();
    delete (missing.paramGroups[0] as Record<string, unknown>).weightSum;
    expectError(() => b.loadStateDict(missing), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH, mentions: ['weightSum'] });
    const wrong = a.stateDict();
    (wrong.paramGroups[0] as Record<string, unknown>).k = 1.5;
    expectError(() => b.loadStateDict(wrong), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['paramGroups[0].k', 'integer'] });
    expectUnchanged(b, snap);
  });
});

describe('Schedule-Free: options', () => {
  const p = () => randomTensors('float32', [3], 1);
  it("the package's defaults", () => {
    expect(new AdamWScheduleFree(p()).defaults).to.deep.include({ lr: 0.0025, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, warmupSteps: 0, r: 0, weightLrPower: 2 });
    expect(new SGDScheduleFree(p()).defaults).to.deep.include({ lr: 1, momentum: 0.9, weightDecay: 0, warmupSteps: 0, r: 0, weightLrPower: 2 });
  });
  it('refuses what cannot work, naming the option', () => {
    expectError(() => new AdamWScheduleFree(p(), { betas: [0, 0.999] }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['betas[0]', '> 0'] });
    expectError(() => new SGDScheduleFree(p(), { momentum: 1 }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['momentum'] });
    expectError(() => new SGDScheduleFree(p(), { momentum: 0 }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['momentum'] });
    expectError(() => new AdamWScheduleFree(p(), { warmupSteps: 1.5 }), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['warmupSteps', 'integer'] });
    expectError(() => new AdamWScheduleFree(p(), { k: 3 } as never), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['k'] });
    expectError(() => new SGDScheduleFree(p(), { stateDtype: 'int8' } as never), { type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['stateDtype'] });
  });
});

describe('Schedule-Free in the training loop (train())', () => {
  const data = regressionData(48, 7);
  const valBatch = regressionData(16, 8);

  async function run(dir: string, extra: Record<string, unknown>) {
    const model = new LinearModel();
    const opt = new AdamWScheduleFree(model.params, { lr: 0.05, warmupSteps: 4 });
    const result = await train(model, batchesOf(data, 8), [valBatch], {
      quiet: true,
      optimizer: opt,
      epochs: 3,
      checkpointPath: path.join(dir, 'best.safetensors'),
      lastCheckpointPath: path.join(dir, 'last.safetensors'),
      ...extra,
    });
    return { model, opt, result };
  }

  it('steps in train mode, validates and ends in eval mode (the params hold x), with no default schedule', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-loop-'));
    const { model, opt, result } = await run(dir, {});
    expect(result.stopReason).to.equal('completed');
    expect(opt.training).to.equal(false);
    expect(result.scheduler).to.equal(null);
    expect(result.history.learningRate).to.deep.equal(new Array(18).fill(0.05));
    // The validation loss is the model's at x: evaluated after eval(), as the final params are.
    expect(result.history.valLoss[2]).to.equal(model.forward(valBatch));
    // Manually: train() before the steps of each epoch, eval() for its validation.
    const manual = new LinearModel();
    const mine = new AdamWScheduleFree(manual.params, { lr: 0.05, warmupSteps: 4 });
    for (let epoch = 0; epoch < 3; epoch++) {
      mine.train();
      for (const batch of batchesOf(data, 8)) mine.step(manual.forwardBackward(batch).grads, { maxGradNorm: 1, skipIfNonfinite: true });
      mine.eval();
    }
    expectAllBitIdentical(model.params, manual.params, 'params');
  });

  it('a run stopped mid-epoch (train mode) and one stopped at an epoch end (eval mode) resume bit-identically', async () => {
    const whole = await run(fs.mkdtempSync(path.join(os.tmpdir(), 'sf-loop-')), {});
    for (const maxSteps of [9, 12]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-loop-'));
      const first = await run(dir, { maxSteps });
      expect(first.result.stopReason).to.equal('maxSteps');
      const resumed = await run(dir, { resumeFrom: path.join(dir, 'last.safetensors') });
      expect(resumed.result.stopReason).to.equal('completed');
      expectAllBitIdentical(resumed.model.params, whole.model.params, `params, stopped after step ${maxSteps}`);
    }
    // Two epochs completed: the last checkpoint was written after validation, in eval mode.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-loop-'));
    await run(dir, { epochs: 2 });
    const saved = readCheckpoint(path.join(dir, 'last.safetensors'));
    expect((saved.optimizer!.stateDict.paramGroups[0] as Record<string, unknown>).trainMode).to.equal(false);
    const resumed = await run(dir, { resumeFrom: path.join(dir, 'last.safetensors') });
    expectAllBitIdentical(resumed.model.params, whole.model.params, 'params, resumed after two whole epochs');
  });

  it('the default schedule options are refused with it, saying why', async () => {
    const model = new LinearModel();
    const opt = new SGDScheduleFree(model.params);
    await expectFailure(() => train(model, batchesOf(data, 8), null, { quiet: true, optimizer: opt, warmupSteps: 3 }), {
      type: RangeError,
      code: ErrorCodes.INVALID_ARG_VALUE,
      mentions: ['config.warmupSteps', 'Schedule-Free'],
    });
  });
});
