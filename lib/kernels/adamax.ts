/** Adamax, the reference twin of native/kernels/adamax.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';

export const adamaxKernel = defineKernel({
  name: 'adamax',
  slots: 4,
  stateSlots: 2,
  scalars: ['gradScale', 'weightDecay', 'beta1', 'oneMinusBeta1', 'beta2', 'eps', 'clr'],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expInf = b[base + 3];
    const gradScale = r(s.gradScale), weightDecay = r(s.weightDecay), beta1 = r(s.beta1), oneMinusBeta1 = r(s.oneMinusBeta1);
    const beta2 = r(s.beta2), eps = r(s.eps), clr = r(s.clr);
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(weightDecay * param[i]));
      const m = r(r(beta1 * expAvg[i]) + r(oneMinusBeta1 * g));
      const decayed = r(beta2 * expInf[i]);
      const bound = r((g < 0 ? -g : g) + eps);
      const u = decayed !== decayed || decayed > bound ? decayed : bound; // max that propagates NaN, as native max_nan
      expAvg[i] = m;
      expInf[i] = u;
      param[i] = r(param[i] - r(clr * r(m / u)));
    }
  },
});
