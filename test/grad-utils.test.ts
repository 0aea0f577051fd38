/**
 * The gradient utilities beside clipGradNorm: getTotalNorm, clipGradValue
 * (torch.nn.utils.clip_grad_value_), accumulateGrads (acc += scale·g) and
 * hasNonFinite. Results are checked exactly against per-element formulas, on
 * both backends, on one huge tensor and on many tiny ones; bad input throws a
 * TypeError or RangeError with a stable code and changes nothing.
 */
import { expect } from 'chai';
import { DType, ErrorCodes, Tensor, accumulateGrads, clipGradNorm, clipGradValue, getNumThreads, getTotalNorm, hasNonFinite, setNumThreads } from '../lib';
import { expectAllBitIdentical } from './helpers/bits';
import { detach } from './helpers/buffers';
import { expectError } from './helpers/errors';
import { cloneTensors, emptyTensor, mixSeed, randomTensor, randomTensors } from './helpers/random';

const BACKENDS = ['native', 'js'] as const;
const DTYPES: readonly DType[] = ['float32', 'float64'];

/** One tensor of 1,000,003 elements and 1000 of 1 to 17: both the threaded path and the per-tensor overhead. */
const HUGE_AND_TINY = [1_000_003, ...Array.from({ length: 1000 }, (_, i) => 1 + (i % 17))];

/** The values a tensor of `dtype` holds for these numbers. */
function tensorOf(dtype: DType, values: readonly number[]): Tensor {
  const t = emptyTensor(dtype, values.length);
  t.set(values);
  return t;
}

function detached(): Float32Array {
  const t = new Float32Array(4);
  detach(t);
  return t;
}

/** Runs body with the given native thread count, then restores the previous one. */
function withThreads<T>(threads: number, body: () => T): T {
  const saved = getNumThreads();
  setNumThreads(threads);
  try {
    return body();
  } finally {
    setNumThreads(saved);
  }
}

interface BadCase {
  what: string;
  call: () => unknown;
  error: typeof TypeError | typeof RangeError;
  code: string;
  message: RegExp;
  /** Tensors the call must leave as they were. */
  untouched?: Tensor[];
}

function expectRejected({ call, error, code, message, untouched = [] }: BadCase): void {
  const before = cloneTensors(untouched);
  expectError(call, { type: error, code, mentions: [message] });
  expectAllBitIdentical(untouched, before, 'tensors after the failed call');
}

