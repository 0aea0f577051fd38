/** Adagrad (torch.optim.Adagrad); the arithmetic is in native/kernels/adagrad.h. */
import { adagradKernel } from '../kernels/adagrad';
import { booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of Adagrad, PyTorch's in camelCase. */
export type AdagradOptions = {
  /** The learning rate γ. */
  lr: number;
  /** The lr decay η: step t uses γ / (1 + (t − 1)η). */
  lrDecay: number;
  /** Weight decay λ as an L2 penalty: λθ is added to the gradient. */
  weightDecay: number;
  /** The starting value of the running sum of squared gradients. */
  initialAccumulatorValue: number;
  /** 1e-8 (the textbook's); PyTorch's default is 1e-10. */
  eps: number;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
} & StateStorageOptions;

const KERNEL: KernelChoice<ScalarsOf<typeof adagradKernel>> = { kernel: adagradKernel, buffers: ['sum'] };

const spec: OptimizerSpec<AdagradOptions, ScalarsOf<typeof adagradKernel>> = {
  name: 'Adagrad',
  options: {
    lr: lrOption(1e-2),
    lrDecay: numberOption(0, { min: 0 }),
    weightDecay: numberOption(0, { min: 0 }),
    initialAccumulatorValue: numberOption(0, { min: 0 }),
    eps: numberOption(1e-8, { min: 0 }),
    maximize: booleanOption(false),
    ...STATE_STORAGE_OPTIONS,
  },
  state: (g) => ({ buffers: [{ name: 'sum', dtype: 'param', initial: g.initialAccumulatorValue, compact: 'unsigned' }], scalars: [] }),
  kernel: () => KERNEL,
  scalars(g, { step, gradScale }, out) {
    out.gradScale = g.maximize ? -gradScale : gradScale;
    out.weightDecay = g.weightDecay;
    out.clr = g.lr / (1 + (step - 1) * g.lrDecay);
    out.eps = g.eps;
  },
};

export class Adagrad extends Optimizer<AdagradOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<AdagradOptions>, options?: Partial<AdagradOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}

/** The textbook's spelling. */
export const AdaGrad = Adagrad;
export type AdaGrad = Adagrad;
