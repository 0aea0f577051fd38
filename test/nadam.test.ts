/**
 * NAdam (torch.optim.NAdam): defaults and state names, hand-computed steps in
 * float64 from PyTorch's documented algorithm (μₜ = β₁(1 − ½·0.96^(tψ)), the
 * running product of μ per param), L2 and decoupled weight decay, the mu
 * product across a state-dict resume, and a param that skipped steps keeping
 * its own product.
 */
import { expect } from 'chai';
import { NAdam } from '../lib';
import { expectClose, paramTrajectory } from './helpers/hand';
import { AnyOptimizer, expectSameOptimizer, STORAGE_DEFAULTS } from './helpers/optimizers';

interface HandOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  momentumDecay: number;
  decoupledWeightDecay: boolean;
  maximize: boolean;
}

const mu = (o: HandOptions, t: number) => o.betas[0] * (1 - 0.5 * Math.pow(0.96, t * o.momentumDecay));

/** PyTorch's NAdam, written out from its documentation, in float64. */
function handNAdam(o: HandOptions, p0: readonly number[], grads: readonly (readonly number[])[]) {
  const [b1, b2] = o.betas;
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  let muProduct = 1;
  const params: number[][] = [];
  grads.forEach((grad, k) => {
    const t = k + 1;
    const muT = mu(o, t);
    const muNext = mu(o, t + 1);
    muProduct *= muT;
    for (let i = 0; i < p.length; i++) {
      let g = o.maximize ? -grad[i] : grad[i];
      if (o.decoupledWeightDecay) p[i] *= 1 - o.lr * o.weightDecay;
      else g += o.weightDecay * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const mHat = (muNext * m[i]) / (1 - muProduct * muNext) + ((1 - muT) * g) / (1 - muProduct);
      const vHat = v[i] / (1 - Math.pow(b2, t));
      p[i] -= (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
    params.push([...p]);
  });
  return { params, m, v, muProduct };
}

const P0 = [1.5, -0.25, 0.75, 2];
const G = [
  [0.5, -1, 0, 0.25],
  [-1, 0.01, 3, 0.25],
  [0.2, -0.001, -0.5, 0.3],
  [0.1, 0.4, -0.2, -0.3],
];

describe('NAdam', () => {
  it('defaults: lr 2e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0, momentumDecay 4e-3, decoupledWeightDecay false, maximize false', () => {
    const opt = new NAdam([new Float64Array(3)]);
    const { params: _params, ...group } = opt.paramGroups[0];
    expect(group).to.deep.equal({
      lr: 2e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0,
      momentumDecay: 4e-3,
      decoupledWeightDecay: false,
      maximize: false,
      ...STORAGE_DEFAULTS,
    });
    opt.step([new Float64Array([1, -1, 0])]);
    expect(Object.keys(opt.state[0]).sort()).to.deep.equal(['expAvg', 'expAvgSq', 'muProduct', 'step']);
    expect(opt.state[0].muProduct).to.equal(0.9 * (1 - 0.5 * Math.pow(0.96, 4e-3)));
  });

  const cases: HandOptions[] = [
    { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, momentumDecay: 4e-3, decoupledWeightDecay: false, maximize: false },
    { lr: 0.01, betas: [0.8, 0.95], eps: 1e-3, weightDecay: 0.1, momentumDecay: 0.5, decoupledWeightDecay: false, maximize: true },
    { lr: 0.05, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.1, momentumDecay: 4e-3, decoupledWeightDecay: true, maximize: false },
  ];
  for (const o of cases) {
    it(`four steps by hand in float64 to 1e-12: ${JSON.stringify(o)}`, () => {
      const param = new Float64Array(P0);
      const opt = new NAdam([param], o) as unknown as AnyOptimizer;
      const got = paramTrajectory(opt, param, G);
      const hand = handNAdam(o, P0, G);
      got.forEach((p, k) => expectClose(p, hand.params[k], 1e-12, `params after step ${k + 1}`));
      expectClose(opt.state[0].expAvg as Float64Array, hand.m, 1e-12, 'expAvg');
      expectClose(opt.state[0].expAvgSq as Float64Array, hand.v, 1e-12, 'expAvgSq');
      expect(opt.state[0].muProduct).to.be.closeTo(hand.muProduct, 1e-15);
    });
  }

  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: the mu product survives a state-dict resume, and the resumed run is the uninterrupted one bit for bit`, () => {
      const o = { lr: 0.01, momentumDecay: 0.3, weightDecay: 0.01, backend };
      // Two groups: a float64 param and a float32 one.
      const groups = (a: Float64Array, b: Float32Array) => [{ params: [a] }, { params: [b] }];
      const whole = new NAdam(groups(new Float64Array(P0), new Float32Array(P0)), o);
      const first = new NAdam(groups(new Float64Array(P0), new Float32Array(P0)), o);
      const both = (g: readonly number[]) => [new Float64Array(g), new Float32Array(g)];
      for (const g of G.slice(0, 2)) {
        whole.step(both(g));
        first.step(both(g));
      }
      const sd = first.stateDict();
      expect(sd.state[0].muProduct).to.equal(first.state[0].muProduct);
      const resumed = new NAdam(groups(new Float64Array(first.paramGroups[0].params[0]), new Float32Array(first.paramGroups[1].params[0])), { lr: 0.5, backend });
      resumed.loadStateDict(sd);
      for (const g of G.slice(2)) {
        whole.step(both(g));
        resumed.step(both(g));
      }
      expectSameOptimizer(resumed as unknown as AnyOptimizer, whole as unknown as AnyOptimizer, 'resumed vs uninterrupted');
      const hand = handNAdam({ ...o, betas: [0.9, 0.999], eps: 1e-8, decoupledWeightDecay: false, maximize: false }, P0, G);
      expect(resumed.state[0].muProduct).to.be.closeTo(hand.muProduct, 1e-15);
      expectClose(resumed.paramGroups[0].params[0], hand.params[3], 1e-12, 'float64 param after the resume');
    });
  }

  it('a param skipped with a null gradient keeps its own step count and mu product (as PyTorch, per param)', () => {
    const a = new Float64Array([1, 2]);
    const b = new Float64Array([3]);
    const opt = new NAdam([a, b], { lr: 0.01, momentumDecay: 0.5 });
    opt.step([new Float64Array([1, 1]), new Float64Array([1])]);
    opt.step([new Float64Array([1, -1]), null]);
    opt.step([new Float64Array([0.5, 0.5]), new Float64Array([2])]);
    const o = { betas: [0.9, 0.999], momentumDecay: 0.5 } as HandOptions;
    expect(opt.state[0].step).to.equal(3);
    expect(opt.state[1].step).to.equal(2);
    expect(opt.state[0].muProduct).to.be.closeTo(mu(o, 1) * mu(o, 2) * mu(o, 3), 1e-15);
    expect(opt.state[1].muProduct).to.be.closeTo(mu(o, 1) * mu(o, 2), 1e-15);
    // b's steps are those of a one-param NAdam given its two gradients.
    const alone = new Float64Array([3]);
    const single = new NAdam([alone], { lr: 0.01, momentumDecay: 0.5 });
    single.step([new Float64Array([1])]);
    single.step([new Float64Array([2])]);
    expect(b[0]).to.equal(alone[0]);
  });
});
