/** Stochastic gradient descent with momentum (torch.optim.SGD); the arithmetic is in native/kernels/sgd.h. */
import { ErrorCodes, makeError } from '../errors';
import { UpdateKind } from '../kernels';
import { booleanOption, lrOption, numberOption } from './options';
import { Optimizer, OptimizerOptions, OptimizerSpec, ParamsInput } from './optimizer';

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
  stateBuffers: (g) => (g.momentum !== 0 ? ['momentumBuffer'] : []),
  buffers: ['momentumBuffer'],
  kernel: (g) => (g.momentum === 0 ? UpdateKind.Sgd : g.nesterov ? UpdateKind.SgdNesterov : UpdateKind.SgdMomentum),
  scalars(g, _step, fresh, gradScale, out) {
    out[0] = g.maximize ? -gradScale : gradScale;
    out[1] = g.weightDecay;
    out[2] = g.lr;
    out[3] = g.momentum;
    // A new momentum buffer starts as the gradient itself (b ← 0·b + 1·g), then b ← μb + (1 − τ)g.
    out[4] = fresh ? 0 : g.momentum;
    out[5] = fresh ? 1 : 1 - g.dampening;
  },
};

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options?: Partial<SGDOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
