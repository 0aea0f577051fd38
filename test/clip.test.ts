/**
 * clipGradNorm and clipGradNormAsync against torch.nn.utils.clip_grad_norm_:
 * the total norm of all gradients as one vector (checked against plain loops in
 * double), the clip coefficient clamp(maxNorm / (norm + 1e-6), max=1) applied
 * to every element (checked exactly, rounding included), NaN and ±Inf handled
 * as PyTorch's formula handles them, and the same numbers from both backends,
 * any thread count and any instruction set.
 */
import { expect } from 'chai';
import { DType, ErrorCodes, Tensor, addonInfo, clipGradNorm, clipGradNormAsync, getNumThreads, setNumThreads } from '../lib';
import { expectAllBitIdentical } from './helpers/bits';
import { detach, viewsOfOneBuffer } from './helpers/buffers';
import { describeExit, runNodeChild } from './helpers/child';
import { expectError, expectFailure } from './helpers/errors';
import { cloneTensors, mixSeed, randomTensor, randomTensors } from './helpers/random';

const BACKENDS = ['native', 'js'] as const;
const NORM_TYPES = [2, 1, 3, Infinity];
const DTYPES: readonly DType[] = ['float32', 'float64'];

/** Random tensors of the given lengths whose dtype alternates with the index: float32, float64, float32, ... */
function mixedTensors(lengths: readonly number[], seed: number, firstDtype: DType = 'float32'): Tensor[] {
  const other: DType = firstDtype === 'float32' ? 'float64' : 'float32';
  return lengths.map((n, i) => randomTensor(i % 2 === 0 ? firstDtype : other, n, mixSeed(seed, i)));
}

/** The p-norm of all elements as one vector, by plain loops in double precision. */
function handNorm(list: readonly Tensor[], p: number): number {
  let acc = 0;
  for (const t of list) {
    for (let i = 0; i < t.length; i++) {
      const a = Math.abs(t[i]);
      acc = p === Infinity ? Math.max(acc, a) : acc + Math.pow(a, p);
    }
  }
  return p === Infinity ? acc : Math.pow(acc, 1 / p);
}

/**
 * PyTorch's coefficient: torch.clamp(max_norm / (total_norm + 1e-6), max=1.0).
 * clamp passes a NaN through unchanged (Math.min would return a NaN of another sign).
 */
function torchCoefficient(maxNorm: number, norm: number): number {
  const coef = maxNorm / (norm + 1e-6);
  return Number.isNaN(coef) ? coef : Math.min(coef, 1);
}

/** What g.mul_(coef) leaves: the product rounded to the tensor's dtype, the coefficient first rounded to it. */
function scaledBy(t: Tensor, coef: number): Tensor {
  const out = t.slice();
  if (t instanceof Float32Array) {
    const c = Math.fround(coef);
    for (let i = 0; i < t.length; i++) out[i] = Math.fround(t[i] * c);
  } else {
    for (let i = 0; i < t.length; i++) out[i] = t[i] * coef;
  }
  return out;
}

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

const bitsOf = (x: number): string => Buffer.from(Float64Array.of(x).buffer).toString('hex');

