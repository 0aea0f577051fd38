/**
 * Adamax (torch.optim.Adamax): defaults and state names, hand-computed steps
 * in float64 from PyTorch's documented algorithm, the infinity norm's max
 * (ε inside it, NaN propagated). Native against JS bit for bit, validation,
 * state dicts and checkpoints are in the generic suites (test/helpers/optimizers.ts
 * tables) and test/elementwise-optimizers.test.ts.
 */
import { expect } from 'chai';
import { Adamax } from '../lib';
import { expectClose, paramTrajectory } from './helpers/hand';
import type { AnyOptimizer } from './helpers/optimizers';
import { STORAGE_DEFAULTS } from './helpers/optimizers';

interface HandOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  maximize: boolean;
}

/** PyTorch's Adamax, written out: g ← ±∇ + λθ; m ← β₁m + (1−β₁)g; u ← max(β₂u, |g| + ε); θ ← θ − γ/(1−β₁ᵗ)·m/u. */
function handAdamax(o: HandOptions, p0: readonly number[], grads: readonly (readonly number[])[]) {
  const p = [...p0];
  const m = p.map(() => 0);
  const u = p.map(() => 0);
  const params: number[][] = [];
  grads.forEach((grad, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      const g = (o.maximize ? -grad[i] : grad[i]) + o.weightDecay * p[i];
      m[i] = o.betas[0] * m[i] + (1 - o.betas[0]) * g;
      u[i] = Math.max(o.betas[1] * u[i], Math.abs(g) + o.eps);
      p[i] -= (o.lr / (1 - Math.pow(o.betas[0], t))) * (m[i] / u[i]);
    }
    params.push([...p]);
  });
  return { params, m, u };
}

const P0 = [1.5, -0.25, 0.75, 2];
/** Element 2's gradient is 0 at first (u = ε: the step is m/ε = 0), then large; element 1's shrinks, so β₂u wins the max. */
const G = [
  [0.5, -1, 0, 0.25],
  [-1, 0.01, 3, 0.25],
  [0.2, -0.001, -0.5, 0.3],
];

describe('Adamax', () => {
  it('defaults: lr 2e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0, maximize false; state expAvg, expInf, step', () => {
    const opt = new Adamax([new Float64Array(3)]);
    const { params: _params, ...group } = opt.paramGroups[0];
    expect(group).to.deep.equal({
      lr: 2e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0,
      maximize: false,
      ...STORAGE_DEFAULTS,
    });
    opt.step([new Float64Array([1, -1, 0])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['expAvg', 'expInf', 'step']);
  });

  const cases: HandOptions[] = [
    { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maximize: false },
    { lr: 0.05, betas: [0.8, 0.5], eps: 1e-3, weightDecay: 0.1, maximize: true },
  ];
  for (const o of cases) {
    it(`three steps by hand in float64 to 1e-12: ${JSON.stringify(o)}`, () => {
      const param = new Float64Array(P0);
      const opt = new Adamax([param], o) as unknown as AnyOptimizer;
      const got = paramTrajectory(opt, param, G);
      const hand = handAdamax(o, P0, G);
      got.forEach((p, k) => expectClose(p, hand.params[k], 1e-12, `params after step ${k + 1}`));
      expectClose(opt.state[0].expAvg as Float64Array, hand.m, 1e-12, 'expAvg');
      expectClose(opt.state[0].expInf as Float64Array, hand.u, 1e-12, 'expInf');
    });
  }

  it('ε is inside the max: a zero gradient on a fresh param leaves u = ε and the param unmoved', () => {
    const param = new Float64Array([3]);
    const opt = new Adamax([param], { eps: 1e-3 });
    opt.step([new Float64Array([0])]);
    expect((opt.state[0].expInf as Float64Array)[0]).to.equal(1e-3);
    expect(param[0]).to.equal(3);
  });

  it('a NaN gradient propagates into expInf and the param (torch.maximum semantics)', () => {
    for (const backend of ['native', 'js'] as const) {
      const param = new Float32Array([1, 2]);
      const opt = new Adamax([param], { backend });
      opt.step([new Float32Array([NaN, 1])]);
      expect(Number.isNaN((opt.state[0].expInf as Float32Array)[0]), backend).to.equal(true);
      expect(Number.isNaN(param[0]), backend).to.equal(true);
      expect(Number.isNaN(param[1]), backend).to.equal(false);
    }
  });
});
