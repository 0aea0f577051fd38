/**
 * Adadelta (torch.optim.Adadelta): defaults and state names, hand-computed
 * steps in float64 from PyTorch's documented algorithm, ε inside both roots
 * (√(u + ε)/√(v + ε), not (√u + ε)/(√v + ε)), and lr as a plain multiplier
 * of the step.
 */
import { expect } from 'chai';
import { Adadelta } from '../lib';
import { expectClose, paramTrajectory } from './helpers/hand';
import type { AnyOptimizer } from './helpers/optimizers';

interface HandOptions {
  lr: number;
  rho: number;
  eps: number;
  weightDecay: number;
  maximize: boolean;
}

/** PyTorch's Adadelta, written out from its documentation, in float64. */
function handAdadelta(o: HandOptions, p0: readonly number[], grads: readonly (readonly number[])[]) {
  const p = [...p0];
  const v = p.map(() => 0);
  const u = p.map(() => 0);
  const params: number[][] = [];
  for (const grad of grads) {
    for (let i = 0; i < p.length; i++) {
      const g = (o.maximize ? -grad[i] : grad[i]) + o.weightDecay * p[i];
      v[i] = v[i] * o.rho + g * g * (1 - o.rho);
      const delta = (Math.sqrt(u[i] + o.eps) / Math.sqrt(v[i] + o.eps)) * g;
      u[i] = u[i] * o.rho + delta * delta * (1 - o.rho);
      p[i] -= o.lr * delta;
    }
    params.push([...p]);
  }
  return { params, v, u };
}

const P0 = [1.5, -0.25, 0.75, 2];
const G = [
  [0.5, -1, 0, 1e-3],
  [-1, 0.01, 3, 1e-3],
  [0.2, -0.001, -0.5, 2e-3],
];

describe('Adadelta', () => {
  it('defaults: lr 1, rho 0.9, eps 1e-6, weightDecay 0, maximize false; state squareAvg, accDelta, step', () => {
    const opt = new Adadelta([new Float64Array(3)]);
    const { params: _params, ...group } = opt.paramGroups[0];
    expect(group).to.deep.equal({ lr: 1, rho: 0.9, eps: 1e-6, weightDecay: 0, maximize: false });
    opt.step([new Float64Array([1, -1, 0])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['accDelta', 'squareAvg', 'step']);
  });

  const cases: HandOptions[] = [
    { lr: 1, rho: 0.9, eps: 1e-6, weightDecay: 0, maximize: false },
    { lr: 0.5, rho: 0.5, eps: 1e-3, weightDecay: 0.1, maximize: true },
    { lr: 2, rho: 0, eps: 1e-6, weightDecay: 0, maximize: false },
  ];
  for (const o of cases) {
    it(`three steps by hand in float64 to 1e-12: ${JSON.stringify(o)}`, () => {
      const param = new Float64Array(P0);
      const opt = new Adadelta([param], o) as unknown as AnyOptimizer;
      const got = paramTrajectory(opt, param, G);
      const hand = handAdadelta(o, P0, G);
      got.forEach((p, k) => expectClose(p, hand.params[k], 1e-12, `params after step ${k + 1}`));
      expectClose(opt.state[0].squareAvg as Float64Array, hand.v, 1e-12, 'squareAvg');
      expectClose(opt.state[0].accDelta as Float64Array, hand.u, 1e-12, 'accDelta');
    });
  }

  it('ε is inside both roots: the first step of g = 1e-3 is √ε/√((1 − ρ)g² + ε)·g', () => {
    const param = new Float64Array([0]);
    const opt = new Adadelta([param]);
    opt.step([new Float64Array([1e-3])]);
    const inside = (Math.sqrt(1e-6) / Math.sqrt(0.1 * 1e-6 + 1e-6)) * 1e-3;
    const outside = (1e-6 / (Math.sqrt(0.1 * 1e-6) + 1e-6)) * 1e-3;
    expect(param[0]).to.be.closeTo(-inside, 1e-18);
    // The two readings differ by far more than the tolerance: the test tells them apart.
    expect(Math.abs(inside - outside)).to.be.above(1e-4);
  });

  it('lr multiplies the step: lr 0.5 moves a param from 0 exactly half as far as lr 1 on a first step', () => {
    const a = new Float64Array([0, 0]);
    const b = new Float64Array([0, 0]);
    new Adadelta([a], { lr: 1 }).step([new Float64Array([0.3, -2])]);
    new Adadelta([b], { lr: 0.5 }).step([new Float64Array([0.3, -2])]);
    expect(b[0]).to.equal(a[0] / 2);
    expect(b[1]).to.equal(a[1] / 2);
    expect(a[0]).to.be.below(0);
  });
});