describe('clipGradNorm', () => {
  for (const backend of BACKENDS) {
    describe(`${backend} backend`, () => {
      for (const p of NORM_TYPES) {
        for (const dtype of DTYPES) {
          it(`returns the ${p}-norm of all ${dtype} grads as one vector, before clipping`, () => {
            const grads = randomTensors(dtype, [7, 33, 1, 100], 1);
            const norm = clipGradNorm(grads, Infinity, { normType: p, backend });
            expect(relative(norm, handNorm(grads, p))).to.be.below(1e-12);
          });

          it(`scales every ${dtype} element by maxNorm / (norm + 1e-6) when the ${p}-norm is above maxNorm`, () => {
            const grads = randomTensors(dtype, [5, 17, 64, 3], 2);
            const before = cloneTensors(grads);
            const maxNorm = handNorm(before, p) / 3;
            const norm = clipGradNorm(grads, maxNorm, { normType: p, backend });
            const coef = torchCoefficient(maxNorm, norm);
            expect(coef).to.be.within(0.3, 0.34);
            expectAllBitIdentical(grads, before.map((t) => scaledBy(t, coef)), 'clipped grads');
          });
        }

        it(`leaves the grads untouched, bit for bit, when the ${p}-norm is below maxNorm`, () => {
          const grads = mixedTensors([9, 40], 3);
          grads[0][3] = -0;
          const before = cloneTensors(grads);
          const norm = clipGradNorm(grads, handNorm(before, p) * 1.01, { normType: p, backend });
          expect(relative(norm, handNorm(before, p))).to.be.below(1e-12);
          expectAllBitIdentical(grads, before, 'grads');
        });
      }

      it('clips when the norm equals maxNorm exactly: the 1e-6 keeps the coefficient just below 1', () => {
        const grads = [new Float64Array([3, 4])];
        expect(clipGradNorm(grads, 5, { backend })).to.equal(5);
        const coef = 5 / (5 + 1e-6);
        expect(Array.from(grads[0])).to.deep.equal([3 * coef, 4 * coef]);
      });

      it('returns 0 for zero gradients and changes nothing (no 0/0)', () => {
        const grads = [new Float32Array([0, -0, 0]), new Float64Array([-0, 0])];
        const before = cloneTensors(grads);
        for (const p of NORM_TYPES) {
          expect(clipGradNorm(grads, 1, { normType: p, backend })).to.equal(0);
          expectAllBitIdentical(grads, before, `grads after p=${p}`);
        }
      });

      it('zeroes every gradient when maxNorm is 0 (coefficient 0, signs kept)', () => {
        const grads = [new Float32Array([1.5, -2, 0]), new Float64Array([-1e-300, 7])];
        const before = cloneTensors(grads);
        const norm = clipGradNorm(grads, 0, { backend });
        expect(relative(norm, handNorm(before, 2))).to.be.below(1e-12);
        expectAllBitIdentical(grads, before.map((t) => scaledBy(t, 0)), 'grads');
        expect(Object.is(grads[0][1], -0)).to.equal(true);
      });

      it('returns 0 for an empty list, for every norm type', () => {
        for (const p of NORM_TYPES) expect(clipGradNorm([], 1, { normType: p, backend })).to.equal(0);
      });

      it('takes a mixed list of Float32Array and Float64Array grads, each scaled in its own precision', () => {
        const grads = mixedTensors([10, 3, 250, 1, 31], 4);
        const before = cloneTensors(grads);
        for (const p of NORM_TYPES) {
          const work = cloneTensors(before);
          const maxNorm = handNorm(before, p) / 7;
          const norm = clipGradNorm(work, maxNorm, { normType: p, backend });
          expect(relative(norm, handNorm(before, p)), `p=${p}`).to.be.below(1e-12);
          expectAllBitIdentical(work, before.map((t) => scaledBy(t, torchCoefficient(maxNorm, norm))), `grads p=${p}`);
        }
      });

      it('handles one huge tensor (1,000,003 elements) and 1000 tiny ones (1 to 17 elements) in one call', () => {
        const lengths = [1_000_003, ...Array.from({ length: 1000 }, (_, i) => 1 + (i % 17))];
        const before = randomTensors('float32', lengths, 5);
        for (const p of NORM_TYPES) {
          const grads = cloneTensors(before);
          const maxNorm = 0.5;
          const norm = clipGradNorm(grads, maxNorm, { normType: p, backend });
          expect(relative(norm, handNorm(before, p)), `p=${p}`).to.be.below(1e-12);
          expectAllBitIdentical(grads, before.map((t) => scaledBy(t, torchCoefficient(maxNorm, norm))), `grads p=${p}`);
        }
      });

      describe('non-finite gradients, errorIfNonfinite false (PyTorch clips anyway)', () => {
        const cases: Array<{ name: string; bad: number[]; norm: number }> = [
          { name: 'a NaN', bad: [NaN], norm: NaN },
          { name: '+Infinity', bad: [Infinity], norm: Infinity },
          { name: '-Infinity', bad: [-Infinity], norm: Infinity },
          { name: '+Infinity and a NaN', bad: [Infinity, NaN], norm: NaN },
        ];
        for (const { name, bad, norm: expectedNorm } of cases) {
          for (const p of NORM_TYPES) {
            it(`${name}: the ${p}-norm is ${expectedNorm} and every grad is multiplied by clamp(1 / (${expectedNorm} + 1e-6), max=1)`, () => {
              const grads = mixedTensors([20, 5], 6);
              bad.forEach((x, k) => (grads[1][k * 2 + 1] = x));
              grads[0][0] = -0.0;
              const before = cloneTensors(grads);
              const norm = clipGradNorm(grads, 1, { normType: p, backend });
              expect(Object.is(norm, expectedNorm), `norm ${norm}`).to.equal(true);
              // NaN coefficient: everything becomes NaN. Coefficient 0: finite values become ±0, infinities NaN.
              expectAllBitIdentical(grads, before.map((t) => scaledBy(t, torchCoefficient(1, expectedNorm))), 'grads');
            });
          }
        }

        it('a norm that overflows to Infinity from finite float64 values clips everything to ±0', () => {
          const grads = [new Float64Array([1e200, -1e200, 3])];
          expect(clipGradNorm(grads, 1, { backend })).to.equal(Infinity);
          expect(Array.from(grads[0]).map((x) => Object.is(x, -0) ? '-0' : String(x))).to.deep.equal(['0', '-0', '0']);
        });
      });

      describe('errorIfNonfinite true', () => {
        for (const bad of [NaN, Infinity, -Infinity]) {
          for (const p of NORM_TYPES) {
            it(`throws ERR_NON_FINITE for a ${bad} (p=${p}) and changes nothing`, () => {
              const grads = mixedTensors([8, 300], 7, 'float64');
              grads[1][299] = bad;
              const before = cloneTensors(grads);
              expectError(() => clipGradNorm(grads, 1, { normType: p, errorIfNonfinite: true, backend }), {
                type: RangeError,
                code: ErrorCodes.NON_FINITE,
                mentions: [/^clipGradNorm: .*norm of order .* is (NaN|Infinity)/],
              });
              expectAllBitIdentical(grads, before, 'grads');
            });
          }
        }

        it('clips as usual when the norm is finite', () => {
          const grads = randomTensors('float32', [50], 8);
          const before = cloneTensors(grads);
          const norm = clipGradNorm(grads, 1, { errorIfNonfinite: true, backend });
          expectAllBitIdentical(grads, before.map((t) => scaledBy(t, torchCoefficient(1, norm))), 'grads');
        });
      });

      describe('clipGradNormAsync', () => {
        it('returns the same norm and leaves the same bits as clipGradNorm', async () => {
          const before = mixedTensors([40_000, 17, 3], 9);
          for (const p of NORM_TYPES) {
            for (const maxNorm of [1, 1e9]) {
              const sync = cloneTensors(before);
              const async = cloneTensors(before);
              const expected = clipGradNorm(sync, maxNorm, { normType: p, backend });
              expect(await clipGradNormAsync(async, maxNorm, { normType: p, backend })).to.equal(expected);
              expectAllBitIdentical(async, sync, `grads p=${p} maxNorm=${maxNorm}`);
            }
          }
        });

        it('multiplies by the NaN coefficient like clipGradNorm', async () => {
          const grads = [new Float32Array([1, NaN, 2])];
          expect(await clipGradNormAsync(grads, 1, { backend })).to.be.NaN;
          expect(Array.from(grads[0]).every(Number.isNaN)).to.equal(true);
        });

        it('rejects with ERR_NON_FINITE under errorIfNonfinite and changes nothing', async () => {
          const grads = [new Float64Array([1, Infinity, 2])];
          const before = cloneTensors(grads);
          await expectFailure(() => clipGradNormAsync(grads, 1, { errorIfNonfinite: true, backend }), {
            type: RangeError,
            code: ErrorCodes.NON_FINITE,
            mentions: [/^clipGradNormAsync: .*norm.* is Infinity/],
          });
          expectAllBitIdentical(grads, before, 'grads');
        });
      });
    });
  }
});

