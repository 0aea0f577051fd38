/**
 * NAdam (torch.optim.NAdam; Dozat 2016): Adam with Nesterov momentum, whose
 * momentum coefficient μₜ = β₁(1 − ½·0.96^(tψ)) warms up with the step count
 * (ψ: momentumDecay). Each param keeps the running product of its μ's
 * (`muProduct`), as PyTorch does, so params that joined late or skipped steps
 * keep their own. The arithmetic is in native/kernels/nadam.h.
 */
import { nadamKernel } from '../kernels/nadam';
import { ADAM_MOMENTS, AdaptiveOptions, adaptiveOptions, decoupledWeightDecayOption, writeAdamFront } from './core/adaptive_terms';
import { numberOption } from './core/options';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of NAdam: Adam's, the momentum decay ψ, where the weight decay applies, and how its state is stored. */
export type NAdamOptions = AdaptiveOptions & StateStorageOptions & {
  /** ψ in μₜ = β₁(1 − ½·0.96^(tψ)). */
  momentumDecay: number;
  /** Decay the params by 1 − γλ (AdamW-style) instead of adding λθ to the gradient. */
  decoupledWeightDecay: boolean;
};

const KERNEL: KernelChoice<ScalarsOf<typeof nadamKernel>> = { kernel: nadamKernel, buffers: ['expAvg', 'expAvgSq'] };
const STATE: StateSchema = { buffers: ADAM_MOMENTS, scalars: [{ name: 'muProduct', initial: 1 }] };

/** μₜ = β₁(1 − ½·0.96^(tψ)). */
export function nadamMu(beta1: number, momentumDecay: number, step: number): number {
  return beta1 * (1 - 0.5 * Math.pow(0.96, step * momentumDecay));
}

const spec: OptimizerSpec<NAdamOptions, ScalarsOf<typeof nadamKernel>> = {
  name: 'NAdam',
  options: {
    ...adaptiveOptions(2e-3),
    momentumDecay: numberOption(4e-3, { min: 0 }),
    decoupledWeightDecay: decoupledWeightDecayOption(),
    ...STATE_STORAGE_OPTIONS,
  },
  state: () => STATE,
  kernel: () => KERNEL,
  advance(g, step, state) {
    state.muProduct = (state.muProduct as number) * nadamMu(g.betas[0], g.momentumDecay, step);
  },
  scalars(g, { step, gradScale, state }, out) {
    const [beta1, beta2] = g.betas;
    const mu = nadamMu(beta1, g.momentumDecay, step);
    const muNext = nadamMu(beta1, g.momentumDecay, step + 1);
    const muProduct = state.muProduct;
    writeAdamFront(out, g, gradScale);
    out.biasCorrection2 = 1 - Math.pow(beta2, step);
    out.eps = g.eps;
    out.gradCoef = (g.lr * (1 - mu)) / (1 - muProduct);
    out.avgCoef = (g.lr * muNext) / (1 - muProduct * muNext);
  },
};

export class NAdam extends Optimizer<NAdamOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<NAdamOptions>, options?: Partial<NAdamOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
