/**
 * Planned updates (native/boundary/plan.cc, the JS backend's JsPlan, the optimizers' step cache):
 * a plan resolves an update's buffers once, and each later call checks only
 * what can change between calls: that each ArrayBuffer still has its byte
 * length (the JS backend: each view its length). reducePlanned reads the
 * gradients of a plan for the fused clip's norm. The
 * addon's entry points are called directly with garbage (TypeError/RangeError
 * with a code, nothing written); a buffer detached or resized after the plan
 * was made is refused on both backends; planned results are bit-identical to
 * update(); and the optimizers' fast path falls back to the full checks, with
 * their messages, whenever anything differs from the plan.
 */
import { expect } from 'chai';
import v8 from 'v8';
import vm from 'vm';
import { Adam, RMSprop, SGD } from '../lib';
import { getBackend } from '../lib/backend';
import { ErrorCodes } from '../lib/errors';

import { loadAddon } from '../lib/native';
import type { NativePlan } from '../lib/native';
import type { Tensor } from '../lib/tensor';
import { detach } from './helpers/buffers';
import { ExpectedError, expectError } from './helpers/errors';
import { sgdKernel, sgdMomentumKernel } from '../lib/kernels/sgd';
import { ReduceKind } from '../lib/kernels/reduce_kind';
import { ALL_KERNELS, row } from './helpers/kernels';

const addon = loadAddon();
const { INVALID_ARG_TYPE, OUT_OF_RANGE, NON_FINITE, SHAPE_MISMATCH, DTYPE_MISMATCH, DETACHED_BUFFER } = ErrorCodes;
const type = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: TypeError, code, mentions });
const range = (code: string, ...mentions: Array<string | RegExp>): ExpectedError => ({ type: RangeError, code, mentions });

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * Collects until every target of `weak` is gone (or a few tries passed). WeakRef targets are kept
 * alive until the current job ends, so each try starts from a fresh macrotask.
 */
async function collectGarbage(weak: readonly WeakRef<object>[]): Promise<void> {
  for (let i = 0; i < 6 && weak.some((w) => w.deref() !== undefined); i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

/** Plain SGD (θ ← θ − 0.5·g) over two tensors of three elements. */
function sgdBuffers() {
  const params = [new Float32Array([1, 2, 3]), new Float32Array([4, 5, 6])];
  const grads = [new Float32Array([1, 1, 1]), new Float32Array([2, 2, 2])];
  const scalars = new Float64Array([1, 0, 0.5, 0, 0, 0]); // grad_scale, weight_decay, lr, momentum, buffer_decay, grad_weight
  return { params, grads, buffers: [params[0], grads[0], params[1], grads[1]] as Tensor[], scalars };
}

function bits(t: Tensor): string {
  return Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('hex');
}

function random(n: number, seed: number, double: boolean): Tensor {
  const t = double ? new Float64Array(n) : new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    t[i] = (s / 2 ** 32) * 2 - 1;
  }
  return t;
}

describe('native plan: createPlan with garbage', () => {
  const cases: Array<[string, () => unknown, ExpectedError]> = [
    ['kind -1', () => addon.createPlan(-1, sgdBuffers().buffers), range(OUT_OF_RANGE, 'kernel')],
    ['kind "0"', () => addon.createPlan('0' as never, sgdBuffers().buffers), type(INVALID_ARG_TYPE, 'kernel')],
    ['buffers undefined', () => addon.createPlan(row(sgdKernel), undefined as never), type(INVALID_ARG_TYPE, 'buffers')],
    ['an Array of numbers', () => addon.createPlan(row(sgdKernel), [1, 2] as never), type(INVALID_ARG_TYPE, 'buffers[0]')],
    ['a buffer count that is not a multiple of the slots', () => addon.createPlan(row(sgdKernel), sgdBuffers().buffers.slice(1)), range(SHAPE_MISMATCH, 'buffers')],
    ['a grad shorter than its param', () => addon.createPlan(row(sgdKernel), [new Float32Array(3), new Float32Array(2)]), range(SHAPE_MISMATCH, 'buffers[1]')],
    ['mixed dtypes', () => addon.createPlan(row(sgdKernel), [new Float32Array(3), new Float64Array(3)]), type(DTYPE_MISMATCH, 'buffers[1]')],
    ['a detached param', () => { const b = sgdBuffers().buffers; detach(b[2]); return addon.createPlan(row(sgdKernel), b); }, type(DETACHED_BUFFER, 'buffers[2]')],
  ];
  for (const [what, call, expected] of cases) it(what, () => expectError(call, expected, `createPlan with ${what}`));
});

describe('native plan: updatePlanned with garbage', () => {
  const notPlans: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 1],
    ['a plain object', {}],
    ['a Float32Array', new Float32Array(3)],
    ['a function', () => 0],
    ['a plan of the JS backend', getBackend('js').createPlan(sgdKernel, sgdBuffers().buffers)],
  ];
  for (const [what, plan] of notPlans) {
    it(`plan ${what}`, () => {
      expectError(() => addon.updatePlanned(plan as NativePlan, sgdBuffers().scalars, 1), type(INVALID_ARG_TYPE, 'plan'));
    });
  }

  const argCases: Array<[string, unknown, unknown, ExpectedError]> = [
    ['scalars undefined', undefined, 1, type(INVALID_ARG_TYPE, 'scalars')],
    ['scalars a plain Array', [1, 0, 0.5, 0, 0, 0], 1, type(INVALID_ARG_TYPE, 'scalars')],
    ['too few scalars', new Float64Array(5), 1, range(SHAPE_MISMATCH, 'scalars', 'expected 6')],
    ['threads 0', new Float64Array(6), 0, range(OUT_OF_RANGE, 'threads')],
    ['threads "2"', new Float64Array(6), '2', type(INVALID_ARG_TYPE, 'threads')],
  ];
  for (const [what, scalars, threads, expected] of argCases) {
    it(what, () => {
      const c = sgdBuffers();
      const plan = addon.createPlan(row(sgdKernel), c.buffers);
      expectError(() => addon.updatePlanned(plan, scalars as Float64Array, threads as number), expected);
      expect(Array.from(c.params[0])).to.deep.equal([1, 2, 3]);
    });
  }

  it('a plan of the native backend is refused by the JS backend', () => {
    const plan = getBackend('native').createPlan(sgdKernel, sgdBuffers().buffers);
    expectError(() => getBackend('js').updatePlanned([plan], sgdBuffers().scalars, 1), type(INVALID_ARG_TYPE, 'plan'));
  });
});

