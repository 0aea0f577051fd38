/**
 * The step pipeline seen from outside: step pre-hooks run after the checks
 * and before the norm and the kernels (in place edits, replacement gradients
 * and options, Promises in stepAsync only), post-hooks get the StepResult;
 * on both backends, for a first step and for a second step with the same
 * gradient arrays (the cached fast path). And the norm's stages: partials
 * per element type merge and finish to getTotalNorm bit for bit.
 */
import { expect } from 'chai';
import { finishNorm, getTotalNorm, gradNormPartial, mergeNormPartials } from '../lib/clip';
import { ErrorCodes } from '../lib/errors';
import type { StepResult } from '../lib/optim/core/optimizer';
import type { Tensor } from '../lib/tensor';
import { ExpectedError, expectError } from './helpers/errors';
import { AnyOptimizer, expectSameOptimizer, makeOptimizer } from './helpers/optimizers';
import { cloneTensors, randomTensors } from './helpers/random';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';

const { INVALID_ARG_TYPE, INVALID_ARG_VALUE, OUT_OF_RANGE, SHAPE_MISMATCH } = ErrorCodes;
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });

const LENGTHS = [5, 1000, 37];
const BACKENDS = ['native', 'js'] as const;

/** Two identical SGD-with-momentum optimizers (gradient scale shows in every bit) and a gradient list. */
function pair(backend: 'native' | 'js') {
  const initial = randomTensors('float32', LENGTHS, 61);
  const opts = { lr: 0.05, momentum: 0.9, weightDecay: 0.01 };
  const a = makeOptimizer('SGD', cloneTensors(initial), opts, backend);
  const b = makeOptimizer('SGD', cloneTensors(initial), opts, backend);
  const grads = randomTensors('float32', LENGTHS, 62);
  return { a, b, grads };
}

const scaleInPlace = (grads: ReadonlyArray<Tensor | null>, k: number) => grads.forEach((g) => g?.forEach((x, i) => (g[i] = x * k)));

