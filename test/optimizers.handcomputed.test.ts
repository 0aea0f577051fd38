/**
 * The first steps of every optimizer, computed here by hand from PyTorch's
 * documented algorithms (torch.optim docs, pseudo-code), in double precision
 * with plain arithmetic: no library code produces the expected numbers.
 *
 * float64 results must agree to a relative 1e-12, which any rounding
 * difference passes and any formula error (a missing bias correction, eps in
 * the wrong place, dampening on the first step, ...) fails by many orders of
 * magnitude. One float32 run per optimizer checks the same numbers to float32
 * precision.
 */
import { expect } from 'chai';
import type { DType, Tensor } from '../lib/tensor';
import { AnyOptimizer, OptimizerName, Options, makeOptimizer, STORAGE_DEFAULTS } from './helpers/optimizers';

const { sqrt, max } = Math;

/** |actual − expected| ≤ rel·max(|expected|, 1e-300) for every element. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], rel: number, label: string): void {
  expect(actual.length, `${label}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = rel * max(Math.abs(expected[i]), 1e-300);
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= tolerance)) {
      expect.fail(`${label}[${i}]: got ${actual[i]}, expected ${expected[i]} (relative error ${error / Math.abs(expected[i])}, allowed ${rel})`);
    }
  }
}

const REL64 = 1e-12;
/** float32 runs: a few roundings of 2^-24 each, relative to the larger of the value and 1 (an update can cancel most of p). */
const REL32 = 2e-6;

interface Run {
  opt: AnyOptimizer;
  param: Tensor;
  /** The param after each step. */
  after: number[][];
}

/** Steps a single param through the given gradients, recording it after each step. */
function run(name: OptimizerName, options: Options, p0: number[], grads: number[][], dtype: DType = 'float64', backend: 'native' | 'js' = 'native'): Run {
  const make = (xs: number[]) => (dtype === 'float32' ? new Float32Array(xs) : new Float64Array(xs));
  const param = make(p0);
  const opt = makeOptimizer(name, [param], options, backend);
  const after: number[][] = [];
  for (const g of grads) {
    opt.step([make(g)]);
    after.push(Array.from(param));
  }
  return { opt, param, after };
}

function state(r: Run, key: string): number[] {
  const v = r.opt.state[0][key];
  if (v === undefined || typeof v === 'number') throw new Error(`no state buffer ${key}`);
  return Array.from(v);
}

/** Both backends must produce the hand-computed numbers. */
const BACKENDS = ['native', 'js'] as const;

describe('optimizers: defaults', () => {
  const p = () => [new Float64Array(1)];
  it('SGD: lr 1e-3, momentum 0, dampening 0, nesterov false, weightDecay 0, maximize false', () => {
    const { params: _params, ...g } = makeOptimizer('SGD', p()).paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false, ...STORAGE_DEFAULTS });
  });
  it('Adagrad: lr 1e-2, lrDecay 0, weightDecay 0, initialAccumulatorValue 0, eps 1e-8 (the textbook; PyTorch 1e-10)', () => {
    const { params: _params, ...g } = makeOptimizer('Adagrad', p()).paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-8, maximize: false, ...STORAGE_DEFAULTS });
  });
  it('RMSprop: lr 1e-3, alpha 0.9 (the textbook; PyTorch 0.99), eps 1e-8, no momentum, not centered', () => {
    const { params: _params, ...g } = makeOptimizer('RMSprop', p()).paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-3, alpha: 0.9, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false, ...STORAGE_DEFAULTS });
  });
  it('Adam: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0, amsgrad false', () => {
    const { params: _params, ...g } = makeOptimizer('Adam', p()).paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...STORAGE_DEFAULTS });
  });
  it('AdamW: as Adam but weightDecay 0.01 (decoupled)', () => {
    const { params: _params, ...g } = makeOptimizer('AdamW', p()).paramGroups[0];
    expect(g).to.deep.equal({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, amsgrad: false, maximize: false, ...STORAGE_DEFAULTS });
  });
  it('AdaGrad is the same class as Adagrad (the textbook spelling)', async () => {
    const lib = await import('../lib');
    expect(lib.AdaGrad).to.equal(lib.Adagrad);
  });
});