for (const backendName of ['native', 'js'] as const) {
  describe(`plan on the ${backendName} backend`, () => {
    const backend = getBackend(backendName);

    it('runs the kernel, again and again, over the buffers it was made with', () => {
      const c = sgdBuffers();
      const plan = backend.createPlan(sgdKernel, c.buffers);
      backend.updatePlanned([plan], c.scalars, 1);
      backend.updatePlanned([plan], c.scalars, 1);
      expect(Array.from(c.params[0])).to.deep.equal([0, 1, 2]);
      expect(Array.from(c.params[1])).to.deep.equal([2, 3, 4]);
    });

    it('holds its own copy of the list: changing the caller\'s Array changes nothing', () => {
      const c = sgdBuffers();
      const plan = backend.createPlan(sgdKernel, c.buffers);
      c.buffers[0] = new Float32Array(3);
      c.buffers.length = 0;
      backend.updatePlanned([plan], c.scalars, 1);
      expect(Array.from(c.params[0])).to.deep.equal([0.5, 1.5, 2.5]);
    });

    it('a param detached after the plan was made: ERR_DETACHED_BUFFER, nothing written', () => {
      const c = sgdBuffers();
      const plan = backend.createPlan(sgdKernel, c.buffers);
      const moved = new Float32Array(detach(c.params[1]));
      expectError(() => backend.updatePlanned([plan], c.scalars, 1), type(DETACHED_BUFFER, 'buffers[2]'));
      expect(Array.from(c.params[0])).to.deep.equal([1, 2, 3]);
      expect(Array.from(moved)).to.deep.equal([4, 5, 6]);
    });

    it('a grad detached after the plan was made: ERR_DETACHED_BUFFER, nothing written', () => {
      const c = sgdBuffers();
      const plan = backend.createPlan(sgdKernel, c.buffers);
      detach(c.grads[0]);
      expectError(() => backend.updatePlanned([plan], c.scalars, 1), type(DETACHED_BUFFER, 'buffers[1]'));
      expect(Array.from(c.params[0])).to.deep.equal([1, 2, 3]);
      expect(Array.from(c.params[1])).to.deep.equal([4, 5, 6]);
    });

    it('a step\'s plans run together: each with its own scalars, and all refused, none run, when a later one\'s buffer was detached', () => {
      const a = sgdBuffers();
      const b = sgdBuffers();
      const plans = [backend.createPlan(sgdKernel, a.buffers), backend.createPlan(sgdKernel, b.buffers)];
      const scalars = new Float64Array([...a.scalars, 1, 0, 1, 0, 0, 0]); // lr 0.5, then lr 1
      backend.updatePlanned(plans, scalars, 1);
      expect(Array.from(a.params[0])).to.deep.equal([0.5, 1.5, 2.5]);
      expect(Array.from(b.params[0])).to.deep.equal([0, 1, 2]);
      detach(b.grads[1]);
      expectError(() => backend.updatePlanned(plans, scalars, 1), type(DETACHED_BUFFER, 'buffers[3]'));
      expect(Array.from(a.params[0]), 'the first plan did not run').to.deep.equal([0.5, 1.5, 2.5]);
      expectError(() => backend.updatePlanned(plans, a.scalars, 1), range(SHAPE_MISMATCH, 'scalars'));
      expectError(() => backend.updatePlanned([], a.scalars, 1), range(SHAPE_MISMATCH, 'plan'));
    });

    it('a view of a resizable ArrayBuffer that shrank: ERR_SHAPE_MISMATCH, nothing written', () => {
      const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(
        12,
        { maxByteLength: 24 },
      );
      const param = new Float32Array(buffer); // tracks the buffer's length
      param.set([1, 2, 3]);
      const grad = new Float32Array([1, 1, 1]);
      const plan = backend.createPlan(sgdKernel, [param, grad]);
      buffer.resize(8);
      expectError(() => backend.updatePlanned([plan], sgdBuffers().scalars, 1), range(SHAPE_MISMATCH, 'buffers[0]', 'length 3', 'got 2'));
      expect(Array.from(param)).to.deep.equal([1, 2]);
    });

    it('is bit-identical to update() for every kernel kind and both dtypes', () => {
      for (const kind of ALL_KERNELS) {
        const shape = { name: kind.name, slots: kind.slots, scalarCount: kind.scalars.length };
        for (const double of [false, true]) {
          const make = () => Array.from({ length: shape.slots * 3 }, (_, i) => random(37 + (Math.floor(i / shape.slots) * 11), 7 * i + 1, double));
          const a = make();
          const b = make();
          // Non-negative second moments, as an optimizer keeps them.
          for (const list of [a, b]) list.forEach((t, i) => i % shape.slots >= 2 && t.forEach((x, j) => (t[j] = Math.abs(x))));
          const scalars = new Float64Array(shape.scalarCount).map((_, i) => 0.1 + 0.05 * i);
          backend.update(kind, a, scalars, 2);
          backend.updatePlanned([backend.createPlan(kind, b)], scalars, 2);
          a.forEach((t, i) => expect(bits(b[i]), `${shape.name} ${double ? 'float64' : 'float32'} buffer ${i}`).to.equal(bits(t)));
        }
      }
    });

    it('keeps none of its buffers alive: once one is collected it refuses to run, reading no freed memory', async () => {
      const weak: Array<WeakRef<Tensor>> = [];
      const keep = sgdBuffers();
      const plan = (() => {
        const grad = new Float32Array(3); // the gradient: nothing but the plan refers to it
        weak.push(new WeakRef(grad));
        return backend.createPlan(sgdKernel, [keep.buffers[0], grad]);
      })();
      await collectGarbage(weak);
      expect(weak[0].deref(), 'the plan kept its gradient alive').to.equal(undefined);
      const before = Array.from(keep.buffers[0]);
      expectError(() => backend.updatePlanned([plan], keep.scalars, 1), { type: TypeError, code: ErrorCodes.DETACHED_BUFFER, mentions: ['buffers[1]', 'garbage-collected'] });
      expect(Array.from(keep.buffers[0])).to.deep.equal(before);
    });
  });
}