describe('clipGradNorm: native and JavaScript backends agree', () => {
  // Lengths around the 16384-element reduction block and the 16 lanes.
  const lengths = [16384, 16385, 40_007, 15, 16, 17, 1, 5000];
  for (const dtype of DTYPES) {
    for (const p of [1, 2, Infinity]) {
      it(`bit for bit for p=${p} over ${dtype} grads (norm and clipped grads)`, () => {
        const before = randomTensors(dtype, lengths, 10);
        const native = cloneTensors(before);
        const js = cloneTensors(before);
        const maxNorm = 2;
        const nativeNorm = clipGradNorm(native, maxNorm, { normType: p });
        const jsNorm = clipGradNorm(js, maxNorm, { normType: p, backend: 'js' });
        expect(bitsOf(nativeNorm)).to.equal(bitsOf(jsNorm));
        expectAllBitIdentical(native, js, 'clipped grads');
      });
    }

    it(`within 1e-12 relative for p=3 over ${dtype} grads (std::pow and Math.pow may differ in the last bit)`, () => {
      const before = randomTensors(dtype, lengths, 11);
      const native = cloneTensors(before);
      const js = cloneTensors(before);
      const nativeNorm = clipGradNorm(native, 2, { normType: 3 });
      const jsNorm = clipGradNorm(js, 2, { normType: 3, backend: 'js' });
      expect(relative(nativeNorm, jsNorm)).to.be.below(1e-12);
      expectAllBitIdentical(native, before.map((t) => scaledBy(t, torchCoefficient(2, nativeNorm))), 'native grads');
      expectAllBitIdentical(js, before.map((t) => scaledBy(t, torchCoefficient(2, jsNorm))), 'js grads');
    });
  }

  it('bit for bit on a mixed list with NaN, which both propagate', () => {
    const before = mixedTensors([20_000, 33], 12);
    before[0][19_999] = NaN;
    for (const p of [1, 2, Infinity]) {
      const native = cloneTensors(before);
      const js = cloneTensors(before);
      expect(clipGradNorm(native, 1, { normType: p })).to.be.NaN;
      expect(clipGradNorm(js, 1, { normType: p, backend: 'js' })).to.be.NaN;
      expectAllBitIdentical(native, js, `grads p=${p}`);
    }
  });
});

