/**
 * What the elementwise optimizers of issue 12 (Adamax, RAdam, NAdam,
 * Adadelta, Rprop, ASGD) share beyond the generic suites: checkpoints that resume
 * bit-identically (their per-param numbers included), and OneCycleLR cycling
 * betas[0] of those that have betas (a scheduler asked to cycle momentum on
 * one that has neither betas nor momentum refuses, as PyTorch).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ErrorCodes } from '../lib/errors';
import { OneCycleLR } from '../lib/schedulers';
import { loadCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import { expectError } from './helpers/errors';
import { AnyOptimizer, ElementwiseName, caseGrads, expectSameOptimizer, makeOptimizer, paramsOf } from './helpers/optimizers';
import { cloneTensors, randomTensors } from './helpers/random';

const OPTIONS: Record<ElementwiseName, Record<string, unknown>> = {
  Adamax: { lr: 0.01, weightDecay: 0.01 },
  RAdam: { lr: 0.01, betas: [0.9, 0.8], weightDecay: 0.01, decoupledWeightDecay: true },
  NAdam: { lr: 0.01, momentumDecay: 0.2, weightDecay: 0.01 },
  Adadelta: { lr: 0.5, weightDecay: 0.01 },
  Rprop: { lr: 0.01, stepSizes: [1e-4, 1] },
  ASGD: { lr: 0.01, lambd: 1e-3, t0: 3, weightDecay: 0.01 },
};
const NAMES = Object.keys(OPTIONS) as ElementwiseName[];
const LENS = [5, 1000, 37];

/** An optimizer over two groups (float32 and float64), `steps` steps in. */
function trained(name: ElementwiseName, steps: number): AnyOptimizer {
  const opt = makeOptimizer(
    name,
    [{ params: randomTensors('float32', LENS.slice(0, 2), 41) }, { params: randomTensors('float64', LENS.slice(2), 42), lr: 0.003 }],
    OPTIONS[name],
  );
  for (let step = 1; step <= steps; step++) opt.step(caseGrads(paramsOf(opt), 43, step));
  return opt;
}

describe('elementwise optimizers: checkpoints resume bit-identically', () => {
  for (const name of NAMES) {
    it(name, () => {
      const a = trained(name, 4);
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-elementwise-')), 'ck.safetensors');
      saveCheckpoint(file, { model: { params: paramsOf(a) }, optimizer: a });
      const b = makeOptimizer(name, [{ params: randomTensors('float32', LENS.slice(0, 2), 90) }, { params: randomTensors('float64', LENS.slice(2), 91) }], { lr: 0.2 });
      b.step(caseGrads(paramsOf(b), 92, 1));
      const ck = loadCheckpoint(file, { model: { params: paramsOf(b) }, optimizer: b });
      expect(ck.optimizer?.class).to.equal(name);
      expectSameOptimizer(b, a, 'loaded');
      // Past RAdam's switch (β₂ = 0.8: step 7) and through NAdam's growing mu product.
      for (let step = 5; step <= 9; step++) {
        const grads = caseGrads(paramsOf(a), 43, step);
        a.step(grads);
        b.step(grads);
      }
      expectSameOptimizer(b, a, 'five steps after the checkpoint');
    });
  }
});

describe('elementwise optimizers: the cached step (the same gradient tensors every step) is the full step, bit for bit', () => {
  // The cached path advances a copy of the per-param numbers for the scalars (NAdam's muProduct, ASGD's eta and mu).
  for (const name of NAMES) {
    it(name, () => {
      const fresh = trained(name, 0);
      const cached = trained(name, 0);
      const grads = paramsOf(cached).map((p) => p.slice());
      for (let step = 1; step <= 9; step++) {
        const next = caseGrads(paramsOf(fresh), 44, step);
        fresh.step(next);
        next.forEach((g, i) => grads[i].set(g));
        cached.step(grads);
      }
      expectSameOptimizer(cached, fresh, 'nine steps');
    });
  }
});

describe('elementwise optimizers: OneCycleLR cycles betas[0] of those with betas', () => {
  for (const name of ['Adamax', 'RAdam', 'NAdam'] as const) {
    it(`${name}: betas[0] follows the schedule and the steps match ${name} given those betas by hand`, () => {
      const TOTAL = 10;
      const initial = randomTensors('float32', [7, 37], 51);
      const opt = makeOptimizer(name, cloneTensors(initial), OPTIONS[name]);
      const scheduler = new OneCycleLR(opt as never, { maxLr: 0.01, totalSteps: TOTAL });
      const byHand = makeOptimizer(name, cloneTensors(initial), OPTIONS[name]);
      const seen: number[] = [];
      for (let k = 0; k < TOTAL; k++) {
        const group = opt.paramGroups[0] as unknown as { betas: [number, number]; lr: number };
        seen.push(group.betas[0]);
        const handGroup = byHand.paramGroups[0] as unknown as { betas: [number, number]; lr: number };
        handGroup.betas = [group.betas[0], group.betas[1]];
        handGroup.lr = group.lr;
        const grads = caseGrads(initial, 52, k + 1);
        opt.step(grads);
        byHand.step(grads);
        expectSameOptimizer(opt, byHand, `step ${k + 1}`);
        scheduler.step();
      }
      // PyTorch's defaults: 0.95 → 0.85 at the peak (step 2) → 0.95.
      expect(seen[0]).to.be.closeTo(0.95, 1e-12);
      expect(seen[2]).to.be.closeTo(0.85, 1e-12);
      expect(seen[9]).to.be.closeTo(0.95, 1e-12);
    });
  }

  for (const name of ['Adadelta', 'Rprop', 'ASGD'] as const) {
    it(`${name} has neither betas nor momentum: cycleMomentum is refused (as PyTorch), cycleMomentum false works`, () => {
      const opt = makeOptimizer(name, [new Float32Array(3)], OPTIONS[name]);
      expectError(() => new OneCycleLR(opt as never, { maxLr: 0.01, totalSteps: 10 }), {
        type: RangeError,
        code: ErrorCodes.INVALID_ARG_VALUE,
        mentions: ['cycleMomentum', 'neither momentum nor betas'],
      });
      const scheduler = new OneCycleLR(opt as never, { maxLr: 0.01, totalSteps: 10, cycleMomentum: false });
      scheduler.step();
      expect(opt.paramGroups[0].lr).to.be.above(0.01 / 25);
    });
  }
});
