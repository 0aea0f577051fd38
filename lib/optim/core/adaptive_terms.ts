/**
 * What the Adam-family optimizers added after Adam (Adamax, NAdam, RAdam) and
 * the other elementwise ones share: their common hyper-parameters, declared
 * once with PyTorch's rules, and the two terms every kernel takes from the
 * group the same way (the signed gradient scale and the weight decay).
 */
import { betasOption, booleanOption, lrOption, numberOption } from './options';
import type { AdamFrontScalar } from '../../kernels/adam_moments';
import type { OptionRule } from './options';
import type { StateSchema } from './spec';

/** The gradient scale a kernel multiplies by: the step's, negated for maximize (the kernel then descends on −f). */
export function signedGradScale(maximize: boolean, gradScale: number): number {
  return maximize ? -gradScale : gradScale;
}

/**
 * Weight decay as PyTorch's Adam family applies it: an L2 term λθ added to the
 * gradient (`l2` = λ, `decay` = 1), or, decoupled (AdamW-style), the param
 * shrunk by 1 − γλ before the update (`l2` = 0).
 */
export function writeWeightDecay(out: { l2: number; decay: number }, lr: number, weightDecay: number, decoupled: boolean): void {
  out.l2 = decoupled ? 0 : weightDecay;
  out.decay = decoupled ? 1 - lr * weightDecay : 1;
}

/** A weight decay: >= 0, default 0 (every PyTorch optimizer that has one). */
export const weightDecayOption = (): OptionRule<number> => numberOption(0, { min: 0 });

/** An ε added for numerical stability: >= 0. */
export const epsOption = (defaultValue: number): OptionRule<number> => numberOption(defaultValue, { min: 0 });

/** Adam's two moments, the state of RAdam and NAdam (either may be stored compactly: `stateDtype`). */
export const ADAM_MOMENTS: StateSchema['buffers'] = [
  { name: 'expAvg', dtype: 'param', compact: 'signed' },
  { name: 'expAvgSq', dtype: 'param', compact: 'unsigned' },
];

/** Whether to decay the params by 1 − γλ (AdamW-style) instead of adding λθ to the gradient (RAdam, NAdam). */
export const decoupledWeightDecayOption = (): OptionRule<boolean> => booleanOption(false);

/**
 * The scalars of Adam's front (native/kernels/adam_moments.h: the gradient
 * with its L2 term, the decoupled decay, both moments) from a group of RAdam or NAdam.
 */
export function writeAdamFront(
  out: { [K in AdamFrontScalar]: number },
  g: AdaptiveOptions & { decoupledWeightDecay: boolean },
  gradScale: number,
): void {
  const [beta1, beta2] = g.betas;
  out.gradScale = signedGradScale(g.maximize, gradScale);
  writeWeightDecay(out, g.lr, g.weightDecay, g.decoupledWeightDecay);
  out.beta1 = beta1;
  out.oneMinusBeta1 = 1 - beta1;
  out.beta2 = beta2;
  out.oneMinusBeta2 = 1 - beta2;
}

/** The options Adamax, NAdam and RAdam share (their defaults: `betas` [0.9, 0.999], `eps` 1e-8, `weightDecay` 0). */
export type AdaptiveOptions = {
  /** The learning rate. */
  lr: number;
  /** The decay rates of the first and second moments, each in [0, 1). */
  betas: [number, number];
  /** Added to the denominator for numerical stability. */
  eps: number;
  /** The weight decay (an L2 penalty added to the gradient, unless the optimizer's `decoupledWeightDecay` says otherwise). */
  weightDecay: number;
  /** Maximise the objective instead of minimising it. */
  maximize: boolean;
};

/** lr, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0, maximize = false: the options Adamax, NAdam and RAdam share. */
export function adaptiveOptions(lr: number): { readonly [K in keyof AdaptiveOptions]: OptionRule<AdaptiveOptions[K]> } {
  return {
    lr: lrOption(lr),
    betas: betasOption([0.9, 0.999]),
    eps: epsOption(1e-8),
    weightDecay: weightDecayOption(),
    maximize: booleanOption(false),
  };
}
