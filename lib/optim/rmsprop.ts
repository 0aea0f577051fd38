/** RMSprop (torch.optim.RMSprop); the arithmetic is in native/kernels/rmsprop.h. */
import { UpdateKind } from '../kernels';
import { booleanOption, lrOption, numberOption } from './options';
import { Optimizer, OptimizerOptions, OptimizerSpec, ParamsInput } from './optimizer';

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
  [UpdateKind.RMSprop, UpdateKind.RMSpropMomentum],
  [UpdateKind.RMSpropCentered, UpdateKind.RMSpropCenteredMomentum],
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
  // In the kernel's slot order: square_avg, [grad_avg], [momentum_buffer].
  stateBuffers: (g) => ['squareAvg', ...(g.centered ? ['gradAvg'] : []), ...(g.momentum > 0 ? ['momentumBuffer'] : [])],
  buffers: ['squareAvg', 'gradAvg', 'momentumBuffer'],
  kernel: (g) => KERNELS[g.centered ? 1 : 0][g.momentum > 0 ? 1 : 0],
  scalars(g, _step, _fresh, gradScale, out) {
    out[0] = g.maximize ? -gradScale : gradScale;
    out[1] = g.weightDecay;
    out[2] = g.alpha;
    out[3] = 1 - g.alpha;
    out[4] = g.eps;
    out[5] = g.lr;
    out[6] = g.momentum;
  },
};

export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsInput<RMSpropOptions>, options?: Partial<RMSpropOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
