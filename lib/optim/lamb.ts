/**
 * LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning"): Adam's
 * bias-corrected direction plus decoupled weight decay, scaled per tensor by
 * the trust ratio ‖θ‖ / ‖u‖ (1 where either norm is 0). The variant is timm's
 * Lamb (timm/optim/lamb.py) with bias_correction=True, grad_averaging=True,
 * trust_clip=False and always_adapt=True, so every tensor is adapted, as in the
 * paper; timm's max_grad_norm (a global clip it applies by default) is left to
 * the `maxGradNorm` option every optimizer has. The arithmetic, both passes and
 * the per-tensor norms in one native call, is in native/kernels/lamb.h.
 *
 * Defaults: lr 1e-3, betas (0.9, 0.999) and eps 1e-6 as timm and the paper's
 * BERT runs; weightDecay 0 (timm says 0.01), like every optimizer here whose
 * name does not promise decay: a decay rate is a choice per model, and biases
 * and norms usually want none.
 */
import { lambKernel } from '../kernels/lamb';
import { betasOption, booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';

/** The options of LAMB. */
export type LambOptions = {
  /** The learning rate γ. */
  lr: number;
  /** The pair [β₁, β₂]: the decay rates of the first and second moment averages. */
  betas: [number, number];
  /** ε added to the denominator √v̂ for numerical stability. */
  eps: number;
  /** Decoupled: λθ is added to the direction before the trust ratio, as in the paper. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
};

const KERNEL: KernelChoice<ScalarsOf<typeof lambKernel>> = { kernel: lambKernel, buffers: ['expAvg', 'expAvgSq'] };

const STATE: StateSchema = {
  buffers: [
    { name: 'expAvg', dtype: 'param' },
    { name: 'expAvgSq', dtype: 'param' },
  ],
  scalars: [],
};

const spec: OptimizerSpec<LambOptions, ScalarsOf<typeof lambKernel>> = {
  name: 'LAMB',
  options: {
    lr: lrOption(1e-3),
    betas: betasOption([0.9, 0.999]),
    eps: numberOption(1e-6, { min: 0 }),
    weightDecay: numberOption(0, { min: 0 }),
    maximize: booleanOption(false),
  },
  state: () => STATE,
  kernel: () => KERNEL,
  scalars(g, { step, gradScale }, out) {
    const [beta1, beta2] = g.betas;
    out.gradScale = g.maximize ? -gradScale : gradScale;
    out.beta1 = beta1;
    out.oneMinusBeta1 = 1 - beta1;
    out.beta2 = beta2;
    out.oneMinusBeta2 = 1 - beta2;
    out.biasCorrection1 = 1 - Math.pow(beta1, step);
    out.biasCorrection2 = 1 - Math.pow(beta2, step);
    out.eps = g.eps;
    out.weightDecay = g.weightDecay;
    out.lr = g.lr;
  },
};

export class LAMB extends Optimizer<LambOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<LambOptions>, options?: Partial<LambOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
