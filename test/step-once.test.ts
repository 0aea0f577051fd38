/**
 * A cached step computes each thing once (lib/optim/core/step_cache.ts, native/boundary/plan.cc
 * createStep/runStep, lib/optim/core/compiled_checks.ts): the step is one backend call that checks
 * each distinct ArrayBuffer once and runs every plan, clip included; the per-param checks are
 * compiled once. Everything here is compared with the full step, bit for bit: an optimizer given
 * the same Array of the same gradients each step (the cached path) against one given fresh copies
 * each step (never cached), over float32 and float64, odd lengths, 1 and 2 threads, both backends.
 */
import { expect } from 'chai';
import { Adam, NAdam, SGD, AdamWScheduleFree, getNumThreads, setNumThreads } from '../lib';
import type { Optimizer, StepOptions, StepResult } from '../lib';
import { getBackend } from '../lib/backend';
import { nativeKernelIndex } from '../lib/backend/native_backend';
import { ErrorCodes } from '../lib/errors';
import { sgdKernel } from '../lib/kernels/sgd';
import { ReduceKind } from '../lib/kernels/reduce_kind';
import { loadAddon } from '../lib/native';
import type { NativePlan, NativeStep } from '../lib/native';
import type { DType, StateArray, Tensor } from '../lib/tensor';
import { sameValue, sameValuesCheck, stateCheck } from '../lib/optim/core/compiled_checks';
import { detach } from './helpers/buffers';
import { expectAllBitIdentical } from './helpers/bits';
import { ExpectedError, expectError } from './helpers/errors';
import { randomTensors } from './helpers/random';

const { INVALID_ARG_TYPE, OUT_OF_RANGE, NON_FINITE, SHAPE_MISMATCH, DETACHED_BUFFER } = ErrorCodes;
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });

type AnyOpt = Optimizer<{ lr: number }>;

/** Every param's per-param numbers (the step count included). */
function numbers(opt: AnyOpt): Array<Array<[string, unknown]>> {
  return opt.state.map((s) => Object.entries(s).filter(([, v]) => typeof v === 'number'));
}

/** Every param and state buffer of an optimizer, in order. */
function everything(params: readonly Tensor[], opt: AnyOpt): StateArray[] {
  const state = opt.state.flatMap((s) => Object.keys(s).sort().map((k) => s[k]).filter((v): v is StateArray => typeof v === 'object'));
  return [...params, ...state];
}

/** Two optimizers over equal params: `cached` steps with the same Array each time, `full` with fresh copies (never cached). */
function pair(make: (params: Tensor[]) => AnyOpt, dtype: DType, lengths: readonly number[], seed: number) {
  const a = randomTensors(dtype, lengths, seed);
  const b = a.map((t) => t.slice());
  const grads = randomTensors(dtype, lengths, seed + 1);
  return { a, b, grads, cached: make(a), full: make(b) };
}

function expectSameResult(x: StepResult, y: StepResult, label: string): void {
  expect(Object.is(x.gradNorm, y.gradNorm), `${label}: gradNorm ${x.gradNorm} against ${y.gradNorm}`).to.equal(true);
  expect(x.skipped, `${label}: skipped`).to.equal(y.skipped);
}

const OPTIONS: ReadonlyArray<StepOptions | undefined> = [
  undefined,
  { maxGradNorm: 0.5 },
  { maxGradNorm: 1e9 },
  { gradScale: 0.25, maxGradNorm: 0.1 },
  { gradScale: -2, maxGradNorm: 0.3 },
  { normType: 1, maxGradNorm: 0.5 },
  { normType: Infinity, maxGradNorm: 0.05 },
  { normType: 3, maxGradNorm: 0.5 }, // another p: the norm through the plans, then the step
  { skipIfNonfinite: true },
  { errorIfNonfinite: true, maxGradNorm: Infinity },
];