describe('pipeline: step pre-hooks', () => {
  for (const backend of BACKENDS) {
    describe(backend, () => {
      it('a hook that scales the gradients in place gives the bits of gradients pre-scaled by hand (first and cached second step)', () => {
        const { a, b, grads } = pair(backend);
        let calls = 0;
        a.registerStepPreHook((opt, g) => {
          expect(opt).to.equal(a);
          expect(g).to.equal(grads);
          calls++;
          scaleInPlace(g, 0.5);
        });
        const mine = cloneTensors(grads);
        for (let step = 1; step <= 3; step++) {
          a.step(grads);
          scaleInPlace(mine, 0.5);
          b.step(mine);
          expectSameOptimizer(a, b, `step ${step}`);
        }
        expect(calls).to.equal(3);
      });

      it('a hook returning { grads } steps with the replacement', () => {
        const { a, b, grads } = pair(backend);
        const replacement = randomTensors('float32', LENGTHS, 63);
        a.registerStepPreHook(() => ({ grads: replacement }));
        for (let step = 1; step <= 2; step++) {
          a.step(grads);
          b.step(replacement);
          expectSameOptimizer(a, b, `step ${step}`);
        }
      });

      it('a hook returning { options: { maxGradNorm } } clips', () => {
        const { a, b, grads } = pair(backend);
        a.registerStepPreHook(() => ({ options: { maxGradNorm: 0.1 } }));
        const c = makeOptimizer('SGD', cloneTensors(randomTensors('float32', LENGTHS, 61)), { lr: 0.05, momentum: 0.9, weightDecay: 0.01 }, backend);
        for (let step = 1; step <= 2; step++) {
          const ra = a.step(grads);
          const rb = b.step(grads, { maxGradNorm: 0.1 });
          c.step(grads);
          expect(Object.is(ra.gradNorm, rb.gradNorm)).to.equal(true);
          expect(ra.gradNorm).to.be.greaterThan(0.1);
          expectSameOptimizer(a, b, `step ${step}`);
        }
        // And it really clipped: unclipped steps differ.
        expect(Array.from(c.paramGroups[0].params[1])).to.not.deep.equal(Array.from(a.paramGroups[0].params[1]));
      });

      it('the hook runs before the norm: gradNorm is the norm of the hook-modified gradients', () => {
        const { a, b, grads } = pair(backend);
        a.registerStepPreHook((_o, g) => scaleInPlace(g, 0.5));
        const mine = cloneTensors(grads);
        for (let step = 1; step <= 2; step++) {
          const ra = a.step(grads, { maxGradNorm: 1 });
          // The step clips inside its own pass: the gradients are as the hook left them.
          expect(Object.is(ra.gradNorm, getTotalNorm(grads, 2, { backend }))).to.equal(true);
          scaleInPlace(mine, 0.5);
          const rb = b.step(mine, { maxGradNorm: 1 });
          expect(Object.is(ra.gradNorm, rb.gradNorm)).to.equal(true);
          expectSameOptimizer(a, b, `step ${step}`);
        }
      });

      it('stepAsync runs the hooks, and awaits a hook that returns a Promise', async () => {
        const { a, b, grads } = pair(backend);
        const order: string[] = [];
        a.registerStepPreHook((_o, g) => {
          order.push('sync hook');
          scaleInPlace(g, 0.5);
        });
        a.registerStepPreHook(
          (_o, g) =>
            new Promise<void>((resolve) =>
              setTimeout(() => {
                order.push('async hook');
                scaleInPlace(g, 2 / 3);
                resolve();
              }, 5),
            ),
        );
        a.registerStepPostHook(() => order.push('post hook'));
        const mine = cloneTensors(grads);
        for (let step = 1; step <= 2; step++) {
          await a.stepAsync(grads);
          scaleInPlace(mine, 0.5);
          scaleInPlace(mine, 2 / 3);
          b.step(mine);
          expectSameOptimizer(a, b, `step ${step}`);
        }
        expect(order).to.deep.equal(['sync hook', 'async hook', 'post hook', 'sync hook', 'async hook', 'post hook']);
      });

      it('stepAsync with a hook resolving to { grads }', async () => {
        const { a, b, grads } = pair(backend);
        const replacement = randomTensors('float32', LENGTHS, 64);
        a.registerStepPreHook(async () => ({ grads: replacement }));
        await a.stepAsync(grads);
        b.step(replacement);
        expectSameOptimizer(a, b, 'after stepAsync');
      });

      it('step() with a Promise-returning hook throws a coded error and changes nothing (first and second step)', () => {
        const { a, grads } = pair(backend);
        // A second step with the same arrays first, so the cached path is armed.
        a.step(grads);
        a.step(grads);
        let resolved = false;
        const handle = a.registerStepPreHook(() => Promise.resolve().then(() => void (resolved = true)));
        for (let attempt = 1; attempt <= 2; attempt++) {
          const snap = snapshotOptimizer(a, grads);
          expectError(() => a.step(grads), range(INVALID_ARG_VALUE, 'SGD: step', 'Promise', 'stepAsync'));
          expectUnchanged(a, snap);
        }
        handle.remove();
        a.step(grads);
        expect(a.state[0].step).to.equal(3);
        void resolved;
      });

      it('a step whose gradients are invalid throws without calling the hook', () => {
        const { a, grads } = pair(backend);
        let calls = 0;
        a.registerStepPreHook(() => void calls++);
        a.step(grads);
        a.step(grads);
        expect(calls).to.equal(2);
        const snap = snapshotOptimizer(a, grads);
        expectError(() => a.step(grads.slice(1)), range(SHAPE_MISMATCH, 'grads'));
        expectError(() => a.step([grads[0], grads[1], new Float32Array(36)]), range(SHAPE_MISMATCH, 'grads[2]'));
        expectError(() => a.step(grads, { gradScale: NaN }), { type: RangeError, code: ErrorCodes.NON_FINITE });
        (a.paramGroups[0] as { lr: number }).lr = -1;
        expectError(() => a.step(grads), range(OUT_OF_RANGE, 'paramGroups[0].lr'));
        (a.paramGroups[0] as { lr: number }).lr = 0.05;
        expect(calls).to.equal(2);
        expectUnchanged(a, snap);
      });

      it('a hook returning a replacement that is invalid is refused, and so is a non-object', () => {
        const { a, grads } = pair(backend);
        a.step(grads);
        const h1 = a.registerStepPreHook(() => ({ grads: grads.slice(1) }));
        expectError(() => a.step(grads), range(SHAPE_MISMATCH, 'grads'));
        h1.remove();
        const h2 = a.registerStepPreHook(() => ({ options: { maxGradNorm: -1 } }));
        expectError(() => a.step(grads), range(OUT_OF_RANGE, 'maxGradNorm'));
        h2.remove();
        a.registerStepPreHook((() => 5) as never);
        expectError(() => a.step(grads), type(INVALID_ARG_TYPE, 'pre-hook'));
      });

      it('handle.remove() unregisters (pre and post hooks); removing twice is harmless', () => {
        const { a, grads } = pair(backend);
        let pre = 0;
        let post = 0;
        const h = a.registerStepPreHook(() => void pre++);
        const k = a.registerStepPostHook(() => void post++);
        a.step(grads);
        h.remove();
        a.step(grads);
        k.remove();
        k.remove();
        a.step(grads);
        expect([pre, post]).to.deep.equal([1, 2]);
      });

      it('registerStepPostHook receives the StepResult, also of a skipped step (skipIfNonfinite)', () => {
        const { a, grads } = pair(backend);
        const results: StepResult[] = [];
        a.registerStepPostHook((opt, r) => {
          expect(opt).to.equal(a);
          results.push(r);
        });
        const r1 = a.step(grads);
        const r2 = a.step(grads, { maxGradNorm: 1 });
        const bad = cloneTensors(grads);
        bad[1][7] = NaN;
        const snap = snapshotOptimizer(a);
        const r3 = a.step(bad, { skipIfNonfinite: true });
        expectUnchanged(a, snap, 'after the skipped step');
        expect(results).to.have.length(3);
        expect(results[0]).to.deep.equal(r1).and.to.deep.equal({ gradNorm: undefined, skipped: false });
        expect(results[1]).to.deep.equal(r2);
        expect(Object.is(results[1].gradNorm, getTotalNorm(grads, 2, { backend }))).to.equal(true);
        expect(results[2]).to.deep.equal(r3);
        expect(results[2].skipped).to.equal(true);
        expect(Number.isNaN(results[2].gradNorm)).to.equal(true);
      });
    });
  }

  it('registerStepPreHook / registerStepPostHook refuse a non-function', () => {
    const opt: AnyOptimizer = makeOptimizer('Adam', [new Float32Array(3)]);
    expectError(() => opt.registerStepPreHook('x' as never), type(INVALID_ARG_TYPE, 'registerStepPreHook: hook'));
    expectError(() => opt.registerStepPostHook({} as never), type(INVALID_ARG_TYPE, 'registerStepPostHook: hook'));
  });
});