describe('getTotalNorm', () => {
  for (const backend of BACKENDS) {
    describe(`${backend} backend`, () => {
      it('computes the norm of all tensors as one vector: [3, -4] and [12]', () => {
        const grads = [tensorOf('float32', [3, -4]), tensorOf('float64', [12])];
        expect(getTotalNorm(grads, 2, { backend })).to.equal(13);
        expect(getTotalNorm(grads, 1, { backend })).to.equal(19);
        expect(getTotalNorm(grads, Infinity, { backend })).to.equal(12);
        expect(getTotalNorm(grads, 3, { backend })).to.be.closeTo(Math.cbrt(27 + 64 + 1728), 1e-12 * 13);
        expect(getTotalNorm(grads, 0.5, { backend })).to.be.closeTo((Math.sqrt(3) + 2 + Math.sqrt(12)) ** 2, 1e-12 * 60);
      });

      it('errorIfNonfinite: a NaN or infinite norm throws ERR_NON_FINITE; finite norms and the default pass', () => {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const grads = [tensorOf('float32', [1, bad, 2])];
          expect(getTotalNorm(grads, 2, { backend })).to.satisfy((n: number) => !Number.isFinite(n));
          expectRejected({
            what: `a norm of ${bad}`,
            call: () => getTotalNorm(grads, 2, { backend, errorIfNonfinite: true }),
            error: RangeError,
            code: ErrorCodes.NON_FINITE,
            message: /^getTotalNorm: the total norm of order 2/,
            untouched: grads,
          });
        }
        expect(getTotalNorm([tensorOf('float64', [6, 8])], 2, { backend, errorIfNonfinite: true })).to.equal(10);
        expectRejected({
          what: 'a non-boolean errorIfNonfinite',
          call: () => getTotalNorm([tensorOf('float64', [1])], 2, { backend, errorIfNonfinite: 'yes' as never }),
          error: TypeError,
          code: ErrorCodes.INVALID_ARG_TYPE,
          message: /^getTotalNorm: options\.errorIfNonfinite/,
        });
      });

      it('defaults to the 2-norm', () => {
        expect(getTotalNorm([tensorOf('float64', [6, 8])], undefined, { backend })).to.equal(10);
        if (backend === 'native') expect(getTotalNorm([tensorOf('float64', [6, 8])])).to.equal(10);
      });

      for (const p of [1, 2, 3, Infinity]) {
        it(`equals clipGradNorm's return for p=${p} and changes nothing`, () => {
          const grads = [...randomTensors('float32', [100, 7], 1), ...randomTensors('float64', [20_000], 2)];
          const before = cloneTensors(grads);
          const norm = getTotalNorm(grads, p, { backend });
          expectAllBitIdentical(grads, before, 'grads');
          expect(norm).to.equal(clipGradNorm(cloneTensors(before), Infinity, { normType: p, backend }));
        });
      }

      it('is 0 for an empty list and for empty tensors', () => {
        for (const p of [1, 2, 3, Infinity]) {
          expect(getTotalNorm([], p, { backend })).to.equal(0);
          expect(getTotalNorm([new Float32Array(0), new Float64Array(0)], p, { backend })).to.equal(0);
        }
      });

      it('is NaN with a NaN, Infinity with an infinity (NaN wins)', () => {
        for (const p of [1, 2, 3, Infinity]) {
          expect(getTotalNorm([tensorOf('float32', [1, -Infinity, 2])], p, { backend })).to.equal(Infinity);
          expect(getTotalNorm([tensorOf('float64', [1, NaN])], p, { backend })).to.be.NaN;
          expect(getTotalNorm([tensorOf('float64', [Infinity]), tensorOf('float32', [NaN])], p, { backend })).to.be.NaN;
          expect(getTotalNorm([tensorOf('float32', [NaN]), tensorOf('float64', [Infinity])], p, { backend })).to.be.NaN;
        }
      });
    });
  }

  it('counts the float32 maximum without overflow (float32 is widened to double before squaring)', () => {
    const max32 = 3.4028234663852886e38;
    for (const backend of BACKENDS) {
      expect(getTotalNorm([tensorOf('float32', [max32, max32])], 2, { backend })).to.be.closeTo(max32 * Math.SQRT2, max32 * 1e-15);
    }
  });

  describe('bad input', () => {
    const cases: BadCase[] = [
      { what: 'grads not an Array', call: () => getTotalNorm(3 as never), error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^getTotalNorm: grads: expected an Array, got 3/ },
      { what: 'a non-tensor entry', call: () => getTotalNorm([new Float32Array(1), {} as never]), error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^getTotalNorm: grads\[1\]: expected a Float32Array or Float64Array, got an object/ },
      { what: 'a detached buffer', call: () => getTotalNorm([detached()]), error: TypeError, code: ErrorCodes.DETACHED_BUFFER, message: /^getTotalNorm: grads\[0\]: its ArrayBuffer is detached/ },
      { what: 'normType 0', call: () => getTotalNorm([new Float32Array(1)], 0), error: RangeError, code: ErrorCodes.OUT_OF_RANGE, message: /^getTotalNorm: normType: expected a number > 0, got 0/ },
      { what: 'normType -1', call: () => getTotalNorm([new Float32Array(1)], -1), error: RangeError, code: ErrorCodes.OUT_OF_RANGE, message: /^getTotalNorm: normType: .*got -1/ },
      { what: 'normType NaN', call: () => getTotalNorm([new Float32Array(1)], NaN), error: RangeError, code: ErrorCodes.NON_FINITE, message: /^getTotalNorm: normType: .*got NaN/ },
      { what: "normType '2'", call: () => getTotalNorm([new Float32Array(1)], '2' as never), error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^getTotalNorm: normType: .*got "2"/ },
      { what: 'an unknown option', call: () => getTotalNorm([new Float32Array(1)], 2, { normType: 2 } as never), error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /^getTotalNorm: options: unknown option "normType"/ },
      { what: 'an unknown backend', call: () => getTotalNorm([new Float32Array(1)], 2, { backend: 'cuda' as never }), error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /^getTotalNorm: options\.backend: expected one of "native", "js", got "cuda"/ },
    ];
    for (const c of cases) it(c.what, () => expectRejected(c));
  });
});