describe('a cached step is the full step, bit for bit', () => {
  let threads = 1;
  before(() => (threads = getNumThreads()));
  after(() => setNumThreads(threads));

  for (const backend of ['native', 'js'] as const) {
    for (const dtype of ['float32', 'float64'] as const) {
      // The JS backend ignores the thread count.
      for (const t of backend === 'js' ? [1] : [1, 2]) {
        it(`${backend} ${dtype}, ${t} thread(s): Adam, maximize Adam, NAdam, SGD momentum under every kind of step option`, () => {
          setNumThreads(t);
          const makers: Array<[string, (p: Tensor[]) => AnyOpt]> = [
            ['Adam', (p) => new Adam(p, { lr: 0.01, backend }) as unknown as AnyOpt],
            ['Adam maximize', (p) => new Adam(p, { lr: 0.01, maximize: true, weightDecay: 0.1, backend }) as unknown as AnyOpt],
            ['NAdam', (p) => new NAdam(p, { lr: 0.01, backend }) as unknown as AnyOpt],
            ['SGD', (p) => new SGD(p, { lr: 0.01, momentum: 0.9, backend }) as unknown as AnyOpt],
          ];
          for (const [name, make] of makers) {
            for (const options of OPTIONS) {
              const label = `${name} ${JSON.stringify(options)}`;
              // Odd lengths, one past a reduction block (16384), a single element.
              const { a, b, grads, cached, full } = pair(make, dtype, [7, 1, 65, 16385], 3);
              for (let k = 0; k < 4; k++) {
                grads.forEach((g, i) => g.forEach((x, j) => (g[j] = Math.sin(x * (k + 2) + i) * (k + 1))));
                const x = cached.step(grads, options);
                const y = full.step(grads.map((g) => g.slice()), options);
                expectSameResult(x, y, `${label}, step ${k}`);
                expectAllBitIdentical(everything(a, cached), everything(b, full), `${label}, step ${k}`);
                expect(numbers(cached), `${label}, step ${k}`).to.deep.equal(numbers(full));
              }
            }
          }
        });
      }
    }

    it(`${backend}: a non-finite gradient through the cached path: skipped or refused, nothing changed, Schedule-Free's group values included`, () => {
      for (const options of [{ skipIfNonfinite: true, maxGradNorm: 1 }, { errorIfNonfinite: true }] as StepOptions[]) {
        const params = randomTensors('float32', [9, 4], 5);
        const grads = randomTensors('float32', [9, 4], 6);
        const opt = new AdamWScheduleFree(params, { lr: 0.01, backend });
        opt.train();
        opt.step(grads, options);
        opt.step(grads, options); // cached from here
        const group = { ...opt.paramGroups[0] };
        const before = everything(params, opt as unknown as AnyOpt).map((x) => x.slice());
        const steps = opt.state.map((s) => s.step);
        grads[1][2] = NaN;
        if (options.skipIfNonfinite) expect(opt.step(grads, options).skipped).to.equal(true);
        else expectError(() => opt.step(grads, options), range(NON_FINITE, 'AdamWScheduleFree: step'));
        expectAllBitIdentical(everything(params, opt as unknown as AnyOpt), before, JSON.stringify(options));
        expect(opt.state.map((s) => s.step)).to.deep.equal(steps);
        expect({ ...opt.paramGroups[0] }).to.deep.equal(group);
        grads[1][2] = 0.5;
        expect(opt.step(grads, options).skipped).to.equal(false);
        expect(opt.state.map((s) => s.step)).to.deep.equal(steps.map((s) => s! + 1));
      }
    });

    it(`${backend}: a gradient swapped in the caller's Array, another Array of the same gradients, a state loaded: each followed`, () => {
      const { a, b, grads, cached, full } = pair((p) => new Adam(p, { lr: 0.01, backend }) as unknown as AnyOpt, 'float32', [5, 33], 7);
      const both = (g: Tensor[], label: string, options?: StepOptions) => {
        expectSameResult(cached.step(g, options), full.step(g.map((x) => x.slice()), options), label);
        expectAllBitIdentical(everything(a, cached), everything(b, full), label);
      };
      both(grads, 'first');
      both(grads, 'cached');
      grads[1] = randomTensors('float32', [33], 8)[0];
      both(grads, 'swapped', { maxGradNorm: 0.2 });
      both(grads, 'swapped, cached', { maxGradNorm: 0.2 });
      both([...grads], 'another Array');
      const saved = full.stateDict();
      cached.loadStateDict(saved);
      both(grads, 'after loadStateDict');
      (cached.state[0] as Record<string, unknown>).expAvg = (cached.state[0].expAvg as Float32Array).slice();
      (full.state[0] as Record<string, unknown>).expAvg = (full.state[0].expAvg as Float32Array).slice();
      both(grads, 'a state buffer replaced by the user');
      both(grads, 'and cached again');
    });

    it(`${backend}: a gradient detached between cached steps: the full step's own message, nothing changed`, () => {
      const params = randomTensors('float64', [3, 11], 9);
      const grads = randomTensors('float64', [3, 11], 10);
      const opt = new Adam(params, { backend });
      opt.step(grads, { maxGradNorm: 1 });
      opt.step(grads, { maxGradNorm: 1 });
      const before = everything(params, opt as unknown as AnyOpt).map((x) => x.slice());
      detach(grads[1]);
      expectError(() => opt.step(grads, { maxGradNorm: 1 }), type(DETACHED_BUFFER, 'Adam: step: grads[1]'));
      expectAllBitIdentical(everything(params, opt as unknown as AnyOpt), before, 'after the refusal');
      expect(opt.state.map((s) => s.step)).to.deep.equal([2, 2]);
    });
  }
});

