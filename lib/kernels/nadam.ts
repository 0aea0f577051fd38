/** NAdam, the reference twin of native/kernels/nadam.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';
import { AdamFront, adamFront, adamFrontScalars } from './adam_moments';

export const nadamKernel = defineKernel({
  name: 'nadam',
  slots: 4,
  stateSlots: 2,
  scalars: [
    'gradScale', 'l2', 'decay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasCorrection2', 'eps', 'gradCoef', 'avgCoef',
  ],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const front = adamFrontScalars(r, s);
    const biasCorrection2 = r(s.biasCorrection2), eps = r(s.eps), gradCoef = r(s.gradCoef), avgCoef = r(s.avgCoef);
    const f: AdamFront = { g: 0, p: 0, m: 0, v: 0 };
    for (let i = 0; i < param.length; i++) {
      adamFront(r, front, param, grad, expAvg, expAvgSq, i, f);
      const denom = r(r(Math.sqrt(r(f.v / biasCorrection2))) + eps);
      param[i] = r(r(f.p - r(gradCoef * r(f.g / denom))) - r(avgCoef * r(f.m / denom)));
    }
  },
});
