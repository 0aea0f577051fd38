/**
 * What the boundary fuzzer calls: every function the addon exports, called directly, and the
 * public TypeScript entry points. Each target builds a well-formed call from the generator, and
 * the case runner (cases.ts) calls it as built or with one thing wrong (Draw.mutate).
 *
 * A target returns the function to call with its arguments, and the live objects a throwing call
 * must leave as they were (optimizers, schedulers, their params and state).
 */
import * as lib from '../../lib';
import { loadAddon } from '../../lib/native';
import { ReduceKind } from '../../lib/kernels/reduce_kind';
import { encodeSafetensors, parseSafetensors } from '../../lib/train/safetensors';
import { encodeCheckpoint } from '../../lib/train/checkpoint';
import type { Optimizer } from '../../lib/optim/core/optimizer';
import type { Draw } from './values';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOptimizer = Optimizer<any>;

export interface Call {
  fn: (...args: unknown[]) => unknown;
  args: unknown[];
  /** Optimizers whose params, state and groups a throwing call must not change. */
  optimizers?: AnyOptimizer[];
  /** Schedulers whose state a throwing call must not change. */
  schedulers?: { stateDict(): unknown }[];
}

export interface Target {
  name: string;
  build(d: Draw): Call;
}

const addon = loadAddon();
const rows = addon.info().updateKernels;

/** The buffers of a well-formed call of kernel row `k`: `tensors` tensors of `kernel.slots` buffers each, of a variant it has. */
function kernelBuffers(d: Draw, k: number, tensors = 1 + d.int(3)): ArrayBufferView[] {
  const row = rows[k];
  const variant = d.pick(row.variants);
  const make = (dtype: string, n: number): ArrayBufferView =>
    dtype === 'float64' ? d.tensor(n, true) : dtype === 'float32' ? d.tensor(n, false) : dtype === 'bfloat16' ? d.keep(new Uint16Array(n)) : d.keep(new Uint8Array(n));
  const out: ArrayBufferView[] = [];
  for (let t = 0; t < tensors; t++) {
    const n = 1 + d.int(600); // past one 256-element block of 8-bit state
    for (let s = 0; s < row.slots; s++) {
      // Slot roles (8-bit state): float32 block scales and code maps of their own lengths.
      const role = row.roles?.[s];
      if (role?.kind === 'blocks') out.push(d.tensor(Math.ceil(n / role.size), false));
      else if (role?.kind === 'table') out.push(d.tensor(role.size, false));
      else out.push(make(s < row.slots - row.stateSlots || role?.kind === 'param' ? variant.param : variant.state, n));
    }
  }
  return out;
}

function scalarsOf(d: Draw, k: number): Float64Array {
  const s = d.keep(new Float64Array(rows[k].scalars.length));
  s.fill(0.01);
  return s;
}

const OPTIMIZERS: [string, (params: unknown, options: unknown) => AnyOptimizer, () => Record<string, unknown>][] = [
  ['SGD', (p, o) => new lib.SGD(p as never, o as never), () => ({ lr: 0.1, momentum: 0.9 })],
  ['Adam', (p, o) => new lib.Adam(p as never, o as never), () => ({ lr: 0.01, betas: [0.9, 0.999] })],
  ['AdamW', (p, o) => new lib.AdamW(p as never, o as never), () => ({ lr: 0.01, amsgrad: true })],
  ['Adagrad', (p, o) => new lib.Adagrad(p as never, o as never), () => ({ lr: 0.01 })],
  ['RMSprop', (p, o) => new lib.RMSprop(p as never, o as never), () => ({ lr: 0.01, centered: true, momentum: 0.5 })],
  ['Lion', (p, o) => new lib.Lion(p as never, o as never), () => ({ lr: 0.001 })],
];

/** A working optimizer over two groups, stepped once (so it has state), and gradients for it. */
function liveOptimizer(d: Draw): { optimizer: AnyOptimizer; grads: (Float32Array | Float64Array)[]; options: Record<string, unknown> } {
  const [, make, options] = d.pick(OPTIMIZERS);
  const double = d.chance(0.3);
  const params = [d.tensor(5, double), d.tensor(3, double), d.tensor(8, double)];
  const optimizer = make([{ params: params.slice(0, 2) }, { params: params.slice(2) }], { ...options(), backend: d.chance(0.7) ? 'native' : 'js' });
  const grads = params.map((p) => d.tensor(p.length, double));
  optimizer.step(grads);
  return { optimizer, grads, options: options() };
}

