/**
 * RAdam (torch.optim.RAdam; Liu et al. 2020): Adam whose adaptive step is
 * rectified by rₜ once the variance of the adaptive learning rate is tractable
 * (ρₜ > 5), and plain momentum SGD with the bias-corrected first moment
 * before. The rectification and the switch are per-step scalars computed
 * here; the arithmetic is in native/kernels/radam.h.
 */
import { radamKernel } from '../kernels/radam';
import { ADAM_MOMENTS, AdaptiveOptions, adaptiveOptions, decoupledWeightDecayOption, writeAdamFront } from './core/adaptive_terms';
import { Optimizer, OptimizerOptions, ParamsInput } from './core/optimizer';
import type { ScalarsOf } from '../kernels/kernel_def';
import type { KernelChoice, OptimizerSpec, StateSchema } from './core/spec';
import { STATE_STORAGE_OPTIONS, StateStorageOptions } from '../compact/state_storage';

/** The options of RAdam: Adam's, where the weight decay applies, and how its state is stored. */
export type RAdamOptions = AdaptiveOptions & StateStorageOptions & {
  /** Decay the params by 1 − γλ (AdamW-style) instead of adding λθ to the gradient. */
  decoupledWeightDecay: boolean;
};

const KERNEL: KernelChoice<ScalarsOf<typeof radamKernel>> = { kernel: radamKernel, buffers: ['expAvg', 'expAvgSq'] };
const STATE: StateSchema = { buffers: ADAM_MOMENTS, scalars: [] };

/** ρ∞, the maximum length of the approximated simple moving average (PyTorch's rho_inf). */
export function radamRhoInf(beta2: number): number {
  return 2 / (1 - beta2) - 1;
}

/** ρₜ, its length at step t (PyTorch's rho_t). */
export function radamRhoT(beta2: number, step: number): number {
  const beta2t = Math.pow(beta2, step);
  return radamRhoInf(beta2) - (2 * step * beta2t) / (1 - beta2t);
}

/**
 * The rectification rₜ = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)) when
 * ρₜ > 5 (the variance of the adaptive learning rate is tractable), else null:
 * that step is un-rectified.
 */
export function radamRectification(rhoInf: number, rhoT: number): number | null {
  if (!(rhoT > 5)) return null;
  return Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
}

const spec: OptimizerSpec<RAdamOptions, ScalarsOf<typeof radamKernel>> = {
  name: 'RAdam',
  options: { ...adaptiveOptions(1e-3), decoupledWeightDecay: decoupledWeightDecayOption(), ...STATE_STORAGE_OPTIONS },
  state: () => STATE,
  kernel: () => KERNEL,
  scalars(g, { step, gradScale }, out) {
    const [beta1, beta2] = g.betas;
    const rect = radamRectification(radamRhoInf(beta2), radamRhoT(beta2, step));
    writeAdamFront(out, g, gradScale);
    out.biasCorrection1 = 1 - Math.pow(beta1, step);
    out.lr = g.lr;
    out.biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
    out.eps = g.eps;
    // Unused (0) on the un-rectified steps, where the root's argument may be negative or infinite.
    out.rect = rect ?? 0;
    out.rectified = rect === null ? 0 : 1;
  },
};

export class RAdam extends Optimizer<RAdamOptions> {
  /** The declaration the registry reads: options, state schema, kernel (lib/optim/registry.ts). */
  static readonly spec = spec;

  constructor(params: ParamsInput<RAdamOptions>, options?: Partial<RAdamOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}