describe('step options passed as the same object every step', () => {
  it('are validated again whenever a key or a value changed: refused as a fresh object would be, nothing changed', () => {
    const params = randomTensors('float32', [6], 11);
    const grads = randomTensors('float32', [6], 12);
    const opt = new Adam(params, { lr: 0.01 });
    const options: Record<string, unknown> = { maxGradNorm: 1, normType: undefined };
    opt.step(grads, options);
    opt.step(grads, options);
    const before = params[0].slice();
    const refused: Array<[string, () => void, ExpectedError]> = [
      ['a negative maxGradNorm', () => (options.maxGradNorm = -1), range(OUT_OF_RANGE, 'options.maxGradNorm')],
      ['a NaN gradScale', () => (options.gradScale = NaN), range(NON_FINITE, 'options.gradScale')],
      ['an unknown key in place of one set to undefined', () => (delete options.normType, (options.maxGradNorm2 = 1)), range(ErrorCodes.INVALID_ARG_VALUE, 'unknown option "maxGradNorm2"')],
      ['a normType of 0', () => (options.normType = 0), range(OUT_OF_RANGE, 'options.normType')],
      ['a string errorIfNonfinite', () => (options.errorIfNonfinite = 'yes'), type(INVALID_ARG_TYPE, 'options.errorIfNonfinite')],
    ];
    for (const [what, change, expected] of refused) {
      const saved = { ...options };
      change();
      expectError(() => opt.step(grads, options), expected, what);
      expectAllBitIdentical([params[0]], [before], what);
      for (const key of Object.keys(options)) delete options[key];
      Object.assign(options, saved);
    }
    expect(opt.state[0].step).to.equal(2);
    options.maxGradNorm = 1e-3;
    const clipped = opt.step(grads, options);
    expect(clipped.gradNorm).to.be.greaterThan(1e-3);
    expect(opt.state[0].step).to.equal(3);
  });
});

