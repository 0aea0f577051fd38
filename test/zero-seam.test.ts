/**
 * The seam ZeRO stage 1 steps through (internal API: lib/distributed/zero.ts
 * is its one user), in one process, without MPI: the state-layout view
 * (Optimizer.stateLayout, lib/optim/core/state_layout.ts), which says how
 * each param's state is stored and where the param may be cut;
 * Optimizer.cloneOver, the same optimizer over other params (a clone over the
 * pieces the view allows steps them bit for bit as the optimizer steps the
 * whole params); checkStepOfClone, a step's checks and group bookkeeping
 * without its kernels; holdStateIn, which sends train() and eval() to
 * whoever holds the state.
 */
import { expect } from 'chai';
import { Adafactor, AdamW, AdamWScheduleFree, ASGD, LAMB, NAdam, SGDScheduleFree } from '../lib';
import { ErrorCodes } from '../lib/errors';
import type { KernelDef } from '../lib/kernels/kernel_def';
import { scheduleFreeSwitchKernel } from '../lib/kernels/schedule_free';
import type { AnyOptimizer } from '../lib/optim/core/optimizer';
import type { Tensor } from '../lib/tensor';
import { expectAllBitIdentical } from './helpers/bits';
import { expectError } from './helpers/errors';

/** n values in [-0.5, 0.5), the same for the same seed. */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 0.5);
}

