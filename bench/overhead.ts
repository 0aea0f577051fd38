/**
 * The fixed cost of a call, where the arithmetic is nothing: one tensor of 16
 * floats through opt.step (argument checks, state lookup, the Node-API call),
 * beside the bare addon call that is its floor. Small models and services
 * doing many small steps live here. Then the per-tensor cost: Adam over 1000
 * tensors of 65 floats, each tensor in its own ArrayBuffer (what users
 * allocate, measured first) and as views of one ArrayBuffer per role, beside
 * the same kernel's planned call over the shared layout (no per-tensor
 * TypeScript work: the floor).
 */
import { nativeKernelIndex } from '../lib/backend/native_backend';
import { loadAddon } from '../lib/native';
import { Adam } from '../lib/optim/adam';
import { SGD } from '../lib/optim/sgd';
import { setNumThreads, getNumThreads } from '../lib/threads';
import { adamKernel } from '../lib/kernels/adam';
import { scalarArray } from '../lib/kernels/kernel_def';
import type { Tensor } from '../lib/tensor';
import { Memory, makeTensors } from './layouts';
import { Member, RepPolicy, measureInterleaved } from './measure';
import type { BackendLabel, OverheadRow } from './results';
import { summarize } from './stats';

interface Case {
  id: string;
  label: string;
  backend: BackendLabel;
  run: () => void;
  /** Params per call, when more than one tensor of 16. */
  params?: number;
}

/** 1000 tensors of 65 floats: as many tensors as a mid-sized model, each too small for its arithmetic to hide a per-tensor cost. */
const MANY = new Array<number>(1000).fill(65);
const MANY_PARAMS = 65_000;

function manyTensors(memory: Memory): Case {
  const params = makeTensors('float32', MANY, 11, memory);
  const grads = makeTensors('float32', MANY, 12, memory);
  const adam = new Adam(params);
  const what = memory === 'own' ? 'each in its own ArrayBuffer' : 'views of one ArrayBuffer';
  return { id: `adam-1000-${memory}`, label: `Adam, 1000 tensors of 65, ${what}, opt.step`, backend: 'native', run: () => adam.step(grads), params: MANY_PARAMS };
}

/** The floor of the 1000-tensor rows: Adam's kernel over them through one plan made once, views of one ArrayBuffer per role. */
function manyTensorsFloor(): Case {
  const roles = [1, 2, 3, 4].map((salt) => makeTensors('float32', MANY, salt, 'shared'));
  const buffers = MANY.flatMap((_, k) => roles.map((r) => r[k]));
  const addon = loadAddon();
  const plan = addon.createPlan(nativeKernelIndex(adamKernel), buffers);
  const scalars = adamScalars();
  return { id: 'adam-1000-planned', label: 'Adam kernel, 1000 tensors of 65, bare addon.updatePlanned', backend: 'native', run: () => addon.updatePlanned(plan, scalars, 1), params: MANY_PARAMS };
}

function adamScalars(): Float64Array {
  return scalarArray(adamKernel, {
    gradScale: 1, l2: 0, decay: 1, beta1: 0.9, oneMinusBeta1: 0.1, beta2: 0.999, oneMinusBeta2: 0.001, biasCorrection2Sqrt: 1, eps: 1e-8, stepSize: 1e-3,
  });
}

/** The 16-float cases: a call's fixed cost. */
function smallCases(): Case[] {
  const lengths = [16];
  const params = makeTensors('float32', lengths, 1);
  const grads: Tensor[] = makeTensors('float32', lengths, 2);
  const adam = new Adam(params);
  const adamJs = new Adam(params, { backend: 'js' });
  const sgd = new SGD(params, { lr: 1e-3 });
  const clipped = new Adam(params);
  // The floor: the same Adam kernel called on the addon directly, with buffers and scalars prepared once.
  const addon = loadAddon();
  const state = makeTensors('float32', [16, 16], 3);
  const buffers = [params[0], grads[0], state[0], state[1]];
  const scalars = adamScalars();
  const adamRow = nativeKernelIndex(adamKernel);
  return [
    { id: 'adam', label: 'Adam, 1 tensor of 16, opt.step', backend: 'native', run: () => adam.step(grads) },
    { id: 'sgd', label: 'SGD, 1 tensor of 16, opt.step', backend: 'native', run: () => sgd.step(grads) },
    { id: 'clip', label: 'Adam + clip, 1 tensor of 16, opt.step', backend: 'native', run: () => clipped.step(grads, { maxGradNorm: 1 }) },
    { id: 'addon', label: 'Adam kernel, 1 tensor of 16, bare addon.update', backend: 'native', run: () => addon.update(adamRow, buffers, scalars, 1) },
    { id: 'adam-js', label: 'Adam, 1 tensor of 16, opt.step', backend: 'js', run: () => adamJs.step(grads) },
  ];
}

export function runOverhead(policy: RepPolicy): OverheadRow[] {
  const previous = getNumThreads();
  setNumThreads(1);
  try {
    // Two interleaved groups: the 16-float calls warm up their JIT over 2000 calls; the
    // 1000-tensor calls last tens of microseconds each, and 200 warm them as well.
    return [
      ...measured(smallCases(), { ...policy, minRepNs: 1_000_000, warmupCalls: Math.max(policy.warmupCalls, 2000) }),
      ...measured([manyTensors('own'), manyTensors('shared'), manyTensorsFloor()], { ...policy, minRepNs: 1_000_000, warmupCalls: Math.max(policy.warmupCalls, 200) }),
    ];
  } finally {
    setNumThreads(previous);
  }
}

function measured(list: readonly Case[], policy: RepPolicy): OverheadRow[] {
  const members: Member[] = list.map((c) => ({ id: c.id, run: c.run }));
  const samples = measureInterleaved(members, policy);
  return list.map((c) => {
    const s = summarize(samples.get(c.id)!.perCallNs);
    return { case: c.label, backend: c.backend, reps: s.n, ns: s.median, p10Ns: s.p10, p90Ns: s.p90, ...(c.params ? { params: c.params } : {}) };
  });
}
