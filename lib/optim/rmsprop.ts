/** RMSprop (torch.optim.RMSprop); the arithmetic is in native/kernels/rmsprop.h. */
import { rmspropCenteredKernel, rmspropCenteredMomentumKernel, rmspropKernel, rmspropMomentumKernel } from '../kernels/rmsprop';
import { ErrorCodes, makeError } from '../errors';
import { booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of RMSprop, PyTorch's in camelCase. */
export type RMSpropOptions = {
  /** The learning rate γ. */
  lr: number;
  /** Smoothing constant: 0.9 (the textbook's `beta`); PyTorch's default is 0.99. */
  alpha: number;
  /** ε added to the denominator √v for numerical stability. */
  eps: number;
  /** Weight decay λ as an L2 penalty: λθ is added to the gradient. */
  weightDecay: number;
  /** The momentum factor of the update (0: none). */
  momentum: number;
  /** Normalise by the variance estimate v − mean² instead of v. */
  centered: boolean;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
} & StateStorageOptions;

// [centered][momentum], each with its state buffers in the kernel's slot order:
// square_avg, [grad_avg], [momentum_buffer]. Constants: a step asks for its
// kernel every time, and allocates nothing.
const KERNELS: ReadonlyArray<ReadonlyArray<KernelChoice<ScalarsOf<typeof rmspropKernel>>>> = [
  [
    { kernel: rmspropKernel, buffers: ['squareAvg'] },
    { kernel: rmspropMomentumKernel, buffers: ['squareAvg', 'momentumBuffer'] },
  ],
  [
    { kernel: rmspropCenteredKernel, buffers: ['squareAvg', 'gradAvg'] },
    { kernel: rmspropCenteredMomentumKernel, buffers: ['squareAvg', 'gradAvg', 'momentumBuffer'] },
  ],
];

const STATE: StateSchema = {
    buffers: [
      { name: 'squareAvg', dtype: 'param', compact: 'unsigned' },
      { name: 'gradAvg', dtype: 'param', compact: 'signed' },
      { name: 'momentumBuffer', dtype: 'param', compact: 'signed' },
    ],
    scalars: [],
  };

const spec: OptimizerSpec<RMSpropOptions, ScalarsOf<typeof rmspropKernel>> = {
  name: 'RMSprop',
  options: {
    lr: lrOption(1e-3),
    alpha: numberOption(0.9, { min: 0, max: 1 }),
    eps: numberOption(1e-8, { min: 0 }),
    weightDecay: numberOption(0, { min: 0 }),
    momentum: numberOption(0, { min: 0 }),
    centered: booleanOption(false),
    maximize: booleanOption(false),
    ...STATE_STORAGE_OPTIONS,
  },
  checkGroup(g, where) {
    // v − mean² of compact moments loses its sign to their rounding when the
    // variance is small against the mean, and the step takes its square root
    // (bitsandbytes refuses 8-bit centered RMSprop for the same reason).
    if (g.centered && g.stateDtype !== 'float32') {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where}.stateDtype: centered RMSprop needs full-precision state ('float32'), got '${g.stateDtype}'`);
    }
  },
  state: () => STATE,
  kernel: (g) => KERNELS[g.centered ? 1 : 0][g.momentum > 0 ? 1 : 0],
  scalars(g, { gradScale }, out) {
    out.gradScale = g.maximize ? -gradScale : gradScale;
    out.weightDecay = g.weightDecay;
    out.alpha = g.alpha;
    out.oneMinusAlpha = 1 - g.alpha;
    out.eps = g.eps;
    out.lr = g.lr;
    out.momentum = g.momentum;
  },
};

export class RMSprop extends Optimizer<RMSpropOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<RMSpropOptions>, options?: Partial<RMSpropOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
