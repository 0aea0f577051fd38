/** NAdam, the reference twin of native/kernels/nadam.h (same formula, same order of operations). */
import { defineKernel } from '../kernel';

export const nadamKernel = defineKernel({
  name: 'nadam',
  slots: 4,
  stateSlots: 2,
  scalars: [
    'gradScale', 'l2', 'decay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasCorrection2', 'eps', 'gradCoef', 'avgCoef',
  ],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const gradScale = r(s.gradScale), l2 = r(s.l2), decay = r(s.decay), beta1 = r(s.beta1), oneMinusBeta1 = r(s.oneMinusBeta1);
    const beta2 = r(s.beta2), oneMinusBeta2 = r(s.oneMinusBeta2), biasCorrection2 = r(s.biasCorrection2), eps = r(s.eps);
    const gradCoef = r(s.gradCoef), avgCoef = r(s.avgCoef);
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(l2 * param[i]));
      const p = r(param[i] * decay);
      const m = r(r(beta1 * expAvg[i]) + r(oneMinusBeta1 * g));
      const v = r(r(beta2 * expAvgSq[i]) + r(r(oneMinusBeta2 * g) * g));
      expAvg[i] = m;
      expAvgSq[i] = v;
      const denom = r(r(Math.sqrt(r(v / biasCorrection2))) + eps);
      param[i] = r(r(p - r(gradCoef * r(g / denom))) - r(avgCoef * r(m / denom)));
    }
  },
});
