/**
 * The fixed cost of a call, where the arithmetic is nothing: one tensor of 16
 * floats through opt.step (argument checks, state lookup, the Node-API call),
 * beside the bare addon call that is its floor. Small models and services
 * doing many small steps live here. Then the per-tensor cost: Adam over 1000
 * tensors of 65 floats, each tensor in its own ArrayBuffer (what users
 * allocate, measured first) and as views of one ArrayBuffer per role, beside
 * the same kernel's planned call over the shared layout (no per-tensor
 * TypeScript work: the floor).
 *
 * Rows come in that order: Adam 16, SGD 16, clip + Adam 16, Adam 1000×65 in
 * its own buffers, then in shared ones, then the floors and the JS backend;
 * each row with a target (issue 21: 0.5 µs per 16-float call, 0.6 ns/param
 * over 1000 tensors) says whether its median meets it.
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
  /** The target: µs per call, or ns per param with `params`. */
  target?: number;
}

/** Issue 21's targets: a 16-float Adam step (plain, or clipped) in 0.5 µs; Adam over 1000 tensors of 65 in 0.6 ns/param, in either layout. */
const TARGET_SMALL_US = 0.5;
const TARGET_MANY_NS_PER_PARAM = 0.6;

/** The order rows are reported in (the ids of smallCases and the 1000-tensor group). */
const ROW_ORDER = ['adam', 'sgd', 'clip', 'adam-1000-own', 'adam-1000-shared', 'addon', 'adam-1000-planned-own', 'adam-1000-planned', 'adam-js'];

/** 1000 tensors of 65 floats: as many tensors as a mid-sized model, each too small for its arithmetic to hide a per-tensor cost. */
const MANY = new Array<number>(1000).fill(65);
const MANY_PARAMS = 65_000;

function manyTensors(memory: Memory): Case {
  const params = makeTensors('float32', MANY, 11, memory);
  const grads = makeTensors('float32', MANY, 12, memory);
  const adam = new Adam(params);
  const what = memory === 'own' ? 'each in its own ArrayBuffer' : 'views of one ArrayBuffer';
  return {
    id: `adam-1000-${memory}`,
    label: `Adam, 1000 tensors of 65, ${what}, opt.step`,
    backend: 'native',
    run: () => adam.step(grads),
    params: MANY_PARAMS,
    target: TARGET_MANY_NS_PER_PARAM,
  };
}

/**
 * The floors of the 1000-tensor rows: Adam's kernel over them through one plan made once, run by
 * the bare addon (no per-tensor TypeScript work). Over views of one ArrayBuffer per role, the call
 * checks 4 buffers. Over params and gradients each in their own ArrayBuffer and the state in one
 * (as an optimizer allocates it), run by runStep as opt.step runs its cached step, it checks 2001:
 * the difference between the two floors is what the per-buffer check costs.
 */
function manyTensorsFloor(memory: Memory): Case {
  const roles = [1, 2].map((salt) => makeTensors('float32', MANY, salt, memory));
  const state = [3, 4].map((salt) => makeTensors('float32', MANY, salt, 'shared'));
  if (memory === 'own') {
    // Both state roles in one ArrayBuffer, as allocStateSlab lays them out.
    const slab = new Float32Array(2 * MANY_PARAMS);
    state.splice(0, 2, ...[0, 1].map((r) => MANY.map((n, k) => slab.subarray((2 * k + r) * n, (2 * k + r + 1) * n))));
  }
  const buffers = MANY.flatMap((_, k) => [roles[0][k], roles[1][k], state[0][k], state[1][k]]);
  const addon = loadAddon();
  const plan = addon.createPlan(nativeKernelIndex(adamKernel), buffers);
  const scalars = adamScalars();
  if (memory === 'shared') {
    return { id: 'adam-1000-planned', label: 'Adam kernel, 1000 tensors of 65, views of one ArrayBuffer per role, bare addon.updatePlanned', backend: 'native', run: () => addon.updatePlanned(plan, scalars, 1), params: MANY_PARAMS };
  }
  const step = addon.createStep([plan]);
  return {
    id: 'adam-1000-planned-own',
    label: 'Adam kernel, 1000 tensors of 65, params and grads each in their own ArrayBuffer, state in one, bare addon.runStep',
    backend: 'native',
    run: () => addon.runStep(step, scalars, 1),
    params: MANY_PARAMS,
  };
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
  const clipOptions = { maxGradNorm: 1 };
  // The floor: the same Adam kernel called on the addon directly, with buffers and scalars prepared once.
  const addon = loadAddon();
  const state = makeTensors('float32', [16, 16], 3);
  const buffers = [params[0], grads[0], state[0], state[1]];
  const scalars = adamScalars();
  const adamRow = nativeKernelIndex(adamKernel);
  return [
    { id: 'adam', label: 'Adam, 1 tensor of 16, opt.step', backend: 'native', run: () => adam.step(grads), target: TARGET_SMALL_US },
    { id: 'sgd', label: 'SGD, 1 tensor of 16, opt.step', backend: 'native', run: () => sgd.step(grads) },
    { id: 'clip', label: 'Adam + clip, 1 tensor of 16, opt.step', backend: 'native', run: () => clipped.step(grads, clipOptions), target: TARGET_SMALL_US },
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
    const rows = [
      ...measured(smallCases(), { ...policy, minRepNs: 1_000_000, warmupCalls: Math.max(policy.warmupCalls, 2000) }),
      ...measured([manyTensors('own'), manyTensors('shared'), manyTensorsFloor('own'), manyTensorsFloor('shared')], { ...policy, minRepNs: 1_000_000, warmupCalls: Math.max(policy.warmupCalls, 200) }),
    ];
    return ROW_ORDER.map((id) => rows.find((r) => r.id === id)!.row);
  } finally {
    setNumThreads(previous);
  }
}

function measured(list: readonly Case[], policy: RepPolicy): Array<{ id: string; row: OverheadRow }> {
  const members: Member[] = list.map((c) => ({ id: c.id, run: c.run }));
  const samples = measureInterleaved(members, policy);
  return list.map((c) => {
    const s = summarize(samples.get(c.id)!.perCallNs);
    const row: OverheadRow = { case: c.label, backend: c.backend, reps: s.n, ns: s.median, p10Ns: s.p10, p90Ns: s.p90, ...(c.params ? { params: c.params } : {}) };
    if (c.target !== undefined) {
      row.target = c.target;
      row.met = (c.params ? s.median / c.params : s.median / 1000) <= c.target;
    }
    return { id: c.id, row };
  });
}
