/**
 * LBFGS (torch.optim.LBFGS's algorithm, lib/optim/lbfgs/lbfgs.ts): the first two
 * iterations by hand (steepest descent with PyTorch's first step length, then
 * the BFGS inverse-Hessian update written as a matrix, independently of the
 * two-loop recursion), the textbook's least-squares problem solved in one
 * step with and without the strong-Wolfe line search, Rosenbrock (where the
 * line search is what makes it converge), native and js bit-identical, the
 * Promise-returning closure, state dicts, and everything refused.
 */
import { expect } from 'chai';
import { LBFGS, StepLR } from '../lib';
import type { ClosureResult } from '../lib/optim/lbfgs/lbfgs';
import { ErrorCodes } from '../lib/errors';
import type { Tensor } from '../lib/tensor';
import { LeastSquares, loadQuadraticReference } from '../lib/cli/jobs/compare/least_squares';
import { expectBitIdentical } from './helpers/bits';
import { ExpectedError, expectError } from './helpers/errors';

const { OUT_OF_RANGE, INVALID_ARG_VALUE, INVALID_ARG_TYPE, SHAPE_MISMATCH, STATE_DICT_MISMATCH } = ErrorCodes;
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });

const ref = loadQuadraticReference();
const problem = new LeastSquares(ref.A, ref.b);

/** The closure of the least-squares problem at x, counting its calls. */
function leastSquares(x: Float64Array) {
  const grad = new Float64Array(x.length);
  const counter = { calls: 0 };
  const closure = (): ClosureResult => {
    counter.calls += 1;
    problem.gradient(x, grad);
    return { loss: problem.loss(x), grads: [grad] };
  };
  return { closure, counter };
}

/** Rosenbrock's function of (a, b) = x, minimum 0 at (1, 1). */
function rosenbrock(x: Tensor) {
  const grad = new (x.constructor as Float64ArrayConstructor)(2);
  return (): ClosureResult => {
    const [a, b] = x;
    grad[0] = -2 * (1 - a) - 400 * a * (b - a * a);
    grad[1] = 200 * (b - a * a);
    return { loss: (1 - a) ** 2 + 100 * (b - a * a) ** 2, grads: [grad] };
  };
}

const matVec = (m: number[][], v: readonly number[]) => m.map((row) => row.reduce((s, mij, j) => s + mij * v[j], 0));
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, ai, i) => s + ai * b[i], 0);

function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  for (let i = 0; i < expected.length; i++) {
    expect(actual[i], `${what}[${i}]`).to.be.closeTo(expected[i], 1e-12 * Math.max(1, Math.abs(expected[i])));
  }
}

describe('LBFGS: defaults', () => {
  it("PyTorch's: lr 1, maxIter 20, maxEval ⌊maxIter·5/4⌋, toleranceGrad 1e-7, toleranceChange 1e-9, historySize 100, no line search", () => {
    const opt = new LBFGS([new Float64Array(3)]);
    const { params: _p, ...group } = opt.paramGroups[0];
    expect(group).to.deep.equal({ lr: 1, maxIter: 20, maxEval: 25, toleranceGrad: 1e-7, toleranceChange: 1e-9, historySize: 100, lineSearchFn: null });
    expect(new LBFGS([new Float64Array(3)], { maxIter: 7 }).paramGroups[0].maxEval).to.equal(8);
    // As in PyTorch, maxEval is resolved from the constructor's options: a group's own maxIter leaves it.
    expect(new LBFGS([{ params: [new Float64Array(3)], maxIter: 10 }]).paramGroups[0].maxEval).to.equal(25);
    expect(new LBFGS([new Float64Array(3)], { maxIter: 7, maxEval: 3 }).paramGroups[0].maxEval).to.equal(3);
    expect(opt.state).to.deep.equal([{}]);
  });
});

