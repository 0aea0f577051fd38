/**
 * Clipping inside the optimizer's own pass: `opt.step(grads, { maxGradNorm })`
 * must leave exactly what `clipGradNorm(grads, maxNorm); opt.step(grads)`
 * leaves (params and state bit for bit, the same norm returned), without
 * writing into the gradients. Also skipIfNonfinite and errorIfNonfinite: a
 * non-finite gradient skips the step, or throws, and changes nothing.
 */
import { expect } from 'chai';
import { DType, ErrorCodes, Tensor, clipGradNorm, getTotalNorm } from '../lib';
import type { BackendName } from '../lib/backend';
import { expectAllBitIdentical } from './helpers/bits';
import { expectError, expectFailure } from './helpers/errors';
import { AnyOptimizer, Variant, expectSameOptimizer, kernelVariants, makeOptimizer, resultTensors, variantLabel } from './helpers/optimizers';
import { cloneTensors, mixSeed, randomTensors } from './helpers/random';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';

const BACKENDS: readonly BackendName[] = ['native', 'js'];
const DTYPES: readonly DType[] = ['float32', 'float64'];

/** Over 32768 elements in all, so the native kernels split the step across two threads. */
const LENGTHS = [3, 37, 1000, 40_001];
const MAX_NORM = 1;
/**
 * Gradient scales per step. The unscaled norm is about √41041 ≈ 200, so the
 * norms go about 200, 0.2, 10, 0.4, 600: above, below, above, below, above MAX_NORM.
 */
const STEP_SCALES = [1, 0.001, 0.05, 0.002, 3];

/**
 * The optimizer over two param groups (the norm is global across groups), the
 * second with half the learning rate, over fresh params from `seed`.
 */
function build(variant: Variant, dtype: DType, backend: BackendName, seed = 1): AnyOptimizer {
  const params = randomTensors(dtype, LENGTHS, seed);
  const lr = variant.options.lr as number;
  return makeOptimizer(variant.optimizer, [{ params: params.slice(0, 2) }, { params: params.slice(2), lr: lr / 2 }], variant.options, backend);
}

function gradsFor(dtype: DType, step: number, scale = STEP_SCALES[step]): Tensor[] {
  return randomTensors(dtype, LENGTHS, mixSeed(2, step), scale);
}

/** A copy of the grads with one element made non-finite. */
function withBad(grads: readonly Tensor[], value: number): Tensor[] {
  const out = cloneTensors(grads);
  out[2][500] = value;
  return out;
}

