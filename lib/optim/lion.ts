/**
 * Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):
 * the sign of an interpolation between the momentum and the gradient, with
 * decoupled weight decay; one state buffer (half of Adam's). The arithmetic
 * is in native/kernels/lion.h. Its update has unit size per element, so its
 * learning rate is typically 3–10× smaller than AdamW's and its weight decay
 * 3–10× larger (the paper's advice).
 */
import { lionKernel } from '../kernels/lion';
import { betasOption, booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of Lion. */
export type LionOptions = {
  /** The learning rate γ. */
  lr: number;
  /** β₁ interpolates the update direction, β₂ the momentum. */
  betas: [number, number];
  /** Decoupled weight decay λ: θ ← θ(1 − γλ). */
  weightDecay: number;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
} & StateStorageOptions;

const STATE: StateSchema = { buffers: [{ name: 'expAvg', dtype: 'param', compact: 'signed' }], scalars: [] };
const KERNEL: KernelChoice<ScalarsOf<typeof lionKernel>> = { kernel: lionKernel, buffers: ['expAvg'] };

const spec: OptimizerSpec<LionOptions, ScalarsOf<typeof lionKernel>> = {
  name: 'Lion',
  options: {
    lr: lrOption(1e-4),
    betas: betasOption([0.9, 0.99]),
    weightDecay: numberOption(0, { min: 0 }),
    maximize: booleanOption(false),
    ...STATE_STORAGE_OPTIONS,
  },
  state: () => STATE,
  kernel: () => KERNEL,
  scalars(g, { gradScale }, out) {
    out.gradScale = g.maximize ? -gradScale : gradScale;
    out.decay = 1 - g.lr * g.weightDecay;
    out.lr = g.lr;
    out.beta1 = g.betas[0];
    out.oneMinusBeta1 = 1 - g.betas[0];
    out.beta2 = g.betas[1];
    out.oneMinusBeta2 = 1 - g.betas[1];
  },
};

export class Lion extends Optimizer<LionOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<LionOptions>, options?: Partial<LionOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
