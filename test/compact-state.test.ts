/**
 * Memory-lean optimizer state (lib/compact/state_storage.ts): bfloat16 moments
 * rounded to nearest even or stochastically, 8-bit block-wise moments, their
 * kernels native against the JavaScript reference, state dicts and
 * checkpoints that carry them, conversion on load, and the errors.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Adagrad, Adam, AdamW, Adamax, Lion, NAdam, RAdam, RMSprop, SGD, getNumThreads, setNumThreads } from '../lib';
import { getBackend } from '../lib/backend';
import { COMPACT_BLOCK, dequantizeBlocks, quantizeBlocks } from '../lib/compact/drivers';
import { SIGNED_CODE, UNSIGNED_CODE, codeOfTable, encode8 } from '../lib/compact/code8';
import { bf16RoundNearest } from '../lib/compact/bfloat16';
import { scalarArray } from '../lib/kernels/kernel_def';
import { ErrorCodes } from '../lib/errors';
import { SIGNED_CODE_MAP, UNSIGNED_CODE_MAP } from '../lib/compact/code_maps';
import type { Optimizer } from '../lib/optim/core/optimizer';
import { loadCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import type { StateArray } from '../lib/tensor';
import { ExpectedError, expectError } from './helpers/errors';
import { COMPACT_KERNELS } from './helpers/kernels';

type AnyOptimizer = Optimizer<{ lr: number }>;

const type = (code: string, ...mentions: string[]): ExpectedError => ({ type: TypeError, code, mentions });
const range = (code: string, ...mentions: string[]): ExpectedError => ({ type: RangeError, code, mentions });
type Ctor = new (params: Float32Array[], options: Record<string, unknown>) => AnyOptimizer;

/** A deterministic uniform generator in [-0.5, 0.5). */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectSameBits(a: ArrayBufferView, b: ArrayBufferView, what: string): void {
  expect(bytesOf(a).equals(bytesOf(b)), what).to.equal(true);
}

/**
 * Bit for bit, except that any two NaNs are equal: random state can make a
 * kernel take the root of a negative number, and C++ and JavaScript produce
 * NaNs of different signs.
 */
function expectSameValues(a: ArrayBufferView, b: ArrayBufferView, what: string): void {
  const isNaN = (x: ArrayBufferView, i: number) =>
    x instanceof Float32Array ? Number.isNaN(x[i]) : x instanceof Uint16Array ? (x[i] & 0x7fff) > 0x7f80 : false;
  const n = (a as Uint8Array).length;
  expect((b as Uint8Array).length, what).to.equal(n);
  for (let i = 0; i < n; i++) {
    if (isNaN(a, i) && isNaN(b, i)) continue;
    expect((a as Uint8Array)[i], `${what}[${i}]`).to.equal((b as Uint8Array)[i]);
  }
}

function f32Bits(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0];
}

function bf16Value(bits: number): number {
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
}

// Each optimizer whose state may be compact, with options that use every buffer, and the
// steps its native-against-JS comparison runs (4, or enough to reach RAdam's rectified steps).
const OPTIMIZERS: Array<[string, Ctor, Record<string, unknown>, number?]> = [
  ['Adam', Adam as unknown as Ctor, { lr: 0.01, weightDecay: 0.1 }],
  ['Adam amsgrad', Adam as unknown as Ctor, { lr: 0.01, amsgrad: true }],
  ['AdamW', AdamW as unknown as Ctor, { lr: 0.01 }],
  ['Lion', Lion as unknown as Ctor, { lr: 0.001, weightDecay: 0.1 }],
  ['SGD momentum', SGD as unknown as Ctor, { lr: 0.01, momentum: 0.9, dampening: 0.1 }],
  ['SGD nesterov', SGD as unknown as Ctor, { lr: 0.01, momentum: 0.9, nesterov: true }],
  ['RMSprop momentum', RMSprop as unknown as Ctor, { lr: 0.01, momentum: 0.5 }],
  ['RMSprop', RMSprop as unknown as Ctor, { lr: 0.01 }],
  ['Adagrad', Adagrad as unknown as Ctor, { lr: 0.01, initialAccumulatorValue: 0.1 }],
  ['Adamax', Adamax as unknown as Ctor, { lr: 0.01, weightDecay: 0.1 }],
  ['NAdam', NAdam as unknown as Ctor, { lr: 0.01, weightDecay: 0.1, decoupledWeightDecay: true }],
  // β₂ = 0.9: ρₜ passes 5 at step 6, so steps 1-5 are un-rectified and 6-7 rectified.
  ['RAdam', RAdam as unknown as Ctor, { lr: 0.01, betas: [0.9, 0.9], weightDecay: 0.1 }, 7],
];