describe('LBFGS: the first two iterations, by hand (float64)', () => {
  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: iteration 1 is θ − min(1, 1/Σ|g|)·lr·g; iteration 2 is θ − lr·H·g with H the BFGS update of γI`, () => {
      const lr = 0.5;
      const x0 = new Array(problem.dimension).fill(0);
      const grad = (x: number[]) => {
        const out = new Float64Array(x.length);
        problem.gradient(Float64Array.from(x), out);
        return Array.from(out);
      };
      // Iteration 1.
      const g0 = grad(x0);
      const t1 = Math.min(1, 1 / g0.reduce((s, gi) => s + Math.abs(gi), 0)) * lr;
      const x1 = x0.map((xi, i) => xi - t1 * g0[i]);
      // Iteration 2: s = x1 − x0, y = g1 − g0, ρ = 1/yᵀs, γ = yᵀs/yᵀy,
      // H = (I − ρ s yᵀ)·γI·(I − ρ y sᵀ) + ρ s sᵀ, x2 = x1 − lr·H·g1.
      const g1 = grad(x1);
      const s = x1.map((v, i) => v - x0[i]);
      const y = g1.map((v, i) => v - g0[i]);
      const rho = 1 / dot(y, s);
      const gamma = dot(y, s) / dot(y, y);
      const n = x0.length;
      const eye = (i: number, j: number) => (i === j ? 1 : 0);
      const left = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => eye(i, j) - rho * s[i] * y[j]));
      const right = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => eye(i, j) - rho * y[i] * s[j]));
      const H = left.map((row, i) =>
        right[0].map((_, j) => gamma * row.reduce((acc, lik, k) => acc + lik * right[k][j], 0) + rho * s[i] * s[j]),
      );
      const x2 = x1.map((v, i) => v - lr * matVec(H, g1)[i]);

      const x = new Float64Array(n);
      const { closure, counter } = leastSquares(x);
      const opt = new LBFGS([x], { lr, maxIter: 1, backend });
      expect(opt.step(closure)).to.equal(problem.loss(new Float64Array(n)));
      expectClose(x, x1, 'after iteration 1');
      // maxIter 1: the last iteration does not re-evaluate (PyTorch's rule).
      expect(counter.calls).to.equal(1);
      opt.step(closure);
      expectClose(x, x2, 'after iteration 2');
      expect(opt.state[0]).to.include({ nIter: 2, funcEvals: 2 });
      expect((opt.state[0].ro as Float64Array).length).to.equal(1);
      expect((opt.state[0].ro as Float64Array)[0]).to.be.closeTo(rho, 1e-12 * rho);
      expect(opt.state[0].hDiag).to.be.closeTo(gamma, 1e-12 * gamma);
    });
  }
});

describe("LBFGS: the textbook's least-squares problem", () => {
  for (const lineSearchFn of [null, 'strong_wolfe'] as const) {
    for (const backend of ['native', 'js'] as const) {
      it(`${lineSearchFn ?? 'no line search'}, ${backend}: one step (at most 20 iterations) reaches the optimum`, () => {
        const x = new Float64Array(problem.dimension);
        const { closure, counter } = leastSquares(x);
        const opt = new LBFGS([x], { lineSearchFn, backend });
        opt.step(closure);
        expect(problem.loss(x) - ref.optimal_loss).to.be.lessThan(1e-10);
        expect(counter.calls).to.be.at.most(25);
        expect(opt.state[0].funcEvals).to.equal(counter.calls);
        // At the optimum the next step returns at once: max|g| <= toleranceGrad after one call.
        const before = Float64Array.from(x);
        opt.step(closure);
        expect(Array.from(x)).to.deep.equal(Array.from(before));
      });
    }
  }
});

describe('LBFGS: Rosenbrock, where the strong-Wolfe line search matters', () => {
  it('with strong_wolfe one step reaches (1, 1) in fewer iterations and closure calls than fixed steps of the same lr', () => {
    const x = new Float64Array([-1.5, 2]);
    const opt = new LBFGS([x], { lineSearchFn: 'strong_wolfe', maxIter: 100 });
    opt.step(rosenbrock(x));
    expect(x[0]).to.be.closeTo(1, 1e-4);
    expect(x[1]).to.be.closeTo(1, 1e-4);
    const searched = opt.state[0] as { nIter: number; funcEvals: number };
    // The line search spent more closure calls than iterations: it really searched.
    expect(searched.funcEvals).to.be.greaterThan(searched.nIter);

    const fixed = new Float64Array([-1.5, 2]);
    const plain = new LBFGS([fixed], { maxIter: 100 });
    plain.step(rosenbrock(fixed));
    const unsearched = plain.state[0] as { nIter: number; funcEvals: number };
    expect(unsearched.nIter).to.be.greaterThan(1.5 * searched.nIter);
    expect(unsearched.funcEvals).to.be.greaterThan(searched.funcEvals);
  });

  for (const lineSearchFn of [null, 'strong_wolfe'] as const) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`native and js bit-identical: ${dtype}, ${lineSearchFn ?? 'no line search'}, params and history`, () => {
        const make = () => (dtype === 'float32' ? new Float32Array([-1.5, 2]) : new Float64Array([-1.5, 2]));
        const a = make(), b = make();
        const na = new LBFGS([a], { lineSearchFn, lr: lineSearchFn ? 1 : 1e-3, maxIter: 15, backend: 'native' });
        const nb = new LBFGS([b], { lineSearchFn, lr: lineSearchFn ? 1 : 1e-3, maxIter: 15, backend: 'js' });
        for (let k = 0; k < 3; k++) {
          expect(na.step(rosenbrock(a))).to.equal(nb.step(rosenbrock(b)));
        }
        expectBitIdentical(a, b, 'params');
        const sa = na.state[0], sb = nb.state[0];
        expect(Object.keys(sa).sort()).to.deep.equal(Object.keys(sb).sort());
        for (const key of Object.keys(sa)) {
          if (typeof sa[key] === 'number') expect(sa[key], key).to.equal(sb[key]);
          else expectBitIdentical(sa[key] as Tensor, sb[key] as Tensor, key);
        }
      });
    }
  }
});

describe('LBFGS: stepAsync, and a Promise given to step', () => {
  it('stepAsync awaits a closure that returns a Promise and gives the same result as step', async () => {
    const a = new Float64Array([-1.5, 2]);
    const b = new Float64Array([-1.5, 2]);
    const oa = new LBFGS([a], { lineSearchFn: 'strong_wolfe' });
    const ob = new LBFGS([b], { lineSearchFn: 'strong_wolfe' });
    const fa = rosenbrock(a);
    const fb = rosenbrock(b);
    for (let k = 0; k < 2; k++) {
      const sync = oa.step(fa);
      const async = await ob.stepAsync(() => new Promise<ClosureResult>((resolve) => setImmediate(() => resolve(fb()))));
      expect(async).to.equal(sync);
    }
    expectBitIdentical(a, b, 'params');
  });

  it('step refuses a closure that returns a Promise, changing nothing', () => {
    const x = new Float64Array([1, 2]);
    const opt = new LBFGS([x]);
    expectError(() => opt.step(() => Promise.resolve({ loss: 1, grads: [new Float64Array(2)] }) as never), type(INVALID_ARG_TYPE, 'LBFGS: step: closure returned a Promise', 'stepAsync'));
    expect(Array.from(x)).to.deep.equal([1, 2]);
    expect(opt.state).to.deep.equal([{}]);
  });
});

describe('LBFGS: a closure that throws or answers wrongly, mid-step, changes nothing', () => {
  const cases: Array<[string, (good: () => ClosureResult) => () => unknown, ExpectedError]> = [
    // The closure's own error (a RangeError with a code, so the shared helper can check it) comes through as it is.
    ['throws', () => () => { throw Object.assign(new RangeError('model exploded'), { code: 'E_MODEL' }); }, range('E_MODEL', 'model exploded')],
    ['too few gradients', (good) => () => ({ loss: good().loss, grads: [] }), range(SHAPE_MISMATCH, 'LBFGS: closure result.grads', 'expected 1 gradients')],
    ['a gradient of the wrong length', (good) => () => ({ loss: good().loss, grads: [new Float64Array(3)] }), range(SHAPE_MISMATCH, 'LBFGS: closure result.grads[0]')],
    ['a float32 gradient for a float64 param', (good) => () => ({ loss: good().loss, grads: [new Float32Array(2)] }), type(ErrorCodes.DTYPE_MISMATCH, 'LBFGS: closure result.grads[0]')],
    ['a loss that is not a number', (good) => () => ({ loss: '1', grads: good().grads }), type(INVALID_ARG_TYPE, 'LBFGS: closure result.loss')],
    ['not an object', () => () => 42, type(INVALID_ARG_TYPE, 'LBFGS: closure result')],
  ];
  for (const [name, bad, expected] of cases) {
    it(`${name}, on the 4th call (inside the line search of a trained optimizer)`, () => {
      const x = new Float64Array([-1.5, 2]);
      const opt = new LBFGS([x], { lineSearchFn: 'strong_wolfe', maxIter: 5 });
      const good = rosenbrock(x);
      opt.step(good);
      const params = Array.from(x);
      const state = opt.stateDict();
      let calls = 0;
      const wrong = bad(good);
      expectError(() => opt.step(() => (++calls === 4 ? wrong() : good()) as ClosureResult), expected);
      expect(calls).to.equal(4);
      expect(Array.from(x)).to.deep.equal(params);
      expect(opt.stateDict()).to.deep.equal(state);
    });
  }
});

describe('LBFGS: stateDict / loadStateDict', () => {
  it('a fresh LBFGS loaded with a trained one’s state dict continues bit-identically', () => {
    const a = new Float32Array([-1.5, 2]);
    const oa = new LBFGS([a], { lineSearchFn: 'strong_wolfe', maxIter: 4, historySize: 3 });
    for (let k = 0; k < 3; k++) oa.step(rosenbrock(a));
    const sd = oa.stateDict();
    expect(Object.keys(sd.state)).to.deep.equal(['0']);
    expect(Object.keys(sd.state[0]).sort()).to.deep.equal(['d', 'funcEvals', 'hDiag', 'nIter', 'oldDirs', 'oldStps', 'prevFlatGrad', 'prevLoss', 'ro', 't']);
    expect((sd.state[0].ro as Float64Array).length).to.equal(3); // historySize 3: the oldest pairs dropped
    expect((sd.state[0].oldDirs as Float32Array).length).to.equal(6);

    const b = Float32Array.from(a);
    const ob = new LBFGS([b], { lr: 0.1 });
    ob.loadStateDict(sd);
    expect(ob.paramGroups[0]).to.include({ lr: 1, maxIter: 4, historySize: 3, lineSearchFn: 'strong_wolfe' });
    (sd.state[0].d as Float32Array).fill(9); // the loaded state is a copy
    for (let k = 0; k < 2; k++) expect(ob.step(rosenbrock(b))).to.equal(oa.step(rosenbrock(a)));
    expectBitIdentical(b, a, 'params');
  });

  it('refuses a mismatched state dict, changing nothing', () => {
    const a = new Float64Array([-1.5, 2]);
    const trained = new LBFGS([a], { maxIter: 3 });
    trained.step(rosenbrock(a));
    const x = new Float64Array([0, 0]);
    const opt = new LBFGS([x]);
    const corrupt = (edit: (sd: Record<string, any>) => void) => {
      const sd = trained.stateDict() as unknown as Record<string, any>;
      edit(sd);
      return sd;
    };
    const bad: Array<[unknown, ExpectedError]> = [
      [corrupt((sd) => sd.paramGroups.push({ ...sd.paramGroups[0] })), range(STATE_DICT_MISMATCH, 'expected 1 param group')],
      [corrupt((sd) => (sd.paramGroups[0].params = [0, 1])), range(STATE_DICT_MISMATCH, 'expected 1 params')],
      [corrupt((sd) => (sd.paramGroups[0].maxIter = 0)), range(OUT_OF_RANGE, 'maxIter')],
      [corrupt((sd) => (sd.state[0].d = new Float64Array(3))), range(STATE_DICT_MISMATCH, 'state[0].d', 'expected 2 elements')],
      [corrupt((sd) => (sd.state[0].d = new Float32Array(2))), range(STATE_DICT_MISMATCH, 'state[0].d', 'Float64Array')],
      [corrupt((sd) => (sd.state[0].ro = [1])), type(INVALID_ARG_TYPE, 'state[0].ro')],
      [corrupt((sd) => (sd.state[0].oldDirs = new Float64Array(5))), range(STATE_DICT_MISMATCH, 'state[0].oldDirs')],
      [corrupt((sd) => (sd.state[1] = {})), range(STATE_DICT_MISMATCH, 'param 0 only')],
    ];
    for (const [sd, expected] of bad) {
      expectError(() => opt.loadStateDict(sd), expected);
      expect(opt.state).to.deep.equal([{}]);
      expect(opt.paramGroups[0].maxIter).to.equal(20);
    }
  });
});

describe('LBFGS: options', () => {
  const cases: Array<[Record<string, unknown>, ExpectedError]> = [
    [{ lr: -1 }, range(OUT_OF_RANGE, 'LBFGS: options.lr')],
    [{ maxIter: 0 }, range(OUT_OF_RANGE, 'LBFGS: options.maxIter')],
    [{ maxIter: 2.5 }, range(OUT_OF_RANGE, 'LBFGS: options.maxIter')],
    [{ maxEval: 0 }, range(OUT_OF_RANGE, 'LBFGS: options.maxEval')],
    [{ toleranceGrad: -1 }, range(OUT_OF_RANGE, 'LBFGS: options.toleranceGrad')],
    [{ toleranceChange: NaN }, range(ErrorCodes.NON_FINITE, 'LBFGS: options.toleranceChange')],
    [{ historySize: 0 }, range(OUT_OF_RANGE, 'LBFGS: options.historySize')],
    [{ lineSearchFn: 'armijo' }, range(INVALID_ARG_VALUE, 'LBFGS: options.lineSearchFn', "'strong_wolfe'")],
    [{ momentum: 0.9 }, range(INVALID_ARG_VALUE, 'LBFGS: options', '"momentum"')],
  ];
  for (const [options, expected] of cases) {
    it(JSON.stringify(options), () => expectError(() => new LBFGS([new Float64Array(2)], options as never), expected));
  }

  it('one param group only, as PyTorch', () => {
    expectError(() => new LBFGS([{ params: [new Float64Array(2)] }, { params: [new Float64Array(2)] }] as never), range(INVALID_ARG_VALUE, 'LBFGS: params', 'one param group'));
  });

  it('an lr made invalid between steps is refused at the step; a scheduler writes lr like any optimizer', () => {
    const x = new Float64Array([-1.5, 2]);
    const opt = new LBFGS([x], { maxIter: 2, lr: 0.01 });
    opt.paramGroups[0].lr = -1;
    expectError(() => opt.step(rosenbrock(x)), range(OUT_OF_RANGE, 'LBFGS: paramGroups[0].lr'));
    expect(Array.from(x)).to.deep.equal([-1.5, 2]);
    opt.paramGroups[0].lr = 0.01;
    const scheduler = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    opt.step(rosenbrock(x));
    scheduler.step();
    expect(opt.lr).to.equal(0.005);
  });
});
