/**
 * RAdam (torch.optim.RAdam): defaults and state names, hand-computed steps in
 * float64 from PyTorch's documented algorithm across the switch at ρₜ = 5
 * (un-rectified momentum steps first, rectified adaptive steps after), the
 * strict comparison at exactly 5, L2 and decoupled weight decay, and native
 * against JS bit for bit on both sides of the switch.
 */
import { expect } from 'chai';
import { RAdam } from '../lib';
import { radamRectification, radamRhoT } from '../lib/optim/radam';
import { expectBitIdentical } from './helpers/bits';
import { expectClose, paramTrajectory } from './helpers/hand';
import { AnyOptimizer, caseGrads, paramsOf, STORAGE_DEFAULTS } from './helpers/optimizers';
import { randomTensors } from './helpers/random';
import { getNumThreads, setNumThreads } from '../lib/threads';

interface HandOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  decoupledWeightDecay: boolean;
  maximize: boolean;
}

/** PyTorch's RAdam, written out from its documentation, in float64. */
function handRAdam(o: HandOptions, p0: readonly number[], grads: readonly (readonly number[])[]) {
  const [b1, b2] = o.betas;
  const rhoInf = 2 / (1 - b2) - 1;
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const params: number[][] = [];
  const rectified: boolean[] = [];
  grads.forEach((grad, k) => {
    const t = k + 1;
    const rhoT = rhoInf - (2 * t * Math.pow(b2, t)) / (1 - Math.pow(b2, t));
    rectified.push(rhoT > 5);
    for (let i = 0; i < p.length; i++) {
      let g = o.maximize ? -grad[i] : grad[i];
      if (o.decoupledWeightDecay) p[i] *= 1 - o.lr * o.weightDecay;
      else g += o.weightDecay * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const mHat = m[i] / (1 - Math.pow(b1, t));
      if (rhoT > 5) {
        const l = Math.sqrt(1 - Math.pow(b2, t)) / (Math.sqrt(v[i]) + o.eps);
        const r = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
        p[i] -= o.lr * mHat * l * r;
      } else {
        p[i] -= o.lr * mHat;
      }
    }
    params.push([...p]);
  });
  return { params, rectified, m, v };
}

const P0 = [1.5, -0.25, 0.75, 2];
const G = Array.from({ length: 9 }, (_, k) => [0.5 - 0.1 * k, -1 + 0.2 * k, k % 2 === 0 ? 0.3 : -0.3, 0.01 * (k + 1)]);

describe('RAdam', () => {
  it('defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0, decoupledWeightDecay false, maximize false; state expAvg, expAvgSq, step', () => {
    const opt = new RAdam([new Float64Array(3)]);
    const { params: _params, ...group } = opt.paramGroups[0];
    expect(group).to.deep.equal({
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0,
      decoupledWeightDecay: false,
      maximize: false,
      ...STORAGE_DEFAULTS,
    });
    opt.step([new Float64Array([1, -1, 0])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['expAvg', 'expAvgSq', 'step']);
  });

  it('ρₜ for β₂ = 0.8 first passes 5 at step 7; with the default β₂ = 0.999 at step 6', () => {
    expect(radamRhoT(0.8, 6)).to.be.below(5);
    expect(radamRhoT(0.8, 7)).to.be.above(5);
    expect(radamRhoT(0.999, 5)).to.be.below(5);
    expect(radamRhoT(0.999, 6)).to.be.above(5);
  });

  it('the switch is strict, as documented (ρₜ > 5): exactly 5 is un-rectified, just above is rectified', () => {
    expect(radamRectification(9, 5)).to.equal(null);
    expect(radamRectification(9, 4)).to.equal(null);
    const r = radamRectification(9, 5 + 1e-9);
    expect(r).to.be.a('number');
    expect(r!).to.be.closeTo(Math.sqrt((1 * 3 * 9) / (5 * 7 * 5)), 1e-9);
  });

  const cases: HandOptions[] = [
    { lr: 0.01, betas: [0.9, 0.8], eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false, maximize: false },
    { lr: 0.01, betas: [0.8, 0.8], eps: 1e-3, weightDecay: 0.1, decoupledWeightDecay: false, maximize: true },
    { lr: 0.05, betas: [0.9, 0.8], eps: 1e-8, weightDecay: 0.1, decoupledWeightDecay: true, maximize: false },
    { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false, maximize: false },
  ];
  for (const o of cases) {
    it(`nine steps by hand in float64 to 1e-12, across the switch: ${JSON.stringify(o)}`, () => {
      const param = new Float64Array(P0);
      const opt = new RAdam([param], o) as unknown as AnyOptimizer;
      const got = paramTrajectory(opt, param, G);
      const hand = handRAdam(o, P0, G);
      expect(hand.rectified.slice(0, 5)).to.deep.equal([false, false, false, false, false]);
      expect(hand.rectified[8]).to.equal(true);
      got.forEach((p, k) => expectClose(p, hand.params[k], 1e-12, `params after step ${k + 1}`));
      expectClose(opt.state[0].expAvg as Float64Array, hand.m, 1e-12, 'expAvg');
      expectClose(opt.state[0].expAvgSq as Float64Array, hand.v, 1e-12, 'expAvgSq');
    });
  }

  it('an un-rectified step ignores eps and the second moment: θ ← θ − γ·m/(1 − β₁) on step 1', () => {
    const param = new Float64Array([1, -2]);
    const opt = new RAdam([param], { lr: 0.1, eps: 1e3 });
    opt.step([new Float64Array([0.5, -4])]);
    // m₁ = (1 − β₁)g, so m̂₁ = g.
    expectClose(param, [1 - 0.1 * 0.5, -2 + 0.1 * 4], 1e-15, 'params');
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: native and js bit-identical over 12 steps on both sides of the switch, 1 and 2 threads`, () => {
      const saved = getNumThreads();
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        const init = randomTensors(dtype, [1, 37, 70_001], 5);
        const make = (backend: 'native' | 'js') =>
          new RAdam(
            init.map((t) => t.slice()),
            { lr: 0.01, betas: [0.9, 0.8], weightDecay: 0.01, backend },
          ) as unknown as AnyOptimizer;
        const a = make('native');
        const b = make('js');
        for (let step = 1; step <= 12; step++) {
          const grads = caseGrads(init, 6, step);
          a.step(grads);
          b.step(grads);
        }
        paramsOf(a).forEach((p, i) => expectBitIdentical(p, paramsOf(b)[i], `threads ${threads}: params[${i}]`));
      }
      setNumThreads(saved);
    });
  }
});
