/**
 * Reductions, the reference twin of native/kernels/norm.h and
 * native/drivers/multi_tensor_reduce.h: the same blocks, the same 16 lanes per block,
 * the same halving tree, block results merged in order. So the JavaScript and
 * native norms agree bit for bit (for p = 1, 2, ∞; Σ|x|^p depends on pow).
 */
import { REDUCE_BLOCK, REDUCE_LANES, ReduceKind } from './reduce_kind';
import type { Tensor } from '../tensor';

interface Reduction {
  element(x: number, p: number): number;
  merge(a: number, b: number): number;
}

const add = (a: number, b: number): number => a + b;
const maxNan = (a: number, b: number): number => (a !== a || a > b ? a : b);
const abs = (x: number): number => (x < 0 ? -x : x);

const REDUCTIONS: Record<ReduceKind, Reduction> = {
  [ReduceKind.SumSquares]: { element: (x) => x * x, merge: add },
  [ReduceKind.SumAbs]: { element: abs, merge: add },
  [ReduceKind.MaxAbs]: { element: abs, merge: maxNan },
  [ReduceKind.SumPow]: { element: (x, p) => Math.pow(abs(x), p), merge: add },
  [ReduceKind.NonFinite]: { element: (x) => x * 0, merge: add },
};

const lanes = new Float64Array(REDUCE_LANES);

function reduceBlock(R: Reduction, x: Tensor, begin: number, n: number, p: number): number {
  lanes.fill(0);
  let i = 0;
  for (; i + REDUCE_LANES <= n; i += REDUCE_LANES) {
    for (let j = 0; j < REDUCE_LANES; j++) lanes[j] = R.merge(lanes[j], R.element(x[begin + i + j], p));
  }
  for (let j = 0; i + j < n; j++) lanes[j] = R.merge(lanes[j], R.element(x[begin + i + j], p));
  for (let width = REDUCE_LANES / 2; width >= 1; width /= 2) {
    for (let j = 0; j < width; j++) lanes[j] = R.merge(lanes[j], lanes[j + width]);
  }
  return lanes[0];
}

/** The reduction of every element of `tensors`, its blocks merged in order into `initial` (0 for a fresh total). */
export function reduce(kind: ReduceKind, tensors: readonly Tensor[], p: number, initial = 0): number {
  const R = REDUCTIONS[kind];
  let total = initial;
  for (const x of tensors) {
    for (let begin = 0; begin < x.length; begin += REDUCE_BLOCK) {
      const block = reduceBlock(R, x, begin, Math.min(REDUCE_BLOCK, x.length - begin), p);
      total = R.merge(total, block);
      if (kind === ReduceKind.NonFinite && total !== total) return total; // stop at the first non-finite block
    }
  }
  return total;
}