describe('native plan: lifetime', () => {
  it('plans that are dropped are collected with their buffers (no crash, no leak of the buffers)', () => {
    let weak: WeakRef<Tensor> | null = null;
    for (let i = 0; i < 2000; i++) {
      const buffers = [new Float64Array(1000), new Float64Array(1000)];
      if (i === 0) weak = new WeakRef(buffers[0]);
      addon.updatePlanned(addon.createPlan(row(sgdKernel), buffers), new Float64Array(6), 1);
    }
    // A plan's finalizer releases its references; the next collection can then take the buffers.
    for (let i = 0; i < 4 && weak!.deref() !== undefined; i++) gc();
    return new Promise<void>((resolve) => setImmediate(() => {
      gc();
      expect(weak!.deref()).to.equal(undefined);
      resolve();
    }));
  });
});

/** Runs `steps` through an optimizer on each backend and checks they agree bit for bit. */
function agree(make: (backend: 'native' | 'js') => { step: (k: number) => void; tensors: () => Tensor[] }, steps: number): void {
  const native = make('native');
  const js = make('js');
  for (let k = 0; k < steps; k++) {
    native.step(k);
    js.step(k);
    native.tensors().forEach((t, i) => expect(bits(t), `step ${k}, tensor ${i}`).to.equal(bits(js.tensors()[i])));
  }
}