describe('createStep / runStep', () => {
  for (const backendName of ['native', 'js'] as const) {
    const backend = getBackend(backendName);
    /** Plain SGD (θ ← θ − lr·gradScale·g) plans: two over views of one ArrayBuffer, one over its own buffers. */
    const setup = () => {
      const shared = new ArrayBuffer(4 * 48);
      const p0 = new Float32Array(shared, 0, 16);
      const g0 = new Float32Array(shared, 64, 16).fill(1);
      const p1 = new Float32Array(shared, 128, 16);
      const p2 = new Float32Array(5);
      const g2 = new Float32Array(5).fill(-2);
      const plans = [backend.createPlan(sgdKernel, [p0, g0, p1, g0]), backend.createPlan(sgdKernel, [p2, g2])];
      const one = new Float64Array([1, 0, 0.5, 0, 0, 0]);
      return { shared, p0, p1, p2, g0, g2, plans, step: backend.createStep(plans), scalars: new Float64Array([...one, ...one]) };
    };

    it(`${backendName}: runs every plan once per call, the same bits as updatePlanned`, () => {
      const x = setup();
      const y = setup();
      backend.runStep(x.step, x.scalars, 1);
      backend.updatePlanned(y.plans, y.scalars, 1);
      expectAllBitIdentical([x.p0, x.p1, x.p2], [y.p0, y.p1, y.p2], 'runStep against updatePlanned');
      expect(Array.from(x.p2)).to.deep.equal([1, 1, 1, 1, 1]);
    });

    it(`${backendName}: with clip, the norm of every plan's gradients and the clip coefficient in the gradScale`, () => {
      const x = setup();
      // Gradients: g0 twice (16 ones each) and g2 (5 × -2): Σg² = 32 + 20.
      const clip = new Float64Array([ReduceKind.SumSquares, 1, 1, 1]);
      const norm = backend.runStep(x.step, x.scalars, 2, clip)!;
      expect(norm).to.equal(Math.sqrt(52));
      // The same as updatePlanned with gradScale = the clip coefficient.
      const y = setup();
      y.scalars[0] = y.scalars[6] = 1 / (Math.sqrt(52) + 1e-6);
      backend.updatePlanned(y.plans, y.scalars, 2);
      expectAllBitIdentical([x.p0, x.p1, x.p2], [y.p0, y.p1, y.p2], 'clipped runStep against updatePlanned');
      // A non-finite norm under flags 2 runs nothing.
      x.g2[0] = NaN;
      const before = x.p2.slice();
      expect(Number.isNaN(backend.runStep(x.step, x.scalars, 1, new Float64Array([ReduceKind.SumSquares, 1, 1, 3])))).to.equal(true);
      expectAllBitIdentical([x.p2], [before], 'nothing ran');
    });

    it(`${backendName}: a buffer shared by two plans, detached: refused before any plan runs; a grad of the last plan detached: the same`, () => {
      const x = setup();
      const copy = structuredClone(x.shared);
      structuredClone(x.shared, { transfer: [x.shared] });
      expectError(() => backend.runStep(x.step, x.scalars, 1), type(DETACHED_BUFFER));
      expect(new Float32Array(copy, 0, 1)[0]).to.equal(0);
      const y = setup();
      const before = y.p0.slice();
      detach(y.g2);
      expectError(() => backend.runStep(y.step, y.scalars, 1, new Float64Array([0, 1, 1, 1])), type(DETACHED_BUFFER));
      expectAllBitIdentical([y.p0], [before], 'nothing ran');
    });

    it(`${backendName}: garbage is refused with coded errors, nothing run`, () => {
      const x = setup();
      expectError(() => backend.createStep([] as never), range(SHAPE_MISMATCH, 'plans'));
      expectError(() => backend.createStep([x.plans[0], 3] as never), type(INVALID_ARG_TYPE, 'plans[1]'));
      expectError(() => backend.runStep({} as never, x.scalars, 1), type(INVALID_ARG_TYPE, 'step'));
      expectError(() => backend.runStep(x.step, new Float64Array(3), 1), range(SHAPE_MISMATCH, 'scalars'));
      expectError(() => backend.runStep(x.step, x.scalars, 1, new Float64Array([ReduceKind.SumPow, 1, 1, 1])), range(OUT_OF_RANGE, 'clip[0]'));
      expectError(() => backend.runStep(x.step, x.scalars, 1, new Float64Array([0, 1, -1, 1])), range(OUT_OF_RANGE, 'clip[2]'));
      expectError(() => backend.runStep(x.step, x.scalars, 1, new Float64Array([0, 1, 1, 4])), range(OUT_OF_RANGE, 'clip[3]'));
      expectError(() => backend.runStep(x.step, x.scalars, 1, new Float64Array([0, 2, 1, 1])), range(ErrorCodes.INVALID_ARG_VALUE, 'grad_scale'));
      expect(Array.from(x.p2)).to.deep.equal([0, 0, 0, 0, 0]);
    });
  }

  it('the addon refuses a step of the JS backend and a plan where a step goes', () => {
    const addon = loadAddon();
    const js = getBackend('js');
    const jsStep = js.createStep([js.createPlan(sgdKernel, [new Float32Array(2), new Float32Array(2)])]);
    expectError(() => addon.runStep(jsStep as unknown as NativeStep, new Float64Array(6), 1), type(INVALID_ARG_TYPE, 'step'));
    const plan = addon.createPlan(nativeKernelIndex(sgdKernel), [new Float32Array(2), new Float32Array(2)]) as NativePlan;
    expectError(() => addon.runStep(plan as unknown as NativeStep, new Float64Array(6), 1), type(INVALID_ARG_TYPE, 'step'));
    expectError(() => addon.createStep(plan as never), type(INVALID_ARG_TYPE, 'plans'));
  });
});