const SCHEDULERS: [string, (opt: AnyOptimizer, options: unknown) => { step(...a: unknown[]): unknown; stateDict(): unknown; loadStateDict(s: unknown): void }, Record<string, unknown>][] = [
  ['StepLR', (o, x) => new lib.StepLR(o as never, x as never), { stepSize: 2, gamma: 0.5 }],
  ['CosineAnnealingLR', (o, x) => new lib.CosineAnnealingLR(o as never, x as never), { TMax: 10 }],
  ['OneCycleLR', (o, x) => new lib.OneCycleLR(o as never, x as never), { maxLr: 0.1, totalSteps: 10, cycleMomentum: false }],
  ['CyclicLR', (o, x) => new lib.CyclicLR(o as never, x as never), { baseLr: 0.001, maxLr: 0.01, cycleMomentum: false }],
  ['ReduceLROnPlateau', (o, x) => new lib.ReduceLROnPlateau(o as never, x as never), { patience: 1 }],
  ['WarmupCosineScheduler', (o, x) => new lib.WarmupCosineScheduler(o as never, x as never), { warmupSteps: 2, totalSteps: 10 }],
];

function tensorList(d: Draw): (Float32Array | Float64Array)[] {
  const double = d.chance(0.3);
  return Array.from({ length: 1 + d.int(4) }, () => d.tensor(1 + d.int(20), double));
}