describe('clipGradValue', () => {
  // PyTorch's clip_grad_value_ is clamp_min(-v) then clamp_max(v), the bound
  // first cast to the tensor's dtype; clamp lets NaN through unchanged.
  function clampedCopy(t: Tensor, v: number): Tensor {
    const out = t.slice();
    const lo = t instanceof Float32Array ? Math.fround(-v) : -v;
    const hi = t instanceof Float32Array ? Math.fround(v) : v;
    for (let i = 0; i < t.length; i++) if (!Number.isNaN(t[i])) out[i] = Math.min(Math.max(t[i], lo), hi);
    return out;
  }

  const SPECIALS = [-3, -1, -0.5, -0, 0, 0.5, 1, 3, NaN, Infinity, -Infinity, 1e-45, -1e-300, 0.1, -0.1];

  for (const backend of BACKENDS) {
    describe(`${backend} backend`, () => {
      for (const dtype of DTYPES) {
        for (const v of [1, 0.1, 0.5, 0, Infinity, 1e300]) {
          it(`clamps every ${dtype} element to [-${v}, ${v}] in the tensor's precision, NaN kept`, () => {
            const grads = [tensorOf(dtype, SPECIALS), randomTensor(dtype, 1000, 3, 2)];
            const expected = grads.map((t) => clampedCopy(t, v));
            expect(clipGradValue(grads, v, { backend })).to.equal(undefined);
            expectAllBitIdentical(grads, expected, 'grads');
          });
        }
      }

      it('keeps -0 as -0 and +0 as +0, and NaN as NaN', () => {
        const g = tensorOf('float32', [-0, 0, NaN, -2]);
        clipGradValue([g], 1, { backend });
        expect(Object.is(g[0], -0)).to.equal(true);
        expect(Object.is(g[1], 0)).to.equal(true);
        expect(g[2]).to.be.NaN;
        expect(g[3]).to.equal(-1);
      });

      it('with clipValue 0 sends negatives to -0 and positives to +0', () => {
        const g = tensorOf('float64', [-5, 5, -0, 0, NaN]);
        clipGradValue([g], 0, { backend });
        expect(Array.from(g).map((x) => (Object.is(x, -0) ? '-0' : String(x)))).to.deep.equal(['-0', '0', '-0', '0', 'NaN']);
      });

      it('with clipValue Infinity changes nothing, infinities included', () => {
        const grads = [tensorOf('float32', SPECIALS), tensorOf('float64', SPECIALS)];
        const before = cloneTensors(grads);
        clipGradValue(grads, Infinity, { backend });
        expectAllBitIdentical(grads, before, 'grads');
      });

      it('takes mixed dtypes and an empty list', () => {
        const grads = [randomTensor('float64', 33, 4, 3), randomTensor('float32', 17, 5, 3), new Float32Array(0)];
        const expected = grads.map((t) => clampedCopy(t, 1.5));
        clipGradValue(grads, 1.5, { backend });
        expectAllBitIdentical(grads, expected, 'grads');
        expect(() => clipGradValue([], 1, { backend })).not.to.throw();
      });
    });
  }

  it('native (2 threads) and JavaScript agree bit for bit on one huge and 1000 tiny tensors', () => {
    const before = randomTensors('float32', HUGE_AND_TINY, 6, 2);
    const native = cloneTensors(before);
    const js = cloneTensors(before);
    withThreads(2, () => clipGradValue(native, 1));
    clipGradValue(js, 1, { backend: 'js' });
    expectAllBitIdentical(native, js, 'native vs js');
    expectAllBitIdentical(js, before.map((t) => clampedCopy(t, 1)), 'js vs formula');
  });

  describe('bad input', () => {
    const g = (): Tensor[] => [tensorOf('float32', [5, -5]), tensorOf('float64', [7])];
    const cases: BadCase[] = [
      ...[-1, NaN, -Infinity].map((v): BadCase => {
        const untouched = g();
        return { what: `clipValue ${v}`, call: () => clipGradValue(untouched, v), untouched, error: RangeError, code: Number.isNaN(v) ? ErrorCodes.NON_FINITE : ErrorCodes.OUT_OF_RANGE, message: new RegExp(`^clipGradValue: clipValue: expected a number >= 0, got ${v}`) };
      }),
      ...['1', undefined, null].map((v): BadCase => {
        const untouched = g();
        return { what: `clipValue ${String(v)}`, call: () => clipGradValue(untouched, v as never), untouched, error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^clipGradValue: clipValue: expected a number >= 0/ };
      }),
      { what: 'grads not an Array', call: () => clipGradValue(new Float32Array(2) as never, 1), error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^clipGradValue: grads: expected an Array, got a Float32Array/ },
      (() => {
        const untouched = g();
        return { what: 'a non-tensor entry after good ones', call: () => clipGradValue([...untouched, [1]] as never, 1), untouched, error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^clipGradValue: grads\[2\]: expected a Float32Array or Float64Array, got an Array/ };
      })(),
      (() => {
        const untouched = g();
        return { what: 'a detached buffer', call: () => clipGradValue([...untouched, detached()], 1), untouched, error: TypeError, code: ErrorCodes.DETACHED_BUFFER, message: /^clipGradValue: grads\[2\]: its ArrayBuffer is detached/ };
      })(),
      (() => {
        const untouched = g();
        return { what: 'the same tensor twice', call: () => clipGradValue([...untouched, untouched[0]], 1), untouched, error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /^clipGradValue: grads\[2\]: shares memory with .*grads\[0\]/ };
      })(),
      (() => {
        const untouched = g();
        return { what: 'an unknown option', call: () => clipGradValue(untouched, 1, { clipValue: 1 } as never), untouched, error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /^clipGradValue: options: unknown option "clipValue"/ };
      })(),
    ];
    for (const c of cases) it(c.what, () => expectRejected(c));
  });
});

