/**
 * Lion (Chen et al. 2023): hand-computed first steps (float32 with a rounding
 * after every operation, float64 in plain arithmetic), native against the
 * JavaScript reference bit for bit over every option, thread count and odd
 * length, rejected options, state dicts and checkpoints that resume exactly,
 * and a momentum-cycling scheduler driving betas[0].
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Lion } from '../lib';
import { ErrorCodes } from '../lib/errors';
import { OneCycleLR } from '../lib/schedulers';
import type { DType, Tensor } from '../lib/tensor';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { loadCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import { expectBitIdentical } from './helpers/bits';
import { ExpectedError, expectError } from './helpers/errors';
import { AnyOptimizer, allVariants, caseGrads, expectSameOptimizer, makeOptimizer, paramsOf, STORAGE_DEFAULTS } from './helpers/optimizers';
import { cloneTensors, randomTensors } from './helpers/random';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';

const { OUT_OF_RANGE, INVALID_ARG_VALUE, INVALID_ARG_TYPE } = ErrorCodes;
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });

const make = (dtype: DType, xs: readonly number[]): Tensor => (dtype === 'float32' ? new Float32Array(xs) : new Float64Array(xs));

interface HandOptions {
  lr: number;
  betas: [number, number];
  weightDecay: number;
  maximize: boolean;
}

/**
 * Lion written out from the paper / the brief, independently of the library:
 * g = s·grad; θ ← θ·(1 − lr·wd); c = β1·m + (1−β1)·g; θ ← θ − lr·sign(c); m ← β2·m + (1−β2)·g.
 * `r` rounds after every operation (Math.fround for float32, identity for float64).
 */
function handLion(dtype: DType, o: HandOptions, p0: readonly number[], grads: readonly number[][]) {
  const r = dtype === 'float32' ? Math.fround : (x: number) => x;
  const s = o.maximize ? -1 : 1;
  const lr = r(o.lr);
  const decay = r(1 - o.lr * o.weightDecay);
  const b1 = r(o.betas[0]);
  const omb1 = r(1 - o.betas[0]);
  const b2 = r(o.betas[1]);
  const omb2 = r(1 - o.betas[1]);
  const p = p0.map(r);
  const m = p0.map(() => 0);
  const params: number[][] = [];
  const expAvgs: number[][] = [];
  for (const grad of grads) {
    for (let i = 0; i < p.length; i++) {
      const g = r(grad[i] * s);
      const c = r(r(b1 * m[i]) + r(omb1 * g));
      const sign = c > 0 ? 1 : c < 0 ? -1 : c;
      p[i] = r(r(p[i] * decay) - r(lr * sign));
      m[i] = r(r(b2 * m[i]) + r(omb2 * g));
    }
    params.push([...p]);
    expAvgs.push([...m]);
  }
  return { params, expAvgs };
}

/**
 * Five elements: element 2 has a zero gradient (c = 0: only the decay moves it);
 * element 0's second gradient flips c negative; element 3's second gradient is
 * small and negative while c stays positive (the momentum wins), so a formula
 * that took sign(g) instead of sign(c) fails there.
 */
const P0 = [1.5, -0.25, 0.75, 2, -3];
const G = [
  [0.5, -1, 0, 0.25, -2],
  [-1, 0.5, 0, -0.01, -2.5],
];

describe('Lion: defaults', () => {
  it('lr 1e-4, betas [0.9, 0.99], weightDecay 0, maximize false; state expAvg and step', () => {
    const p = new Float64Array(3);
    const opt = new Lion([p]);
    const { params: _params, ...g } = opt.paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0, maximize: false, ...STORAGE_DEFAULTS });
    expect(opt.state[0]).to.deep.equal({});
    opt.step([new Float64Array([1, -1, 0])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['expAvg', 'step']);
    expect(opt.state[0].step).to.equal(1);
    expect(opt.state[0].expAvg).to.be.instanceOf(Float64Array);
    // Unit-size steps of lr, no move for a zero gradient.
    expect(Array.from(p)).to.deep.equal([-1e-4, 1e-4, 0]);
  });
});

