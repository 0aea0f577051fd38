/**
 * The state schema (lib/optim/core/spec.ts) seen through public behaviour: an
 * optimizer that declares buffers of every element type (the param's,
 * uint8, bfloat16, float32 in blocks) and a per-param number gets its state
 * dicts and checkpoints round-tripped exactly, and every state dict that
 * does not fit the schema refused with ERR_STATE_DICT_MISMATCH, changing
 * nothing.
 */
import type { ScalarsOf } from '../lib/kernels/kernel_def';
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Adam } from '../lib';
import { sgdKernel } from '../lib/kernels/sgd';
import { ErrorCodes } from '../lib/errors';
import { Optimizer, OptimizerOptions, OptimizerStateDict, ParamsInput } from '../lib/optim/core/optimizer';
import { lrOption } from '../lib/optim/core/options';
import type { OptimizerSpec } from '../lib/optim/core/spec';
import type { StateArray, Tensor } from '../lib/tensor';
import { loadCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import { expectBitIdentical } from './helpers/bits';
import { ExpectedError, expectError } from './helpers/errors';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';

const { STATE_DICT_MISMATCH, CHECKPOINT_MISMATCH } = ErrorCodes;
const mismatch = (...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code: STATE_DICT_MISMATCH, mentions });

type ProbeOptions = { lr: number };

const probeSpec: OptimizerSpec<ProbeOptions, ScalarsOf<typeof sgdKernel>> = {
  name: 'Probe',
  options: { lr: lrOption(0.1) },
  state: () => ({
    buffers: [
      { name: 'm', dtype: 'param' },
      { name: 'q', dtype: 'uint8' },
      { name: 'h', dtype: 'bfloat16' },
      { name: 's', dtype: 'float32', blockSize: 4 },
    ],
    scalars: [{ name: 'mu', initial: 1 }],
  }),
  // Plain SGD, using none of the declared buffers.
  kernel: () => ({ kernel: sgdKernel, buffers: [] }),
  scalars(g, { gradScale }, out) {
    out.gradScale = gradScale;
    out.weightDecay = 0;
    out.lr = g.lr;
    out.momentum = 0;
    out.bufferDecay = 0;
    out.gradWeight = 1;
  },
};

class Probe extends Optimizer<ProbeOptions> {
  constructor(params: ParamsInput<ProbeOptions>, options?: Partial<ProbeOptions> & OptimizerOptions) {
    super(probeSpec, params, options);
  }
}

/** Param 0: float32 of length 10 (s: 3 blocks); param 1: float64 of length 5 (s: 2 blocks). */
function makeProbe(backend: 'native' | 'js' = 'native') {
  const params: Tensor[] = [Float32Array.from({ length: 10 }, (_, i) => i / 3 - 1), Float64Array.from({ length: 5 }, (_, i) => 1 / (i + 2))];
  const opt = new Probe([{ params: [params[0]] }, { params: [params[1]], lr: 0.01 }], { backend });
  return { opt, params };
}

/** A state dict built by hand: every declared type, odd bit patterns (−0, NaN payloads, bfloat16 NaN / subnormal bits). */
function handStateDict(): OptimizerStateDict {
  const f32nan = new Float32Array(new Uint32Array([0x7fc01234]).buffer)[0];
  return {
    paramGroups: [
      { lr: 0.1, params: [0] },
      { lr: 0.01, params: [1] },
    ],
    state: {
      0: {
        step: 3,
        mu: 0.625,
        m: Float32Array.from({ length: 10 }, (_, i) => (i === 4 ? -0 : i - 4.5)),
        q: Uint8Array.from({ length: 10 }, (_, i) => (i * 37 + 255) & 255),
        h: Uint16Array.from({ length: 10 }, (_, i) => [0x7fc1, 0x8000, 0x0001, 0x3f80, 0xff80][i % 5] + (i > 4 ? 2 : 0)),
        s: Float32Array.of(f32nan, -0, 1e-40),
      },
      1: {
        step: 7,
        mu: -1e-310,
        m: Float64Array.of(1e-310, -0, Math.PI, -2, 3),
        q: Uint8Array.of(0, 1, 254, 255, 128),
        h: Uint16Array.of(0xffff, 0, 0x7f80, 0x4049, 0x0080),
        s: Float32Array.of(1.5, -3.25),
      },
    },
  };
}