const STORAGES: Array<[string, Record<string, unknown>]> = [
  ['bfloat16', { stateDtype: 'bfloat16' }],
  ['bfloat16 stochastic', { stateDtype: 'bfloat16', stochasticRounding: true, roundingSeed: 12345 }],
  ['int8', { stateDtype: 'int8', min8bitSize: 300 }],
];

// Odd lengths across block and thread boundaries; one under min8bitSize (300) keeps float32 state.
const LENGTHS = [40001, 257, 3, 513];

/** Runs `steps` steps of a fresh optimizer over fixed random params and gradients; returns params and optimizer. */
function run(Cls: Ctor, options: Record<string, unknown>, steps: number, seed = 1) {
  const next = generator(seed);
  const params = LENGTHS.map((n) => Float32Array.from({ length: n }, next));
  const grads = Array.from({ length: 3 }, () => LENGTHS.map((n) => Float32Array.from({ length: n }, next)));
  const opt = new Cls(params, options);
  for (let s = 0; s < steps; s++) opt.step(grads[s % grads.length]);
  return { params, opt, grads };
}

function expectSameState(a: AnyOptimizer, b: AnyOptimizer, what: string): void {
  a.state.forEach((entry, i) => {
    for (const [key, value] of Object.entries(entry)) {
      const other = b.state[i][key];
      if (typeof value === 'number') expect(other, `${what}: state[${i}].${key}`).to.equal(value);
      else expectSameBits(value as StateArray, other as StateArray, `${what}: state[${i}].${key}`);
    }
  });
}

describe('compact state: bfloat16 rounding', () => {
  // (float32 bits, expected bfloat16 bits) for round to nearest, ties to even.
  const cases: Array<[string, number, number]> = [
    ['1 (exact)', 0x3f800000, 0x3f80],
    ['1 + half an ulp (tie, to even: down)', 0x3f808000, 0x3f80],
    ['1 + 3 half-ulps (tie, to even: up)', 0x3f818000, 0x3f82],
    ['just above a tie: up', 0x3f808001, 0x3f81],
    ['just below a tie: down', 0x3f807fff, 0x3f80],
    ['-0', 0x80000000, 0x8000],
    ['-1.5 + a little (down in magnitude)', 0xbfc01234, 0xbfc0],
    ['the largest float32 rounds to infinity', 0x7f7fffff, 0x7f80],
    ['infinity', 0x7f800000, 0x7f80],
    ['the smallest subnormal: to zero', 0x00000001, 0x0000],
    ['a NaN with low payload bits stays a (quiet) NaN', 0x7f800001, 0x7fc0],
  ];
  for (const [what, input, expected] of cases) {
    it(`${what}: JS and native store ${expected.toString(16)}`, () => {
      expect(bf16RoundNearest(input)).to.equal(expected);
      // (A kernel never stores -0 here: 0·m + 1·(-0) is +0.)
      if (input === 0x80000000) return;
      // SGD's first momentum step stores the gradient itself: momentum_buffer = bf16(g).
      const g = new Float32Array(new Uint32Array([input]).buffer);
      for (const backend of ['native', 'js'] as const) {
        const opt = new SGD([new Float32Array(1)], { lr: 0, momentum: 0.9, stateDtype: 'bfloat16', backend });
        opt.step([g]);
        expect((opt.state[0].momentumBuffer as Uint16Array)[0], backend).to.equal(expected);
      }
    });
  }

  it('stochastic rounding is unbiased, deterministic by seed, and the same for 1 and 2 threads', () => {
    // A value a third of the way between two bfloat16 neighbours: rounding to nearest
    // always gives the lower one; stochastic rounding the upper one a third of the time.
    const lo = bf16Value(0x3f80), hi = bf16Value(0x3f81);
    const x = Math.fround(lo + (hi - lo) / 3);
    const n = 100_000;
    const stored = (seed: number, threads: number, backend: 'native' | 'js') => {
      const saved = getNumThreads();
      setNumThreads(threads);
      try {
        const opt = new SGD([new Float32Array(n)], { lr: 0, momentum: 0.9, stateDtype: 'bfloat16', stochasticRounding: true, roundingSeed: seed, backend });
        opt.step([new Float32Array(n).fill(x)]);
        return opt.state[0].momentumBuffer as Uint16Array;
      } finally {
        setNumThreads(saved);
      }
    };
    const one = stored(7, 1, 'native');
    expectSameBits(one, stored(7, 2, 'native'), '1 vs 2 threads');
    expectSameBits(one, stored(7, 1, 'js'), 'native vs js');
    expect(bytesOf(one).equals(bytesOf(stored(8, 1, 'native'))), 'another seed draws other bits').to.equal(false);
    let sum = 0;
    for (const bits of one) {
      expect([0x3f80, 0x3f81]).to.include(bits);
      sum += bf16Value(bits) - x;
    }
    // Each error is (hi - x) w.p. 1/3, (lo - x) w.p. 2/3: mean 0, standard deviation √2/3·(hi - lo).
    const standardError = ((Math.SQRT2 / 3) * (hi - lo)) / Math.sqrt(n);
    expect(Math.abs(sum / n)).to.be.below(4 * standardError);
  });
});