describe('Lion: the first two steps, computed by hand', () => {
  const optionSets: HandOptions[] = [
    { lr: 0.1, betas: [0.9, 0.99], weightDecay: 0, maximize: false },
    { lr: 0.1, betas: [0.9, 0.99], weightDecay: 0.5, maximize: false },
    { lr: 0.05, betas: [0.8, 0.9], weightDecay: 0.3, maximize: true },
  ];
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const o of optionSets) {
      for (const backend of ['native', 'js'] as const) {
        it(`${dtype} ${JSON.stringify(o)} ${backend}`, () => {
          const want = handLion(dtype, o, P0, G);
          const param = make(dtype, P0);
          const opt = makeOptimizer('Lion', [param], { ...o }, backend);
          G.forEach((g, k) => {
            opt.step([make(dtype, g)]);
            expectBitIdentical(param, make(dtype, want.params[k]), `step ${k + 1}: param`);
            expectBitIdentical(opt.state[0].expAvg as Tensor, make(dtype, want.expAvgs[k]), `step ${k + 1}: expAvg`);
            expect(opt.state[0].step).to.equal(k + 1);
          });
        });
      }
    }
  }

  it('the expected numbers themselves (float64, no weight decay): unit steps of lr in the direction of −sign(c)', () => {
    const want = handLion('float64', { lr: 0.1, betas: [0.9, 0.99], weightDecay: 0, maximize: false }, P0, G);
    // Step 1: c = 0.1·g, so the step is −0.1·sign(g); the zero gradient does not move its element.
    expect(want.params[0]).to.deep.equal([1.5 - 0.1, -0.25 + 0.1, 0.75, 2 - 0.1, -3 + 0.1]);
    // Step 2, element 0: c = 0.9·0.005 + 0.1·(−1) < 0 → +0.1; element 3: c = 0.9·0.0025 − 0.001 > 0 → −0.1.
    expect(want.params[1][0]).to.equal(1.5 - 0.1 + 0.1);
    expect(want.params[1][3]).to.equal(2 - 0.1 - 0.1);
    expect(want.params[1][2]).to.equal(0.75);
  });

  it('weight decay multiplies the param by (1 − lr·wd) before the signed step, even where c = 0', () => {
    for (const backend of ['native', 'js'] as const) {
      const p = new Float64Array([2, -4]);
      const opt = makeOptimizer('Lion', [p], { lr: 0.1, weightDecay: 0.5 }, backend);
      opt.step([new Float64Array([0, 3])]);
      expect(p[0]).to.equal(2 * (1 - 0.05));
      expect(p[1]).to.equal(-4 * (1 - 0.05) - 0.1);
    }
  });

  it('gradScale scales the gradient before the momentum (exact power of two: same bits as a pre-scaled gradient)', () => {
    for (const backend of ['native', 'js'] as const) {
      const a = new Float32Array(P0);
      const b = new Float32Array(P0);
      const oa = makeOptimizer('Lion', [a], { lr: 0.1 }, backend);
      const ob = makeOptimizer('Lion', [b], { lr: 0.1 }, backend);
      for (const g of G) {
        oa.step([new Float32Array(g)], { gradScale: 0.25 });
        ob.step([new Float32Array(g.map((x) => x * 0.25))]);
      }
      expectSameOptimizer(oa, ob, `${backend} gradScale`);
    }
  });

  it('a NaN gradient propagates into its param and momentum (sign(NaN) is NaN), on both backends', () => {
    for (const backend of ['native', 'js'] as const) {
      const p = new Float64Array([1, 1]);
      const opt = makeOptimizer('Lion', [p], { lr: 0.1 }, backend);
      opt.step([new Float64Array([NaN, 1])]);
      expect(Number.isNaN(p[0]), backend).to.equal(true);
      expect(Number.isNaN((opt.state[0].expAvg as Tensor)[0]), backend).to.equal(true);
      expect(p[1]).to.equal(0.9);
    }
  });
});