describe('optimizer steps through plans', () => {
  for (const backendName of ['native', 'js'] as const) {
    it(`holds no gradient beyond the step that used it (${backendName}): new arrays each step, or the same arrays then dropped`, async () => {
      const params = [new Float32Array(64).fill(1), new Float32Array(32).fill(1)];
      const optimizer = new Adam([{ params: [params[0]] }, { params: [params[1]] }], { lr: 0.01, backend: backendName });
      const fresh = () => params.map((p) => new Float32Array(p.length).fill(0.5));
      // The steps run in a function of their own: a suspended async function would keep its last locals alive.
      const weak = ((): WeakRef<Float32Array>[] => {
        const refs: WeakRef<Float32Array>[] = [];
        for (let k = 0; k < 3; k++) {
          const g = fresh();
          g.forEach((t) => refs.push(new WeakRef(t)));
          optimizer.step(g);
        }
        const same = fresh();
        for (let k = 0; k < 3; k++) optimizer.step(same); // the second and third go through plans
        same.forEach((t) => refs.push(new WeakRef(t)));
        return refs;
      })();
      await collectGarbage(weak);
      expect(weak.filter((w) => w.deref() !== undefined).length, 'gradient arrays still alive').to.equal(0);
      optimizer.step(fresh()); // and the optimizer steps on
    });
  }

  it('Adam with a scheduler writing lr every step: bit-identical to the JS backend', () => {
    agree((backend) => {
      const params = [random(16, 1, false), random(65, 2, false)];
      const grads = [random(16, 3, false), random(65, 4, false)];
      const opt = new Adam(params, { lr: 0.01, backend });
      return {
        step: (k) => {
          opt.lr = 0.01 / (k + 1);
          grads.forEach((g, i) => g.forEach((x, j) => (g[j] = Math.fround(Math.sin(x * (k + 1) + i)))));
          opt.step(grads);
        },
        tensors: () => [...params, ...(opt.state.flatMap((s) => [s.expAvg, s.expAvgSq]) as Tensor[])],
      };
    }, 12);
  });

  it('a param skipped with null, new gradient tensors, amsgrad switched on: every change is followed', () => {
    agree((backend) => {
      const params = [random(8, 5, true), random(8, 6, true)];
      const opt = new Adam(params, { lr: 0.1, backend });
      const fixed = [random(8, 7, true), random(8, 8, true)];
      return {
        step: (k) => {
          if (k === 3) opt.paramGroups[0].amsgrad = true;
          const grads = k === 5 ? [fixed[0], null] : k === 7 ? [random(8, 9, true), random(8, 10, true)] : fixed;
          opt.step(grads);
        },
        tensors: () => params,
      };
    }, 12);
  });

  it('step options as a training loop passes them (gradScale, maxGradNorm, skipIfNonfinite): bit-identical to the JS backend', () => {
    const norms: Record<string, Array<number | undefined>> = { native: [], js: [] };
    const skipped: Record<string, boolean[]> = { native: [], js: [] };
    agree((backend) => {
      const params = [random(16, 27, false), random(65, 28, false)];
      const grads = [random(16, 29, false), random(65, 30, false)];
      const opt = new Adam(params, { lr: 0.01, weightDecay: 0.1, backend });
      return {
        step: (k) => {
          grads.forEach((g, i) => g.forEach((_, j) => (g[j] = Math.fround(3 * Math.cos(0.37 * j * (k + 2) + i)))));
          if (k === 4) grads[1][7] = NaN;
          const result = opt.step(grads, { gradScale: 1 / (k + 1), maxGradNorm: 2, skipIfNonfinite: true, ...(k === 6 ? { normType: 1 } : {}) });
          norms[backend].push(result.gradNorm);
          skipped[backend].push(result.skipped);
        },
        tensors: () => [...params, ...(opt.state.flatMap((s) => [s.expAvg, s.expAvgSq]) as Tensor[])],
      };
    }, 9);
    expect(norms.native).to.deep.equal(norms.js);
    expect(skipped.native).to.deep.equal([false, false, false, false, true, false, false, false, false]);
  });

  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: errorIfNonfinite between planned steps throws and changes nothing`, () => {
      const params = [random(16, 31, false)];
      const grads = [random(16, 32, false)];
      const opt = new Adam(params, { backend });
      opt.step(grads, { maxGradNorm: 1, errorIfNonfinite: true });
      opt.step(grads, { maxGradNorm: 1, errorIfNonfinite: true });
      const before = bits(params[0]);
      grads[0][3] = Infinity;
      expectError(() => opt.step(grads, { maxGradNorm: 1, errorIfNonfinite: true }), range(ErrorCodes.NON_FINITE, 'nothing was changed'));
      expect(bits(params[0])).to.equal(before);
      expect(opt.state[0].step).to.equal(2);
      expectError(() => opt.step(grads, { gradScale: 'x' as never }), type(INVALID_ARG_TYPE, 'options.gradScale'));
      expect(opt.state[0].step).to.equal(2);
    });
  }

  it('a state buffer replaced by the user is the one the next step updates', () => {
    agree((backend) => {
      const params = [random(8, 11, false)];
      const grads = [random(8, 12, false)];
      const opt = new SGD(params, { lr: 0.1, momentum: 0.9, backend });
      return {
        step: (k) => {
          if (k === 4) opt.state[0].momentumBuffer = new Float32Array(8).fill(1);
          opt.step(grads);
        },
        tensors: () => [params[0], opt.state[0].momentumBuffer as Tensor],
      };
    }, 8);
  });

  it('two groups, loadStateDict and addParamGroup between steps', () => {
    agree((backend) => {
      const params = [random(8, 13, false), random(8, 14, false), random(5, 15, false)];
      const grads = [random(8, 16, false), random(8, 17, false), random(5, 18, false)];
      const opt = new RMSprop([{ params: [params[0]] }, { params: [params[1]], centered: true }], { lr: 0.01, backend });
      let saved: ReturnType<typeof opt.stateDict> | null = null;
      return {
        step: (k) => {
          if (k === 2) saved = opt.stateDict();
          if (k === 5) opt.loadStateDict(saved!);
          if (k === 7) opt.addParamGroup({ params: [params[2]], momentum: 0.5 });
          opt.step(k >= 7 ? grads : grads.slice(0, 2));
        },
        tensors: () => params,
      };
    }, 10);
  });

  for (const backend of ['native', 'js'] as const) {
    it(`${backend}: a param detached between planned steps: the step's own message, nothing changed`, () => {
      const params = [random(16, 19, false), random(16, 20, false)];
      const grads = [random(16, 21, false), random(16, 22, false)];
      const opt = new Adam(params, { backend });
      opt.step(grads);
      opt.step(grads); // the plan is made here
      const before = { p0: bits(params[0]), m0: bits(opt.state[0].expAvg as Tensor), m1: bits(opt.state[1].expAvg as Tensor) };
      detach(params[1]);
      expectError(() => opt.step(grads), type(DETACHED_BUFFER, 'Adam: step: params[1]'));
      expect(bits(params[0])).to.equal(before.p0);
      expect(bits(opt.state[0].expAvg as Tensor)).to.equal(before.m0);
      expect(bits(opt.state[1].expAvg as Tensor)).to.equal(before.m1);
      expect(opt.state.map((s) => s.step)).to.deep.equal([2, 2]);
    });

    it(`${backend}: a state buffer detached between planned steps: refused, nothing changed`, () => {
      const params = [random(16, 23, false)];
      const grads = [random(16, 24, false)];
      const opt = new Adam(params, { backend });
      opt.step(grads);
      opt.step(grads);
      const before = bits(params[0]);
      detach(opt.state[0].expAvgSq as Tensor);
      // A group's state is carved from one ArrayBuffer: detaching one buffer detaches them all.
      expectError(() => opt.step(grads), type(DETACHED_BUFFER, /state\[0\]\.expAvg(Sq)?:/));
      expect(bits(params[0])).to.equal(before);
      expect(opt.state[0].step).to.equal(2);
    });

    it(`${backend}: an invalid lr written between planned steps is refused as before`, () => {
      const params = [random(4, 25, false)];
      const grads = [random(4, 26, false)];
      const opt = new Adam(params, { backend });
      opt.step(grads);
      opt.step(grads);
      const before = bits(params[0]);
      opt.paramGroups[0].lr = -1;
      expectError(() => opt.step(grads), range(OUT_OF_RANGE, 'paramGroups[0].lr'));
      expect(bits(params[0])).to.equal(before);
      expect(opt.state[0].step).to.equal(2);
    });
  }
});

