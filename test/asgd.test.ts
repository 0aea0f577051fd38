/**
 * ASGD (torch.optim.ASGD): defaults and state names, hand-computed steps in
 * float64 from PyTorch's implementation (η and μ used as the previous step
 * left them, then set for the next), the averaging starting at t0 (ax a copy
 * of the params until then, the running mean of the iterates after), and η
 * following an lr change one step late, as in PyTorch.
 */
import { expect } from 'chai';
import { ASGD } from '../lib';
import { expectClose, paramTrajectory } from './helpers/hand';
import type { AnyOptimizer } from './helpers/optimizers';

interface HandOptions {
  lr: number;
  lambd: number;
  alpha: number;
  t0: number;
  weightDecay: number;
  maximize: boolean;
}

/** PyTorch's ASGD, written out, in float64. */
function handASGD(o: HandOptions, p0: readonly number[], grads: readonly (readonly number[])[]) {
  const p = [...p0];
  const ax = p.map(() => 0);
  let eta = o.lr;
  let mu = 1;
  const params: number[][] = [];
  const averages: number[][] = [];
  grads.forEach((grad, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      const g = (o.maximize ? -grad[i] : grad[i]) + o.weightDecay * p[i];
      p[i] = p[i] * (1 - o.lambd * eta) - eta * g;
      ax[i] = mu !== 1 ? ax[i] + (p[i] - ax[i]) * mu : p[i];
    }
    eta = o.lr / Math.pow(1 + o.lambd * o.lr * t, o.alpha);
    mu = 1 / Math.max(1, t - o.t0);
    params.push([...p]);
    averages.push([...ax]);
  });
  return { params, averages, eta, mu };
}

const P0 = [1.5, -0.25, 0.75, 2];
const G = Array.from({ length: 7 }, (_, k) => [0.5 - 0.1 * k, -1 + 0.2 * k, k % 2 === 0 ? 0.3 : -0.3, 0.01 * (k + 1)]);

describe('ASGD', () => {
  it('defaults: lr 1e-2, lambd 1e-4, alpha 0.75, t0 1e6, weightDecay 0, maximize false; state ax, eta, mu, step', () => {
    const opt = new ASGD([new Float64Array(3)]);
    const { params: _params, ...group } = opt.paramGroups[0];
    expect(group).to.deep.equal({ lr: 1e-2, lambd: 1e-4, alpha: 0.75, t0: 1e6, weightDecay: 0, maximize: false });
    opt.step([new Float64Array([1, -1, 0])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['ax', 'eta', 'mu', 'step']);
    expect(opt.state[0].eta).to.equal(1e-2 / Math.pow(1 + 1e-4 * 1e-2, 0.75));
    expect(opt.state[0].mu).to.equal(1);
  });

  const cases: HandOptions[] = [
    { lr: 1e-2, lambd: 1e-4, alpha: 0.75, t0: 1e6, weightDecay: 0, maximize: false },
    { lr: 0.1, lambd: 0.1, alpha: 0.5, t0: 2, weightDecay: 0.01, maximize: true },
    { lr: 0.05, lambd: 0, alpha: 0.75, t0: 0, weightDecay: 0, maximize: false },
  ];
  for (const o of cases) {
    it(`seven steps by hand in float64 to 1e-12: ${JSON.stringify(o)}`, () => {
      const param = new Float64Array(P0);
      const opt = new ASGD([param], o) as unknown as AnyOptimizer;
      const averages: number[][] = [];
      G.forEach((g) => {
        paramTrajectory(opt, param, [g]);
        averages.push(Array.from(opt.state[0].ax as Float64Array));
      });
      const hand = handASGD(o, P0, G);
      expectClose(param, hand.params[G.length - 1], 1e-12, 'params');
      averages.forEach((a, k) => expectClose(a, hand.averages[k], 1e-12, `ax after step ${k + 1}`));
      expect(opt.state[0].eta).to.be.closeTo(hand.eta, 1e-15);
      expect(opt.state[0].mu).to.be.closeTo(hand.mu, 1e-15);
    });
  }

  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: averaging starts at t0: ax is the params (bit for bit) through step t0 + 2, then the running mean of the iterates from there`, () => {
      const param = new Float64Array(P0);
      const opt = new ASGD([param], { lr: 0.1, t0: 2, backend });
      const iterates: number[][] = [];
      G.forEach((g, k) => {
        opt.step([new Float64Array(g)]);
        iterates.push(Array.from(param));
        const ax = Array.from(opt.state[0].ax as Float64Array);
        const t = k + 1;
        if (t <= 4) {
          expect(ax, `step ${t}`).to.deep.equal(iterates[k]);
        } else {
          const since = iterates.slice(3); // θ₄ … θₜ
          const mean = P0.map((_, i) => since.reduce((sum, it) => sum + it[i], 0) / since.length);
          expectClose(ax, mean, 1e-12, `ax after step ${t}`);
        }
      });
    });
  }

  it('η follows an lr change one step late, as PyTorch sets it at the end of each step', () => {
    const param = new Float64Array([1]);
    const opt = new ASGD([param], { lr: 0.1, lambd: 0.5, alpha: 1 });
    opt.step([new Float64Array([1])]); // η₁ = 0.1: θ = 1·(1 − 0.05) − 0.1 = 0.85
    expect(param[0]).to.be.closeTo(0.85, 1e-15);
    opt.paramGroups[0].lr = 0.5;
    const eta2 = 0.1 / (1 + 0.5 * 0.1 * 1); // set by step 1 from the lr it ran with
    opt.step([new Float64Array([1])]);
    expect(param[0]).to.be.closeTo(0.85 * (1 - 0.5 * eta2) - eta2, 1e-15);
    expect(opt.state[0].eta).to.be.closeTo(0.5 / (1 + 0.5 * 0.5 * 2), 1e-15);
  });
});