describe('Lion: native and js bit-identical over every option, thread count and length', () => {
  const LENGTHS = [1, 37, 1000, 70_001];
  const saved = getNumThreads();
  after(() => setNumThreads(saved));
  // Every Lion combination the shared option matrix lists.
  const variants = allVariants()
    .filter((v) => v.optimizer === 'Lion')
    .map((v) => v.options);
  for (const threads of [1, 2]) {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      it(`${dtype}, ${threads} thread(s), ${variants.length} option combinations, 4 steps (one clipped)`, () => {
        setNumThreads(threads);
        try {
          for (const options of variants) {
            const initial = randomTensors(dtype, LENGTHS, 31);
            const native = makeOptimizer('Lion', cloneTensors(initial), options, 'native');
            const js = makeOptimizer('Lion', cloneTensors(initial), options, 'js');
            for (let step = 1; step <= 4; step++) {
              const grads = caseGrads(initial, 32, step);
              const opts = step === 3 ? { maxGradNorm: 1 } : step === 4 ? { gradScale: 0.5 } : undefined;
              const a = native.step(grads, opts);
              const b = js.step(grads, opts);
              expect(Object.is(a.gradNorm, b.gradNorm), 'gradNorm').to.equal(true);
            }
            expectSameOptimizer(native, js, `${JSON.stringify(options)} ${dtype} threads ${threads}`);
            // The params really moved.
            expect(paramsOf(native)[3][0]).to.not.equal(initial[3][0]);
          }
        } finally {
          setNumThreads(saved);
        }
      });
    }
  }
});

describe('Lion: invalid options are rejected and change nothing', () => {
  const cases: Array<[Record<string, unknown>, ExpectedError]> = [
    [{ lr: -1 }, range(OUT_OF_RANGE, 'Lion: options.lr', '-1')],
    [{ betas: [1, 0.5] }, range(OUT_OF_RANGE, 'Lion: options.betas[0]', '1')],
    [{ betas: [0.9] }, range(INVALID_ARG_VALUE, 'Lion: options.betas')],
    [{ betas: 0.9 }, type(INVALID_ARG_TYPE, 'Lion: options.betas')],
    [{ weightDecay: -1 }, range(OUT_OF_RANGE, 'Lion: options.weightDecay', '-1')],
    [{ maximize: 1 }, type(INVALID_ARG_TYPE, 'Lion: options.maximize')],
    [{ eps: 1e-8 }, range(INVALID_ARG_VALUE, 'Lion: options', '"eps"')],
    [{ momentum: 0.9 }, range(INVALID_ARG_VALUE, 'Lion: options', '"momentum"')],
  ];
  for (const [options, expected] of cases) {
    it(JSON.stringify(options), () => {
      const p = new Float32Array([1, 2, 3]);
      expectError(() => new Lion([p], options as never), expected, 'new Lion');
      expect(Array.from(p)).to.deep.equal([1, 2, 3]);
      // In a param group: named by the group, nothing added.
      const groupExpected = { ...expected, mentions: (expected.mentions ?? []).map((m) => (typeof m === 'string' ? m.replace('options', 'params[1]') : m)) };
      expectError(() => new Lion([{ params: [p] }, { params: [new Float32Array(2)], ...options }] as never), groupExpected, 'new Lion (group)');
      // addParamGroup on a trained Lion: refused, nothing changed.
      const opt = new Lion([p], { lr: 0.01, weightDecay: 0.1 });
      opt.step([new Float32Array([0.5, -0.5, 1])]);
      const snap = snapshotOptimizer(opt);
      const addExpected = { ...expected, mentions: (expected.mentions ?? []).map((m) => (typeof m === 'string' ? m.replace('options', 'addParamGroup: group') : m)) };
      expectError(() => opt.addParamGroup({ params: [new Float32Array(2)], ...options } as never), addExpected, 'addParamGroup');
      expectUnchanged(opt, snap);
    });
  }

  it('betas made invalid between steps are refused at the step, changing nothing', () => {
    const opt = new Lion([new Float64Array([1, 2])], { lr: 0.01 });
    opt.step([new Float64Array([1, 1])]);
    (opt.paramGroups[0] as unknown as { betas: number[] }).betas[1] = 1.5;
    const g = new Float64Array([1, -1]);
    const snap = snapshotOptimizer(opt, [g]);
    expectError(() => opt.step([g]), range(OUT_OF_RANGE, 'paramGroups[0].betas[1]'));
    expectUnchanged(opt, snap);
  });
});

