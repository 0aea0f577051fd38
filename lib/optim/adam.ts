/**
 * Adam (torch.optim.Adam, weight decay as an L2 penalty) and AdamW
 * (torch.optim.AdamW, decoupled weight decay). One kernel serves both
 * (native/kernels/adam.h): Adam passes λ as the L2 coefficient and a decay
 * factor of 1; AdamW passes 0 and 1 − γλ.
 */
import { adamAmsgradKernel, adamKernel } from '../kernels/adam';
import { betasOption, booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of Adam and AdamW, PyTorch's in camelCase. */
export type AdamOptions = {
  /** The learning rate γ. */
  lr: number;
  /** The pair [β₁, β₂]: the decay rates of the first and second moment averages. */
  betas: [number, number];
  /** ε added to the denominator √v̂ for numerical stability. */
  eps: number;
  /** Weight decay λ: an L2 penalty for Adam, decoupled (θ ← θ(1 − γλ)) for AdamW. */
  weightDecay: number;
  /** AMSGrad: divide by the running maximum of the second moment. */
  amsgrad: boolean;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
} & StateStorageOptions;

// Constants: a step asks for its kernel every time, and allocates nothing.
const PLAIN: KernelChoice<ScalarsOf<typeof adamKernel>> = { kernel: adamKernel, buffers: ['expAvg', 'expAvgSq'] };
const AMSGRAD: KernelChoice<ScalarsOf<typeof adamKernel>> = { kernel: adamAmsgradKernel, buffers: ['expAvg', 'expAvgSq', 'maxExpAvgSq'] };

const STATE: StateSchema = {
  buffers: [
    { name: 'expAvg', dtype: 'param', compact: 'signed' },
    { name: 'expAvgSq', dtype: 'param', compact: 'unsigned' },
    { name: 'maxExpAvgSq', dtype: 'param', compact: 'unsigned' },
  ],
  scalars: [],
};

function adamSpec(name: string, decoupled: boolean, weightDecay: number): OptimizerSpec<AdamOptions, ScalarsOf<typeof adamKernel>> {
  return {
    name,
    options: {
      lr: lrOption(1e-3),
      betas: betasOption([0.9, 0.999]),
      eps: numberOption(1e-8, { min: 0 }),
      weightDecay: numberOption(weightDecay, { min: 0 }),
      amsgrad: booleanOption(false),
      maximize: booleanOption(false),
      ...STATE_STORAGE_OPTIONS,
    },
    state: () => STATE,
    kernel: (g) => (g.amsgrad ? AMSGRAD : PLAIN),
    scalars(g, { step, gradScale }, out) {
      const [beta1, beta2] = g.betas;
      const biasCorrection1 = 1 - Math.pow(beta1, step);
      const biasCorrection2 = 1 - Math.pow(beta2, step);
      out.gradScale = g.maximize ? -gradScale : gradScale;
      out.l2 = decoupled ? 0 : g.weightDecay;
      out.decay = decoupled ? 1 - g.lr * g.weightDecay : 1;
      out.beta1 = beta1;
      out.oneMinusBeta1 = 1 - beta1;
      out.beta2 = beta2;
      out.oneMinusBeta2 = 1 - beta2;
      out.biasCorrection2Sqrt = Math.sqrt(biasCorrection2);
      out.eps = g.eps;
      out.stepSize = g.lr / biasCorrection1;
    },
  };
}

const adamSpecL2 = adamSpec('Adam', false, 0);
const adamWSpec = adamSpec('AdamW', true, 0.01);

export class Adam extends Optimizer<AdamOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = adamSpecL2;

  constructor(params: ParamsInput<AdamOptions>, options?: Partial<AdamOptions> & OptimizerOptions) {
    super(adamSpecL2, params, options);
  }
}

/** Adam with decoupled weight decay (default 0.01). */
export class AdamW extends Optimizer<AdamOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = adamWSpec;

  constructor(params: ParamsInput<AdamOptions>, options?: Partial<AdamOptions> & OptimizerOptions) {
    super(adamWSpec, params, options);
  }
}
