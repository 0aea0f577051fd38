/**
 * The addon's own argument checks (native/boundary/args.cc), called directly with
 * garbage: the TypeScript layer validates first, but a native addon must never
 * trust its caller. Every bad call is a TypeError or RangeError with a stable
 * code and a message naming the argument; nothing is written when a call
 * throws; and the calls that could crash a careless addon (huge sparse arrays,
 * getters that detach buffers or re-enter the addon while it reads its
 * arguments) run in child processes that must exit normally.
 */
import { expect } from 'chai';
import { ErrorCodes } from '../lib/errors';
import { ReduceKind } from '../lib/kernels/reduce_kind';
import { loadAddon } from '../lib/native';
import type { Tensor } from '../lib/tensor';
import { detach } from './helpers/buffers';
import { describeExit, runNodeChild } from './helpers/child';
import { ExpectedError, expectError, expectFailure } from './helpers/errors';
import { sgdKernel } from '../lib/kernels/sgd';
import { ALL_KERNELS, TABLE_KERNELS, row } from './helpers/kernels';

const addon = loadAddon();
const { INVALID_ARG_TYPE, OUT_OF_RANGE, NON_FINITE, SHAPE_MISMATCH, DTYPE_MISMATCH, DETACHED_BUFFER } = ErrorCodes;
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });

/** A valid plain-SGD call: θ ← θ − 0.5·g, over one tensor of three elements. */
function sgdCall() {
  const param = new Float32Array([1, 2, 3]);
  const grad = new Float32Array([1, 1, 1]);
  const scalars = new Float64Array([1, 0, 0.5, 0, 0, 0]); // grad_scale, weight_decay, lr, momentum, buffer_decay, grad_weight
  return { param, grad, buffers: [param, grad] as unknown[], scalars: scalars as unknown, threads: 1 as unknown, kind: row(sgdKernel) as unknown };
}

type Call = ReturnType<typeof sgdCall>;

/** Both entry points of an update: the synchronous one and the one on the thread pool. */
const UPDATE_ENTRIES = [
  ['update', (c: Call) => addon.update(c.kind as never, c.buffers as never, c.scalars as never, c.threads as never)],
  ['updateAsync', (c: Call) => addon.updateAsync(c.kind as never, c.buffers as never, c.scalars as never, c.threads as never)],
] as const;

