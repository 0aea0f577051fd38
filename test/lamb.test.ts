/**
 * LAMB (You et al. 2020, timm's variant: see lib/optim/lamb.ts): hand-computed
 * steps in float64 (to 1e-12), the trust ratio per tensor and its zero-norm
 * cases, norms that do not depend on the thread count across several
 * reduction blocks, and rejected options. The generic suites (test/helpers/
 * optimizers.ts tables) cover native vs JS bit for bit over every option,
 * instruction set and thread count, state dicts and checkpoints.
 */
import { expect } from 'chai';
import { LAMB, OneCycleLR } from '../lib';
import { ErrorCodes } from '../lib/errors';
import type { DType, Tensor } from '../lib/tensor';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { ExpectedError, expectError } from './helpers/errors';
import { caseGrads, expectSameOptimizer, makeOptimizer } from './helpers/optimizers';
import { cloneTensors, randomTensors } from './helpers/random';

const { OUT_OF_RANGE, INVALID_ARG_VALUE } = ErrorCodes;
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });

interface HandOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  maximize: boolean;
}

const norm = (xs: readonly number[]): number => Math.sqrt(xs.reduce((a, x) => a + x * x, 0));

/**
 * LAMB written from the paper and timm's lamb.py, in plain float64, one tensor
 * at a time, independently of the library: returns the params after each step.
 */
function handLamb(o: HandOptions, p0: readonly number[][], grads: readonly number[][][]): number[][][] {
  const p = p0.map((t) => [...t]);
  const m = p0.map((t) => t.map(() => 0));
  const v = p0.map((t) => t.map(() => 0));
  const out: number[][][] = [];
  grads.forEach((step, k) => {
    const t = k + 1;
    const bc1 = 1 - o.betas[0] ** t;
    const bc2 = 1 - o.betas[1] ** t;
    step.forEach((grad, j) => {
      const u = grad.map((g0, i) => {
        const g = o.maximize ? -g0 : g0;
        m[j][i] = o.betas[0] * m[j][i] + (1 - o.betas[0]) * g;
        v[j][i] = o.betas[1] * v[j][i] + (1 - o.betas[1]) * g * g;
        return m[j][i] / bc1 / (Math.sqrt(v[j][i] / bc2) + o.eps) + o.weightDecay * p[j][i];
      });
      const pn = norm(p[j]);
      const un = norm(u);
      const ratio = pn > 0 && un > 0 ? pn / un : 1;
      p[j] = p[j].map((x, i) => x - o.lr * ratio * u[i]);
    });
    out.push(p.map((x) => [...x]));
  });
  return out;
}

const P0 = [
  [1.5, -0.25, 0.75, 2, -3],
  [0.1, -0.2, 0.3],
];
const G = [
  [
    [0.5, -1, 0, 0.25, -2],
    [0.01, 0.02, -0.03],
  ],
  [
    [-1, 0.5, 0.1, -0.01, -2.5],
    [0.5, -0.5, 0.25],
  ],
];

function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(actual[i], `${what}[${i}]`).to.be.closeTo(expected[i], 1e-12 * Math.max(1, Math.abs(expected[i])));
  }
}

describe('LAMB: defaults', () => {
  it('lr 1e-3, betas [0.9, 0.999], eps 1e-6, weightDecay 0, maximize false; state expAvg, expAvgSq, step', () => {
    const opt = new LAMB([new Float64Array([1, 2, 3])]);
    const { params: _params, ...g } = opt.paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0, maximize: false });
    opt.step([new Float64Array([1, -1, 0.5])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['expAvg', 'expAvgSq', 'step']);
  });
});

describe('LAMB: steps computed by hand (float64, 1e-12)', () => {
  const optionSets: HandOptions[] = [
    { lr: 0.1, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0, maximize: false },
    { lr: 0.05, betas: [0.8, 0.95], eps: 1e-3, weightDecay: 0.1, maximize: true },
  ];
  for (const o of optionSets) {
    for (const backend of ['native', 'js'] as const) {
      it(`${JSON.stringify(o)} ${backend}: two steps, two tensors with their own trust ratios`, () => {
        const want = handLamb(o, P0, G);
        const params = P0.map((x) => new Float64Array(x));
        const opt = makeOptimizer('LAMB', params, { ...o }, backend);
        G.forEach((grads, k) => {
          opt.step(grads.map((g) => new Float64Array(g)));
          params.forEach((p, j) => expectClose(p, want[k][j], `step ${k + 1}: params[${j}]`));
        });
      });
    }
  }

  it('the first step, written out: u = g/(|g| + ε) (+ λθ), θ ← θ − lr·(‖θ‖/‖u‖)·u', () => {
    // Step 1: m̂ = g and v̂ = g², so u_i = g_i / (|g_i| + ε) + λθ_i.
    const theta = [3, 4];
    const g = [2, -0.5];
    const lr = 0.1, eps = 1e-6, wd = 0.01;
    const u = g.map((gi, i) => gi / (Math.abs(gi) + eps) + wd * theta[i]);
    const ratio = 5 / Math.hypot(u[0], u[1]);
    for (const backend of ['native', 'js'] as const) {
      const p = new Float64Array(theta);
      makeOptimizer('LAMB', [p], { lr, eps, weightDecay: wd }, backend).step([new Float64Array(g)]);
      expectClose(p, [3 - lr * ratio * u[0], 4 - lr * ratio * u[1]], backend);
    }
    // The point of the trust ratio: the step's length is lr·‖θ‖ = 0.5, whatever the gradient's size.
    expect(Math.hypot(lr * ratio * u[0], lr * ratio * u[1])).to.be.closeTo(0.5, 1e-12);
  });
});

