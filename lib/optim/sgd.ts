/** Stochastic gradient descent with momentum (torch.optim.SGD); the arithmetic is in native/kernels/sgd.h. */
import { sgdKernel, sgdMomentumKernel, sgdNesterovKernel } from '../kernels/sgd';
import { ErrorCodes, makeError } from '../errors';
import { booleanOption, lrOption, numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of SGD, PyTorch's in camelCase; every one is optional in the constructor. */
export type SGDOptions = {
  /** The learning rate γ. */
  lr: number;
  /** The momentum factor μ (0: plain SGD, no state). */
  momentum: number;
  /** Dampening τ of the momentum: the gradient enters the buffer times 1 − τ. */
  dampening: number;
  /** Weight decay λ as an L2 penalty: λθ is added to the gradient. */
  weightDecay: number;
  /** Nesterov momentum: step along g + μ·b instead of b. */
  nesterov: boolean;
  /** Maximize the objective instead of minimizing it (the gradient's sign is flipped). */
  maximize: boolean;
} & StateStorageOptions;

const STATE: StateSchema = { buffers: [{ name: 'momentumBuffer', dtype: 'param', compact: 'signed' }], scalars: [] };
// Constants: a step asks for its kernel every time, and allocates nothing.
const PLAIN: KernelChoice<ScalarsOf<typeof sgdKernel>> = { kernel: sgdKernel, buffers: [] };
const HEAVY_BALL: KernelChoice<ScalarsOf<typeof sgdKernel>> = { kernel: sgdMomentumKernel, buffers: ['momentumBuffer'] };
const NESTEROV: KernelChoice<ScalarsOf<typeof sgdKernel>> = { kernel: sgdNesterovKernel, buffers: ['momentumBuffer'] };

const spec: OptimizerSpec<SGDOptions, ScalarsOf<typeof sgdKernel>> = {
  name: 'SGD',
  options: {
    lr: lrOption(1e-3),
    momentum: numberOption(0, { min: 0 }),
    dampening: numberOption(0, {}),
    weightDecay: numberOption(0, { min: 0 }),
    nesterov: booleanOption(false),
    maximize: booleanOption(false),
    ...STATE_STORAGE_OPTIONS,
  },
  checkGroup(g, where) {
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${where}.nesterov: Nesterov momentum requires momentum > 0 and dampening = 0, got momentum ${g.momentum} and dampening ${g.dampening}`,
      );
    }
  },
  state: () => STATE,
  kernel: (g) => (g.momentum === 0 ? PLAIN : g.nesterov ? NESTEROV : HEAVY_BALL),
  scalars(g, { fresh, gradScale }, out) {
    out.gradScale = g.maximize ? -gradScale : gradScale;
    out.weightDecay = g.weightDecay;
    out.lr = g.lr;
    out.momentum = g.momentum;
    // A new momentum buffer starts as the gradient itself (b ← 0·b + 1·g), then b ← μb + (1 − τ)g.
    out.bufferDecay = fresh ? 0 : g.momentum;
    out.gradWeight = fresh ? 1 : 1 - g.dampening;
  },
};

export class SGD extends Optimizer<SGDOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<SGDOptions>, options?: Partial<SGDOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
