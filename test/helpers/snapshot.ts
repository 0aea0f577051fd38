/**
 * "Nothing changed": a copy of everything an optimizer call could mutate
 * (params, per-param state, param groups and their hyper-parameters, and any
 * other tensors such as the gradients passed in), and an assertion that the
 * live objects still match it bit for bit.
 */
import { expect } from 'chai';
import type { Optimizer } from '../../lib/optim/core/optimizer';
import type { StateArray as Tensor } from '../../lib/tensor';
import { expectBitIdentical } from './bits';

type AnyOptimizer = Optimizer<{ lr: number }>;

export interface OptimizerSnapshot {
  /** The params of every group, in order: the objects themselves and copies of their values. */
  paramRefs: Tensor[][];
  paramValues: Tensor[][];
  /** Every group's keys other than params (arrays and objects copied). */
  groups: Array<Record<string, unknown>>;
  /** Each param's state: step counts as numbers, buffers copied. */
  state: Array<Record<string, number | Tensor>>;
  /** Other tensors the call must not touch, and their values. */
  extraRefs: Tensor[];
  extraValues: Tensor[];
}

function copyGroupValue(value: unknown): unknown {
  return structuredClone(value);
}

/** A copy of a tensor's values; a detached one (length 0, and slice() would throw) copies as an empty one. */
function copyTensor(t: Tensor): Tensor {
  return t.length === 0 ? (t instanceof Float32Array ? new Float32Array(0) : new Float64Array(0)) : t.slice();
}

export function snapshotOptimizer(opt: AnyOptimizer, extra: ReadonlyArray<Tensor | null> = []): OptimizerSnapshot {
  const present = extra.filter((t): t is Tensor => t !== null);
  return {
    paramRefs: opt.paramGroups.map((g) => [...g.params]),
    paramValues: opt.paramGroups.map((g) => g.params.map(copyTensor)),
    groups: opt.paramGroups.map((g) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') out[k] = copyGroupValue(v);
      return out;
    }),
    state: opt.state.map((entry) => {
      const out: Record<string, number | Tensor> = {};
      for (const [k, v] of Object.entries(entry)) {
        if (v !== undefined) out[k] = typeof v === 'number' ? v : copyTensor(v);
      }
      return out;
    }),
    extraRefs: present,
    extraValues: present.map(copyTensor),
  };
}

/** Asserts the optimizer (and the extra tensors) are exactly as in `snap`. */
export function expectUnchanged(opt: AnyOptimizer, snap: OptimizerSnapshot, what = 'after the failed call'): void {
  expect(opt.paramGroups.length, `${what}: group count`).to.equal(snap.groups.length);
  opt.paramGroups.forEach((g, gi) => {
    expect(g.params.length, `${what}: paramGroups[${gi}].params.length`).to.equal(snap.paramRefs[gi].length);
    g.params.forEach((p, k) => {
      expect(p === snap.paramRefs[gi][k], `${what}: paramGroups[${gi}].params[${k}] is the same object`).to.equal(true);
      expectBitIdentical(p, snap.paramValues[gi][k], `${what}: paramGroups[${gi}].params[${k}]`);
    });
    const keys: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(g)) if (k !== 'params') keys[k] = v;
    expect(keys, `${what}: paramGroups[${gi}] hyper-parameters`).to.deep.equal(snap.groups[gi]);
  });
  expect(opt.state.length, `${what}: state length`).to.equal(snap.state.length);
  opt.state.forEach((entry, i) => {
    const live = Object.entries(entry).filter(([, v]) => v !== undefined);
    expect(live.map(([k]) => k).sort(), `${what}: state[${i}] keys`).to.deep.equal(Object.keys(snap.state[i]).sort());
    for (const [k, v] of live) {
      const saved = snap.state[i][k];
      if (typeof v === 'number' || typeof saved === 'number') expect(v, `${what}: state[${i}].${k}`).to.equal(saved);
      else expectBitIdentical(v!, saved, `${what}: state[${i}].${k}`);
    }
  });
  snap.extraRefs.forEach((t, i) => expectBitIdentical(t, snap.extraValues[i], `${what}: tensor ${i} passed in`));
}