describe('native boundary: update / updateAsync with garbage', () => {
  const cases: Array<[string, (c: Call) => void, ExpectedError]> = [
    ['kind -1', (c) => (c.kind = -1), range(OUT_OF_RANGE, 'kernel')],
    ['kind past the last kernel', (c) => (c.kind = TABLE_KERNELS.length), range(OUT_OF_RANGE, 'kernel')],
    ['kind 1.5', (c) => (c.kind = 1.5), range(OUT_OF_RANGE, 'kernel')],
    ['kind NaN', (c) => (c.kind = NaN), range(NON_FINITE, 'kernel')],
    ['kind Infinity', (c) => (c.kind = Infinity), range(NON_FINITE, 'kernel')],
    ['kind "0"', (c) => (c.kind = '0'), type(INVALID_ARG_TYPE, 'kernel')],
    ['kind undefined', (c) => (c.kind = undefined), type(INVALID_ARG_TYPE, 'kernel')],
    ['buffers undefined', (c) => (c.buffers = undefined as never), type(INVALID_ARG_TYPE, 'buffers', 'Array')],
    ['buffers a Float32Array', (c) => (c.buffers = c.param as never), type(INVALID_ARG_TYPE, 'buffers')],
    ['buffers an array-like object', (c) => (c.buffers = { length: 2, 0: c.param, 1: c.grad } as never), type(INVALID_ARG_TYPE, 'buffers')],
    ['buffers a string', (c) => (c.buffers = 'ab' as never), type(INVALID_ARG_TYPE, 'buffers')],
    ['an Array of numbers', (c) => (c.buffers = [1, 2]), type(INVALID_ARG_TYPE, 'buffers[0]', 'Float32Array or Float64Array')],
    ['an Array of strings', (c) => (c.buffers = ['a', 'b']), type(INVALID_ARG_TYPE, 'buffers[0]')],
    ['an Int32Array', (c) => (c.buffers[1] = new Int32Array(3)), type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['a Uint8Array', (c) => (c.buffers[0] = new Uint8Array(12)), type(INVALID_ARG_TYPE, 'buffers[0]')],
    ['a BigInt64Array', (c) => (c.buffers[1] = new BigInt64Array(3)), type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['a DataView', (c) => (c.buffers[1] = new DataView(new ArrayBuffer(12))), type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['an ArrayBuffer', (c) => (c.buffers[1] = new ArrayBuffer(12)), type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['null', (c) => (c.buffers[1] = null), type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['a hole', (c) => (c.buffers = [c.param, , c.grad, c.grad].slice(0, 2)), type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['a buffer count that is not a multiple of the slots', (c) => c.buffers.push(new Float32Array(3)), range(SHAPE_MISMATCH, 'buffers', 'multiple of 2', 'got 3')],
    ['a grad shorter than its param', (c) => (c.buffers[1] = new Float32Array(2)), range(SHAPE_MISMATCH, 'buffers[1]', 'length 3', 'got 2')],
    ['a grad longer than its param', (c) => (c.buffers[1] = new Float32Array(4)), range(SHAPE_MISMATCH, 'buffers[1]', 'length 3', 'got 4')],
    ['a Float64Array grad for a Float32Array param', (c) => (c.buffers[1] = new Float64Array(3)), type(DTYPE_MISMATCH, 'buffers[1]', 'Float32Array')],
    ['a second tensor of the other dtype', (c) => c.buffers.push(new Float64Array(1), new Float64Array(1)), type(DTYPE_MISMATCH, 'buffers[2]')],
    ['a detached grad', (c) => { const g = new Float32Array(3); detach(g); c.buffers[1] = g; }, type(DETACHED_BUFFER, 'buffers[1]')],
    ['a detached param of a second tensor', (c) => { const p = new Float32Array(3); detach(p); c.buffers.push(p, new Float32Array(0)); }, type(DETACHED_BUFFER, 'buffers[2]')],
    ['scalars undefined', (c) => (c.scalars = undefined), type(INVALID_ARG_TYPE, 'scalars', 'Float64Array')],
    ['scalars a plain Array', (c) => (c.scalars = [1, 0, 0.5, 0, 0, 0]), type(INVALID_ARG_TYPE, 'scalars')],
    ['scalars a Float32Array', (c) => (c.scalars = new Float32Array(6)), type(INVALID_ARG_TYPE, 'scalars')],
    ['too few scalars', (c) => (c.scalars = new Float64Array(5)), range(SHAPE_MISMATCH, 'scalars', 'expected 6', 'got 5')],
    ['too many scalars', (c) => (c.scalars = new Float64Array(7)), range(SHAPE_MISMATCH, 'scalars')],
    ['detached scalars', (c) => { const s = new Float64Array(6); detach(s as unknown as Tensor); c.scalars = s; }, range(SHAPE_MISMATCH, 'scalars')],
    ['threads 0', (c) => (c.threads = 0), range(OUT_OF_RANGE, 'threads')],
    ['threads -1', (c) => (c.threads = -1), range(OUT_OF_RANGE, 'threads')],
    ['threads NaN', (c) => (c.threads = NaN), range(NON_FINITE, 'threads')],
    ['threads 1.5', (c) => (c.threads = 1.5), range(OUT_OF_RANGE, 'threads')],
    ['threads 1025', (c) => (c.threads = 1025), range(OUT_OF_RANGE, 'threads', '1024')],
    ['threads 1e12', (c) => (c.threads = 1e12), range(OUT_OF_RANGE, 'threads')],
    ['threads Infinity', (c) => (c.threads = Infinity), range(NON_FINITE, 'threads')],
    ['threads "2"', (c) => (c.threads = '2'), type(INVALID_ARG_TYPE, 'threads')],
    ['threads missing', (c) => (c.threads = undefined), type(INVALID_ARG_TYPE, 'threads')],
  ];

  for (const [entry, invoke] of UPDATE_ENTRIES) {
    describe(entry, () => {
      for (const [what, corrupt, expected] of cases) {
        it(what, async () => {
          const c = sgdCall();
          corrupt(c);
          await expectFailure(() => invoke(c), expected, `${entry} with ${what}`);
          // Nothing was written: the param is as it was.
          expect(Array.from(c.param)).to.deep.equal([1, 2, 3]);
        });
      }

      it('a valid call runs the kernel (the cases above fail only for their own reason)', async () => {
        const c = sgdCall();
        await invoke(c);
        expect(Array.from(c.param)).to.deep.equal([0.5, 1.5, 2.5]);
      });

      it('an empty batch and zero-length tensors are valid no-ops', async () => {
        const c = sgdCall();
        c.buffers = [];
        await invoke(c);
        c.buffers = [new Float32Array(0), new Float32Array(0)];
        await invoke(c);
      });
    });
  }

  it('checks every kernel kind against its own slot and scalar counts', () => {
    for (const kernel of ALL_KERNELS) {
      const kind = row(kernel);
      const shape = { slots: kernel.slots, scalarCount: kernel.scalars.length };
      const buffers = Array.from({ length: shape.slots }, () => new Float64Array(2));
      addon.update(kind, buffers, new Float64Array(shape.scalarCount), 1);
      if (shape.slots > 1) {
        expectError(() => addon.update(kind, buffers.slice(1), new Float64Array(shape.scalarCount), 1), range(SHAPE_MISMATCH, 'buffers'), `kind ${kind}`);
        expectError(() => addon.update(kind, [...buffers.slice(1), new Float64Array(3)], new Float64Array(shape.scalarCount), 1), range(SHAPE_MISMATCH, `buffers[${shape.slots - 1}]`));
      }
      expectError(() => addon.update(kind, buffers, new Float64Array(shape.scalarCount + 1), 1), range(SHAPE_MISMATCH, 'scalars'));
    }
  });
});

describe('native boundary: reduce / reduceAsync with garbage', () => {
  const entries = [
    ['reduce', (k: unknown, t: unknown, p: unknown, n: unknown) => addon.reduce(k as never, t as never, p as never, n as never)],
    ['reduceAsync', (k: unknown, t: unknown, p: unknown, n: unknown) => addon.reduceAsync(k as never, t as never, p as never, n as never)],
  ] as const;
  const x = () => new Float32Array([3, 4]);
  const cases: Array<[string, unknown[], ExpectedError]> = [
    ['kind 5', [5, [x()], 2, 1], range(OUT_OF_RANGE, 'kind')],
    ['kind -1', [-1, [x()], 2, 1], range(OUT_OF_RANGE, 'kind')],
    ['kind a string', ['sum', [x()], 2, 1], type(INVALID_ARG_TYPE, 'kind')],
    ['tensors not an Array', [ReduceKind.SumSquares, x(), 2, 1], type(INVALID_ARG_TYPE, 'tensors')],
    ['tensors of numbers', [ReduceKind.SumSquares, [3, 4], 2, 1], type(INVALID_ARG_TYPE, 'tensors[0]')],
    ['an Int32Array', [ReduceKind.SumSquares, [x(), new Int32Array(2)], 2, 1], type(INVALID_ARG_TYPE, 'tensors[1]')],
    ['a DataView', [ReduceKind.SumSquares, [new DataView(new ArrayBuffer(8))], 2, 1], type(INVALID_ARG_TYPE, 'tensors[0]')],
    ['mixed dtypes', [ReduceKind.SumSquares, [x(), new Float64Array(2)], 2, 1], type(DTYPE_MISMATCH, 'tensors[1]')],
    ['p NaN', [ReduceKind.SumPow, [x()], NaN, 1], range(NON_FINITE, 'p', 'NaN')],
    ['p a string', [ReduceKind.SumPow, [x()], '2', 1], type(INVALID_ARG_TYPE, 'p')],
    ['threads 0', [ReduceKind.SumSquares, [x()], 2, 0], range(OUT_OF_RANGE, 'threads')],
    ['threads 2^31', [ReduceKind.SumSquares, [x()], 2, 2 ** 31], range(OUT_OF_RANGE, 'threads')],
  ];
  for (const [entry, invoke] of entries) {
    describe(entry, () => {
      for (const [what, args, expected] of cases) {
        it(what, async () => {
          await expectFailure(() => invoke(args[0], args[1], args[2], args[3]), expected, `${entry} with ${what}`);
        });
      }
      it('a detached tensor', async () => {
        const t = x();
        detach(t);
        await expectFailure(() => invoke(ReduceKind.SumSquares, [t], 2, 1), type(DETACHED_BUFFER, 'tensors[0]'));
      });
      it('a valid call: Σx² of [3, 4] is 25', async () => {
        expect(await invoke(ReduceKind.SumSquares, [x()], 2, 1)).to.equal(25);
      });
    });
  }
});

describe('native boundary: the JavaScript backend makes the same structural checks', () => {
  // Both backends sit behind one interface; a call the addon refuses must not run in JS.
  const cases: Array<[string, unknown[], ExpectedError]> = [
    ['a non-tensor', [new Float32Array(3), [1, 2, 3]], type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['an Int32Array', [new Float32Array(3), new Int32Array(3)], type(INVALID_ARG_TYPE, 'buffers[1]')],
    ['mixed dtypes', [new Float32Array(3), new Float64Array(3)], type(DTYPE_MISMATCH, 'buffers[1]', 'Float32Array')],
    ['mismatched lengths', [new Float64Array(3), new Float64Array(2)], range(SHAPE_MISMATCH, 'buffers[1]', 'length 3', /got (length )?2/)],
    ['a count that is not a multiple of the slots', [new Float64Array(3)], range(SHAPE_MISMATCH, 'buffers')],
  ];
  for (const [what, buffers, expected] of cases) {
    it(what, async () => {
      const { jsBackend } = await import('../lib/backend/js_backend');
      const scalars = new Float64Array([1, 0, 0.5, 0, 0, 0]);
      expectError(() => addon.update(row(sgdKernel), buffers as Tensor[], scalars, 1), expected, 'native');
      expectError(() => jsBackend.update(sgdKernel, buffers as Tensor[], scalars, 1), expected, 'js');
    });
  }

  it('a subclass of Float32Array is a Float32Array to both', async () => {
    const { jsBackend } = await import('../lib/backend/js_backend');
    class Weights extends Float32Array {}
    const scalars = new Float64Array([1, 0, 0.5, 0, 0, 0]);
    const a = new Weights([1, 2]);
    const b = new Weights([1, 2]);
    addon.update(row(sgdKernel), [a, new Float32Array([1, 1])], scalars, 1);
    jsBackend.update(sgdKernel, [b, new Float32Array([1, 1])], scalars, 1);
    expect(Array.from(a)).to.deep.equal([0.5, 1.5]);
    expect(Array.from(b)).to.deep.equal([0.5, 1.5]);
  });
});

describe('native boundary: alignmentOffset and info', () => {
  it('alignmentOffset rejects what is not an ArrayBuffer or a sane alignment', () => {
    const buf = new ArrayBuffer(128);
    expectError(() => addon.alignmentOffset(new Float32Array(4) as never, 64), type(INVALID_ARG_TYPE, 'buffer', 'ArrayBuffer'));
    expectError(() => addon.alignmentOffset(undefined as never, 64), type(INVALID_ARG_TYPE, 'buffer'));
    for (const bad of [0, -64, 4097, 1.5]) expectError(() => addon.alignmentOffset(buf, bad), range(OUT_OF_RANGE, 'alignment'));
    expectError(() => addon.alignmentOffset(buf, NaN), range(NON_FINITE, 'alignment'));
    expectError(() => addon.alignmentOffset(buf, '64' as never), type(INVALID_ARG_TYPE, 'alignment'));
    const offset = addon.alignmentOffset(buf, 64);
    expect(offset).to.be.a('number').within(0, 63);
    expect(Number.isInteger(offset)).to.equal(true);
  });

  it('info() describes the build', () => {
    const info = addon.info();
    expect(['avx512', 'avx2', 'baseline']).to.include(info.isa);
    expect(info.defaultThreads).to.be.at.least(1);
    expect(info.updateKernels).to.have.length(TABLE_KERNELS.length);
    // Every row has its TypeScript declaration (checked by name, slots, scalar names, element types and slot roles).
    expect(info.updateKernels.map((r) => r.name).sort()).to.deep.equal(TABLE_KERNELS.map((k) => k.name).sort());
    for (const kernel of TABLE_KERNELS) expect(info.updateKernels[row(kernel)].name).to.equal(kernel.name);
  });
});

describe('native boundary: JavaScript that runs while the addon reads its arguments', () => {
  // Reading an Array element can call a getter. Such code may detach a buffer the
  // addon has already looked at, call the addon again, or hand out a different
  // object on each read; none of it may make the kernel touch memory it did not
  // validate, or silently do something other than what was asked.

  it('a getter that throws: its error comes through, nothing is written', async () => {
    for (const [entry, invoke] of UPDATE_ENTRIES) {
      const c = sgdCall();
      Object.defineProperty(c.buffers, 1, { get: () => { throw new Error('from the getter'); } });
      let caught: unknown;
      try {
        await invoke(c);
      } catch (err) {
        caught = err;
      }
      expect(caught, entry).to.be.instanceOf(Error);
      expect((caught as Error).message, entry).to.equal('from the getter');
      expect(Array.from(c.param)).to.deep.equal([1, 2, 3]);
    }
  });

  it('a getter that detaches a buffer read before it: ERR_DETACHED_BUFFER, never a write into the moved memory', async () => {
    for (const [entry, invoke] of UPDATE_ENTRIES) {
      const c = sgdCall();
      const grad = c.grad;
      let moved: ArrayBuffer | null = null;
      Object.defineProperty(c.buffers, 1, { get: () => { moved = detach(c.param); return grad; } });
      await expectFailure(() => invoke(c), type(DETACHED_BUFFER, 'buffers[0]'), entry);
      expect(Array.from(new Float32Array(moved!))).to.deep.equal([1, 2, 3]);
    }
  });

  it('a getter that calls the addon again: both calls do exactly their own work', () => {
    const outerParams = [new Float32Array([1, 1, 1]), new Float32Array([1, 1])];
    const innerParam = new Float32Array([10, 10, 10, 10]);
    const buffers: unknown[] = [outerParams[0], new Float32Array([1, 1, 1]), outerParams[1], new Float32Array([1, 1])];
    const lastGrad = buffers[3];
    Object.defineProperty(buffers, 3, {
      get: () => {
        addon.update(row(sgdKernel), [innerParam, new Float32Array([1, 1, 1, 1])], new Float64Array([1, 0, 2, 0, 0, 0]), 1);
        return lastGrad;
      },
    });
    addon.update(row(sgdKernel), buffers as Tensor[], new Float64Array([1, 0, 0.5, 0, 0, 0]), 1);
    expect(Array.from(innerParam)).to.deep.equal([8, 8, 8, 8]);
    expect(outerParams.map((p) => Array.from(p))).to.deep.equal([
      [0.5, 0.5, 0.5],
      [0.5, 0.5],
    ]);
  });

  it('each buffer is read once per call, so the arrays kept alive are the arrays validated', async () => {
    for (const [entry, invoke] of UPDATE_ENTRIES) {
      const c = sgdCall();
      let reads = 0;
      const grad = c.grad;
      Object.defineProperty(c.buffers, 1, { get: () => { reads++; return grad; } });
      await invoke(c);
      expect(reads, `${entry}: reads of buffers[1]`).to.equal(1);
      expect(Array.from(c.param)).to.deep.equal([0.5, 1.5, 2.5]);
    }
    for (const entry of ['reduce', 'reduceAsync'] as const) {
      let reads = 0;
      const t = new Float64Array([3, 4]);
      const tensors: unknown[] = [];
      Object.defineProperty(tensors, 0, { get: () => { reads++; return t; }, enumerable: true });
      expect(await addon[entry](ReduceKind.SumSquares, tensors as Tensor[], 2, 1)).to.equal(25);
      expect(reads, `${entry}: reads of tensors[0]`).to.equal(1);
    }
  });
});

describe('native boundary: the most dangerous inputs, in child processes', function () {
  /** Each script must print "survived" and exit 0: an error is fine, a crash or abort is not. */
  const scripts: Array<[string, string]> = [
    [
      'a sparse Array of length 2^32 − 2 (no allocation sized by an untrusted length)',
      `const arr = []; arr.length = 2 ** 32 - 2;
       const calls = [() => a.update(0, arr, new Float64Array(6), 1), () => a.updateAsync(0, arr, new Float64Array(6), 1),
                      () => a.reduce(0, arr, 2, 1), () => a.reduceAsync(0, arr, 2, 1)];
       for (const f of calls) {
         try {
           const r = f();
           if (r && r.then) r.then(() => process.exit(3), (e) => { if (e.code !== 'ERR_INVALID_ARG_TYPE') process.exit(4); });
           else process.exit(3);
         } catch (e) { if (e.code !== 'ERR_INVALID_ARG_TYPE') process.exit(4); }
       }`,
    ],
    [
      'garbage of every kind to every entry point',
      `const junk = [undefined, null, 0, -1, NaN, Infinity, 2 ** 53, 'x', {}, [], [1], [[]], new Int8Array(4), new DataView(new ArrayBuffer(4)),
                     new ArrayBuffer(8), Symbol('s'), () => 1, new Proxy([], {}), Object.create(null), 10n];
       let errors = 0;
       for (const f of ['update', 'updateAsync', 'reduce', 'reduceAsync', 'alignmentOffset']) {
         for (const x of junk) for (const y of junk.slice(0, 8)) {
           for (const args of [[x, y, y, y], [0, x, y, 1], [0, [new Float32Array(2), new Float32Array(2)], x, y], [0, [], new Float64Array(6), x]]) {
             try { const r = a[f](...args); if (r && r.catch) r.catch(() => {}); } catch (e) { if (!e.code) { console.log(f, String(e)); } errors++; }
           }
         }
       }
       console.log(errors > 0 ? 'errors' : 'none');`,
    ],
    [
      'a getter that detaches, under memory pressure with forced collections',
      `const p = new Float32Array(1 << 20), g = new Float32Array(1 << 20);
       for (let i = 0; i < 50; i++) {
         const q = p.slice(), arr = [q, g];
         Object.defineProperty(arr, 1, { get() { structuredClone(q.buffer, { transfer: [q.buffer] }); global.gc(); return g; } });
         try { a.update(0, arr, new Float64Array([1, 0, 1, 0, 0, 0]), 2); console.log('no error'); process.exit(3); } catch (e) { if (e.code !== 'ERR_DETACHED_BUFFER') { console.log(e); process.exit(4); } }
       }`,
    ],
    [
      'a getter that re-enters the addon with a much larger batch',
      `const outer = [new Float32Array(3), new Float32Array(3)];
       const g = outer[1];
       Object.defineProperty(outer, 1, { get() {
         const big = []; for (let i = 0; i < 20000; i++) big.push(new Float32Array(1));
         a.update(0, big, new Float64Array(6), 1); global.gc(); return g; } });
       for (let i = 0; i < 20; i++) a.update(0, outer, new Float64Array([1, 0, 1, 0, 0, 0]), 1);`,
    ],
  ];
  for (const [what, body] of scripts) {
    it(what, () => {
      const r = runNodeChild(
        `const a = require('./lib/native').loadAddon();
         process.on('beforeExit', () => { console.log('survived'); });
         ${body}`,
        { nodeFlags: ['--expose-gc'], memoryLimitMiB: 8192 },
      );
      expect(r.signal, describeExit(r)).to.equal(null);
      expect(r.status, describeExit(r)).to.equal(0);
      expect(r.stdout).to.include('survived');
    });
  }
});
