/**
 * ASGD (torch.optim.ASGD; Polyak & Juditsky 1992): SGD with a decaying step
 * η = γ/(1 + λγt)^α and, from step t0 on, a running average of the iterates,
 * `ax`. The average is what you evaluate with: read `opt.state[i].ax` (before
 * t0 it is a copy of the params; after, the mean of the iterates since t0).
 * Each param keeps its own η and μ, as PyTorch does: a step uses the values
 * the previous step left, then sets them for the next. The arithmetic is in
 * native/kernels/asgd.h.
 */
import { asgdKernel } from '../kernels/asgd';
import { signedGradScale, weightDecayOption } from './core/adaptive_terms';
import { schemaByLr } from './core/lr_schema';
import { booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec } from './core/spec';

/** The options of ASGD, PyTorch's in camelCase. */
export type ASGDOptions = {
  /** The learning rate γ. */
  lr: number;
  /** λ, the decay term of η and of the params. */
  lambd: number;
  /** α, the power of η's decay. */
  alpha: number;
  /** The step from which the iterates are averaged. */
  t0: number;
  /** Weight decay λ as an L2 penalty: λθ is added to the gradient. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
};

const KERNEL: KernelChoice<ScalarsOf<typeof asgdKernel>> = { kernel: asgdKernel, buffers: ['ax'] };

const stateFor = schemaByLr((lr) => ({
  buffers: [{ name: 'ax', dtype: 'param' }],
  scalars: [
    { name: 'eta', initial: lr },
    { name: 'mu', initial: 1 },
  ],
}));

const spec: OptimizerSpec<ASGDOptions, ScalarsOf<typeof asgdKernel>> = {
  name: 'ASGD',
  options: {
    lr: lrOption(1e-2),
    lambd: numberOption(1e-4, { min: 0 }),
    alpha: numberOption(0.75, { min: 0 }),
    t0: numberOption(1e6, { min: 0 }),
    weightDecay: weightDecayOption(),
    maximize: booleanOption(false),
  },
  state: (g) => stateFor(g.lr),
  kernel: () => KERNEL,
  // After step t, for step t + 1 (PyTorch's end-of-step update).
  advance(g, step, state) {
    state.eta = g.lr / Math.pow(1 + g.lambd * g.lr * step, g.alpha);
    state.mu = 1 / Math.max(1, step - g.t0);
  },
  scalars(g, { gradScale, before }, out) {
    out.gradScale = signedGradScale(g.maximize, gradScale);
    out.weightDecay = g.weightDecay;
    out.decay = 1 - g.lambd * before.eta;
    out.eta = before.eta;
    out.mu = before.mu;
  },
};

export class ASGD extends Optimizer<ASGDOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<ASGDOptions>, options?: Partial<ASGDOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
