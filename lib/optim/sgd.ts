/** Stochastic gradient descent with momentum (torch.optim.SGD); the arithmetic is in native/kernels/sgd.h. */
import { sgdKernel, sgdMomentumKernel, sgdNesterovKernel } from '../backend/js/sgd';
import { ErrorCodes, makeError } from '../errors';
import { booleanOption, lrOption, numberOption } from './options';
import { Optimizer, OptimizerOptions, ParamsInput } from './optimizer';
import type { OptimizerSpec } from './spec';

export type SGDOptions = {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
};

const spec: OptimizerSpec<SGDOptions> = {
  name: 'SGD',
  options: {
    lr: lrOption(1e-3),
    momentum: numberOption(0, { min: 0 }),
    dampening: numberOption(0, {}),
    weightDecay: numberOption(0, { min: 0 }),
    nesterov: booleanOption(false),
    maximize: booleanOption(false),
  },
  checkGroup(g, where) {
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${where}.nesterov: Nesterov momentum requires momentum > 0 and dampening = 0, got momentum ${g.momentum} and dampening ${g.dampening}`,
      );
    }
  },
  state: () => ({ buffers: [{ name: 'momentumBuffer', dtype: 'param' }], scalars: [] }),
  kernel: (g) =>
    g.momentum === 0
      ? { kernel: sgdKernel, buffers: [] }
      : { kernel: g.nesterov ? sgdNesterovKernel : sgdMomentumKernel, buffers: ['momentumBuffer'] },
  scalars: (g, { fresh, gradScale }) => ({
    gradScale: g.maximize ? -gradScale : gradScale,
    weightDecay: g.weightDecay,
    lr: g.lr,
    momentum: g.momentum,
    // A new momentum buffer starts as the gradient itself (b ← 0·b + 1·g), then b ← μb + (1 − τ)g.
    bufferDecay: fresh ? 0 : g.momentum,
    gradWeight: fresh ? 1 : 1 - g.dampening,
  }),
};

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options?: Partial<SGDOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