describe('accumulateGrads', () => {
  /** acc + s·g as the kernels compute it: for float32 the scale and the product rounded to float, then the sum. */
  function accumulatedCopy(acc: Tensor, g: Tensor, s: number): Tensor {
    const out = acc.slice();
    if (acc instanceof Float32Array) {
      const s32 = Math.fround(s);
      for (let i = 0; i < acc.length; i++) out[i] = Math.fround(acc[i] + Math.fround(s32 * g[i]));
    } else {
      for (let i = 0; i < acc.length; i++) out[i] = acc[i] + s * g[i];
    }
    return out;
  }

  for (const backend of BACKENDS) {
    describe(`${backend} backend`, () => {
      for (const dtype of DTYPES) {
        for (const scale of [1, 0.25, -3, 1 / 3, 0, 1e-30]) {
          it(`adds ${scale}·g into acc exactly (${dtype})`, () => {
            const acc = randomTensors(dtype, [5, 64, 1], 7);
            const grads = randomTensors(dtype, [5, 64, 1], 8, 10);
            const gradsBefore = cloneTensors(grads);
            const expected = acc.map((a, i) => accumulatedCopy(a, grads[i], scale));
            accumulateGrads(acc, grads, scale, { backend });
            expectAllBitIdentical(acc, expected, 'acc');
            expectAllBitIdentical(grads, gradsBefore, 'grads (read only)');
          });
        }
      }

      it('defaults to scale 1', () => {
        const acc = [tensorOf('float32', [1, 2])];
        accumulateGrads(acc, [tensorOf('float32', [0.5, -4])], undefined, { backend });
        expect(Array.from(acc[0])).to.deep.equal([1.5, -2]);
        if (backend === 'native') {
          accumulateGrads(acc, [tensorOf('float32', [0.5, 4])]);
          expect(Array.from(acc[0])).to.deep.equal([2, 2]);
        }
      });

      it('accumulates micro-batches: four gradients at scale 1/4 give their mean, step by step exactly', () => {
        const acc = [new Float32Array(50), new Float64Array(9)];
        let expected = cloneTensors(acc);
        for (let k = 0; k < 4; k++) {
          const grads = [randomTensor('float32', 50, mixSeed(9, k)), randomTensor('float64', 9, mixSeed(10, k))];
          expected = expected.map((a, i) => accumulatedCopy(a, grads[i], 0.25));
          accumulateGrads(acc, grads, 0.25, { backend });
        }
        expectAllBitIdentical(acc, expected, 'acc');
      });

      it('allows different dtypes across tensors (each pair agrees)', () => {
        const acc = [new Float64Array([1, 1]), new Float32Array([1]), new Float64Array([2])];
        const grads = [new Float64Array([0.1, 0.2]), new Float32Array([0.1]), new Float64Array([0.3])];
        const expected = acc.map((a, i) => accumulatedCopy(a, grads[i], 3));
        accumulateGrads(acc, grads, 3, { backend });
        expectAllBitIdentical(acc, expected, 'acc');
      });

      it('propagates NaN and infinities like the formula', () => {
        const acc = [tensorOf('float32', [1, 1, Infinity, 0])];
        accumulateGrads(acc, [tensorOf('float32', [NaN, Infinity, -Infinity, 0])], 1, { backend });
        expect(Array.from(acc[0])).to.deep.equal([NaN, Infinity, NaN, 0]);
      });

      it('does nothing on empty lists', () => {
        expect(() => accumulateGrads([], [], 2, { backend })).not.to.throw();
      });
    });
  }

  it('native (2 threads) and JavaScript agree bit for bit on one huge and 1000 tiny tensors', () => {
    const accBefore = randomTensors('float32', HUGE_AND_TINY, 11);
    const grads = randomTensors('float32', HUGE_AND_TINY, 12);
    const native = cloneTensors(accBefore);
    const js = cloneTensors(accBefore);
    withThreads(2, () => accumulateGrads(native, grads, 0.1));
    accumulateGrads(js, grads, 0.1, { backend: 'js' });
    expectAllBitIdentical(native, js, 'native vs js');
    expectAllBitIdentical(js, accBefore.map((a, i) => accumulatedCopy(a, grads[i], 0.1)), 'js vs formula');
  });

  describe('bad input changes nothing', () => {
    const acc = (): Tensor[] => [tensorOf('float32', [1, 2, 3]), tensorOf('float64', [4, 5])];
    const like = (): Tensor[] => [tensorOf('float32', [1, 1, 1]), tensorOf('float64', [1, 1])];
    const bad = (what: string, make: (a: Tensor[]) => () => unknown, error: BadCase['error'], code: string, message: RegExp): BadCase => {
      const a = acc();
      return { what, call: make(a), untouched: a, error, code, message };
    };
    const cases: BadCase[] = [
      bad('fewer grads than acc', (a) => () => accumulateGrads(a, like().slice(0, 1)), RangeError, ErrorCodes.SHAPE_MISMATCH, /^accumulateGrads: grads: expected 2 tensors like acc, got 1/),
      bad('more grads than acc', (a) => () => accumulateGrads(a, [...like(), new Float32Array(1)]), RangeError, ErrorCodes.SHAPE_MISMATCH, /^accumulateGrads: grads: expected 2 tensors like acc, got 3/),
      bad('a length mismatch', (a) => () => accumulateGrads(a, [like()[0], new Float64Array(3)]), RangeError, ErrorCodes.SHAPE_MISMATCH, /^accumulateGrads: grads\[1\]: expected length 2 like acc\[1\], got length 3/),
      bad('a dtype mismatch', (a) => () => accumulateGrads(a, [new Float64Array(3), like()[1]]), TypeError, ErrorCodes.DTYPE_MISMATCH, /^accumulateGrads: grads\[0\]: expected a Float32Array like acc\[0\], got a Float64Array/),
      bad('acc passed as its own grads', (a) => () => accumulateGrads(a, a), RangeError, ErrorCodes.INVALID_ARG_VALUE, /^accumulateGrads: grads\[0\]: shares memory with accumulateGrads: acc\[0\]/),
      bad('a grad that is another accumulator', (a) => () => accumulateGrads([a[0], a[1]], [like()[0], a[1]]), RangeError, ErrorCodes.INVALID_ARG_VALUE, /^accumulateGrads: grads\[1\]: shares memory with accumulateGrads: acc\[1\]/),
      (() => {
        const big = randomTensor('float32', 10, 16);
        const a = [big.subarray(0, 3), tensorOf('float64', [4, 5])];
        return {
          what: 'a grad that is a view into an accumulator',
          call: () => accumulateGrads(a, [big.subarray(2, 5), like()[1]]),
          untouched: [big, a[1]],
          error: RangeError,
          code: ErrorCodes.INVALID_ARG_VALUE,
          message: /^accumulateGrads: grads\[0\]: shares memory with accumulateGrads: acc\[0\]/,
        };
      })(),
      bad('the same accumulator twice', (a) => () => accumulateGrads([a[0], a[0]], [like()[0], like()[0]]), RangeError, ErrorCodes.INVALID_ARG_VALUE, /^accumulateGrads: acc\[1\]: shares memory with accumulateGrads: acc\[0\]/),
      bad('scale NaN', (a) => () => accumulateGrads(a, like(), NaN), RangeError, ErrorCodes.NON_FINITE, /^accumulateGrads: scale: expected a finite number, got NaN/),
      bad('scale Infinity', (a) => () => accumulateGrads(a, like(), Infinity), RangeError, ErrorCodes.NON_FINITE, /^accumulateGrads: scale: expected a finite number, got Infinity/),
      bad("scale '2'", (a) => () => accumulateGrads(a, like(), '2' as never), TypeError, ErrorCodes.INVALID_ARG_TYPE, /^accumulateGrads: scale: expected a finite number, got "2"/),
      bad('acc not an Array', () => () => accumulateGrads({} as never, like()), TypeError, ErrorCodes.INVALID_ARG_TYPE, /^accumulateGrads: acc: expected an Array, got an object/),
      bad('grads not an Array', (a) => () => accumulateGrads(a, null as never), TypeError, ErrorCodes.INVALID_ARG_TYPE, /^accumulateGrads: grads: expected an Array, got null/),
      bad('a non-tensor grad', (a) => () => accumulateGrads(a, [like()[0], 5] as never), TypeError, ErrorCodes.INVALID_ARG_TYPE, /^accumulateGrads: grads\[1\]: expected a Float32Array or Float64Array, got 5/),
      bad('a detached grad', (a) => () => accumulateGrads(a, [like()[0], detached()]), TypeError, ErrorCodes.DETACHED_BUFFER, /^accumulateGrads: grads\[1\]: its ArrayBuffer is detached/),
      bad('a detached accumulator', (a) => () => accumulateGrads([a[0], detached()], like()), TypeError, ErrorCodes.DETACHED_BUFFER, /^accumulateGrads: acc\[1\]: its ArrayBuffer is detached/),
      bad('an unknown option', (a) => () => accumulateGrads(a, like(), 1, { threads: 2 } as never), RangeError, ErrorCodes.INVALID_ARG_VALUE, /^accumulateGrads: options: unknown option "threads"/),
    ];
    for (const c of cases) it(c.what, () => expectRejected(c));
  });
});

