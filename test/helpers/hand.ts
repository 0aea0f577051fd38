/**
 * Hand-computed steps: a one-param optimizer stepped through a list of
 * gradients, and a float64 comparison to a tolerance (for expectations
 * written out from PyTorch's documented formulas, independently of the
 * library's operation order).
 */
import { expect } from 'chai';
import type { AnyOptimizer } from './optimizers';

/** Steps `opt` (over the one param `param`) through `grads`, one array per step; returns the param after each step. */
export function paramTrajectory(opt: AnyOptimizer, param: Float64Array, grads: readonly (readonly number[])[]): number[][] {
  return grads.map((g) => {
    opt.step([new Float64Array(g)]);
    return Array.from(param);
  });
}

/** Elementwise |actual − expected| <= tolerance, both arrays of one length. */
export function expectClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, label: string): void {
  expect(actual.length, `${label}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i], `${label}[${i}]`).to.be.closeTo(expected[i], tolerance);
}