describe('the state-layout view (internal: what ZeRO reads)', () => {
  it('full-precision state: every buffer one element per param element, in the param type; cut anywhere', () => {
    const opt = new AdamW([{ params: [new Float32Array(10)] }, { params: [new Float64Array(3)] }], { amsgrad: true });
    expect(opt.stateLayout(0)).to.deep.equal({
      buffers: ['expAvg', 'expAvgSq', 'maxExpAvgSq'].map((name) => ({ name, dtype: 'float32', length: 10, placement: 'element' })),
      numbers: ['step'],
      cutUnit: 1,
      whyUncut: null,
      pieceOptions: {},
    });
    expect(opt.stateLayout(1).buffers.map((b) => b.dtype)).to.deep.equal(['float64', 'float64', 'float64']);
  });

  it('per-param numbers come after step', () => {
    expect(new NAdam([new Float32Array(4)]).stateLayout(0).numbers).to.deep.equal(['step', 'muProduct']);
    expect(new ASGD([new Float32Array(4)]).stateLayout(0).numbers).to.deep.equal(['step', 'eta', 'mu']);
  });

  it('bfloat16 rounded to nearest is cut anywhere; stochastically rounded, nowhere (its random bits come from each element\'s place)', () => {
    const nearest = new AdamW([new Float32Array(10)], { stateDtype: 'bfloat16' }).stateLayout(0);
    expect(nearest.buffers.map((b) => [b.name, b.dtype, b.placement])).to.deep.equal([
      ['expAvg', 'bfloat16', 'element'],
      ['expAvgSq', 'bfloat16', 'element'],
      ['maxExpAvgSq', 'bfloat16', 'element'],
    ]);
    expect(nearest.cutUnit).to.equal(1);
    const stochastic = new AdamW([new Float32Array(10)], { stateDtype: 'bfloat16', stochasticRounding: true }).stateLayout(0);
    expect(stochastic.cutUnit).to.equal(null);
    expect(stochastic.whyUncut).to.match(/stochasticRounding/);
  });

  it('8-bit state: codes per element, an absmax per block of 256, a shared code map; cut at block starts; pieces keep 8 bits however short', () => {
    const opt = new AdamW([new Float32Array(700), new Float32Array(57)], { stateDtype: 'int8', min8bitSize: 100 });
    const layout = opt.stateLayout(0);
    expect(layout.buffers.slice(0, 3)).to.deep.equal([
      { name: 'expAvg', dtype: 'uint8', length: 700, placement: 'element' },
      { name: 'expAvgAbsmax', dtype: 'float32', length: 3, placement: 'block', blockSize: 256 },
      { name: 'expAvgQmap', dtype: 'float32', length: 256, placement: 'shared' },
    ]);
    expect(layout.cutUnit).to.equal(256);
    expect(layout.pieceOptions).to.deep.equal({ min8bitSize: 0 });
    // Under min8bitSize: full precision, cut anywhere, and its pieces (shorter still) stay so.
    expect(opt.stateLayout(1)).to.include({ cutUnit: 1 });
    expect(opt.stateLayout(1).pieceOptions).to.deep.equal({});
  });

  it('a step that reduces over each whole param, or state that follows its shape, cannot be cut', () => {
    expect(new LAMB([new Float32Array(6)]).stateLayout(0).whyUncut).to.match(/LAMB's step reduces over each whole param/);
    const factored = new Adafactor([new Float32Array(6)], { shapes: [[2, 3]] }).stateLayout(0);
    expect(factored.cutUnit).to.equal(null);
    expect(factored.buffers.map((b) => [b.name, b.length, b.placement])).to.deep.include.members([
      ['rowVar', 2, 'whole'],
      ['colVar', 3, 'whole'],
    ]);
  });

  it("Schedule-Free's z follows its param element by element, beside the moment", () => {
    const adamw = new AdamWScheduleFree([new Float64Array(5)]).stateLayout(0);
    expect(adamw.buffers.map((b) => [b.name, b.dtype, b.placement])).to.deep.equal([
      ['z', 'float64', 'element'],
      ['expAvgSq', 'float64', 'element'],
    ]);
    expect(new SGDScheduleFree([new Float32Array(5)]).stateLayout(0).buffers.map((b) => b.name)).to.deep.equal(['z']);
  });

  it('refuses a param index out of range', () => {
    const opt = new AdamW([new Float32Array(2)]);
    expectError(() => opt.stateLayout(1), { type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['AdamW: stateLayout: index'] });
  });
});

describe('Optimizer.cloneOver (internal: how ZeRO builds its shard optimizer)', () => {
  class Mine extends AdamW {}

  it("is the same class and backend, group k taking group `like`'s options (with `options` over them), without state", () => {
    const a = new Float32Array(4);
    const b = new Float32Array(6);
    const opt = new Mine([{ params: [a], weightDecay: 0.5 }, { params: [b], lr: 0.2 }], { backend: 'js', betas: [0.8, 0.9] });
    opt.step([new Float32Array(4).fill(1), new Float32Array(6).fill(1)]);
    const clone = opt.cloneOver([{ like: 1, params: [b.subarray(0, 3)], options: { weightDecay: 0.25 } }]);
    expect(clone).to.be.instanceOf(Mine);
    expect(clone.backend).to.equal('js');
    expect(clone.paramGroups[0]).to.include({ lr: 0.2, weightDecay: 0.25 });
    expect(clone.paramGroups[0].betas).to.deep.equal([0.8, 0.9]);
    expect(clone.state).to.deep.equal([{}]);
  });

  it("carries the groups' own values (Schedule-Free's k and mode)", () => {
    const p = new Float32Array(4);
    const opt = new SGDScheduleFree([p]);
    opt.train();
    opt.step([new Float32Array(4).fill(1)]);
    const clone = opt.cloneOver([{ like: 0, params: [p.subarray(1)] }]);
    expect(clone.paramGroups[0]).to.include({ k: 1, trainMode: true, lrMax: 1 });
  });

  for (const [name, make] of [
    ['AdamW, 8-bit state', (params: Float32Array[]) => new AdamW(params, { stateDtype: 'int8', min8bitSize: 100, weightDecay: 0.1 })],
    ['AdamW, bfloat16 state', (params: Float32Array[]) => new AdamW(params, { stateDtype: 'bfloat16', lr: 0.01 })],
    ['AdamWScheduleFree', (params: Float32Array[]) => new AdamWScheduleFree(params, { warmupSteps: 2 })],
  ] as const) {
    it(`${name}: a clone over the pieces the view allows steps them bit for bit as the whole params step`, () => {
      const whole = [values(700, 1), values(57, 2)];
      const cut = whole.map((p) => p.slice());
      const reference = make(whole);
      const opt = make(cut);
      // The cuts ZeRO would make on 3 ranks of 757 elements (253 and 506), moved back to a multiple of param 0's cut unit.
      const unit = opt.stateLayout(0).cutUnit!;
      const [c1, c2] = [253, 506].map((c) => Math.floor(c / unit) * unit);
      const pieces: Tensor[] = [cut[0].subarray(0, c1), cut[0].subarray(c1, c2), cut[0].subarray(c2), cut[1]];
      const clone = opt.cloneOver([
        { like: 0, params: pieces.slice(0, 3), options: opt.stateLayout(0).pieceOptions },
        { like: 0, params: pieces.slice(3), options: opt.stateLayout(1).pieceOptions },
      ]);
      for (const o of [reference, opt, clone] as AnyOptimizer[]) (o as unknown as { train?: () => void }).train?.();
      for (let step = 0; step < 4; step++) {
        const grads = [values(700, 10 + step), values(57, 20 + step)];
        reference.step(grads);
        clone.step([grads[0].subarray(0, c1), grads[0].subarray(c1, c2), grads[0].subarray(c2), grads[1]]);
      }
      expectAllBitIdentical(cut, whole, 'params');
    });
  }
});

describe('Optimizer.checkStepOfClone and holdStateIn (internal: how ZeRO steps and switches a wrapped optimizer it does not step)', () => {
  const groupValues = (opt: AnyOptimizer) => opt.paramGroups.map(({ k, lrMax, weightSum, scheduledLr, trainMode }) => ({ k, lrMax, weightSum, scheduledLr, trainMode }));

  it('refuses a step in eval mode as step() does, changing nothing', () => {
    const opt = new AdamWScheduleFree([new Float32Array(3)]);
    const before = groupValues(opt);
    expectError(() => opt.checkStepOfClone(), { type: RangeError, code: ErrorCodes.NOT_IN_TRAIN_MODE, mentions: ['AdamWScheduleFree: step: paramGroups[0]', 'eval mode'] });
    expect(groupValues(opt)).to.deep.equal(before);
  });

  it("advances the groups' values as a step does, only when called, from the options it checked", () => {
    const make = () => new SGDScheduleFree([{ params: [new Float32Array(3)] }, { params: [new Float32Array(2)], lr: 0.5 }], { warmupSteps: 3 });
    const stepped = make();
    const bookkept = make();
    for (const opt of [stepped, bookkept]) opt.train();
    for (let step = 0; step < 2; step++) {
      stepped.step([new Float32Array(3).fill(1), new Float32Array(2).fill(1)]);
      const advance = bookkept.checkStepOfClone();
      bookkept.paramGroups[1].lr = 7; // after the check: the step goes on with what it checked
      expect(bookkept.paramGroups[0].k).to.equal(step);
      advance();
      bookkept.paramGroups[1].lr = 0.5;
    }
    expect(groupValues(bookkept)).to.deep.equal(groupValues(stepped));
    expect(bookkept.state).to.deep.equal([{}, {}]);
  });

  it('hands train() and eval() to the state holder, and takes them back', () => {
    const p = Float32Array.of(1, 2);
    const opt = new AdamWScheduleFree([p], { betas: [0.75, 0.999] });
    const calls: Array<{ gi: number; kernel: KernelDef; buffers: readonly string[]; scalars: number[] }> = [];
    opt.holdStateIn({ updateParamsWithState: (gi, kernel, buffers, scalars) => void calls.push({ gi, kernel, buffers, scalars: Array.from(scalars) }) });
    opt.train();
    opt.eval();
    expect(calls).to.deep.equal([
      { gi: 0, kernel: scheduleFreeSwitchKernel, buffers: ['z'], scalars: [0.25] },
      { gi: 0, kernel: scheduleFreeSwitchKernel, buffers: ['z'], scalars: [1 - 1 / 0.75] },
    ]);
    opt.holdStateIn(null);
    opt.train();
    // After one step x = y = z: a second one parts them.
    for (let step = 0; step < 2; step++) opt.step([Float32Array.of(1, -1)]);
    const y = p.slice();
    opt.eval();
    expect(calls).to.have.length(2);
    expect(Array.from(p)).to.not.deep.equal(Array.from(y));
  });
});