describe('fused clipping: step(grads, { maxGradNorm }) equals clipGradNorm then step', () => {
  for (const backend of BACKENDS) {
    for (const dtype of DTYPES) {
      for (const variant of kernelVariants()) {
        const label = `${variant.optimizer} ${JSON.stringify(variant.options)} ${dtype} ${backend}`;

        it(`${label}: params, state and norms bit-identical over steps above and below maxNorm; grads not written`, () => {
          const separate = build(variant, dtype, backend);
          const fused = build(variant, dtype, backend);
          const seen = { above: false, below: false };
          STEP_SCALES.forEach((_, step) => {
            const grads = gradsFor(dtype, step);
            const unclipped = cloneTensors(grads);
            const fusedGrads = cloneTensors(grads);

            const norm = clipGradNorm(grads, MAX_NORM, { backend });
            separate.step(grads);
            const result = fused.step(fusedGrads, { maxGradNorm: MAX_NORM });

            if (norm > MAX_NORM) seen.above = true;
            else seen.below = true;
            expect(result, `step ${step}`).to.deep.equal({ gradNorm: norm, skipped: false });
            expectSameOptimizer(fused, separate, `step ${step}`);
            expectAllBitIdentical(fusedGrads, unclipped, `step ${step}: grads given to the fused step`);
          });
          expect(seen, 'the steps cover both cases').to.deep.equal({ above: true, below: true });
        });

        it(`${label}: stepAsync with maxGradNorm gives the same`, async () => {
          const separate = build(variant, dtype, backend);
          const fused = build(variant, dtype, backend);
          for (let step = 0; step < STEP_SCALES.length; step++) {
            const grads = gradsFor(dtype, step);
            const fusedGrads = cloneTensors(grads);
            const norm = clipGradNorm(grads, MAX_NORM, { backend });
            separate.step(grads);
            expect(await fused.stepAsync(fusedGrads, { maxGradNorm: MAX_NORM }), `step ${step}`).to.deep.equal({ gradNorm: norm, skipped: false });
            expectSameOptimizer(fused, separate, `step ${step}`);
            expectAllBitIdentical(fusedGrads, gradsFor(dtype, step), `step ${step}: grads given to stepAsync`);
          }
        });
      }
    }
  }

  const adam = kernelVariants().find((v) => v.optimizer === 'Adam')!;

  for (const normType of [1, 3, Infinity]) {
    it(`Adam with normType ${normType}: the same as clipGradNorm with that norm`, () => {
      for (const dtype of DTYPES) {
        const separate = build(adam, dtype, 'native');
        const fused = build(adam, dtype, 'native');
        STEP_SCALES.forEach((_, step) => {
          const grads = gradsFor(dtype, step);
          const fusedGrads = cloneTensors(grads);
          const norm = clipGradNorm(grads, MAX_NORM, { normType });
          separate.step(grads);
          expect(fused.step(fusedGrads, { maxGradNorm: MAX_NORM, normType }).gradNorm).to.equal(norm);
          expectSameOptimizer(fused, separate, `${dtype} step ${step}`);
        });
      }
    });
  }

  it('a null gradient leaves its param out of the norm, as PyTorch leaves out params without .grad', () => {
    const separate = build(adam, 'float32', 'native');
    const fused = build(adam, 'float32', 'native');
    STEP_SCALES.forEach((_, step) => {
      const grads: Array<Tensor | null> = gradsFor('float32', step);
      if (step % 2 === 1) grads[step === 1 ? 0 : 3] = null;
      const present = grads.filter((g): g is Tensor => g !== null);
      const fusedGrads = grads.map((g) => g && g.slice());
      const norm = clipGradNorm(present, MAX_NORM);
      separate.step(grads);
      expect(fused.step(fusedGrads, { maxGradNorm: MAX_NORM }).gradNorm).to.equal(norm);
      expectSameOptimizer(fused, separate, `step ${step}`);
    });
  });

  it('maxGradNorm Infinity never clips: the same as a plain step, and the norm is returned', () => {
    const plain = build(adam, 'float64', 'native');
    const fused = build(adam, 'float64', 'native');
    const grads = gradsFor('float64', 4);
    expect(plain.step(grads)).to.deep.equal({ gradNorm: undefined, skipped: false });
    expect(fused.step(grads, { maxGradNorm: Infinity }).gradNorm).to.equal(getTotalNorm(grads));
    expectSameOptimizer(fused, plain, 'after one step');
  });

  for (const [name, bad] of [['NaN', NaN], ['+Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
    it(`a ${name} gradient without skip or error: the same as clipGradNorm's ${name === 'NaN' ? 'NaN' : 'zero'} coefficient then step`, () => {
      for (const variant of kernelVariants()) {
        const separate = build(variant, 'float32', 'native');
        const fused = build(variant, 'float32', 'native');
        const grads = withBad(gradsFor('float32', 0), bad);
        const fusedGrads = cloneTensors(grads);
        const norm = clipGradNorm(grads, MAX_NORM);
        separate.step(grads);
        const result = fused.step(fusedGrads, { maxGradNorm: MAX_NORM });
        expect(Object.is(result.gradNorm, norm), `${variantLabel(variant)}: ${result.gradNorm} vs ${norm}`).to.equal(true);
        if (name === 'NaN') {
          // Equal as values (NaN is NaN, -0 is not +0) but not always in the NaN's sign bit:
          // with maximize, the fused path negates the NaN coefficient in JavaScript, while
          // the separate path multiplies the NaN gradient by -1, which x86 leaves as it is.
          const values = (o: AnyOptimizer): number[][] => resultTensors(o).map((t) => Array.from(t));
          expect(values(fused), variantLabel(variant)).to.deep.equal(values(separate));
          expect(values(fused)[2].every(Number.isNaN), `${variantLabel(variant)}: params[2] all NaN`).to.equal(true);
        } else {
          expectSameOptimizer(fused, separate, variantLabel(variant));
        }
      }
    });
  }
});

describe('skipIfNonfinite', () => {
  for (const backend of BACKENDS) {
    for (const [name, bad] of [['a NaN', NaN], ['+Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
      it(`${name} in one gradient: skipped, nothing changed, later steps as if it never happened (${backend})`, async () => {
        for (const variant of kernelVariants()) {
          const what = variantLabel(variant);
          const opt = build(variant, 'float32', backend);
          const twin = build(variant, 'float32', backend);
          for (const o of [opt, twin]) o.step(gradsFor('float32', 0));

          const badGrads = withBad(gradsFor('float32', 1), bad);
          const snap = snapshotOptimizer(opt, badGrads);
          const expectedNorm = name === 'a NaN' ? NaN : Infinity;
          const sync = opt.step(badGrads, { skipIfNonfinite: true });
          expect(sync.skipped, what).to.equal(true);
          expect(Object.is(sync.gradNorm, expectedNorm), `${what}: gradNorm ${sync.gradNorm}`).to.equal(true);
          expectUnchanged(opt, snap, `${what}: after the skipped step`);
          const withClip = opt.step(badGrads, { skipIfNonfinite: true, maxGradNorm: MAX_NORM });
          expect(withClip.skipped, what).to.equal(true);
          expectUnchanged(opt, snap, `${what}: after the skipped clipped step`);
          const async = await opt.stepAsync(badGrads, { skipIfNonfinite: true });
          expect(async.skipped, what).to.equal(true);
          expectUnchanged(opt, snap, `${what}: after the skipped stepAsync`);

          // The step counts did not move, so the bias corrections of the next steps are the twin's.
          for (let step = 2; step < 4; step++) {
            const grads = gradsFor('float32', step);
            opt.step(cloneTensors(grads), { skipIfNonfinite: true });
            twin.step(grads);
          }
          expectSameOptimizer(opt, twin, `${what}: after the steps that followed`);
        }
      });
    }

    it(`finite gradients: not skipped, the norm is returned, the step is a plain step (${backend})`, () => {
      for (const variant of kernelVariants()) {
        const opt = build(variant, 'float64', backend);
        const plain = build(variant, 'float64', backend);
        const grads = gradsFor('float64', 0);
        expect(opt.step(grads, { skipIfNonfinite: true })).to.deep.equal({ gradNorm: getTotalNorm(grads, 2, { backend }), skipped: false });
        plain.step(grads);
        expectSameOptimizer(opt, plain, variantLabel(variant));
      }
    });
  }
});

describe('errorIfNonfinite in step', () => {
  for (const backend of BACKENDS) {
    for (const [name, bad] of [['a NaN', NaN], ['+Infinity', Infinity]] as const) {
      it(`${name}: step and stepAsync throw ERR_NON_FINITE and change nothing (${backend})`, async () => {
        for (const variant of kernelVariants()) {
          const what = variantLabel(variant);
          const opt = build(variant, 'float64', backend);
          opt.step(gradsFor('float64', 0));
          const badGrads = withBad(gradsFor('float64', 1), bad);
          const snap = snapshotOptimizer(opt, badGrads);
          const expected = { type: RangeError, code: ErrorCodes.NON_FINITE, mentions: [`${variant.optimizer}: step:`, /norm of order 2 .* is (NaN|Infinity)/] };
          for (const options of [{ errorIfNonfinite: true }, { errorIfNonfinite: true, maxGradNorm: MAX_NORM }, { errorIfNonfinite: true, skipIfNonfinite: true }]) {
            expectError(() => opt.step(badGrads, options), expected, `${what} step ${JSON.stringify(options)}`);
            expectUnchanged(opt, snap, `${what}: after step ${JSON.stringify(options)}`);
            await expectFailure(() => opt.stepAsync(badGrads, options), expected, `${what} stepAsync`);
            expectUnchanged(opt, snap, `${what}: after stepAsync ${JSON.stringify(options)}`);
            expect(opt.busy, `${what}: busy after the rejected stepAsync`).to.equal(false);
          }
          // The optimizer is still usable.
          expect(opt.step(gradsFor('float64', 2), { errorIfNonfinite: true }).skipped).to.equal(false);
        }
      });
    }
  }

  it('finite gradients: the step runs and returns the norm', () => {
    const opt = build(kernelVariants()[0], 'float32', 'native');
    const grads = gradsFor('float32', 0);
    expect(opt.step(grads, { errorIfNonfinite: true, maxGradNorm: MAX_NORM })).to.deep.equal({ gradNorm: getTotalNorm(grads), skipped: false });
    expect(opt.state[0].step).to.equal(1);
  });
});

describe('step: bad clipping options throw, naming the option, and change nothing', () => {
  const adam = kernelVariants().find((v) => v.optimizer === 'Adam')!;
  const cases: Array<{ options: Record<string, unknown>; type: typeof TypeError | typeof RangeError; code: string; mentions: Array<string | RegExp> }> = [
    { options: { maxGradNorm: -1 }, type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['Adam: step: options.maxGradNorm: expected a number >= 0, got -1'] },
    { options: { maxGradNorm: NaN }, type: RangeError, code: ErrorCodes.NON_FINITE, mentions: ['options.maxGradNorm', 'got NaN'] },
    { options: { maxGradNorm: '1' }, type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['options.maxGradNorm', 'got "1"'] },
    { options: { maxGradNorm: 1, normType: 0 }, type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['Adam: step: options.normType: expected a number > 0, got 0'] },
    { options: { maxGradNorm: 1, normType: NaN }, type: RangeError, code: ErrorCodes.NON_FINITE, mentions: ['options.normType', 'got NaN'] },
    { options: { maxGradNorm: 1, normType: -2 }, type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['options.normType', 'got -2'] },
    { options: { normType: 0 }, type: RangeError, code: ErrorCodes.OUT_OF_RANGE, mentions: ['options.normType', 'got 0'] },
    { options: { skipIfNonfinite: 1, normType: -Infinity }, type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['options.skipIfNonfinite: expected a boolean, got 1'] },
    { options: { errorIfNonfinite: 'yes' }, type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['options.errorIfNonfinite: expected a boolean, got "yes"'] },
    { options: { max_grad_norm: 1 }, type: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, mentions: ['Adam: step: options: unknown option "max_grad_norm"'] },
  ];
  for (const { options, type, code, mentions } of cases) {
    it(`${JSON.stringify(options, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}`, async () => {
      const opt = build(adam, 'float32', 'native');
      opt.step(gradsFor('float32', 0));
      const grads = gradsFor('float32', 1);
      const snap = snapshotOptimizer(opt, grads);
      expectError(() => opt.step(grads, options as never), { type, code, mentions });
      expectUnchanged(opt, snap, 'after step');
      await expectFailure(() => opt.stepAsync(grads, options as never), { type, code, mentions });
      expectUnchanged(opt, snap, 'after stepAsync');
    });
  }
});
