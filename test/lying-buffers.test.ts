/**
 * Buffers that lie about themselves (an own `length`, a subclass's `length` getter, a Proxy, a
 * prototype swapped, a grads Array whose index getter hands out another array on a second read):
 * the checks read what the engine and the addon see, so a step with several param groups is
 * refused before any group's kernel runs, and a call that throws has changed nothing. A buffer
 * that claims more elements than it has is worked on as the elements it has, by both backends
 * (the reference loops once ran to the claimed 2^40: the fuzzer's seed 3, case 21162, hung).
 */
import { expect } from 'chai';
import { Adam, LBFGS, SGD, Tensor, accumulateGrads, clipGradNorm, clipGradValue, getTotalNorm, hasNonFinite, loadCheckpoint, readCheckpoint } from '../lib';
import { getBackend } from '../lib/backend';
import { fingerprintOf } from '../lib/distributed/fingerprint';
import { ShardedStep } from '../lib/distributed/zero';
import { ErrorCodes } from '../lib/errors';
import { SIGNED_CODE_MAP } from '../lib/compact/code_maps';
import { encodeCheckpoint } from '../lib/train/checkpoint';
import { encodeSafetensors, parseSafetensors } from '../lib/train/safetensors';
import { COMPACT_KERNELS } from './helpers/kernels';
import { expectError } from './helpers/errors';
import { expectUnchanged, snapshotOptimizer } from './helpers/snapshot';

/** Three groups of one param each; the last group's gradient is the one that lies. */
function threeGroups(backend: 'native' | 'js') {
  const params = [new Float32Array([1, 2, 3]), new Float32Array([4, 5]), new Float32Array([6, 7, 8, 9])];
  const optimizer = new Adam(params.map((p) => ({ params: [p] })), { lr: 0.1, backend });
  const grads = () => params.map((p) => new Float32Array(p.length).fill(0.5));
  return { params, optimizer, grads };
}

/** A Float32Array of `actual` elements that claims to have `claimed`. */
function withOwnLength(actual: number, claimed: number): Float32Array {
  const g = new Float32Array(actual).fill(0.5);
  Object.defineProperty(g, 'length', { get: () => claimed });
  return g;
}

class LongerThanItIs extends Float32Array {
  override get length(): number {
    return 4;
  }
}

const liars: [string, () => unknown, typeof TypeError | typeof RangeError, string][] = [
  ['an own length property', () => withOwnLength(2, 4), RangeError, ErrorCodes.SHAPE_MISMATCH],
  ['a subclass whose length getter lies', () => new LongerThanItIs(2), RangeError, ErrorCodes.SHAPE_MISMATCH],
  ['a Proxy of a Float32Array of the right length', () => new Proxy(new Float32Array(4), {}), TypeError, ErrorCodes.INVALID_ARG_TYPE],
  ['an object with Float32Array.prototype', () => Object.defineProperty(Object.create(Float32Array.prototype), 'length', { value: 4 }), TypeError, ErrorCodes.INVALID_ARG_TYPE],
  ['a Float64Array dressed as a Float32Array', () => Object.setPrototypeOf(new Float64Array(4), Float32Array.prototype), TypeError, ErrorCodes.INVALID_ARG_TYPE],
  ['a Float32Array whose prototype is Array.prototype', () => Object.setPrototypeOf(new Float32Array(4), Array.prototype), TypeError, ErrorCodes.INVALID_ARG_TYPE],
];