describe('LAMB: the trust ratio is 1 where either norm is 0', () => {
  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: a zero param takes Adam's step (‖θ‖ = 0), and a zero update leaves its param alone (‖u‖ = 0)`, () => {
      const zero = new Float64Array(3);
      const still = new Float64Array([1, -2, 3]);
      const opt = makeOptimizer('LAMB', [zero, still], { lr: 0.1 }, backend);
      opt.step([new Float64Array([2, -1, 0]), new Float64Array(3)]);
      // Ratio 1: θ ← 0 − 0.1·g/(|g| + 1e-6), the unscaled Adam direction.
      expectClose(zero, [-0.1 * (2 / (2 + 1e-6)), 0.1 * (1 / (1 + 1e-6)), 0], 'zero param');
      // u = 0 (no gradient, no decay): ratio 1, nothing moves, no NaN from 0/0.
      expect(Array.from(still)).to.deep.equal([1, -2, 3]);
    });
  }

  it('float32 too, bit-identical across backends', () => {
    const a = [new Float32Array(5), new Float32Array([1, 2, 3])];
    const b = cloneTensors(a);
    const grads = [new Float32Array([1, -2, 0, 3, 0.5]), new Float32Array(3)];
    const na = makeOptimizer('LAMB', a, { lr: 0.1 }, 'native');
    const nb = makeOptimizer('LAMB', b, { lr: 0.1 }, 'js');
    na.step(grads);
    nb.step(grads);
    expectSameOptimizer(na, nb, 'zero norms, float32');
    expect(Array.from(a[1])).to.deep.equal([1, 2, 3]);
  });
});

describe('LAMB: per-tensor norms over several reduction blocks do not depend on the thread count', () => {
  const saved = getNumThreads();
  after(() => setNumThreads(saved));
  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`${dtype}: tensors of 3 and 5 blocks, 1 vs 2 threads vs js, three steps`, () => {
      const initial = randomTensors(dtype, [40_000, 5, 70_001, 0, 16_384], 61);
      const results: Tensor[][] = [];
      for (const [threads, backend] of [[1, 'native'], [2, 'native'], [1, 'js']] as const) {
        setNumThreads(threads);
        const params = cloneTensors(initial);
        const opt = makeOptimizer('LAMB', params, { lr: 0.01, weightDecay: 0.05 }, backend);
        for (let step = 1; step <= 3; step++) opt.step(caseGrads(initial, 62, step));
        results.push(params);
      }
      setNumThreads(saved);
      for (const other of results.slice(1)) {
        other.forEach((t, i) => expect(Buffer.from(t.buffer).equals(Buffer.from(results[0][i].buffer)), `tensor ${i}`).to.equal(true));
      }
      expect(results[0][2][0]).to.not.equal(initial[2][0]);
    });
  }
});

describe('LAMB: invalid options are rejected', () => {
  const cases: Array<[Record<string, unknown>, ExpectedError]> = [
    [{ lr: -1 }, range(OUT_OF_RANGE, 'LAMB: options.lr', '-1')],
    [{ betas: [1, 0.5] }, range(OUT_OF_RANGE, 'LAMB: options.betas[0]')],
    [{ eps: -1e-6 }, range(OUT_OF_RANGE, 'LAMB: options.eps')],
    [{ weightDecay: -0.1 }, range(OUT_OF_RANGE, 'LAMB: options.weightDecay')],
    [{ momentum: 0.9 }, range(INVALID_ARG_VALUE, 'LAMB: options', '"momentum"')],
  ];
  for (const [options, expected] of cases) {
    it(JSON.stringify(options), () => {
      const p = new Float32Array([1, 2, 3]);
      expectError(() => new LAMB([p], options as never), expected, 'new LAMB');
      expect(Array.from(p)).to.deep.equal([1, 2, 3]);
    });
  }
});

describe('LAMB: OneCycleLR cycles betas[0]', () => {
  it('writes betas[0] each step, and the steps equal a LAMB given those betas by hand', () => {
    const initial = randomTensors('float32', [7, 37], 71);
    const opt = makeOptimizer('LAMB', cloneTensors(initial), { lr: 0.01 });
    const byHand = makeOptimizer('LAMB', cloneTensors(initial), { lr: 0.01 });
    const scheduler = new OneCycleLR(opt as never, { maxLr: 0.01, totalSteps: 10 });
    const seen: number[] = [];
    // Two phases of 10 steps: the momentum peaks (lowest) at step 0.3·10 − 1 = 2.
    for (let k = 0; k < 10; k++) {
      const group = opt.paramGroups[0] as unknown as { betas: [number, number]; lr: number };
      seen.push(group.betas[0]);
      expect(group.betas[1]).to.equal(0.999);
      const hand = byHand.paramGroups[0] as unknown as { betas: [number, number]; lr: number };
      hand.betas = [group.betas[0], 0.999];
      hand.lr = group.lr;
      const grads = caseGrads(initial, 72, k + 1);
      opt.step(grads);
      byHand.step(grads);
      scheduler.step();
    }
    expectSameOptimizer(opt, byHand, 'ten cycled steps');
    // It cycled: 0.95 at the start, down to 0.85 at the peak.
    expect(seen[0]).to.be.closeTo(0.95, 1e-12);
    expect(Math.min(...seen)).to.be.closeTo(0.85, 1e-12);
  });
});
