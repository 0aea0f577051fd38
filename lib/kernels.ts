/**
 * The kernels both backends implement, by number. The numbers, buffer counts
 * and scalar counts are the addon's interface (native/kernel_table.h): the
 * native backend checks them against the addon's own table when it loads, so
 * the two sides cannot drift apart silently.
 */

export enum UpdateKind {
  Sgd = 0,
  SgdMomentum = 1,
  SgdNesterov = 2,
  Adagrad = 3,
  RMSprop = 4,
  RMSpropCentered = 5,
  RMSpropMomentum = 6,
  RMSpropCenteredMomentum = 7,
  Adam = 8,
  AdamAmsgrad = 9,
  Accumulate = 10,
  Scale = 11,
  Clamp = 12,
}

export interface UpdateKernelShape {
  /** The addon's name for the kernel. */
  readonly name: string;
  /** Buffers per tensor (param, grad, state...). */
  readonly slots: number;
  /** Length of the scalars array. */
  readonly scalarCount: number;
}

export const UPDATE_KERNELS: Readonly<Record<UpdateKind, UpdateKernelShape>> = {
  [UpdateKind.Sgd]: { name: 'sgd', slots: 2, scalarCount: 6 },
  [UpdateKind.SgdMomentum]: { name: 'sgd_momentum', slots: 3, scalarCount: 6 },
  [UpdateKind.SgdNesterov]: { name: 'sgd_nesterov', slots: 3, scalarCount: 6 },
  [UpdateKind.Adagrad]: { name: 'adagrad', slots: 3, scalarCount: 4 },
  [UpdateKind.RMSprop]: { name: 'rmsprop', slots: 3, scalarCount: 7 },
  [UpdateKind.RMSpropCentered]: { name: 'rmsprop_centered', slots: 4, scalarCount: 7 },
  [UpdateKind.RMSpropMomentum]: { name: 'rmsprop_momentum', slots: 4, scalarCount: 7 },
  [UpdateKind.RMSpropCenteredMomentum]: { name: 'rmsprop_centered_momentum', slots: 5, scalarCount: 7 },
  [UpdateKind.Adam]: { name: 'adam', slots: 4, scalarCount: 10 },
  [UpdateKind.AdamAmsgrad]: { name: 'adam_amsgrad', slots: 5, scalarCount: 10 },
  [UpdateKind.Accumulate]: { name: 'accumulate', slots: 2, scalarCount: 1 },
  [UpdateKind.Scale]: { name: 'scale', slots: 1, scalarCount: 1 },
  [UpdateKind.Clamp]: { name: 'clamp', slots: 1, scalarCount: 2 },
};

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