for (const backend of BACKENDS) {
  describe(`optimizers: first steps computed by hand (${backend})`, () => {
    describe('SGD', () => {
      it('plain: θ ← θ − γg', () => {
        const r = run('SGD', { lr: 0.1 }, [1, -2], [[0.5, -0.25], [1, 2]], 'float64', backend);
        expectClose(r.after[0], [1 - 0.1 * 0.5, -2 + 0.1 * 0.25], REL64, 'step 1');
        expectClose(r.after[1], [1 - 0.05 - 0.1, -2 + 0.025 - 0.2], REL64, 'step 2');
        expect(r.opt.state[0]).to.deep.equal({ step: 2 });
      });

      it('weight decay: g ← g + λθ before the update', () => {
        const r = run('SGD', { lr: 0.1, weightDecay: 0.2 }, [1, -2], [[0.5, -0.25], [1, 2]], 'float64', backend);
        const p1 = [1 - 0.1 * (0.5 + 0.2 * 1), -2 - 0.1 * (-0.25 + 0.2 * -2)];
        const p2 = [p1[0] - 0.1 * (1 + 0.2 * p1[0]), p1[1] - 0.1 * (2 + 0.2 * p1[1])];
        expectClose(r.after[0], p1, REL64, 'step 1');
        expectClose(r.after[1], p2, REL64, 'step 2');
      });

      it('maximize: θ ← θ + γg', () => {
        const r = run('SGD', { lr: 0.1, maximize: true, weightDecay: 0.2 }, [1], [[0.5]], 'float64', backend);
        // g ← −∇ + λθ, as PyTorch negates the gradient before adding the decay.
        expectClose(r.after[0], [1 - 0.1 * (-0.5 + 0.2 * 1)], REL64, 'step 1');
      });

      it('momentum: the first buffer is the gradient itself, dampening applies from step 2 on', () => {
        const mu = 0.9, tau = 0.3, lr = 0.1;
        const g = [[0.5, -1], [0.25, 2], [-1, 0.5]];
        const r = run('SGD', { lr, momentum: mu, dampening: tau }, [1, -2], g, 'float64', backend);
        // b₁ = g₁ (PyTorch clones the gradient: no (1 − τ) factor on the first step).
        const b1 = [0.5, -1];
        const p1 = [1 - lr * b1[0], -2 - lr * b1[1]];
        const b2 = [mu * b1[0] + (1 - tau) * 0.25, mu * b1[1] + (1 - tau) * 2];
        const p2 = [p1[0] - lr * b2[0], p1[1] - lr * b2[1]];
        const b3 = [mu * b2[0] + (1 - tau) * -1, mu * b2[1] + (1 - tau) * 0.5];
        const p3 = [p2[0] - lr * b3[0], p2[1] - lr * b3[1]];
        expectClose(r.after[0], p1, REL64, 'step 1');
        expectClose(r.after[1], p2, REL64, 'step 2');
        expectClose(r.after[2], p3, REL64, 'step 3');
        expectClose(state(r, 'momentumBuffer'), b3, REL64, 'momentumBuffer');
        expect(r.opt.state[0].step).to.equal(3);
      });

      it('Nesterov: θ ← θ − γ(g + μb)', () => {
        const mu = 0.9, lr = 0.1;
        const r = run('SGD', { lr, momentum: mu, nesterov: true }, [1], [[0.5], [0.25], [-1]], 'float64', backend);
        const b1 = 0.5;
        const p1 = 1 - lr * (0.5 + mu * b1);
        const b2 = mu * b1 + 0.25;
        const p2 = p1 - lr * (0.25 + mu * b2);
        const b3 = mu * b2 - 1;
        const p3 = p2 - lr * (-1 + mu * b3);
        expectClose(r.after.flat(), [p1, p2, p3], REL64, 'params');
        expectClose(state(r, 'momentumBuffer'), [b3], REL64, 'momentumBuffer');
      });

      it('momentum with weight decay and maximize: the buffer accumulates −∇ + λθ', () => {
        const mu = 0.5, lr = 0.1, wd = 0.1;
        const r = run('SGD', { lr, momentum: mu, weightDecay: wd, maximize: true }, [2], [[1], [3]], 'float64', backend);
        const g1 = -1 + wd * 2;
        const b1 = g1;
        const p1 = 2 - lr * b1;
        const g2 = -3 + wd * p1;
        const b2 = mu * b1 + g2;
        const p2 = p1 - lr * b2;
        expectClose(r.after.flat(), [p1, p2], REL64, 'params');
      });
    });

    describe('Adagrad', () => {
      it('plain: Σ ← Σ + g², θ ← θ − γ g / (√Σ + ε)', () => {
        const lr = 0.1, eps = 1e-8;
        const r = run('Adagrad', { lr }, [1, -1], [[0.5, -2], [0.25, 1], [1, 0]], 'float64', backend);
        let s = [0, 0], p = [1, -1];
        const grads = [[0.5, -2], [0.25, 1], [1, 0]];
        grads.forEach((g, t) => {
          s = [s[0] + g[0] * g[0], s[1] + g[1] * g[1]];
          p = [p[0] - (lr * g[0]) / (sqrt(s[0]) + eps), p[1] - (lr * g[1]) / (sqrt(s[1]) + eps)];
          expectClose(r.after[t], p, REL64, `step ${t + 1}`);
        });
        expectClose(state(r, 'sum'), s, REL64, 'sum');
        // Step 1 in numbers: θ = 1 − 0.1·0.5/(0.5 + 1e-8).
        expectClose([r.after[0][0]], [1 - 0.05 / (0.5 + 1e-8)], REL64, 'step 1 literal');
      });

      it('lr decay: γ̃ = γ / (1 + (t − 1)·η), with initialAccumulatorValue, weight decay and eps', () => {
        const lr = 0.1, eta = 0.5, init = 0.2, wd = 0.1, eps = 1e-3;
        const grads = [0.5, -0.25, 1];
        const r = run('Adagrad', { lr, lrDecay: eta, initialAccumulatorValue: init, weightDecay: wd, eps }, [1], grads.map((g) => [g]), 'float64', backend);
        let s = init, p = 1;
        grads.forEach((raw, t) => {
          const g = raw + wd * p;
          const clr = lr / (1 + t * eta); // t = step − 1
          s += g * g;
          p -= (clr * g) / (sqrt(s) + eps);
          expectClose([r.after[t][0]], [p], REL64, `step ${t + 1}`);
        });
        expectClose(state(r, 'sum'), [s], REL64, 'sum');
      });

      it('maximize: θ ← θ + γ̃ g / (√Σ + ε)', () => {
        const r = run('Adagrad', { lr: 0.1, maximize: true }, [1], [[0.5]], 'float64', backend);
        expectClose(r.after[0], [1 + (0.1 * 0.5) / (0.5 + 1e-8)], REL64, 'step 1');
      });
    });

    describe('RMSprop', () => {
      const grads = [[0.5, -2], [0.25, 1], [-1, 0.5]];

      it('plain: v ← αv + (1 − α)g², θ ← θ − γ g / (√v + ε)', () => {
        const lr = 0.01, a = 0.9, eps = 1e-8;
        const r = run('RMSprop', { lr, alpha: a }, [1, -1], grads, 'float64', backend);
        let v = [0, 0], p = [1, -1];
        grads.forEach((g, t) => {
          v = v.map((vi, i) => a * vi + (1 - a) * g[i] * g[i]);
          p = p.map((pi, i) => pi - (lr * g[i]) / (sqrt(v[i]) + eps));
          expectClose(r.after[t], p, REL64, `step ${t + 1}`);
        });
        expectClose(state(r, 'squareAvg'), v, REL64, 'squareAvg');
        // Step 1 in numbers: v = 0.1·0.25 = 0.025, θ = 1 − 0.01·0.5/(√0.025 + 1e-8).
        expectClose([r.after[0][0]], [1 - 0.005 / (sqrt(0.025) + 1e-8)], REL64, 'step 1 literal');
      });

      it('centered: d = √(v − ḡ²) + ε', () => {
        const lr = 0.01, a = 0.9, eps = 1e-8;
        const r = run('RMSprop', { lr, alpha: a, centered: true }, [1, -1], grads, 'float64', backend);
        let v = [0, 0], m = [0, 0], p = [1, -1];
        grads.forEach((g, t) => {
          v = v.map((vi, i) => a * vi + (1 - a) * g[i] * g[i]);
          m = m.map((mi, i) => a * mi + (1 - a) * g[i]);
          p = p.map((pi, i) => pi - (lr * g[i]) / (sqrt(v[i] - m[i] * m[i]) + eps));
          expectClose(r.after[t], p, REL64, `step ${t + 1}`);
        });
        expectClose(state(r, 'gradAvg'), m, REL64, 'gradAvg');
      });

      it('momentum: b ← μb + g/d, θ ← θ − γb', () => {
        const lr = 0.01, a = 0.99, eps = 1e-8, mu = 0.9;
        const r = run('RMSprop', { lr, alpha: a, momentum: mu }, [1, -1], grads, 'float64', backend);
        let v = [0, 0], b = [0, 0], p = [1, -1];
        grads.forEach((g, t) => {
          v = v.map((vi, i) => a * vi + (1 - a) * g[i] * g[i]);
          b = b.map((bi, i) => mu * bi + g[i] / (sqrt(v[i]) + eps));
          p = p.map((pi, i) => pi - lr * b[i]);
          expectClose(r.after[t], p, REL64, `step ${t + 1}`);
        });
        expectClose(state(r, 'momentumBuffer'), b, REL64, 'momentumBuffer');
      });

      it('centered with momentum, weight decay and maximize', () => {
        const lr = 0.01, a = 0.9, eps = 1e-6, mu = 0.5, wd = 0.1;
        const r = run('RMSprop', { lr, alpha: a, eps, momentum: mu, centered: true, weightDecay: wd, maximize: true }, [1, -1], grads, 'float64', backend);
        let v = [0, 0], m = [0, 0], b = [0, 0], p = [1, -1];
        grads.forEach((raw, t) => {
          const g = raw.map((gi, i) => -gi + wd * p[i]);
          v = v.map((vi, i) => a * vi + (1 - a) * g[i] * g[i]);
          m = m.map((mi, i) => a * mi + (1 - a) * g[i]);
          b = b.map((bi, i) => mu * bi + g[i] / (sqrt(v[i] - m[i] * m[i]) + eps));
          p = p.map((pi, i) => pi - lr * b[i]);
          expectClose(r.after[t], p, REL64, `step ${t + 1}`);
        });
      });
    });

    describe('Adam', () => {
      it('step 1 on p = 1, g = 0.5: m = 0.05, v = 0.00025, bias-corrected m̂ = 0.5, v̂ = 0.25', () => {
        const r = run('Adam', { lr: 0.1 }, [1], [[0.5]], 'float64', backend);
        expectClose(state(r, 'expAvg'), [0.05], REL64, 'expAvg');
        expectClose(state(r, 'expAvgSq'), [0.00025], REL64, 'expAvgSq');
        // PyTorch's arrangement: θ − (γ / (1 − β₁)) · m / (√v / √(1 − β₂) + ε) = 1 − 1·0.05/(0.5 + 1e-8).
        expectClose(r.after[0], [1 - 0.05 / (0.5 + 1e-8)], REL64, 'param');
        expect(r.after[0][0]).to.be.closeTo(0.9, 1e-8); // Adam's first step moves by ≈ lr
        expect(r.opt.state[0].step).to.equal(1);
      });

      it('three steps with bias corrections 1 − βᵗ', () => {
        const lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-8;
        const grads = [[0.5, -2], [0.25, 1], [-1, 0.5]];
        const r = run('Adam', { lr, betas: [b1, b2] }, [1, -1], grads, 'float64', backend);
        let m = [0, 0], v = [0, 0], p = [1, -1];
        grads.forEach((g, i) => {
          const t = i + 1;
          m = m.map((mi, k) => b1 * mi + (1 - b1) * g[k]);
          v = v.map((vi, k) => b2 * vi + (1 - b2) * g[k] * g[k]);
          const mHat = m.map((mi) => mi / (1 - b1 ** t));
          const vHat = v.map((vi) => vi / (1 - b2 ** t));
          p = p.map((pi, k) => pi - (lr * mHat[k]) / (sqrt(vHat[k]) + eps));
          expectClose(r.after[i], p, REL64, `step ${t}`);
        });
        expectClose(state(r, 'expAvg'), m, REL64, 'expAvg');
        expectClose(state(r, 'expAvgSq'), v, REL64, 'expAvgSq');
      });

      it('eps is added to √v̂ (PyTorch), not to √v as in the paper\'s "efficient" form with ε̂', () => {
        // A large eps makes the two arrangements far apart.
        const lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 0.1;
        const grads = [[0.5], [-0.25]];
        const r = run('Adam', { lr, eps }, [1], grads, 'float64', backend);
        let m = 0, v = 0, p = 1, q = 1;
        grads.forEach(([g], i) => {
          const t = i + 1;
          m = b1 * m + (1 - b1) * g;
          v = b2 * v + (1 - b2) * g * g;
          p -= (lr / (1 - b1 ** t)) * (m / (sqrt(v) / sqrt(1 - b2 ** t) + eps));
          q -= ((lr * sqrt(1 - b2 ** t)) / (1 - b1 ** t)) * (m / (sqrt(v) + eps));
          expectClose([r.after[i][0]], [p], REL64, `step ${t}`);
          expect(Math.abs(r.after[i][0] - q), 'differs from the ε̂ form').to.be.above(1e-3);
        });
      });

      it('L2 weight decay (Adam): g ← g + λθ enters both moments', () => {
        const lr = 0.1, wd = 0.5, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const grads = [0.5, 0.25];
        const r = run('Adam', { lr, weightDecay: wd }, [2], grads.map((g) => [g]), 'float64', backend);
        let m = 0, v = 0, p = 2;
        grads.forEach((raw, i) => {
          const t = i + 1;
          const g = raw + wd * p;
          m = b1 * m + (1 - b1) * g;
          v = b2 * v + (1 - b2) * g * g;
          p -= (lr / (1 - b1 ** t)) * (m / (sqrt(v) / sqrt(1 - b2 ** t) + eps));
          expectClose([r.after[i][0]], [p], REL64, `step ${t}`);
        });
        expectClose(state(r, 'expAvg'), [m], REL64, 'expAvg');
      });

      it('amsgrad: the denominator uses the running max of v', () => {
        const lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        // A large gradient then small ones: v falls after step 1 and the max keeps step 1's value.
        const grads = [1, 0.01, 0.01];
        const r = run('Adam', { lr, amsgrad: true }, [1], grads.map((g) => [g]), 'float64', backend);
        let m = 0, v = 0, vMax = 0, p = 1;
        grads.forEach((g, i) => {
          const t = i + 1;
          m = b1 * m + (1 - b1) * g;
          v = b2 * v + (1 - b2) * g * g;
          vMax = max(vMax, v);
          p -= (lr / (1 - b1 ** t)) * (m / (sqrt(vMax) / sqrt(1 - b2 ** t) + eps));
          expectClose([r.after[i][0]], [p], REL64, `step ${t}`);
        });
        expect(v).to.be.below(vMax); // the case really exercises the max
        expectClose(state(r, 'maxExpAvgSq'), [vMax], REL64, 'maxExpAvgSq');
        expectClose(state(r, 'expAvgSq'), [v], REL64, 'expAvgSq');
      });

      it('maximize: ascends', () => {
        const r = run('Adam', { lr: 0.1 }, [1], [[-0.5]], 'float64', backend);
        const s = run('Adam', { lr: 0.1, maximize: true }, [1], [[0.5]], 'float64', backend);
        // Maximizing with g is minimizing with −g: θ = 1 + 0.05/(0.5 + 1e-8).
        expectClose(s.after[0], [1 + 0.05 / (0.5 + 1e-8)], REL64, 'maximize');
        expectClose(s.after[0], r.after[0], REL64, 'maximize(g) = minimize(−g)');
        expect(s.after[0][0]).to.be.above(1);
      });
    });

    describe('AdamW', () => {
      it('decoupled decay: θ ← θ(1 − γλ) before the Adam update, the gradient untouched', () => {
        const lr = 0.1, wd = 0.5, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const grads = [0.5, 0.25, -1];
        const r = run('AdamW', { lr, weightDecay: wd }, [2], grads.map((g) => [g]), 'float64', backend);
        let m = 0, v = 0, p = 2;
        grads.forEach((g, i) => {
          const t = i + 1;
          p *= 1 - lr * wd;
          m = b1 * m + (1 - b1) * g;
          v = b2 * v + (1 - b2) * g * g;
          p -= (lr / (1 - b1 ** t)) * (m / (sqrt(v) / sqrt(1 - b2 ** t) + eps));
          expectClose([r.after[i][0]], [p], REL64, `step ${t}`);
        });
        // The moments saw the raw gradient only.
        expectClose(state(r, 'expAvg'), [m], REL64, 'expAvg');
        // Step 1 in numbers: 2·(1 − 0.05) − 1·0.05/(0.5 + 1e-8).
        expectClose([r.after[0][0]], [2 * 0.95 - 0.05 / (0.5 + 1e-8)], REL64, 'step 1 literal');
      });

      it('default weight decay 0.01 applies', () => {
        const r = run('AdamW', { lr: 0.1 }, [1], [[0.5]], 'float64', backend);
        expectClose(r.after[0], [1 * (1 - 0.1 * 0.01) - 0.05 / (0.5 + 1e-8)], REL64, 'step 1');
      });

      it('with amsgrad and maximize', () => {
        const lr = 0.01, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const grads = [-1, -0.01];
        const r = run('AdamW', { lr, weightDecay: wd, amsgrad: true, maximize: true }, [1], grads.map((g) => [g]), 'float64', backend);
        let m = 0, v = 0, vMax = 0, p = 1;
        grads.forEach((raw, i) => {
          const t = i + 1;
          const g = -raw;
          p *= 1 - lr * wd;
          m = b1 * m + (1 - b1) * g;
          v = b2 * v + (1 - b2) * g * g;
          vMax = max(vMax, v);
          p -= (lr / (1 - b1 ** t)) * (m / (sqrt(vMax) / sqrt(1 - b2 ** t) + eps));
          expectClose([r.after[i][0]], [p], REL64, `step ${t}`);
        });
      });
    });

    describe('float32: the same numbers to float32 precision', () => {
      const cases: Array<[OptimizerName, Options]> = [
        ['SGD', { lr: 0.1, momentum: 0.9, dampening: 0.3 }],
        ['Adagrad', { lr: 0.1, lrDecay: 0.5 }],
        ['RMSprop', { lr: 0.01, centered: true, momentum: 0.5 }],
        ['Adam', { lr: 0.01, amsgrad: true }],
        ['AdamW', { lr: 0.01, weightDecay: 0.5 }],
      ];
      for (const [name, options] of cases) {
        it(`${name} ${JSON.stringify(options)}: float32 within a few float32 roundings of float64`, () => {
          const grads = [[0.5, -2], [0.25, 1], [-1, 0.5]];
          const r64 = run(name, options, [1, -1], grads, 'float64', backend);
          const r32 = run(name, options, [1, -1], grads, 'float32', backend);
          r32.after.forEach((p, t) => expectClose(p.map((x) => x), r64.after[t], REL32, `step ${t + 1}`));
        });
      }
    });
  });
}