describe('compiled checks: the generated function and the loop agree', () => {
  it('stateCheck: step counts, per-param numbers (NaN, -0), recorded buffers', () => {
    const m = [new Float32Array(2), new Float32Array(2)];
    const states = [
      { step: 3, mu: 0.5, expAvg: m[0] },
      { step: 3, mu: 0.5, expAvg: m[1] },
    ] as Array<Record<string, unknown>>;
    const cases: Array<[string, () => void, boolean]> = [
      ['as recorded', () => undefined, true],
      ['another step count', () => (states[1].step = 4), false],
      ['another number', () => (states[1].mu = 0.25), false],
      ['NaN against NaN', () => ((states[0].mu = NaN), (states[1].mu = NaN)), true],
      ['-0 against 0', () => ((states[0].mu = -0), (states[1].mu = 0)), false],
      ['another buffer', () => (states[0].expAvg = new Float32Array(2)), false],
      ['no step yet', () => delete states[0].step, false],
    ];
    for (const [what, change, expected] of cases) {
      const saved = states.map((s) => ({ ...s }));
      change();
      for (const interpreted of [false, true]) {
        const check = stateCheck([0, 1], ['mu'], ['expAvg'], [m], interpreted);
        expect(check(states as never), `${what}, ${interpreted ? 'loop' : 'generated'}`).to.equal(expected);
      }
      saved.forEach((s, i) => (states[i] = s));
    }
  });

  it('sameValuesCheck: numbers, strings, nested arrays, and a name that needs quoting', () => {
    const keys = ['lr', 'betas', "it's \"odd\""];
    const validated = [0.1, [0.9, [0.999]], 'x'];
    const cases: Array<[Record<string, unknown>, boolean]> = [
      [{ lr: 0.1, betas: [0.9, [0.999]], "it's \"odd\"": 'x' }, true],
      [{ lr: 0.2, betas: [0.9, [0.999]], "it's \"odd\"": 'x' }, false],
      [{ lr: 0.1, betas: [0.9, [0.99]], "it's \"odd\"": 'x' }, false],
      [{ lr: 0.1, betas: [0.9, [0.999]], "it's \"odd\"": 'y' }, false],
      [{ lr: 0.1, betas: 0.9, "it's \"odd\"": 'x' }, false],
    ];
    for (const [group, expected] of cases) {
      for (const interpreted of [false, true]) expect(sameValuesCheck(keys, interpreted)(group, validated), JSON.stringify(group)).to.equal(expected);
    }
    expect(sameValue([1, [2]], [1, [2]])).to.equal(true);
  });
});