describe('compact state: 8-bit block-wise quantization', () => {
  it('the codes: 0 exact, steps of 2^-E·2^-3 below 2^-E and 3 bits per octave of value + 2^-E above, up to 1 − 2^-E; the signed map ends negative', () => {
    for (const [code, map, exponents] of [[SIGNED_CODE, SIGNED_CODE_MAP, 15], [UNSIGNED_CODE, UNSIGNED_CODE_MAP, 31]] as const) {
      expect(map).to.have.length(256);
      expect(map[0]).to.equal(0);
      expect(map[code.largest]).to.equal(Math.fround(1 - 2 ** -exponents));
      expect(map[1]).to.equal(2 ** (-exponents - 3));
      // Ascending in magnitude up to the code of 1, each step at most 1/8 of t = value + 2^-E.
      for (let c = 1; c <= code.largest; c++) {
        expect(map[c]).to.be.above(map[c - 1]);
        expect(map[c] - map[c - 1]).to.be.at.most((map[c] + 2 ** -exponents) / 8);
      }
    }
    expect(SIGNED_CODE_MAP[0x80 | SIGNED_CODE.largest]).to.equal(-Math.fround(1 - 2 ** -15));
    expect(UNSIGNED_CODE_MAP[UNSIGNED_CODE.largest]).to.equal(1);
    expect(SIGNED_CODE_MAP[255]).to.be.below(0);
    expect(UNSIGNED_CODE_MAP[255]).to.be.above(0);
    expect(codeOfTable(SIGNED_CODE_MAP)).to.equal(SIGNED_CODE);
    expect(codeOfTable(UNSIGNED_CODE_MAP)).to.equal(UNSIGNED_CODE);
  });

  it('encode8: each code value to its own code, any other value to a nearest code in its octave; NaN and > 1 to the largest', () => {
    for (const [code, map] of [[SIGNED_CODE, SIGNED_CODE_MAP], [UNSIGNED_CODE, UNSIGNED_CODE_MAP]] as const) {
      const codes = Array.from({ length: code.largest + 1 }, (_, c) => c);
      if (code.sign !== 0) codes.push(...codes.slice(1).map((c) => c | code.sign));
      for (const c of codes) expect(encode8(code, map[c], 1), `code ${c}`).to.equal(c);
      for (let c = 0; c < code.largest; c++) {
        for (const x of [Math.fround((map[c] + map[c + 1]) / 2), Math.fround(map[c] * 0.75 + map[c + 1] * 0.25), Math.fround(map[c] * 0.25 + map[c + 1] * 0.75)]) {
          const got = map[encode8(code, x, 1)];
          expect(Math.abs(got - x), `between codes ${c} and ${c + 1}`).to.be.at.most(Math.min(Math.abs(map[c] - x), Math.abs(map[c + 1] - x)));
        }
      }
      expect(encode8(code, 2, 1)).to.equal(code.largest);
      expect(encode8(code, NaN, 1)).to.equal(code.largest);
      expect(encode8(code, 3, Math.fround(1 / 3))).to.equal(code.largest);
    }
    expect(encode8(SIGNED_CODE, -2, 1)).to.equal(0x80 | SIGNED_CODE.largest);
    expect(encode8(UNSIGNED_CODE, -0.5, 1)).to.equal(encode8(UNSIGNED_CODE, 0.5, 1));
  });

  it('a round trip gives each element the nearest code value times its block absmax', () => {
    const next = generator(3);
    const values = Float32Array.from({ length: 3 * COMPACT_BLOCK + 17 }, (_, i) => next() * 10 ** ((i % 7) - 4));
    const codes = new Uint8Array(values.length);
    const absmax = new Float32Array(Math.ceil(values.length / COMPACT_BLOCK));
    quantizeBlocks(values, codes, absmax, SIGNED_CODE_MAP);
    const back = dequantizeBlocks(codes, absmax, SIGNED_CODE_MAP);
    for (let b = 0; b < absmax.length; b++) {
      const block = values.subarray(b * COMPACT_BLOCK, (b + 1) * COMPACT_BLOCK);
      expect(absmax[b]).to.equal(Math.max(...Array.from(block, Math.abs)));
    }
    for (let i = 0; i < values.length; i++) {
      const scale = absmax[Math.floor(i / COMPACT_BLOCK)];
      const x = values[i] / scale;
      // Within half a step of the map around x.
      const nearest = Math.min(...Array.from(SIGNED_CODE_MAP, (v) => Math.abs(v - x)));
      expect(Math.abs(back[i] - values[i]), `element ${i}`).to.be.at.most(nearest * scale + (Math.abs(values[i]) + scale) * 2 ** -22); // + float32 rounding
    }
  });

  it('native and JS kernels agree bit for bit on adversarial codes: ties, zero blocks, NaN blocks, 1 and 2 threads', () => {
    // SGD with momentum's first step stores g as the 8-bit state: with one element of a
    // block at 1, the block's absmax is 1 and every other element is quantized as itself.
    // The signed code's values in [-1, 1], ascending.
    const map = Float32Array.from(Array.from(SIGNED_CODE_MAP).filter((v) => Math.abs(v) <= 1 && !Object.is(v, -0)).sort((x, y) => x - y));
    const values: number[] = [];
    for (let i = 0; i < map.length - 1; i++) values.push(map[i], Math.fround((map[i] + map[i + 1]) / 2), Math.fround(map[i] * (1 + 2 ** -20)));
    while (values.length % COMPACT_BLOCK !== 0) values.push(0);
    for (let b = 0; b < values.length; b += COMPACT_BLOCK) values[b] = 1;
    const zeros = new Array(COMPACT_BLOCK).fill(0);
    const withNaN = [...zeros.slice(1), NaN];
    const g = Float32Array.from([...values, ...zeros, ...withNaN, -0, 3, -7]);
    const saved = getNumThreads();
    const results: Uint8Array[] = [];
    try {
      for (const [backend, threads] of [['js', 1], ['native', 1], ['native', 2]] as const) {
        setNumThreads(threads);
        const opt = new SGD([new Float32Array(g.length)], { lr: 0, momentum: 0.9, stateDtype: 'int8', min8bitSize: 0, backend });
        opt.step([g]);
        results.push((opt.state[0].momentumBuffer as Uint8Array).slice());
      }
    } finally {
      setNumThreads(saved);
    }
    expectSameBits(results[1], results[0], 'native vs js');
    expectSameBits(results[2], results[0], '2 threads vs js');
    // An exact map value is stored as its own code.
    for (let i = 0; i < map.length - 1; i++) {
      if ((3 * i) % COMPACT_BLOCK !== 0) expect(SIGNED_CODE_MAP[results[0][3 * i]]).to.equal(map[i]);
    }
  });

  it('every 8-bit and stochastic kernel row: native equals the reference for random state, both thread counts', () => {
    const native = getBackend('native');
    const js = getBackend('js');
    for (const kernel of COMPACT_KERNELS) {
      const lengths = [1000, 3, 257];
      const make = (next = generator(11)) =>
        lengths.flatMap((n) =>
          Array.from({ length: kernel.slots }, (_, s) => {
            const role = kernel.roles?.[s].kind ?? (s < kernel.slots - kernel.stateSlots ? 'param' : 'state');
            if (role === 'param') return Float32Array.from({ length: n }, next);
            if (role === 'blocks') return Float32Array.from({ length: Math.ceil(n / COMPACT_BLOCK) }, () => Math.abs(next()) * 2);
            if (role === 'table') return UNSIGNED_CODE_MAP; // non-negative state: second moments stay valid
            const gen = generator(n + s);
            return kernel.variants![0].state === 'uint8'
              ? Uint8Array.from({ length: n }, () => Math.floor((gen() + 0.5) * 256))
              : Uint16Array.from({ length: n }, () => f32Bits(Math.abs(gen())) >>> 16);
          }),
        );
      const values = Object.fromEntries(kernel.scalars.map((name, i) => [name, name === 'roundingSeed' ? 987654321 : 0.05 + 0.01 * i]));
      const scalars = scalarArray(kernel, values as never);
      const expected = make();
      js.update(kernel, expected, scalars, 1);
      for (const threads of [1, 2]) {
        const actual = make();
        native.update(kernel, actual, scalars, threads);
        actual.forEach((b, i) => expectSameValues(b, expected[i], `${kernel.name}, ${threads} threads, buffer ${i}`));
      }
    }
  });

  it('the native boundary checks block-scale and code-map slots', () => {
    const native = getBackend('native');
    const kernel = COMPACT_KERNELS.find((k) => k.name === 'sgd_momentum_int8')!;
    const scalars = new Float64Array(kernel.scalars.length);
    const good = () => [new Float32Array(300), new Float32Array(300), new Uint8Array(300), new Float32Array(2), SIGNED_CODE_MAP.slice()];
    for (const backend of [native, getBackend('js')]) {
      backend.update(kernel, good(), scalars, 1);
      const shortScales = good();
      shortScales[3] = new Float32Array(1);
      expectError(() => backend.update(kernel, shortScales, scalars, 1), range(ErrorCodes.SHAPE_MISMATCH, 'buffers[3]', 'length 2'));
      const shortMap = good();
      shortMap[4] = new Float32Array(255);
      expectError(() => backend.update(kernel, shortMap, scalars, 1), range(ErrorCodes.SHAPE_MISMATCH, 'buffers[4]', 'length 256'));
      const float64Scales = good();
      float64Scales[3] = new Float64Array(2) as never;
      expectError(() => backend.update(kernel, float64Scales, scalars, 1), type(ErrorCodes.INVALID_ARG_TYPE, 'buffers[3]', 'Float32Array'));
      const wrongCodes = good();
      wrongCodes[2] = new Uint16Array(300) as never;
      expectError(() => backend.update(kernel, wrongCodes, scalars, 1), type(ErrorCodes.DTYPE_MISMATCH));
    }
  });
});