describe('hasNonFinite', () => {
  for (const backend of BACKENDS) {
    describe(`${backend} backend`, () => {
      for (const dtype of DTYPES) {
        const n = 1_000_000;
        const huge = randomTensor(dtype, n, 13);
        for (const bad of [NaN, Infinity, -Infinity]) {
          for (const [where, index] of [['first', 0], ['middle', n / 2 + 3], ['last', n - 1]] as const) {
            it(`finds ${bad} at the ${where} element of a 1M ${dtype} tensor`, () => {
              const saved = huge[index];
              huge[index] = bad;
              try {
                expect(hasNonFinite([huge], { backend })).to.equal(true);
                expect(hasNonFinite([new Float32Array(3), huge], { backend })).to.equal(true);
              } finally {
                huge[index] = saved;
              }
            });
          }
        }

        it(`is false for an all-finite 1M ${dtype} tensor and leaves it unchanged`, () => {
          const before = huge.slice();
          expect(hasNonFinite([huge], { backend })).to.equal(false);
          expectAllBitIdentical([huge], [before], 'tensor');
        });

        it(`finds ${dtype} non-finite values in the 500th of 1000 tiny tensors`, () => {
          const tiny = randomTensors(dtype, HUGE_AND_TINY.slice(1), 14);
          expect(hasNonFinite(tiny, { backend })).to.equal(false);
          for (const bad of [NaN, Infinity, -Infinity]) {
            const t = tiny[499];
            const saved = t[t.length - 1];
            t[t.length - 1] = bad;
            expect(hasNonFinite(tiny, { backend }), String(bad)).to.equal(true);
            t[t.length - 1] = saved;
          }
        });
      }

      it('treats the largest finite values, subnormals and -0 as finite', () => {
        const f32 = tensorOf('float32', [3e38, -3e38, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0]);
        const f64 = tensorOf('float64', [Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, -0]);
        expect(Array.from(f32).every(Number.isFinite)).to.equal(true);
        expect(hasNonFinite([f32], { backend })).to.equal(false);
        expect(hasNonFinite([f64], { backend })).to.equal(false);
        expect(hasNonFinite([f32, f64], { backend })).to.equal(false);
      });

      it('checks every dtype of a mixed list', () => {
        expect(hasNonFinite([new Float32Array(40_000), tensorOf('float64', [1, NaN])], { backend })).to.equal(true);
        expect(hasNonFinite([tensorOf('float32', [-Infinity]), new Float64Array(40_000)], { backend })).to.equal(true);
      });

      it('is false for an empty list and for empty tensors', () => {
        expect(hasNonFinite([], { backend })).to.equal(false);
        expect(hasNonFinite([new Float32Array(0), new Float64Array(0)], { backend })).to.equal(false);
      });
    });
  }

  it('gives the same answers with 2 threads', () => {
    const huge = randomTensor('float32', 1_000_003, 15);
    expect(withThreads(2, () => hasNonFinite([huge]))).to.equal(false);
    for (const index of [0, 16383, 16384, 500_001, 1_000_002]) {
      const saved = huge[index];
      huge[index] = NaN;
      expect(withThreads(2, () => hasNonFinite([huge])), `NaN at ${index}`).to.equal(true);
      huge[index] = saved;
    }
  });

  describe('bad input', () => {
    const cases: BadCase[] = [
      { what: 'tensors not an Array', call: () => hasNonFinite('nan' as never), error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^hasNonFinite: tensors: expected an Array, got "nan"/ },
      { what: 'a non-tensor entry', call: () => hasNonFinite([new Float64Array(1), new Uint8Array(2)] as never), error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^hasNonFinite: tensors\[1\]: expected a Float32Array or Float64Array, got a Uint8Array/ },
      { what: 'a detached buffer', call: () => hasNonFinite([detached()]), error: TypeError, code: ErrorCodes.DETACHED_BUFFER, message: /^hasNonFinite: tensors\[0\]: its ArrayBuffer is detached/ },
      { what: 'an unknown option', call: () => hasNonFinite([new Float32Array(1)], { stopEarly: true } as never), error: RangeError, code: ErrorCodes.INVALID_ARG_VALUE, message: /^hasNonFinite: options: unknown option "stopEarly"/ },
      { what: 'options not an object', call: () => hasNonFinite([new Float32Array(1)], 'js' as never), error: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, message: /^hasNonFinite: options: expected a plain object, got "js"/ },
    ];
    for (const c of cases) it(c.what, () => expectRejected(c));
  });
});
