/**
 * Adadelta (torch.optim.Adadelta; Zeiler 2012): each step is the gradient
 * rescaled by √(u + ε)/√(v + ε), the ratio of the running RMS of past updates
 * to that of gradients; `lr` multiplies that step (PyTorch's default 1 is the
 * paper's method). The arithmetic is in native/kernels/adadelta.h.
 */
import { adadeltaKernel } from '../kernels/adadelta';
import { epsOption, signedGradScale, weightDecayOption } from './core/adaptive_terms';
import { booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';

/** The options of Adadelta, PyTorch's in camelCase. */
export type AdadeltaOptions = {
  /** A factor on the update Δ (1 is the paper's algorithm). */
  lr: number;
  /** The decay of both running averages. */
  rho: number;
  /** ε inside both square roots, for numerical stability. */
  eps: number;
  /** Weight decay λ as an L2 penalty: λθ is added to the gradient. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
};

const KERNEL: KernelChoice<ScalarsOf<typeof adadeltaKernel>> = { kernel: adadeltaKernel, buffers: ['squareAvg', 'accDelta'] };
const STATE: StateSchema = {
  buffers: [
    { name: 'squareAvg', dtype: 'param' },
    { name: 'accDelta', dtype: 'param' },
  ],
  scalars: [],
};

const spec: OptimizerSpec<AdadeltaOptions, ScalarsOf<typeof adadeltaKernel>> = {
  name: 'Adadelta',
  options: {
    lr: lrOption(1),
    rho: numberOption(0.9, { min: 0, max: 1 }),
    eps: epsOption(1e-6),
    weightDecay: weightDecayOption(),
    maximize: booleanOption(false),
  },
  state: () => STATE,
  kernel: () => KERNEL,
  scalars(g, { gradScale }, out) {
    out.gradScale = signedGradScale(g.maximize, gradScale);
    out.weightDecay = g.weightDecay;
    out.rho = g.rho;
    out.oneMinusRho = 1 - g.rho;
    out.eps = g.eps;
    out.lr = g.lr;
  },
};

export class Adadelta extends Optimizer<AdadeltaOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<AdadeltaOptions>, options?: Partial<AdadeltaOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