function expectStateEquals(actual: Record<string, StateArray | number | undefined>, expected: Record<string, StateArray | number>, label: string): void {
  expect(Object.keys(actual).sort(), `${label}: keys`).to.deep.equal(Object.keys(expected).sort());
  for (const [key, value] of Object.entries(expected)) {
    const mine = actual[key];
    if (typeof value === 'number') expect(Object.is(mine, value), `${label}.${key}: ${String(mine)} vs ${value}`).to.equal(true);
    else expectBitIdentical(mine as StateArray, value, `${label}.${key}`);
  }
}

describe('state schema: a probe optimizer declaring every buffer type', () => {
  it('stepping creates only the kernel buffers (none here), the step count and mu = 1', () => {
    for (const backend of ['native', 'js'] as const) {
      const { opt, params } = makeProbe(backend);
      expect(opt.state).to.deep.equal([{}, {}]);
      const before = params[0][2];
      opt.step([new Float32Array(10).fill(1), new Float64Array(5).fill(2)]);
      expect(opt.state[0]).to.deep.equal({ step: 1, mu: 1 });
      expect(opt.state[1]).to.deep.equal({ step: 1, mu: 1 });
      // The sgd kernel ran: p ← p − lr·g.
      expect(params[0][2]).to.equal(Math.fround(Math.fround(before) - Math.fround(0.1)));
      expect(params[1][0]).to.equal(0.5 - 0.01 * 2);
      // mu has no advance(): it stays at its initial value.
      opt.step([new Float32Array(10), null]);
      expect(opt.state[0]).to.deep.equal({ step: 2, mu: 1 });
      expect(opt.state[1]).to.deep.equal({ step: 1, mu: 1 });
      expect(Object.keys(opt.stateDict().state[0]).sort()).to.deep.equal(['mu', 'step']);
    }
  });

  it('loadStateDict takes every declared type and length, as copies; stateDict gives them back; stepping keeps them', () => {
    const { opt } = makeProbe();
    const sd = handStateDict();
    opt.loadStateDict(sd);
    for (const i of [0, 1]) {
      expectStateEquals(opt.state[i], sd.state[i], `state[${i}]`);
      for (const key of ['m', 'q', 'h', 's']) {
        expect(opt.state[i][key], `state[${i}].${key} is a copy`).to.not.equal(sd.state[i][key]);
        expect((opt.state[i][key] as StateArray).buffer).to.not.equal((sd.state[i][key] as StateArray).buffer);
      }
    }
    expect(opt.state[0].m).to.be.instanceOf(Float32Array);
    expect(opt.state[1].m).to.be.instanceOf(Float64Array);
    expect(opt.state[0].h).to.be.instanceOf(Uint16Array);
    expect(opt.state[0].q).to.be.instanceOf(Uint8Array);
    // Writing into the state dict afterwards does not reach the optimizer.
    (sd.state[0].q as Uint8Array)[0] ^= 0xff;
    expect((opt.state[0].q as Uint8Array)[0]).to.equal((handStateDict().state[0].q as Uint8Array)[0]);
    const again = opt.stateDict();
    const fresh = handStateDict();
    for (const i of [0, 1]) {
      expectStateEquals(again.state[i], fresh.state[i], `stateDict().state[${i}]`);
      for (const key of ['m', 'q', 'h', 's']) expect(again.state[i][key]).to.not.equal(opt.state[i][key]);
    }
    expect(again.paramGroups).to.deep.equal(fresh.paramGroups);
    // A step advances the count, keeps mu and every buffer the kernel does not use.
    opt.step([new Float32Array(10).fill(1), new Float64Array(5).fill(1)]);
    expectStateEquals(opt.state[0], { ...fresh.state[0], step: 4 }, 'after a step: state[0]');
    expectStateEquals(opt.state[1], { ...fresh.state[1], step: 8 }, 'after a step: state[1]');
  });

  it('a checkpoint round-trips the state exactly (F32, F64, BF16 and U8 tensors, a subnormal mu)', () => {
    const src = makeProbe();
    src.opt.loadStateDict(handStateDict());
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-schema-')), 'ck.safetensors');
    saveCheckpoint(file, { model: { params: src.params }, optimizer: src.opt });
    const dst = makeProbe();
    dst.params[0].fill(9);
    dst.opt.step([new Float32Array(10).fill(1), new Float64Array(5).fill(1)]);
    const ck = loadCheckpoint(file, { model: { params: dst.params }, optimizer: dst.opt });
    expect(ck.optimizer?.class).to.equal('Probe');
    const dtypes = Object.fromEntries([...ck.tensors].filter(([n]) => n.startsWith('optim.')).map(([n, t]) => [n, t.dtype]));
    expect(dtypes).to.deep.equal({
      'optim.0.m': 'F32',
      'optim.0.q': 'U8',
      'optim.0.h': 'BF16',
      'optim.0.s': 'F32',
      'optim.1.m': 'F64',
      'optim.1.q': 'U8',
      'optim.1.h': 'BF16',
      'optim.1.s': 'F32',
    });
    const want = handStateDict();
    for (const i of [0, 1]) expectStateEquals(dst.opt.state[i], want.state[i], `loaded state[${i}]`);
    src.params.forEach((p, i) => expectBitIdentical(dst.params[i], p, `params[${i}]`));
  });

  it('a per-param number loadStateDict accepts (mu = ±Infinity) survives a checkpoint too', () => {
    // loadStateDict accepts infinite per-param numbers (allowInfinity); the checkpoint must then keep them,
    // or refuse them when saving, not write a file that loadCheckpoint calls corrupt.
    const src = makeProbe();
    const sd = handStateDict();
    sd.state[1].mu = -Infinity;
    src.opt.loadStateDict(sd);
    expect(src.opt.state[1].mu).to.equal(-Infinity);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-schema-')), 'ck.safetensors');
    let saved = true;
    try {
      saveCheckpoint(file, { model: { params: src.params }, optimizer: src.opt });
    } catch (err) {
      saved = false; // refusing at save time is acceptable
      expect((err as { code?: string }).code).to.be.a('string');
    }
    if (saved) {
      const dst = makeProbe();
      loadCheckpoint(file, { model: { params: dst.params }, optimizer: dst.opt });
      expect(dst.opt.state[1].mu).to.equal(-Infinity);
    }
  });

  it('a checkpoint whose state does not fit the schema is refused, changing nothing', () => {
    // Saved by a Probe whose param 0 has 12 elements (s: 3 blocks, m: 12): loaded into params of 10.
    const other = new Probe([{ params: [new Float32Array(12)] }, { params: [new Float64Array(5)], lr: 0.01 }]);
    const sd = handStateDict();
    sd.state[0] = { ...sd.state[0], m: new Float32Array(12), q: new Uint8Array(12), h: new Uint16Array(12) };
    other.loadStateDict(sd);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-schema-')), 'ck.safetensors');
    saveCheckpoint(file, { model: { params: [new Float32Array(10), new Float64Array(5)] }, optimizer: other });
    const dst = makeProbe();
    dst.opt.step([new Float32Array(10).fill(1), new Float64Array(5).fill(1)]);
    const snap = snapshotOptimizer(dst.opt);
    expectError(() => loadCheckpoint(file, { model: { params: dst.params }, optimizer: dst.opt }), { type: RangeError, code: CHECKPOINT_MISMATCH, mentions: ['m'] });
    expectUnchanged(dst.opt, snap);
  });
});