export const TARGETS: Target[] = [
  // ---- the addon, called directly ----
  {
    name: 'addon.update',
    build: (d) => {
      const k = d.int(rows.length);
      return { fn: addon.update as Call['fn'], args: [k, kernelBuffers(d, k), scalarsOf(d, k), 1 + d.int(2)] };
    },
  },
  {
    name: 'addon.updateAsync',
    build: (d) => {
      const k = d.int(rows.length);
      return { fn: addon.updateAsync as Call['fn'], args: [k, kernelBuffers(d, k), scalarsOf(d, k), 1 + d.int(2)] };
    },
  },
  {
    name: 'addon.createPlan',
    build: (d) => {
      const k = d.int(rows.length);
      return { fn: addon.createPlan as Call['fn'], args: [k, kernelBuffers(d, k)] };
    },
  },
  {
    name: 'addon.updatePlanned',
    build: (d) => {
      const k = d.int(rows.length);
      const buffers = kernelBuffers(d, k);
      const plan = addon.createPlan(k, buffers as never);
      if (d.chance(0.3)) {
        // the plan's memory changes under it: a buffer transferred
        const victim = d.pick(buffers);
        if (!(victim.buffer instanceof SharedArrayBuffer)) structuredClone(victim.buffer, { transfer: [victim.buffer as ArrayBuffer] });
      }
      return { fn: addon.updatePlanned as Call['fn'], args: [plan, scalarsOf(d, k), 1 + d.int(2)] };
    },
  },
  {
    name: 'addon.reducePlanned',
    build: (d) => {
      const k = d.int(rows.length);
      const plan = addon.createPlan(k, kernelBuffers(d, k) as never);
      return { fn: addon.reducePlanned as Call['fn'], args: [plan, d.int(2), d.int(5), 2, 1 + d.int(2), 0] };
    },
  },
  {
    name: 'addon.createStep',
    build: (d) => {
      const plans = Array.from({ length: 1 + d.int(3) }, () => {
        const k = d.int(rows.length);
        return addon.createPlan(k, kernelBuffers(d, k) as never);
      });
      return { fn: addon.createStep as Call['fn'], args: [plans] };
    },
  },
  {
    name: 'addon.runStep',
    build: (d) => {
      const ks = Array.from({ length: 1 + d.int(3) }, () => d.int(rows.length));
      const buffers = ks.map((k) => kernelBuffers(d, k));
      const step = addon.createStep(ks.map((k, i) => addon.createPlan(k, buffers[i] as never)));
      if (d.chance(0.3)) {
        // the step's memory changes under it: a buffer transferred
        const victim = d.pick(d.pick(buffers));
        if (!(victim.buffer instanceof SharedArrayBuffer)) structuredClone(victim.buffer, { transfer: [victim.buffer as ArrayBuffer] });
      }
      const scalars = new Float64Array(ks.reduce((n, k) => n + rows[k].scalars.length, 0)).fill(0.5);
      const clip = d.chance(0.5) ? [new Float64Array([d.int(3), 1, 1, d.int(4)])] : [];
      return { fn: addon.runStep as Call['fn'], args: [step, scalars, 1 + d.int(2), ...clip] };
    },
  },
  {
    name: 'addon.reduce',
    build: (d) => ({ fn: addon.reduce as Call['fn'], args: [d.pick([ReduceKind.SumSquares, ReduceKind.SumAbs, ReduceKind.MaxAbs, ReduceKind.SumPow, ReduceKind.NonFinite]), tensorList(d), 3, 1 + d.int(2)] }),
  },
  {
    name: 'addon.reduceAsync',
    build: (d) => ({ fn: addon.reduceAsync as Call['fn'], args: [d.int(5), tensorList(d), 2, 1 + d.int(2)] }),
  },
  { name: 'addon.alignmentOffset', build: (d) => ({ fn: addon.alignmentOffset as Call['fn'], args: [new ArrayBuffer(8 * d.int(4)), d.pick([8, 16, 64])] }) },
  { name: 'addon.threadProbe', build: (d) => ({ fn: addon.threadProbe as Call['fn'], args: [d.int(5000), 1 + d.int(2)] }) },
  { name: 'addon.info', build: () => ({ fn: addon.info as Call['fn'], args: [] }) },

  // ---- the public TypeScript entry points ----
  {
    name: 'new Optimizer',
    build: (d) => {
      const [, make, options] = d.pick(OPTIMIZERS);
      const params = tensorList(d);
      const list = d.chance(0.5) ? params : [{ params: params.slice(0, 1) }, { params: params.slice(1), lr: 0.001 }];
      return { fn: (p, o) => make(p, o), args: [list, options()] };
    },
  },
  {
    name: 'optimizer.step',
    build: (d) => {
      const { optimizer, grads } = liveOptimizer(d);
      const options = d.pick([undefined, { gradScale: 0.5 }, { maxGradNorm: 1 }, { maxGradNorm: 1, skipIfNonfinite: true }]);
      return { fn: (g, o) => optimizer.step(g as never, o as never), args: [grads, options], optimizers: [optimizer] };
    },
  },
  {
    name: 'optimizer.stepAsync',
    build: (d) => {
      const { optimizer, grads } = liveOptimizer(d);
      return { fn: (g, o) => optimizer.stepAsync(g as never, o as never), args: [grads, { maxGradNorm: 2 }], optimizers: [optimizer] };
    },
  },
  {
    name: 'optimizer.loadStateDict',
    build: (d) => {
      const { optimizer } = liveOptimizer(d);
      const sd = optimizer.stateDict() as unknown as Record<string, unknown>;
      const state = sd.state as Record<string, unknown>;
      const keys = Object.keys(state);
      const mutated = d.chance(0.5) && keys.length > 0
        ? { ...sd, state: { ...state, [d.pick(keys)]: d.chance(0.5) ? d.junk() : d.mutate([{ ...(state[d.pick(keys)] as object) }])[0] } }
        : { ...sd, paramGroups: d.mutate([...(sd.paramGroups as unknown[])]) };
      return { fn: (s) => optimizer.loadStateDict(s as never), args: [d.chance(0.8) ? mutated : sd], optimizers: [optimizer] };
    },
  },
  {
    name: 'optimizer.addParamGroup',
    build: (d) => {
      const { optimizer } = liveOptimizer(d);
      return { fn: (g) => optimizer.addParamGroup(g as never), args: [{ params: [d.tensor(4)], lr: 0.01 }], optimizers: [optimizer] };
    },
  },
  {
    name: 'optimizer.zeroGrad',
    build: (d) => {
      const { optimizer, grads } = liveOptimizer(d);
      return { fn: (g) => optimizer.zeroGrad(g as never), args: [grads], optimizers: [optimizer] };
    },
  },
  {
    name: 'optimizer.lr',
    build: (d) => {
      const { optimizer } = liveOptimizer(d);
      return { fn: (v) => ((optimizer as unknown as { lr: unknown }).lr = v), args: [0.5], optimizers: [optimizer] };
    },
  },
  { name: 'clipGradNorm', build: (d) => ({ fn: lib.clipGradNorm as Call['fn'], args: [tensorList(d), 1, { normType: d.pick([1, 2, 3, Infinity]) }] }) },
  { name: 'clipGradNormAsync', build: (d) => ({ fn: lib.clipGradNormAsync as Call['fn'], args: [tensorList(d), 1, { errorIfNonfinite: true }] }) },
  { name: 'clipGradValue', build: (d) => ({ fn: lib.clipGradValue as Call['fn'], args: [tensorList(d), 0.5] }) },
  { name: 'getTotalNorm', build: (d) => ({ fn: lib.getTotalNorm as Call['fn'], args: [tensorList(d), 2, { backend: 'js' }] }) },
  { name: 'gradNormPartial', build: (d) => ({ fn: lib.gradNormPartial as Call['fn'], args: [tensorList(d), 2] }) },
  { name: 'mergeNormPartials', build: () => ({ fn: lib.mergeNormPartials as Call['fn'], args: [[{ normType: 2, value: 1 }, { normType: 2, value: 4 }]] }) },
  { name: 'finishNorm', build: () => ({ fn: lib.finishNorm as Call['fn'], args: [{ normType: 2, value: 4 }] }) },
  { name: 'hasNonFinite', build: (d) => ({ fn: lib.hasNonFinite as Call['fn'], args: [tensorList(d)] }) },
  {
    name: 'accumulateGrads',
    build: (d) => {
      const acc = tensorList(d);
      return { fn: lib.accumulateGrads as Call['fn'], args: [acc, acc.map((t) => d.tensor(t.length, t instanceof Float64Array)), 0.5] };
    },
  },
  { name: 'setNumThreads', build: (d) => ({ fn: (n) => { const before = lib.getNumThreads(); try { lib.setNumThreads(n as number); } finally { lib.setNumThreads(before); } }, args: [1 + d.int(2)] }) },
  {
    name: 'new Scheduler / step / loadStateDict',
    build: (d) => {
      const { optimizer } = liveOptimizer(d);
      const [, make, options] = d.pick(SCHEDULERS);
      const what = d.int(3);
      if (what === 0) return { fn: (o, x) => make(o as AnyOptimizer, x), args: [optimizer, { ...options }], optimizers: [optimizer] };
      const scheduler = make(optimizer, { ...options });
      if (what === 1) return { fn: (...a) => scheduler.step(...a), args: d.chance(0.5) ? [] : [0.5], optimizers: [optimizer], schedulers: [scheduler] };
      const sd = scheduler.stateDict() as Record<string, unknown>;
      return { fn: (s) => scheduler.loadStateDict(s), args: [{ ...sd }], optimizers: [optimizer], schedulers: [scheduler] };
    },
  },
  {
    name: 'parseSafetensors',
    build: (d) => {
      const bytes = Buffer.concat(encodeSafetensors({ a: { data: d.tensor(3), shape: [3] }, b: { data: d.keep(new Uint16Array(2)), shape: [2, 1] } }, { k: 'v' }));
      for (let flips = d.int(3); flips > 0; flips--) bytes[d.int(bytes.length)] ^= 1 << d.int(8);
      return { fn: parseSafetensors as Call['fn'], args: [d.chance(0.2) ? bytes.subarray(0, d.int(bytes.length)) : bytes] };
    },
  },
  {
    name: 'encodeSafetensors',
    build: (d) => ({ fn: encodeSafetensors as Call['fn'], args: [{ a: { data: d.tensor(4), shape: [2, 2] } }, { k: 'v' }] }),
  },
  {
    name: 'loadCheckpoint',
    build: (d) => {
      const { optimizer } = liveOptimizer(d);
      const params = optimizer.paramGroups.flatMap((g) => g.params);
      const bytes = Buffer.concat(encodeCheckpoint({ model: { params }, optimizer }));
      if (d.chance(0.5)) bytes[d.int(bytes.length)] ^= 1 << d.int(8);
      return { fn: (b, t) => lib.loadCheckpoint(b as never, t as never), args: [bytes, { model: { params }, optimizer }], optimizers: [optimizer] };
    },
  },
];
