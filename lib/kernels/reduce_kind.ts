/**
 * The reductions both backends implement, by number (native/reduce_kind.h),
 * and their fixed blocking. The update kernels are declared one by one as
 * KernelDefs (lib/kernels/kernel_def.ts, lib/kernels/*.ts).
 */

/** What a reduction computes over all elements of all tensors (native/reduce_kind.h). */
export enum ReduceKind {
  /** Σ x² (2-norm before the square root). */
  SumSquares = 0,
  /** Σ |x| (1-norm). */
  SumAbs = 1,
  /** max |x| (∞-norm). */
  MaxAbs = 2,
  /** Σ |x|^p (p-norm before the 1/p power). */
  SumPow = 3,
  /** NaN if any element is NaN or ±Inf, else 0. */
  NonFinite = 4,
}

/** Elements per reduction block and accumulator lanes per block (native/reduce_kind.h). */
export const REDUCE_BLOCK = 16384;
export const REDUCE_LANES = 16;
