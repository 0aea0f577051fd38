/**
 * Rprop (torch.optim.Rprop): defaults and state names, hand-computed steps in
 * float64 from PyTorch's documented algorithm, per element: the step size
 * grows by η₊ while the gradient keeps its sign, shrinks by η₋ on a sign
 * change, where that gradient is zeroed (no step now, no adaptation next
 * time), is clamped to stepSizes, and starts at lr.
 */
import { expect } from 'chai';
import { Rprop } from '../lib';
import { expectClose, paramTrajectory } from './helpers/hand';
import type { AnyOptimizer } from './helpers/optimizers';

interface HandOptions {
  lr: number;
  etas: [number, number];
  stepSizes: [number, number];
  maximize: boolean;
}

/** PyTorch's Rprop, written out from its documentation, in float64. */
function handRprop(o: HandOptions, p0: readonly number[], grads: readonly (readonly number[])[]) {
  const p = [...p0];
  const prev = p.map(() => 0);
  const eta = p.map(() => o.lr);
  const params: number[][] = [];
  for (const grad of grads) {
    for (let i = 0; i < p.length; i++) {
      let g = o.maximize ? -grad[i] : grad[i];
      const product = g * prev[i];
      if (product > 0) eta[i] = Math.min(eta[i] * o.etas[1], o.stepSizes[1]);
      else if (product < 0) {
        eta[i] = Math.max(eta[i] * o.etas[0], o.stepSizes[0]);
        g = 0;
      }
      p[i] -= eta[i] * Math.sign(g);
      prev[i] = g;
    }
    params.push([...p]);
  }
  return { params, prev, eta };
}

const P0 = [1.5, -0.25, 0.75, 2, 0];
/**
 * Element 0 keeps its sign (the step size grows, then hits Γ_max in the
 * second case); element 1 flips on step 2 (no move on step 2, none of the
 * step size's adaptation on step 3); element 2 has a zero gradient on step 1;
 * element 4 flips twice in a row.
 */
const G = [
  [0.5, -1, 0, 0.25, 1],
  [1, 0.5, 3, 0.25, -1],
  [2, 0.5, 3, -0.3, 1],
  [0.1, 0.4, -0.2, -0.3, -1],
];

describe('Rprop', () => {
  it('defaults: lr 1e-2, etas [0.5, 1.2], stepSizes [1e-6, 50], maximize false; state prev, stepSize (lr at first), step', () => {
    const opt = new Rprop([new Float64Array(3)]);
    const { params: _params, ...group } = opt.paramGroups[0];
    expect(group).to.deep.equal({ lr: 1e-2, etas: [0.5, 1.2], stepSizes: [1e-6, 50], maximize: false });
    opt.step([new Float64Array([1, -1, 0])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['prev', 'step', 'stepSize']);
    expect(Array.from(opt.state[0].stepSize as Float64Array)).to.deep.equal([0.01, 0.01, 0.01]);
  });

  const cases: HandOptions[] = [
    { lr: 0.01, etas: [0.5, 1.2], stepSizes: [1e-6, 50], maximize: false },
    { lr: 0.1, etas: [0.3, 1.5], stepSizes: [0.02, 0.12], maximize: true },
  ];
  for (const o of cases) {
    it(`four steps by hand in float64 to 1e-12: ${JSON.stringify(o)}`, () => {
      const param = new Float64Array(P0);
      const opt = new Rprop([param], o) as unknown as AnyOptimizer;
      const got = paramTrajectory(opt, param, G);
      const hand = handRprop(o, P0, G);
      got.forEach((p, k) => expectClose(p, hand.params[k], 1e-12, `params after step ${k + 1}`));
      expectClose(opt.state[0].prev as Float64Array, hand.prev, 0, 'prev');
      expectClose(opt.state[0].stepSize as Float64Array, hand.eta, 1e-12, 'stepSize');
    });
  }

  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: a sign change zeroes that gradient: no step now, prev 0, and the next step neither grows nor shrinks the step size`, () => {
      const param = new Float64Array([1]);
      const opt = new Rprop([param], { lr: 0.1, backend });
      opt.step([new Float64Array([2])]); // product 0: step size 0.1, θ = 0.9
      expect(param[0]).to.be.closeTo(0.9, 1e-15);
      opt.step([new Float64Array([-3])]); // sign change: step size 0.05, g ← 0, θ unchanged
      expect(param[0]).to.be.closeTo(0.9, 1e-15);
      expect((opt.state[0].prev as Float64Array)[0]).to.equal(0);
      expect((opt.state[0].stepSize as Float64Array)[0]).to.be.closeTo(0.05, 1e-15);
      opt.step([new Float64Array([-3])]); // product with prev 0 is 0: step size kept at 0.05, θ moves up by it
      expect((opt.state[0].stepSize as Float64Array)[0]).to.be.closeTo(0.05, 1e-15);
      expect(param[0]).to.be.closeTo(0.95, 1e-15);
    });
  }

  it('the step sizes start at the lr of the group when the state is created; a later lr change does not touch them (as PyTorch)', () => {
    const param = new Float64Array([0, 0]);
    const opt = new Rprop([param], { lr: 0.25 });
    opt.step([new Float64Array([1, -1])]);
    expect(Array.from(param)).to.deep.equal([-0.25, 0.25]);
    opt.paramGroups[0].lr = 1;
    opt.step([new Float64Array([1, -1])]);
    expect(Array.from(opt.state[0].stepSize as Float64Array)).to.deep.equal([0.25 * 1.2, 0.25 * 1.2]);
    // A param added later starts at its own group's lr.
    const q = new Float64Array([0]);
    opt.addParamGroup({ params: [q], lr: 0.5 });
    opt.step([new Float64Array([1, -1]), new Float64Array([1])]);
    expect(q[0]).to.equal(-0.5);
  });
});
