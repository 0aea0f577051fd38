/**
 * The front Adam, RAdam and NAdam share, the twin of
 * native/kernels/adam_moments.h: the gradient with its L2 term, the param
 * after decoupled decay, both moments (stored). Written into a caller's
 * scratch object, so the loop allocates nothing per element.
 */
import type { StateArray } from '../tensor';
import type { KernelScalars } from './kernel_def';
import type { Round } from './round';

export type AdamFrontScalar = 'gradScale' | 'l2' | 'decay' | 'beta1' | 'oneMinusBeta1' | 'beta2' | 'oneMinusBeta2';

export interface AdamFront {
  g: number;
  p: number;
  m: number;
  v: number;
}

/** The front's scalars, rounded once to the kernel's element type. */
export function adamFrontScalars(r: Round, s: KernelScalars<AdamFrontScalar>): KernelScalars<AdamFrontScalar> {
  return {
    gradScale: r(s.gradScale),
    l2: r(s.l2),
    decay: r(s.decay),
    beta1: r(s.beta1),
    oneMinusBeta1: r(s.oneMinusBeta1),
    beta2: r(s.beta2),
    oneMinusBeta2: r(s.oneMinusBeta2),
  };
}

/** g ← s·∇θ + λ₂θ; p ← θ·decay; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g², for element i, into `out`. */
export function adamFront(
  r: Round,
  s: KernelScalars<AdamFrontScalar>,
  param: StateArray,
  grad: StateArray,
  expAvg: StateArray,
  expAvgSq: StateArray,
  i: number,
  out: AdamFront,
): void {
  const g = r(r(grad[i] * s.gradScale) + r(s.l2 * param[i]));
  out.g = g;
  out.p = r(param[i] * s.decay);
  out.m = expAvg[i] = r(r(s.beta1 * expAvg[i]) + r(s.oneMinusBeta1 * g));
  out.v = expAvgSq[i] = r(r(s.beta2 * expAvgSq[i]) + r(r(s.oneMinusBeta2 * g) * g));
}