describe('buffers that lie about themselves', () => {
  for (const backend of ['native', 'js'] as const) {
    describe(`${backend} backend`, () => {
      for (const [what, make, type, code] of liars) {
        it(`a later group's gradient that is ${what}: refused before any group runs, nothing changed`, async () => {
          for (const form of ['step', 'stepAsync'] as const) {
            const { optimizer, grads } = threeGroups(backend);
            optimizer.step(grads()); // state exists, so a change to it would show
            const g = grads();
            g[2] = make() as (typeof g)[number];
            const snap = snapshotOptimizer(optimizer, g.slice(0, 2));
            if (form === 'step') expectError(() => optimizer.step(g), { type, code }, `${form}: ${what}`);
            else {
              const err = await optimizer.stepAsync(g).then(() => null, (e: unknown) => e);
              expect(err, `${form}: ${what}`).to.be.instanceOf(type).and.have.property('code', code);
            }
            expectUnchanged(optimizer, snap);
          }
        });
      }

      it('a param that later lies about its length: the step is refused before any group runs', () => {
        const { params, optimizer, grads } = threeGroups(backend);
        optimizer.step(grads());
        Object.defineProperty(params[2], 'length', { get: () => 2, configurable: true });
        const g = grads();
        g[2] = new Float32Array(2);
        const snap = snapshotOptimizer(optimizer, g);
        expectError(() => optimizer.step(g), { type: RangeError, code: ErrorCodes.SHAPE_MISMATCH });
        delete (params[2] as { length?: number }).length; // the snapshot's comparison reads .length
        expectUnchanged(optimizer, snap);
      });

      it('a state dict buffer shorter than its own length claims: refused by loadStateDict, nothing changed', () => {
        const params = [new Float32Array([1, 2, 3, 4, 5])];
        const optimizer = new Adam(params, { lr: 0.1, backend });
        optimizer.step([new Float32Array(5).fill(1)]);
        const sd = optimizer.stateDict();
        sd.state[0].expAvg = withOwnLength(3, 5);
        const snap = snapshotOptimizer(optimizer, []);
        expectError(() => optimizer.loadStateDict(sd), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH, mentions: [/expected length 5, got length 3/] });
        expectUnchanged(optimizer, snap);
      });

      it('an ArrayBuffer whose own byteLength claims its old size after it shrank: the repeated step is refused before any group runs', () => {
        const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
        const memory = new Resizable(32, { maxByteLength: 64 });
        const params = [new Float32Array([1, 2]), new Float32Array(memory, 0, 8).fill(1)];
        const optimizer = new SGD([{ params: [params[0]] }, { params: [params[1]], lr: 0.2 }], { lr: 0.1, backend });
        const g = [new Float32Array([1, 1]), new Float32Array(8).fill(1)];
        optimizer.step(g);
        optimizer.step(g); // the same gradients: the next step takes the cached calls, which check each ArrayBuffer's byte length
        memory.resize(16);
        Object.defineProperty(memory, 'byteLength', { value: 32 });
        // Compared by hand: the shared snapshot helpers are kept away from views of resizable
        // buffers (under Node 20, once such views reach them, later detached-buffer tests misread lengths).
        const first = Array.from(params[0]);
        expectError(() => optimizer.step(g), { type: RangeError, code: ErrorCodes.SHAPE_MISMATCH, mentions: ['params[1]'] });
        expect(Array.from(params[0]), 'the first group was not stepped').to.deep.equal(first);
      });

      it('a grads Array whose index getter answers differently each time: the array checked is the array stepped', () => {
        const params = [new Float32Array([1, 2]), new Float32Array([3, 4])];
        const optimizer = new SGD(params.map((p) => ({ params: [p] })), { lr: 1, backend });
        const good = new Float32Array([1, 1]);
        const short = new Float32Array(1);
        let reads = 0;
        const g: (Float32Array | null)[] = [new Float32Array([1, 1]), null];
        Object.defineProperty(g, 1, { get: () => (reads++ === 0 ? good : short), enumerable: true });
        optimizer.step(g);
        expect(reads).to.equal(1);
        expect(Array.from(params[1])).to.deep.equal([2, 3]);
      });
    });
  }

  describe('a tensor whose own length claims 2^40 elements: both backends work on the elements it has, at once', () => {
    const HUGE = 2 ** 40;
    const values = [3, -4, 0.5, 2, -1, 7, 0.25];
    /** [the liar, an honest copy]: equal elements, only the liar's `length` says 2^40. */
    const pair = (): [Float64Array, Float64Array] => {
      const honest = Float64Array.from(values);
      const liar = Float64Array.from(values);
      Object.defineProperty(liar, 'length', { get: () => HUGE });
      return [liar, honest];
    };
    const other = () => new Float64Array([1, 2]);

    for (const backend of ['native', 'js'] as const) {
      it(`${backend}: norms, non-finite checks, clipping and accumulation`, () => {
        const [liar, honest] = pair();
        expect(getTotalNorm([other(), liar], 2, { backend })).to.equal(getTotalNorm([other(), honest], 2, { backend }));
        expect(getTotalNorm([liar], Infinity, { backend })).to.equal(7);
        expect(hasNonFinite([liar], { backend })).to.equal(false);
        clipGradNorm([liar], 1, { backend });
        clipGradNorm([honest], 1, { backend });
        expect(Array.from(liar.subarray(0))).to.deep.equal(Array.from(honest));
        clipGradValue([liar], 0.1, { backend });
        clipGradValue([honest], 0.1, { backend });
        expect(Array.from(liar.subarray(0))).to.deep.equal(Array.from(honest));
        const [acc, accHonest] = pair();
        accumulateGrads([acc], [honest], 2, { backend });
        accumulateGrads([accHonest], [honest], 2, { backend });
        expect(Array.from(acc.subarray(0))).to.deep.equal(Array.from(accHonest));
      });

      it(`${backend}: an optimizer step over a param whose length lies`, () => {
        const [param, honest] = pair();
        const grad = () => Float64Array.from(values, (v) => v / 10);
        new Adam([param], { lr: 0.1, backend }).step([grad()]);
        new Adam([honest], { lr: 0.1, backend }).step([grad()]);
        expect(Array.from(param.subarray(0))).to.deep.equal(Array.from(honest));
      });
    }
  });
});