describe('native plan: reducePlanned (the fused clip\'s norm through the plans)', () => {
  const kinds = [ReduceKind.SumSquares, ReduceKind.SumAbs, ReduceKind.MaxAbs, ReduceKind.SumPow];
  // Lengths that cross reduction blocks (16384), odd tails.
  const lengths = [1, 37, 20_000, 70_001];

  for (const backendName of ['native', 'js'] as const) {
    const backend = getBackend(backendName);
    for (const double of [false, true]) {
      it(`${backendName} ${double ? 'float64' : 'float32'}: chained over two plans, the bits of one reduce() over all their gradients`, () => {
        const tensors = lengths.map((n, k) => random(n, 100 + k, double));
        const grads = lengths.map((n, k) => random(n, 200 + k, double));
        const first = backend.createPlan(sgdKernel, [tensors[0], grads[0], tensors[1], grads[1]]);
        const second = backend.createPlan(sgdKernel, [tensors[2], grads[2], tensors[3], grads[3]]);
        for (const kind of kinds) {
          const p = kind === ReduceKind.SumPow ? 3 : 2;
          const whole = backend.reduce(kind, grads, p, 2);
          const chained = backend.reducePlanned([second], 1, kind, p, 2, backend.reducePlanned([first], 1, kind, p, 1, 0));
          expect(Object.is(chained, whole), `kind ${kind}: ${chained} vs ${whole}`).to.equal(true);
          // Slot 0 reads the params.
          expect(Object.is(backend.reducePlanned([first], 0, kind, p, 1, 0), backend.reduce(kind, tensors.slice(0, 2), p, 1))).to.equal(true);
        }
      });
    }

    it(`${backendName}: a state slot, a slot past the end, a detached gradient are refused`, () => {
      const params = [random(8, 1, false)];
      const grads = [random(8, 2, false)];
      const momentum = [random(8, 3, false)];
      const plan = backend.createPlan(sgdMomentumKernel, [params[0], grads[0], momentum[0]]);
      expectError(() => backend.reducePlanned([plan], 2, ReduceKind.SumSquares, 2, 1, 0), range(OUT_OF_RANGE, 'slot'));
      expectError(() => backend.reducePlanned([plan], -1, ReduceKind.SumSquares, 2, 1, 0), range(OUT_OF_RANGE, 'slot'));
      detach(grads[0]);
      expectError(() => backend.reducePlanned([plan], 1, ReduceKind.SumSquares, 2, 1, 0), type(DETACHED_BUFFER, 'buffers[1]'));
    });
  }

  for (const backendName of ['native', 'js'] as const) {
    it(`${backendName}: over a list of plans, the bits of one reduce() over all their gradients; plans of two dtypes are refused`, () => {
      const backend = getBackend(backendName);
      const tensors = lengths.map((n, k) => random(n, 300 + k, false));
      const grads = lengths.map((n, k) => random(n, 400 + k, false));
      const plans = [backend.createPlan(sgdKernel, [tensors[0], grads[0], tensors[1], grads[1]]), backend.createPlan(sgdKernel, [tensors[2], grads[2], tensors[3], grads[3]])];
      expect(Object.is(backend.reducePlanned(plans, 1, ReduceKind.SumSquares, 2, 2, 0), backend.reduce(ReduceKind.SumSquares, grads, 2, 2))).to.equal(true);
      const double = backend.createPlan(sgdKernel, [random(4, 5, true), random(4, 6, true)]);
      expectError(() => backend.reducePlanned([plans[0], double], 1, ReduceKind.SumSquares, 2, 1, 0), type(DTYPE_MISMATCH, 'one element type'));
    });
  }

  it('the addon refuses a list with anything but plans in it, naming the element, and an empty list', () => {
    const c = sgdBuffers();
    const plan = addon.createPlan(row(sgdKernel), c.buffers);
    const scalars = new Float64Array(12);
    expectError(() => addon.updatePlanned([plan, {}] as never, scalars, 1), type(INVALID_ARG_TYPE, 'plan[1]'));
    expectError(() => addon.reducePlanned([plan, 3] as never, 1, ReduceKind.SumSquares, 2, 1, 0), type(INVALID_ARG_TYPE, 'plan[1]'));
    expectError(() => addon.updatePlanned([] as never, scalars, 1), range(SHAPE_MISMATCH, 'plan'));
    expect(Array.from(c.params[0])).to.deep.equal([1, 2, 3]);
  });

  it('the addon refuses garbage: not a plan, kind, p, threads, initial', () => {
    const c = sgdBuffers();
    const plan = addon.createPlan(row(sgdKernel), c.buffers);
    expectError(() => addon.reducePlanned({} as never, 1, ReduceKind.SumSquares, 2, 1, 0), type(INVALID_ARG_TYPE, 'plan'));
    expectError(() => addon.reducePlanned(plan, 1, 9 as never, 2, 1, 0), range(OUT_OF_RANGE, 'kind'));
    expectError(() => addon.reducePlanned(plan, 1, ReduceKind.SumPow, NaN, 1, 0), range(NON_FINITE, 'p'));
    expectError(() => addon.reducePlanned(plan, 1, ReduceKind.SumSquares, 2, 0, 0), range(OUT_OF_RANGE, 'threads'));
    expectError(() => addon.reducePlanned(plan, 1, ReduceKind.SumSquares, 2, 1, '0' as never), type(INVALID_ARG_TYPE, 'initial'));
    expect(addon.reducePlanned(plan, 1, ReduceKind.SumSquares, 2, 1, 0)).to.equal(3 + 12);
  });
});