describe('clipGradNorm: the thread count does not change the result', () => {
  let saved: number;
  before(() => (saved = getNumThreads()));
  after(() => setNumThreads(saved));

  // Over 1M elements, so two threads each get many blocks; no length is a multiple of 16.
  const lengths = [600_001, 300_007, 150_011, 33, 7];
  for (const dtype of DTYPES) {
    for (const p of NORM_TYPES) {
      it(`p=${p}, ${dtype}: norm and clipped grads bit-identical with 1 and 2 threads`, () => {
        const before = randomTensors(dtype, lengths, 13);
        const results = [1, 2].map((threads) => {
          setNumThreads(threads);
          const grads = cloneTensors(before);
          return { norm: clipGradNorm(grads, 1, { normType: p }), grads };
        });
        expect(bitsOf(results[1].norm)).to.equal(bitsOf(results[0].norm));
        expectAllBitIdentical(results[1].grads, results[0].grads, 'grads');
        expect(relative(results[0].norm, handNorm(before, p))).to.be.below(1e-12);
      });
    }
  }
});

describe('clipGradNorm: the instruction set does not change the result', function () {
  this.timeout(180_000);
  // Each child builds the same seeded grads, and prints the norms (as float64 bits)
  // and a hash of the clipped grads from the native kernels its ISA selected, and
  // the JavaScript reference's norms for comparison.
  const child = `
    const lib = require('./lib');
    const { randomTensors } = require('./test/helpers/random');
    const { hashTensors } = require('./test/helpers/bits');
    const bits = (x) => Buffer.from(Float64Array.of(x).buffer).toString('hex');
    const grads = () => [
      ...randomTensors('float32', [700_001, 300_017, 4099, 33, 1], 14),
      ...randomTensors('float64', [200_003, 17], 15),
    ];
    const out = { isa: lib.addonInfo().isa, norms: {}, js: {}, clipped: {} };
    for (const threads of [1, 2]) {
      lib.setNumThreads(threads);
      for (const p of [1, 2, 3, Infinity]) {
        const g = grads();
        const key = p + '@' + threads;
        out.norms[key] = bits(lib.clipGradNorm(g, 1, { normType: p }));
        out.clipped[key] = hashTensors(g);
        if (threads === 1) out.js[p] = bits(lib.getTotalNorm(grads(), p, { backend: 'js' }));
      }
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const RANK = ['baseline', 'avx2', 'avx512'];
  const best = RANK.indexOf(addonInfo().isa);
  const results: Record<string, { isa: string; norms: Record<string, string>; js: Record<string, string>; clipped: Record<string, string> }> = {};

  for (const isa of RANK) {
    it(`FUSEDOPTIM_ISA=${isa} runs its own kernels`, function () {
      if (RANK.indexOf(isa) > best) this.skip(); // the CPU lacks it; dispatch would pick a lower path
      const run = runNodeChild(child, { env: { FUSEDOPTIM_ISA: isa } });
      expect(run.status, describeExit(run)).to.equal(0);
      results[isa] = JSON.parse(run.stdout);
      expect(results[isa].isa).to.equal(isa);
    });
  }

  it('every ISA gives the same norms (float64 bits) and the same clipped grads, at 1 and 2 threads', function () {
    const runs = Object.values(results);
    if (runs.length < 2) this.skip();
    const [first, ...rest] = runs;
    for (const run of rest) {
      expect(run.norms, `${run.isa} vs ${first.isa}`).to.deep.equal(first.norms);
      expect(run.clipped, `${run.isa} vs ${first.isa}`).to.deep.equal(first.clipped);
    }
    // The thread count changes nothing either, and p = 1, 2, ∞ equal the JavaScript reference.
    for (const p of ['1', '2', '3', 'Infinity']) expect(first.norms[`${p}@2`]).to.equal(first.norms[`${p}@1`]);
    for (const p of ['1', '2', 'Infinity']) expect(first.norms[`${p}@1`]).to.equal(first.js[p]);
  });
});

describe('clipGradNorm: bad input throws, naming the argument, and changes nothing', () => {
  const detached = (): Float32Array => {
    const t = new Float32Array(4);
    detach(t);
    return t;
  };
  const cases: Array<{ what: string; args: () => unknown[]; error: typeof TypeError | typeof RangeError; code: string; message: RegExp }> = [
    { what: 'grads not an Array', args: () => ['grads', 1], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /grads: expected an Array, got "grads"/ },
    { what: 'grads a single tensor', args: () => [new Float32Array(3), 1], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /grads: expected an Array, got a Float32Array/ },
    { what: 'grads undefined', args: () => [undefined, 1], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /grads: expected an Array/ },
    { what: 'an entry that is a number', args: () => [[new Float32Array(2), 3], 1], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /grads\[1\]: expected a Float32Array or Float64Array, got 3/ },
    { what: 'an entry that is an Int32Array', args: () => [[new Int32Array(2)], 1], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /grads\[0\]: expected a Float32Array or Float64Array, got a Int32Array/ },
    { what: 'an entry that is a plain Array', args: () => [[new Float64Array(1), new Float64Array(1), [1, 2]], 1], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /grads\[2\]: expected a Float32Array or Float64Array/ },
    { what: 'an entry that is null', args: () => [[null], 1], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /grads\[0\]: expected a Float32Array or Float64Array, got null/ },
    { what: 'a detached buffer', args: () => [[new Float32Array(2), detached()], 1], error: TypeError, code: ErrorCodes.DETACHED_BUFFER, message: /grads\[1\]: its ArrayBuffer is detached/ },
    { what: 'the same tensor twice', args: () => { const g = new Float32Array(3); return [[g, g], 1]; }, error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /grads\[1\]: shares memory with .*grads\[0\]/ },
    { what: 'overlapping views of one buffer', args: () => { const g = new Float64Array(10); return [[new Float64Array(3), g, g.subarray(4, 6)], 1]; }, error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /grads\[2\]: shares memory with .*grads\[1\]/ },
    {
      what: 'overlapping views with an empty view of the same buffer between them',
      args: () => [viewsOfOneBuffer('float32', [[0, 100], [10, 0], [20, 10]]), 1],
      error: RangeError,
      code: ErrorCodes.INVALID_ARG_VALUE,
      message: /grads\[2\]: shares memory with .*grads\[0\]/,
    },
    { what: 'maxNorm < 0', args: () => [[new Float32Array(2)], -1], error: RangeError, code: ErrorCodes.OUT_OF_RANGE, message: /maxNorm: expected a number >= 0, got -1/ },
    { what: 'maxNorm NaN', args: () => [[new Float32Array(2)], NaN], error: RangeError, code: ErrorCodes.NON_FINITE, message: /maxNorm: .*got NaN/ },
    { what: 'maxNorm -Infinity', args: () => [[new Float32Array(2)], -Infinity], error: RangeError, code: ErrorCodes.OUT_OF_RANGE, message: /maxNorm: .*got -Infinity/ },
    { what: 'maxNorm a string', args: () => [[new Float32Array(2)], '1'], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /maxNorm: expected a number >= 0, got "1"/ },
    { what: 'maxNorm missing', args: () => [[new Float32Array(2)]], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /maxNorm: .*got undefined/ },
    { what: 'normType 0', args: () => [[new Float32Array(2)], 1, { normType: 0 }], error: RangeError, code: ErrorCodes.OUT_OF_RANGE, message: /options\.normType: expected a number > 0, got 0/ },
    { what: 'normType -2', args: () => [[new Float32Array(2)], 1, { normType: -2 }], error: RangeError, code: ErrorCodes.OUT_OF_RANGE, message: /options\.normType: .*got -2/ },
    { what: 'normType NaN', args: () => [[new Float32Array(2)], 1, { normType: NaN }], error: RangeError, code: ErrorCodes.NON_FINITE, message: /options\.normType: .*got NaN/ },
    { what: 'normType -Infinity', args: () => [[new Float32Array(2)], 1, { normType: -Infinity }], error: RangeError, code: ErrorCodes.OUT_OF_RANGE, message: /options\.normType: .*got -Infinity/ },
    { what: "normType 'inf'", args: () => [[new Float32Array(2)], 1, { normType: 'inf' }], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /options\.normType: .*got "inf"/ },
    { what: 'errorIfNonfinite not a boolean', args: () => [[new Float32Array(2)], 1, { errorIfNonfinite: 1 }], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /options\.errorIfNonfinite: expected a boolean, got 1/ },
    { what: 'an unknown option', args: () => [[new Float32Array(2)], 1, { max_norm: 1 }], error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /options: unknown option "max_norm"/ },
    { what: 'options not an object', args: () => [[new Float32Array(2)], 1, 2], error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /options: expected a plain object, got 2/ },
    { what: 'an unknown backend', args: () => [[new Float32Array(2)], 1, { backend: 'gpu' }], error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /options\.backend: expected one of "native", "js", got "gpu"/ },
  ];

  /** The attached tensors among a call's grads argument: what a failed call must leave as it was. */
  const tensorsIn = (grads: unknown): Tensor[] =>
    Array.isArray(grads) ? grads.filter((t): t is Tensor => (t instanceof Float32Array || t instanceof Float64Array) && t.length > 0) : [];

  for (const { what, args, error, code, message } of cases) {
    it(`clipGradNorm: ${what}`, () => {
      const a = args();
      const grads = tensorsIn(a[0]);
      grads.forEach((g) => g.length > 0 && g.fill(5)); // a detached view has length 0 and cannot be filled
      const before = cloneTensors(grads);
      const call = clipGradNorm as unknown as (...xs: unknown[]) => number;
      expectError(() => call(...a), { type: error, code, mentions: [new RegExp('^clipGradNorm: ' + message.source)] });
      expectAllBitIdentical(grads, before, 'grads');
    });

    it(`clipGradNormAsync: ${what}`, async () => {
      const a = args();
      const grads = tensorsIn(a[0]);
      const before = cloneTensors(grads);
      const call = clipGradNormAsync as unknown as (...xs: unknown[]) => Promise<number>;
      await expectFailure(() => call(...a), { type: error, code, mentions: [new RegExp('^clipGradNormAsync: ' + message.source)] });
      expectAllBitIdentical(grads, before, 'grads');
    });
  }
});