describe('state schema: state dicts that do not fit are refused with ERR_STATE_DICT_MISMATCH, changing nothing', () => {
  type Edit = (state: Record<number, Record<string, StateArray | number>>) => void;
  const cases: Array<[string, Edit, ExpectedError]> = [
    ['a Float32Array where uint8 is declared', (s) => void (s[0].q = new Float32Array(10)), mismatch('state[0].q', 'Uint8Array', 'Float32Array')],
    ['a Uint8Array where bfloat16 is declared', (s) => void (s[1].h = new Uint8Array(5)), mismatch('state[1].h', 'Uint16Array')],
    ["a Float64Array for a float32 param's 'param' buffer", (s) => void (s[0].m = new Float64Array(10)), mismatch('state[0].m', 'Float32Array', 'Float64Array')],
    ["a Float32Array for a float64 param's 'param' buffer", (s) => void (s[1].m = new Float32Array(5)), mismatch('state[1].m', 'Float64Array')],
    ['a Float64Array where float32 blocks are declared', (s) => void (s[1].s = new Float64Array(2)), mismatch('state[1].s', 'Float32Array')],
    ["a 'param' buffer one element short", (s) => void (s[0].m = new Float32Array(9)), mismatch('state[0].m', 'length 10', 'length 9')],
    ['a uint8 buffer one element long', (s) => void (s[1].q = new Uint8Array(6)), mismatch('state[1].q', 'length 5', 'length 6')],
    ['s with the param’s length instead of ceil(length / 4)', (s) => void (s[0].s = new Float32Array(10)), mismatch('state[0].s', 'length 3', 'length 10')],
    ['s with floor(length / 4) blocks', (s) => void (s[0].s = new Float32Array(2)), mismatch('state[0].s', 'length 3', 'length 2')],
    ['an unknown buffer name', (s) => void (s[0].v = new Float32Array(10)), mismatch('state[0]', '"v"')],
    ['a missing per-param number (mu absent, step present)', (s) => void delete s[1].mu, mismatch('state[1]', 'mu')],
    ['mu not a number', (s) => void ((s[0] as Record<string, unknown>).mu = '1'), mismatch('state[0].mu', 'number')],
    ['mu an array', (s) => void ((s[0] as Record<string, unknown>).mu = new Float64Array(1)), mismatch('state[0].mu', 'number')],
    ['buffers without step', (s) => void delete s[0].step, mismatch('state[0]', 'step')],
    ['mu without step', (s) => void (s[1] = { mu: 1 }), mismatch('state[1]', 'step')],
  ];
  for (const [what, edit, expected] of cases) {
    it(what, () => {
      for (const backend of ['native', 'js'] as const) {
        const { opt } = makeProbe(backend);
        opt.loadStateDict(handStateDict());
        opt.step([new Float32Array(10).fill(0.5), new Float64Array(5).fill(-0.5)]);
        const sd = handStateDict();
        edit(sd.state);
        const snap = snapshotOptimizer(opt);
        expectError(() => opt.loadStateDict(sd), expected, `${backend}: ${what}`);
        expectUnchanged(opt, snap);
        // The unedited dict still loads (the case failed for the edit alone).
        opt.loadStateDict(handStateDict());
      }
    });
  }

  it('an empty per-param entry, and a step count alone with mu, are fine (a param that never stepped / stepped with no buffers)', () => {
    const { opt } = makeProbe();
    const sd = handStateDict();
    sd.state[0] = {};
    sd.state[1] = { step: 2, mu: 0.5 };
    opt.loadStateDict(sd);
    expect(opt.state[0]).to.deep.equal({});
    expect(opt.state[1]).to.deep.equal({ step: 2, mu: 0.5 });
  });
});

