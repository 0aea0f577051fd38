/** RMSprop (torch.optim.RMSprop); the arithmetic is in native/kernels/rmsprop.h. */
import { rmspropCenteredKernel, rmspropCenteredMomentumKernel, rmspropKernel, rmspropMomentumKernel } from '../backend/js/rmsprop';
import { booleanOption, lrOption, numberOption } from './options';
import { Optimizer, OptimizerOptions, ParamsInput } from './optimizer';
import type { OptimizerSpec } from './spec';

export type RMSpropOptions = {
  lr: number;
  /** Smoothing constant: 0.9 (the textbook's `beta`); PyTorch's default is 0.99. */
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
};

const KERNELS = [
  [rmspropKernel, rmspropMomentumKernel],
  [rmspropCenteredKernel, rmspropCenteredMomentumKernel],
] as const;

const spec: OptimizerSpec<RMSpropOptions> = {
  name: 'RMSprop',
  options: {
    lr: lrOption(1e-3),
    alpha: numberOption(0.9, { min: 0, max: 1 }),
    eps: numberOption(1e-8, { min: 0 }),
    weightDecay: numberOption(0, { min: 0 }),
    momentum: numberOption(0, { min: 0 }),
    centered: booleanOption(false),
    maximize: booleanOption(false),
  },
  state: () => ({
    buffers: [
      { name: 'squareAvg', dtype: 'param' },
      { name: 'gradAvg', dtype: 'param' },
      { name: 'momentumBuffer', dtype: 'param' },
    ],
    scalars: [],
  }),
  // In the kernel's slot order: square_avg, [grad_avg], [momentum_buffer].
  kernel: (g) => ({
    kernel: KERNELS[g.centered ? 1 : 0][g.momentum > 0 ? 1 : 0],
    buffers: ['squareAvg', ...(g.centered ? ['gradAvg'] : []), ...(g.momentum > 0 ? ['momentumBuffer'] : [])],
  }),
  scalars: (g, { gradScale }) => ({
    gradScale: g.maximize ? -gradScale : gradScale,
    weightDecay: g.weightDecay,
    alpha: g.alpha,
    oneMinusAlpha: 1 - g.alpha,
    eps: g.eps,
    lr: g.lr,
    momentum: g.momentum,
  }),
};

export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsInput<RMSpropOptions>, options?: Partial<RMSpropOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