describe('pipeline: the norm in stages', () => {
  const P = [1, 2, 3, Infinity];
  const f32 = randomTensors('float32', [1, 37, 1000, 70_001], 71);
  const f64 = randomTensors('float64', [5, 999, 33], 72);
  const all: Tensor[] = [f64[0], f32[0], f32[1], f64[1], f32[2], f64[2], f32[3]];

  for (const backend of BACKENDS) {
    for (const p of P) {
      it(`${backend}, p = ${p}: finishNorm(merge([partial(float32), partial(float64)])) === getTotalNorm(mixed list)`, () => {
        const merged = mergeNormPartials([gradNormPartial(f32, p, { backend }), gradNormPartial(f64, p, { backend })]);
        const total = getTotalNorm(all, p, { backend });
        expect(Object.is(finishNorm(merged), total), `${finishNorm(merged)} vs ${total}`).to.equal(true);
        expect(merged.normType).to.equal(p);
        // One list alone: finish(partial) is its norm.
        for (const list of [f32, f64, all]) {
          expect(Object.is(finishNorm(gradNormPartial(list, p, { backend })), getTotalNorm(list, p, { backend }))).to.equal(true);
        }
        // The partial is the norm before its root.
        const f64part = gradNormPartial(f64, p, { backend }).value;
        const direct = f64.reduce(
          (acc, t) => Array.from(t).reduce((s: number, x: number) => (p === Infinity ? Math.max(s, Math.abs(x)) : p === 1 ? s + Math.abs(x) : p === 2 ? s + x * x : s + Math.abs(x) ** p), acc),
          0,
        );
        expect(f64part).to.be.closeTo(direct, Math.abs(direct) * 1e-12);
      });
    }
    it(`${backend}: for p = Infinity any split of a list merges to exactly getTotalNorm`, () => {
      const total = getTotalNorm(all, Infinity, { backend });
      for (let cut = 0; cut <= all.length; cut++) {
        const parts = [all.slice(0, cut), all.slice(cut)].map((l) => gradNormPartial(l, Infinity, { backend }));
        expect(finishNorm(mergeNormPartials(parts))).to.equal(total);
        // Single-tensor partials in any order.
        const singles = all.map((t) => gradNormPartial([t], Infinity, { backend })).reverse();
        expect(finishNorm(mergeNormPartials(singles))).to.equal(total);
      }
      expect(total).to.equal(Math.max(...all.map((t) => Array.from(t).reduce((m: number, x: number) => Math.max(m, Math.abs(x)), 0))));
    });
    it(`${backend}: the native and js partials agree bit for bit`, () => {
      for (const p of P) {
        const js = gradNormPartial(all, p, { backend: 'js' });
        expect(Object.is(gradNormPartial(all, p, { backend }).value, js.value), `p = ${p}`).to.equal(true);
      }
    });
  }

  it('mergeNormPartials refuses an empty list, mixed normTypes and negative values, with coded errors', () => {
    expectError(() => mergeNormPartials([]), range(INVALID_ARG_VALUE, 'mergeNormPartials', 'at least one'));
    expectError(
      () => mergeNormPartials([{ normType: 2, value: 1 }, { normType: 1, value: 1 }]),
      range(INVALID_ARG_VALUE, 'partials[1].normType', '2'),
    );
    expectError(() => mergeNormPartials([{ normType: 2, value: 1 }, { normType: 2, value: -0.5 }]), range(OUT_OF_RANGE, 'partials[1].value', '-0.5'));
    expectError(() => mergeNormPartials([{ normType: 0, value: 1 }]), range(OUT_OF_RANGE, 'partials[0].normType'));
    // NaN propagates (a non-finite gradient somewhere): not refused.
    expect(Number.isNaN(mergeNormPartials([{ normType: Infinity, value: NaN }, { normType: Infinity, value: 3 }]).value)).to.equal(true);
    expect(Number.isNaN(mergeNormPartials([{ normType: Infinity, value: 3 }, { normType: Infinity, value: NaN }]).value)).to.equal(true);
    // Values merge as sums (finite p) or a max (Infinity).
    expect(mergeNormPartials([{ normType: 2, value: 9 }, { normType: 2, value: 16 }])).to.deep.equal({ normType: 2, value: 25 });
    expect(finishNorm({ normType: 2, value: 25 })).to.equal(5);
    expect(mergeNormPartials([{ normType: Infinity, value: 9 }, { normType: Infinity, value: 4 }]).value).to.equal(9);
    expect(finishNorm({ normType: 3, value: 27 })).to.equal(Math.pow(27, 1 / 3));
  });
});
