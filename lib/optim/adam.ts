/**
 * Adam (torch.optim.Adam, weight decay as an L2 penalty) and AdamW
 * (torch.optim.AdamW, decoupled weight decay). One kernel serves both
 * (native/kernels/adam.h): Adam passes λ as the L2 coefficient and a decay
 * factor of 1; AdamW passes 0 and 1 − γλ.
 */
import { adamAmsgradKernel, adamKernel } from '../backend/js/adam';
import { betasOption, booleanOption, lrOption, numberOption } from './options';
import { Optimizer, OptimizerOptions, ParamsInput } from './optimizer';
import type { OptimizerSpec } from './spec';

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
    state: () => ({
      buffers: [
        { name: 'expAvg', dtype: 'param' },
        { name: 'expAvgSq', dtype: 'param' },
        { name: 'maxExpAvgSq', dtype: 'param' },
      ],
      scalars: [],
    }),
    kernel: (g) =>
      g.amsgrad
        ? { kernel: adamAmsgradKernel, buffers: ['expAvg', 'expAvgSq', 'maxExpAvgSq'] }
        : { kernel: adamKernel, buffers: ['expAvg', 'expAvgSq'] },
    scalars(g, { step, gradScale }) {
      const [beta1, beta2] = g.betas;
      const biasCorrection1 = 1 - Math.pow(beta1, step);
      const biasCorrection2 = 1 - Math.pow(beta2, step);
      return {
        gradScale: g.maximize ? -gradScale : gradScale,
        l2: decoupled ? 0 : g.weightDecay,
        decay: decoupled ? 1 - g.lr * g.weightDecay : 1,
        beta1,
        oneMinusBeta1: 1 - beta1,
        beta2,
        oneMinusBeta2: 1 - beta2,
        biasCorrection2Sqrt: Math.sqrt(biasCorrection2),
        eps: g.eps,
        stepSize: g.lr / biasCorrection1,
      };
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
