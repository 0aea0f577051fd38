/**
 * Adamax (torch.optim.Adamax; Kingma & Ba 2015, §7.1): Adam with the second
 * moment replaced by an exponentially weighted infinity norm, u ← max(β₂u, |g| + ε).
 * The arithmetic is in native/kernels/adamax.h.
 */
import { adamaxKernel } from '../kernels/adamax';
import { AdaptiveOptions, adaptiveOptions, signedGradScale } from './core/adaptive_terms';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of Adamax: lr, betas, eps, weightDecay (L2) and maximize, and how its state is stored. */
export type AdamaxOptions = AdaptiveOptions & StateStorageOptions;

const KERNEL: KernelChoice<ScalarsOf<typeof adamaxKernel>> = { kernel: adamaxKernel, buffers: ['expAvg', 'expInf'] };
const STATE: StateSchema = {
  buffers: [
    { name: 'expAvg', dtype: 'param', compact: 'signed' },
    // A running max of |g| + ε: never negative.
    { name: 'expInf', dtype: 'param', compact: 'unsigned' },
  ],
  scalars: [],
};

const spec: OptimizerSpec<AdamaxOptions, ScalarsOf<typeof adamaxKernel>> = {
  name: 'Adamax',
  options: { ...adaptiveOptions(2e-3), ...STATE_STORAGE_OPTIONS },
  state: () => STATE,
  kernel: () => KERNEL,
  scalars(g, { step, gradScale }, out) {
    const [beta1, beta2] = g.betas;
    out.gradScale = signedGradScale(g.maximize, gradScale);
    out.weightDecay = g.weightDecay;
    out.beta1 = beta1;
    out.oneMinusBeta1 = 1 - beta1;
    out.beta2 = beta2;
    out.eps = g.eps;
    out.clr = g.lr / (1 - Math.pow(beta1, step));
  },
};

export class Adamax extends Optimizer<AdamaxOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<AdamaxOptions>, options?: Partial<AdamaxOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