describe('compact state: optimizers', () => {
  for (const [name, Cls, options, steps = 4] of OPTIMIZERS) {
    for (const [storageName, storage] of STORAGES) {
      it(`${name}, ${storageName}: native equals JS bit for bit (params and state), 1 and 2 threads`, () => {
        const saved = getNumThreads();
        try {
          const reference = run(Cls, { ...options, ...storage, backend: 'js' }, steps);
          for (const threads of [1, 2]) {
            setNumThreads(threads);
            const native = run(Cls, { ...options, ...storage, backend: 'native' }, steps);
            native.params.forEach((p, i) => expectSameBits(p, reference.params[i], `${threads} threads: params[${i}]`));
            expectSameState(native.opt, reference.opt, `${threads} threads`);
          }
        } finally {
          setNumThreads(saved);
        }
      });

      it(`${name}, ${storageName}: stateDict / loadStateDict resume exactly, and the state stays compact`, () => {
        const whole = run(Cls, { ...options, ...storage }, 6);
        const half = run(Cls, { ...options, ...storage }, 3);
        const sd = half.opt.stateDict();
        const resumed = new Cls(half.params.map((p) => p.slice()), { ...options, ...storage });
        resumed.loadStateDict(sd);
        const params = resumed.paramGroups[0].params as Float32Array[];
        for (let s = 3; s < 6; s++) resumed.step(half.grads[s % 3]);
        params.forEach((p, i) => expectSameBits(p, whole.params[i], `params[${i}]`));
        expectSameState(resumed, whole.opt, 'resumed');
        const compact = storage.stateDtype === 'int8' ? Uint8Array : Uint16Array;
        expect(Object.values(resumed.state[0]).some((v) => v instanceof compact)).to.equal(true);
      });
    }
  }

  it('state bytes per param: float32 8, bfloat16 4, int8 at most 2.04 (scales and maps included)', () => {
    const n = 1 << 20;
    const perParam = (stateDtype: string) => {
      const opt = new Adam([new Float32Array(n)], { stateDtype: stateDtype as never });
      opt.step([new Float32Array(n).fill(1e-3)]);
      return opt.stateBytes() / n;
    };
    expect(perParam('float32')).to.equal(8);
    expect(perParam('bfloat16')).to.equal(4);
    expect(perParam('int8')).to.be.at.most(2.04);
  });

  it('int8 state: params under min8bitSize (default 4096) keep float32 state', () => {
    const opt = new Adam([new Float32Array(4095), new Float32Array(4096)], { stateDtype: 'int8' });
    opt.step([new Float32Array(4095).fill(1), new Float32Array(4096).fill(1)]);
    expect(opt.state[0].expAvg).to.be.instanceOf(Float32Array);
    expect(opt.state[1].expAvg).to.be.instanceOf(Uint8Array);
    expect(opt.state[1].expAvgAbsmax).to.be.instanceOf(Float32Array).with.length(16);
  });

  it('int8 state: every param refers to one signed and one unsigned code map, counted once in stateBytes', () => {
    const n = 8192;
    const opt = new Adam([new Float32Array(n), new Float32Array(n)], { stateDtype: 'int8' });
    opt.step([new Float32Array(n).fill(1), new Float32Array(n).fill(1)]);
    expect(opt.state[0].expAvgQmap).to.equal(opt.state[1].expAvgQmap);
    expectSameBits(opt.state[0].expAvgQmap as Float32Array, SIGNED_CODE_MAP, 'signed map');
    expectSameBits(opt.state[0].expAvgSqQmap as Float32Array, UNSIGNED_CODE_MAP, 'unsigned map');
    expect(opt.stateBytes()).to.equal(2 * (2 * n + 2 * 4 * (n / COMPACT_BLOCK)) + 2 * 1024);
  });

  it("Adagrad's initial accumulator is held exactly by every storage", () => {
    for (const [, storage] of STORAGES) {
      const opt = new Adagrad([new Float32Array(5000)], { initialAccumulatorValue: 0.25, ...storage, min8bitSize: 0 });
      const sd = opt.stateDict();
      expect(sd.state).to.deep.equal({});
      opt.step([new Float32Array(5000)]); // a zero gradient leaves the sum as it was
      const converted = new Adagrad([new Float32Array(5000)], { initialAccumulatorValue: 0.25 });
      converted.loadStateDict(opt.stateDict());
      expect(Array.from(new Set(converted.state[0].sum as Float32Array))).to.deep.equal([0.25]);
    }
  });

  it('a float32 state dict loads into a compact optimizer (rounded / quantized) and back (widened / dequantized)', () => {
    const full = run(Adam as unknown as Ctor, { lr: 0.01 }, 2);
    const sd = full.opt.stateDict();
    const m = sd.state[0].expAvg as Float32Array;
    // Into bfloat16: each value rounded to nearest even.
    const bf16 = new Adam(full.params.map((p) => p.slice()), { stateDtype: 'bfloat16' });
    bf16.loadStateDict(sd);
    expect(bf16.paramGroups[0].stateDtype).to.equal('bfloat16');
    const stored = bf16.state[0].expAvg as Uint16Array;
    stored.forEach((bits, i) => expect(bits).to.equal(bf16RoundNearest(f32Bits(m[i]))));
    // Into int8: quantized block-wise with the library's maps.
    const int8 = new Adam(full.params.map((p) => p.slice()), { stateDtype: 'int8', min8bitSize: 0 });
    int8.loadStateDict(sd);
    const codes = new Uint8Array(m.length);
    const absmax = new Float32Array(Math.ceil(m.length / COMPACT_BLOCK));
    quantizeBlocks(m, codes, absmax, SIGNED_CODE_MAP);
    expectSameBits(int8.state[0].expAvg as Uint8Array, codes, 'codes');
    expectSameBits(int8.state[0].expAvgAbsmax as Float32Array, absmax, 'absmax');
    // And back into float32: dequantized exactly as the kernel reads it.
    const back = new Adam(full.params.map((p) => p.slice()), {});
    back.loadStateDict(int8.stateDict());
    expectSameBits(back.state[0].expAvg as Float32Array, dequantizeBlocks(codes, absmax, SIGNED_CODE_MAP), 'dequantized');
    // bfloat16 into int8 directly.
    const viaBf16 = new Adam(full.params.map((p) => p.slice()), { stateDtype: 'int8', min8bitSize: 0 });
    viaBf16.loadStateDict(bf16.stateDict());
    expect(viaBf16.state[0].expAvg).to.be.instanceOf(Uint8Array);
  });

  it('checkpoints carry compact state (BF16, U8, F32 scales and maps) and resume exactly', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-compact-'));
    try {
      for (const [storageName, storage] of STORAGES) {
        const options = { lr: 0.01, ...storage };
        const whole = run(AdamW as unknown as Ctor, options, 6);
        const half = run(AdamW as unknown as Ctor, options, 3);
        const file = path.join(dir, `${storageName.replace(/ /g, '-')}.safetensors`);
        saveCheckpoint(file, { model: { params: half.params }, optimizer: half.opt });
        const params = LENGTHS.map((n) => new Float32Array(n));
        const resumed = new AdamW(params, options);
        loadCheckpoint(file, { model: { params }, optimizer: resumed });
        for (let s = 3; s < 6; s++) resumed.step(half.grads[s % 3]);
        params.forEach((p, i) => expectSameBits(p, whole.params[i], `${storageName}: params[${i}]`));
        expectSameState(resumed as never, whole.opt, storageName);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('compact state: bad input is refused and changes nothing', () => {
  it('int8 or bfloat16 state for float64 params', () => {
    for (const stateDtype of ['int8', 'bfloat16']) {
      expectError(() => new Adam([new Float64Array(3)], { stateDtype: stateDtype as never }), type(ErrorCodes.DTYPE_MISMATCH, 'params[0]', stateDtype, 'Float32Array'));
      const opt = new Adam([new Float32Array(3)], { stateDtype: stateDtype as never });
      expectError(() => opt.addParamGroup({ params: [new Float64Array(2)] }), type(ErrorCodes.DTYPE_MISMATCH, 'params[0]'));
      expect(opt.paramGroups).to.have.length(1);
    }
  });

  it('centered RMSprop with compact state (its v − mean² would lose its sign to rounding)', () => {
    for (const stateDtype of ['bfloat16', 'int8'] as const) {
      expectError(() => new RMSprop([new Float32Array(3)], { centered: true, stateDtype }), range(ErrorCodes.INVALID_ARG_VALUE, 'stateDtype', 'centered'));
    }
  });

  it('an unknown stateDtype, a non-boolean stochasticRounding, a bad roundingSeed or min8bitSize', () => {
    const p = () => [new Float32Array(3)];
    expectError(() => new Adam(p(), { stateDtype: 'float16' as never }), range(ErrorCodes.INVALID_ARG_VALUE, 'stateDtype', "'int8'"));
    expectError(() => new Adam(p(), { stateDtype: 8 as never }), type(ErrorCodes.INVALID_ARG_TYPE, 'stateDtype'));
    expectError(() => new Adam(p(), { stochasticRounding: 1 as never }), type(ErrorCodes.INVALID_ARG_TYPE, 'stochasticRounding'));
    expectError(() => new Adam(p(), { roundingSeed: -1 }), range(ErrorCodes.OUT_OF_RANGE, 'roundingSeed'));
    expectError(() => new Adam(p(), { roundingSeed: 2 ** 32 }), range(ErrorCodes.OUT_OF_RANGE, 'roundingSeed'));
    expectError(() => new Adam(p(), { min8bitSize: 1.5 }), range(ErrorCodes.OUT_OF_RANGE, 'min8bitSize'));
  });

  it('changing a group\'s stateDtype after it was added is refused at the next step, nothing changed', () => {
    const params = [new Float32Array(5000).fill(1)];
    const opt = new Adam(params, { stateDtype: 'int8', min8bitSize: 0 });
    const grads = [new Float32Array(5000).fill(0.5)];
    opt.step(grads);
    opt.step(grads);
    const before = Float32Array.from(params[0]);
    const codes = (opt.state[0].expAvg as Uint8Array).slice();
    opt.paramGroups[0].stateDtype = 'float32';
    expectError(() => opt.step(grads), range(ErrorCodes.INVALID_ARG_VALUE, 'stateDtype', 'loadStateDict'));
    expectSameBits(params[0], before, 'params');
    expectSameBits(opt.state[0].expAvg as Uint8Array, codes, 'codes');
    expect(opt.state[0].step).to.equal(2);
    opt.paramGroups[0].stateDtype = 'int8';
    opt.step(grads);
    expect(opt.state[0].step).to.equal(3);
  });

  it('a state dict with state of the wrong type, a short absmax, or a code map that is not one', () => {
    const make = () => {
      const o = new Adam([new Float32Array(5000).fill(1)], { stateDtype: 'int8', min8bitSize: 0 });
      o.step([new Float32Array(5000).fill(0.5)]);
      return o;
    };
    const opt = make();
    const snapshot = (opt.state[0].expAvg as Uint8Array).slice();
    const cases: Array<[string, (s: Record<string, unknown>) => void, ExpectedError]> = [
      ['an Int8Array', (s) => (s.expAvg = new Int8Array(5000)), type(ErrorCodes.INVALID_ARG_TYPE, 'expAvg')],
      ['codes one short', (s) => (s.expAvg = new Uint8Array(4999)), range(ErrorCodes.STATE_DICT_MISMATCH, 'expAvg', 'length 5000')],
      ['no absmax', (s) => delete s.expAvgAbsmax, range(ErrorCodes.STATE_DICT_MISMATCH, 'expAvgAbsmax')],
      ['a short absmax', (s) => (s.expAvgAbsmax = new Float32Array(19)), range(ErrorCodes.STATE_DICT_MISMATCH, 'expAvgAbsmax', 'length 20')],
      ['an unsorted code map', (s) => (s.expAvgQmap = SIGNED_CODE_MAP.slice().reverse()), range(ErrorCodes.STATE_DICT_MISMATCH, 'expAvgQmap', 'ascending')],
    ];
    for (const [what, edit, expected] of cases) {
      const sd = make().stateDict();
      edit(sd.state[0] as Record<string, unknown>);
      expectError(() => opt.loadStateDict(sd), expected, what);
      expectSameBits(opt.state[0].expAvg as Uint8Array, snapshot, what);
    }
  });
});