describe('state schema: a real optimizer (Adam) refuses buffers of the wrong dtype or length', () => {
  const cases: Array<[string, (sd: OptimizerStateDict) => void, ExpectedError]> = [
    ['expAvg a Float64Array for float32 params', (sd) => void (sd.state[0].expAvg = new Float64Array(7)), mismatch('state[0].expAvg', 'Float32Array')],
    // (A Uint16Array of the right length is bfloat16 state, converted on load: see compact-state.test.ts.)
    ['expAvg a Uint16Array (bfloat16) one element short', (sd) => void (sd.state[0].expAvg = new Uint16Array(6)), mismatch('state[0].expAvg', 'length 7')],
    ['expAvg an Int16Array', (sd) => void (sd.state[0].expAvg = new Int16Array(7) as never), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['state[0].expAvg', 'Uint16Array'] }],
    ['expAvgSq one element short', (sd) => void (sd.state[1].expAvgSq = new Float32Array(2)), mismatch('state[1].expAvgSq', 'length 3')],
    ['expAvg a block-length buffer', (sd) => void (sd.state[0].expAvg = new Float32Array(2)), mismatch('state[0].expAvg', 'length 7')],
  ];
  for (const [what, edit, expected] of cases) {
    it(what, () => {
      const params = [new Float32Array(7).fill(1), new Float32Array(3).fill(-1)];
      const opt = new Adam(params, { lr: 0.01 });
      opt.step([new Float32Array(7).fill(0.5), new Float32Array(3).fill(0.25)]);
      const sd = opt.stateDict();
      edit(sd);
      const snap = snapshotOptimizer(opt);
      expectError(() => opt.loadStateDict(sd), expected);
      expectUnchanged(opt, snap);
    });
  }
});
