/** Lion, the reference twin of native/kernels/lion.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';

export const lionKernel = defineKernel({
  name: 'lion',
  slots: 3,
  stateSlots: 1,
 
  scalars: ['gradScale', 'decay', 'lr', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2'],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2];
    const gradScale = r(s.gradScale), decay = r(s.decay), lr = r(s.lr);
    const beta1 = r(s.beta1), oneMinusBeta1 = r(s.oneMinusBeta1), beta2 = r(s.beta2), oneMinusBeta2 = r(s.oneMinusBeta2);
    for (let i = 0; i < param.length; i++) {
      const g = r(grad[i] * gradScale);
      const m = expAvg[i];
      const c = r(r(beta1 * m) + r(oneMinusBeta1 * g));
      const sign = c > 0 ? 1 : c < 0 ? -1 : c; // ±0 and NaN stay themselves
      param[i] = r(r(param[i] * decay) - r(lr * sign));
      expAvg[i] = r(r(beta2 * m) + r(oneMinusBeta2 * g));
    }
  },
});