/**
 * The entry points beyond the step: each validates a caller's typed array once, into an engine
 * view (or its engine length), so that what is checked, saved, sharded or fingerprinted is the
 * elements the array has. Each case failed before: a check passed on the claimed length and the
 * call then wrote a file no reader accepts, threw an uncoded error halfway, or loaded NaNs.
 */
describe('entry points beyond the step read what the engine sees', () => {
  const values = [3, -4, 0.5, 2, -1, 7, 0.25];
  /** A Float64Array of `values` whose own `name` property says `claimed`. */
  type Claim = (t: Float64Array) => Float64Array;
  const claim = (name: 'length' | 'byteLength' | 'byteOffset' | 'buffer', claimed: unknown): Claim => (t) => Object.defineProperty(t, name, { value: claimed });
  const lying = (name: 'length' | 'byteLength' | 'byteOffset' | 'buffer', claimed: unknown): Float64Array => claim(name, claimed)(Float64Array.from(values));
  const claims: [string, Claim][] = [
    ['length 2^40', claim('length', 2 ** 40)],
    ['length 9', claim('length', 9)],
    ['byteLength 8', claim('byteLength', 8)],
    ['byteOffset 16', claim('byteOffset', 16)],
    ['another buffer', claim('buffer', new ArrayBuffer(1024))],
  ];

  for (const [what, lie] of claims) {
    it(`encodeSafetensors of a tensor whose own ${what}: written as the elements it has`, () => {
      const file = Buffer.concat(encodeSafetensors({ w: { data: lie(Float64Array.from(values)), shape: [7] } }));
      expect(Array.from(parseSafetensors(file).tensors.get('w')!.data)).to.deep.equal(values);
    });

    it(`a checkpoint of a param, and of a state buffer a stateDict hands out, whose own ${what}: saved and read back as the elements they have`, () => {
      class LyingAdam extends Adam {
        override stateDict() {
          const sd = super.stateDict();
          lie(sd.state[0].expAvg as Float64Array);
          return sd;
        }
      }
      const optimizer = new LyingAdam([lie(Float64Array.from(values))], { lr: 0.1 });
      optimizer.step([new Float64Array(7).fill(0.5)]);
      const param = optimizer.paramGroups[0].params[0];
      const ck = readCheckpoint(Buffer.concat(encodeCheckpoint({ model: { params: [param] }, optimizer })));
      expect(ck.params[0].shape).to.deep.equal([7]);
      expect(Array.from(ck.params[0].data)).to.deep.equal(Array.from(param.subarray(0)));
      expect(Array.from(ck.optimizer!.stateDict.state[0].expAvg as Float64Array)).to.deep.equal(Array.from(optimizer.state[0].expAvg as Float64Array));
    });
  }

  it('encodeSafetensors: a shape of the claimed length is refused (ERR_SHAPE_MISMATCH, naming the real one)', () => {
    expectError(() => encodeSafetensors({ w: { data: lying('length', 9), shape: [9] } }), { type: RangeError, code: ErrorCodes.SHAPE_MISMATCH, mentions: ['data has 7'] });
  });

  it('loadCheckpoint into a param shorter than its own length claims: ERR_CHECKPOINT_MISMATCH, no param changed', () => {
    const file = Buffer.concat(encodeCheckpoint({ model: { params: [new Float64Array([1, 2]), Float64Array.from(values)] } }));
    const first = new Float64Array([5, 6]);
    const second = Object.defineProperty(new Float64Array(3), 'length', { value: 7 });
    expectError(() => loadCheckpoint(file, { model: { params: [first, second] } }), {
      type: RangeError,
      code: ErrorCodes.CHECKPOINT_MISMATCH,
      mentions: ['param.1 has shape [7]', '[3]'],
    });
    expect(Array.from(first)).to.deep.equal([5, 6]);
    expect(Array.from(second.subarray(0))).to.deep.equal([0, 0, 0]);
  });

  it('loadStateDict of 8-bit state whose block scales claim more elements than they have: ERR_STATE_DICT_MISMATCH, nothing changed', () => {
    const length = 300; // two blocks of 256
    const source = new Adam([new Float32Array(length).fill(1)], { lr: 0.1, stateDtype: 'int8', min8bitSize: 0 });
    source.step([Float32Array.from({ length }, (_, i) => Math.sin(i))]);
    const sd = source.stateDict();
    expect(sd.state[0].expAvgAbsmax).to.have.property('length', 2);
    sd.state[0].expAvgAbsmax = Object.defineProperty(new Float32Array([1]), 'length', { value: 2 });
    const target = new Adam([new Float32Array(length)], { lr: 0.1 }); // float32 state: the codes are widened on load
    target.step([new Float32Array(length).fill(0.5)]);
    const snap = snapshotOptimizer(target, []);
    expectError(() => target.loadStateDict(sd), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH, mentions: ['expAvgAbsmax: expected length 2, got length 1'] });
    expectUnchanged(target, snap);
  });

  it('LBFGS: a null gradient for a param whose own length claims 2^40 is zeros of the elements it has', () => {
    const [liar, honest] = [lying('length', 2 ** 40), Float64Array.from(values)];
    const other = () => new Float64Array([1, -1]);
    const run = (param: Float64Array, extra: Float64Array) =>
      new LBFGS([extra, param], { lr: 0.5, maxIter: 1 }).step(() => ({ loss: extra[0] ** 2, grads: [Float64Array.from(extra, (x) => 2 * x), null] }));
    const [p, q] = [other(), other()];
    expect(run(liar, p)).to.equal(run(honest, q));
    expect(Array.from(p)).to.deep.equal(Array.from(q));
    expect(Array.from(liar.subarray(0))).to.deep.equal(values);
  });

  it('LBFGS: loadStateDict refuses a history vector or ro shorter than its own length claims (ERR_STATE_DICT_MISMATCH), nothing changed', () => {
    const make = () => new LBFGS([new Float64Array([1, 2, 3])], { lr: 1, historySize: 3 });
    const closure = (x: Float64Array) => () => ({ loss: x.reduce((a, v) => a + v * v, 0), grads: [Float64Array.from(x, (v) => 2 * v)] });
    const source = make();
    for (let i = 0; i < 3; i++) source.step(closure(source.paramGroups[0].params[0] as Float64Array));
    const sd = source.stateDict();
    const entry = sd.state[0] as Record<string, unknown>;
    expect((entry.ro as Float64Array).length).to.be.greaterThan(0);
    for (const key of ['oldDirs', 'd', 'ro']) {
      const target = make();
      target.step(closure(target.paramGroups[0].params[0] as Float64Array));
      const before = JSON.stringify(target.stateDict(), (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v));
      const full = entry[key] as Float64Array;
      const short = Object.defineProperty(full.slice(0, full.length - 1), 'length', { value: full.length });
      expectError(() => target.loadStateDict({ ...sd, state: { 0: { ...entry, [key]: short } } }), { type: RangeError, code: ErrorCodes.STATE_DICT_MISMATCH }, key);
      expect(JSON.stringify(target.stateDict(), (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v)), key).to.equal(before);
    }
  });

  it('a collective\'s fingerprint records the lengths the addon moves, not an own length', () => {
    const call = (tensors: Tensor[]) => fingerprintOf({ sequence: 1, kind: 0, op: 0, root: 0, deterministic: false, tensors });
    const honest = Array.from(call([new Float32Array(3), new Float64Array(7)]));
    // Rank A's 3 elements claim 5; rank B has 5: their records must differ, or MPI is handed 3 against 5.
    expect(Array.from(call([Object.defineProperty(new Float32Array(3), 'length', { value: 5 }), new Float64Array(7)]))).to.deep.equal(honest);
    expect(Array.from(call([new Float32Array(5), new Float64Array(7)]))).to.not.deep.equal(honest);
  });

  it('shardState cuts a param by the elements it has (a claimed 2^40 would put every shard past its end)', () => {
    const shards = [0, 1].map((rank) => new ShardedStep(new Adam([lying('length', 2 ** 40)], { lr: 0.1 }), rank, 2, false).shard!.paramGroups[0].params[0]);
    expect(shards.map((p) => p.length)).to.deep.equal([4, 3]);
    expect(Array.from(shards[1])).to.deep.equal(values.slice(4));
  });

  it('the JS backend checks block scales by their engine length, as the addon does', () => {
    const kernel = COMPACT_KERNELS.find((k) => k.name === 'sgd_momentum_int8')!;
    const scales = Object.defineProperty(new Float32Array(1), 'length', { value: 2 });
    const buffers = [new Float32Array(300), new Float32Array(300), new Uint8Array(300), scales, SIGNED_CODE_MAP.slice()];
    for (const backend of ['native', 'js'] as const) {
      expectError(() => getBackend(backend).update(kernel, buffers, new Float64Array(kernel.scalars.length), 1), {
        type: RangeError,
        code: ErrorCodes.SHAPE_MISMATCH,
        mentions: ['buffers[3]: expected length 2', /got (length )?1$/],
      }, backend);
    }
  });

  it('an error message describes a typed array by its engine type and length, even when its own length getter throws', () => {
    const bytes = Object.defineProperty(new Uint8Array(3), 'length', { get: () => { throw new Error('length read'); } });
    expectError(() => getTotalNorm([bytes as never]), { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['got a Uint8Array(3)'] });
  });
});