const OPTIONS = { lr: 0.01, betas: [0.8, 0.95] as [number, number], weightDecay: 0.1, maximize: true };
const LENS = [5, 1000, 37];

/** A Lion over two groups (float32 and float64), `steps` steps in. */
function trainedLion(steps: number, backend: 'native' | 'js' = 'native') {
  const f32 = randomTensors('float32', LENS.slice(0, 2), 41);
  const f64 = randomTensors('float64', LENS.slice(2), 42);
  const opt = makeOptimizer('Lion', [{ params: f32 }, { params: f64, lr: 0.003 }], OPTIONS, backend);
  for (let step = 1; step <= steps; step++) opt.step(caseGrads(paramsOf(opt), 43, step));
  return opt;
}

describe('Lion: state dicts and checkpoints resume bit-identically', () => {
  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: stateDict → loadStateDict into a fresh Lion continues bit-identically`, () => {
      const a = trainedLion(3, backend);
      const sd = a.stateDict();
      expect(Object.keys(sd.state)).to.deep.equal(['0', '1', '2']);
      expect(Object.keys(sd.state[0]).sort()).to.deep.equal(['expAvg', 'step']);
      const b = makeOptimizer(
        'Lion',
        [{ params: cloneTensors(paramsOf(a).slice(0, 2)) }, { params: cloneTensors(paramsOf(a).slice(2)) }],
        { lr: 0.5 },
        backend,
      );
      b.loadStateDict(sd);
      expect(b.paramGroups[1].lr).to.equal(0.003);
      expect(b.paramGroups[0].betas).to.deep.equal([0.8, 0.95]);
      // The loaded buffers are copies.
      (sd.state[0].expAvg as Float32Array).fill(7);
      expect((b.state[0].expAvg as Float32Array)[0]).to.not.equal(7);
      expectSameOptimizer(b, a, 'just loaded');
      for (let step = 4; step <= 6; step++) {
        const grads = caseGrads(paramsOf(a), 43, step);
        a.step(grads);
        b.step(grads);
      }
      expectSameOptimizer(b, a, 'three steps later');
    });
  }

  it('a checkpoint (saveCheckpoint / loadCheckpoint) resumes bit-identically', () => {
    const a = trainedLion(3);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-lion-')), 'ck.safetensors');
    saveCheckpoint(file, { model: { params: paramsOf(a) }, optimizer: a });
    // Differently initialised live objects, a step in.
    const b = makeOptimizer(
      'Lion',
      [{ params: randomTensors('float32', LENS.slice(0, 2), 90) }, { params: randomTensors('float64', LENS.slice(2), 91) }],
      { lr: 0.2 },
    );
    b.step(caseGrads(paramsOf(b), 92, 1));
    const ck = loadCheckpoint(file, { model: { params: paramsOf(b) }, optimizer: b });
    expect(ck.optimizer?.class).to.equal('Lion');
    expectSameOptimizer(b, a, 'loaded');
    for (let step = 4; step <= 6; step++) {
      const grads = caseGrads(paramsOf(a), 43, step);
      a.step(grads);
      b.step(grads);
    }
    expectSameOptimizer(b, a, 'three steps after the checkpoint');
  });

  it('a Lion state dict is refused by an Adam (another class) and vice versa, changing nothing', () => {
    const lion = trainedLion(1);
    const adam = makeOptimizer('Adam', [{ params: cloneTensors(paramsOf(lion).slice(0, 2)) }, { params: cloneTensors(paramsOf(lion).slice(2)) }], { lr: 0.01 });
    adam.step(caseGrads(paramsOf(adam), 1, 1));
    const snapAdam = snapshotOptimizer(adam);
    expectError(() => adam.loadStateDict(lion.stateDict()), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH });
    expectUnchanged(adam, snapAdam);
    const snapLion = snapshotOptimizer(lion);
    expectError(() => lion.loadStateDict(adam.stateDict()), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH });
    expectUnchanged(lion, snapLion);
  });
});

describe('Lion: OneCycleLR cycles betas[0]', () => {
  it("writes betas[0] of Lion's groups each step, along the schedule, and the steps match a Lion given those betas by hand", () => {
    const TOTAL = 10;
    const initial = randomTensors('float32', [7, 37], 51);
    const opt = makeOptimizer('Lion', cloneTensors(initial), { lr: 0.01, betas: [0.9, 0.99], weightDecay: 0.1 }) as AnyOptimizer;
    const scheduler = new OneCycleLR(opt as never, { maxLr: 0.01, totalSteps: TOTAL });
    const byHand = makeOptimizer('Lion', cloneTensors(initial), { lr: 0.01, betas: [0.9, 0.99], weightDecay: 0.1 });
    // PyTorch's OneCycleLR (two phases, cos): warm-up ends at step 0.3·10 − 1 = 2, then anneals to the end at step 9;
    // the momentum goes 0.95 → 0.85 → 0.95.
    const cos = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
    const expectedMomentum = (k: number) => (k <= 2 ? cos(0.95, 0.85, k / 2) : cos(0.85, 0.95, (k - 2) / 7));
    const seen: number[] = [];
    for (let k = 0; k < TOTAL; k++) {
      const group = opt.paramGroups[0] as unknown as { betas: [number, number]; lr: number };
      expect(group.betas[0], `betas[0] at step ${k}`).to.be.closeTo(expectedMomentum(k), 1e-12);
      expect(group.betas[1], `betas[1] at step ${k}`).to.equal(0.99);
      seen.push(group.betas[0]);
      const handGroup = byHand.paramGroups[0] as unknown as { betas: [number, number]; lr: number };
      handGroup.betas = [group.betas[0], 0.99];
      handGroup.lr = group.lr;
      const grads = caseGrads(initial, 52, k + 1);
      opt.step(grads);
      byHand.step(grads);
      expectSameOptimizer(opt, byHand, `step ${k + 1}`);
      scheduler.step();
    }
    // It really cycled: down to 0.85 at the peak and back up.
    expect(seen[2]).to.be.closeTo(0.85, 1e-12);
    expect(Math.min(...seen)).to.be.closeTo(0.85, 1e-12);
    expect(seen[9]).to.be.closeTo(0.95, 1e-12);
  });

  it('a Lion stepped with a cycled beta1 differs from one with a fixed beta1 (the kernel reads betas[0] every step)', () => {
    const initial = randomTensors('float64', [37], 53);
    const a = makeOptimizer('Lion', cloneTensors(initial), { lr: 0.01 });
    const b = makeOptimizer('Lion', cloneTensors(initial), { lr: 0.01 });
    const scheduler = new OneCycleLR(a as never, { maxLr: 0.01, totalSteps: 10, divFactor: 1, finalDivFactor: 1 });
    for (let k = 0; k < 5; k++) {
      const grads = caseGrads(initial, 54, k + 1);
      a.step(grads);
      b.step(grads);
      scheduler.step();
    }
    // Same lr throughout (divFactor 1, finalDivFactor 1): only beta1 differs.
    expect(a.paramGroups[0].lr).to.equal(0.01);
    expect(Array.from(a.state[0].expAvg as Tensor)).to.deep.equal(Array.from(b.state[0].expAvg as Tensor));
    expect(Array.from(paramsOf(a)[0])).to.not.deep.equal(Array.from(paramsOf(b)[0]));
  });
});
