/**
 * Adam (torch.optim.Adam, weight decay as an L2 penalty) and AdamW
 * (torch.optim.AdamW, decoupled weight decay). One kernel serves both
 * (native/kernels/adam.h): Adam passes λ as the L2 coefficient and a decay
 * factor of 1; AdamW passes 0 and 1 − γλ.
 */
import { UpdateKind } from '../kernels';
import { betasOption, booleanOption, lrOption, numberOption } from './options';
import { Optimizer, OptimizerOptions, OptimizerSpec, ParamsInput } from './optimizer';

export type AdamOptions = {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
};

function adamSpec(name: string, decoupled: boolean, weightDecay: number): OptimizerSpec<AdamOptions> {
  return {
    name,
    options: {
      lr: lrOption(1e-3),
      betas: betasOption([0.9, 0.999]),
      eps: numberOption(1e-8, { min: 0 }),
      weightDecay: numberOption(weightDecay, { min: 0 }),
      amsgrad: booleanOption(false),
      maximize: booleanOption(false),
    },
    stateBuffers: (g) => (g.amsgrad ? ['expAvg', 'expAvgSq', 'maxExpAvgSq'] : ['expAvg', 'expAvgSq']),
    buffers: ['expAvg', 'expAvgSq', 'maxExpAvgSq'],
    kernel: (g) => (g.amsgrad ? UpdateKind.AdamAmsgrad : UpdateKind.Adam),
    scalars(g, step, _fresh, gradScale, out) {
      const [beta1, beta2] = g.betas;
      const biasCorrection1 = 1 - Math.pow(beta1, step);
      const biasCorrection2 = 1 - Math.pow(beta2, step);
      out[0] = g.maximize ? -gradScale : gradScale;
      out[1] = decoupled ? 0 : g.weightDecay;
      out[2] = decoupled ? 1 - g.lr * g.weightDecay : 1;
      out[3] = beta1;
      out[4] = 1 - beta1;
      out[5] = beta2;
      out[6] = 1 - beta2;
      out[7] = Math.sqrt(biasCorrection2);
      out[8] = g.eps;
      out[9] = g.lr / biasCorrection1;
    },
  };
}

const adamSpecL2 = adamSpec('Adam', false, 0);
const adamWSpec = adamSpec('AdamW', true, 0.01);

export class Adam extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, options?: Partial<AdamOptions> & OptimizerOptions) {
    super(adamSpecL2, params, options);
  }
}

/** Adam with decoupled weight decay (default 0.01). */
export class AdamW extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, options?: Partial<AdamOptions> & OptimizerOptions) {
    super(adamWSpec, params, options);
  }
}