describe('native plan: one check per ArrayBuffer', () => {
  for (const backendName of ['native', 'js'] as const) {
    const backend = getBackend(backendName);
    it(`${backendName}: views of one buffer step like separate buffers; detaching it is refused, nothing written`, () => {
      const shared = new ArrayBuffer(4 * 64);
      const params = [new Float32Array(shared, 0, 16), new Float32Array(shared, 64, 16)];
      const grads = [new Float32Array(shared, 128, 16).fill(1), new Float32Array(shared, 192, 16).fill(2)];
      const scalars = sgdBuffers().scalars;
      const plan = backend.createPlan(sgdKernel, [params[0], grads[0], params[1], grads[1]]);
      backend.updatePlanned([plan], scalars, 1);
      expect(Array.from(params[1].slice(0, 2))).to.deep.equal([-1, -1]);
      const copy = structuredClone(shared);
      structuredClone(shared, { transfer: [shared] });
      expectError(() => backend.updatePlanned([plan], scalars, 1), type(DETACHED_BUFFER, 'buffers[0]'));
      expect(copy.byteLength).to.equal(256);
    });

    it(`${backendName}: a resizable buffer shrunk under a view that keeps its length is refused`, () => {
      const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(64, { maxByteLength: 128 });
      const param = new Float32Array(buffer, 0, 4);
      const grad = new Float32Array(buffer, 32, 4);
      const plan = backend.createPlan(sgdKernel, [param, grad]);
      (buffer as unknown as { resize(n: number): void }).resize(24); // grad is now out of bounds, param still whole
      expectError(() => backend.updatePlanned([plan], sgdBuffers().scalars, 1), range(SHAPE_MISMATCH));
      expect(Array.from(param)).to.deep.equal([0, 0, 0, 0]);
    });
  }
});
