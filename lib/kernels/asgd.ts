/** ASGD, the reference twin of native/kernels/asgd.h (same formula, same order of operations). */
import { defineKernel } from './kernel_def';

export const asgdKernel = defineKernel({
  name: 'asgd',
  slots: 3,
  stateSlots: 1,
  scalars: ['gradScale', 'weightDecay', 'decay', 'eta', 'mu'],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], ax = b[base + 2];
    const gradScale = r(s.gradScale), weightDecay = r(s.weightDecay), decay = r(s.decay), eta = r(s.eta), mu = r(s.mu);
    const averaging = mu !== 1;
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(weightDecay * param[i]));
      const p = r(r(param[i] * decay) - r(eta * g));
      param[i] = p;
      ax[i] = averaging ? r(ax[i] + r(r(p - ax[i]) * mu)) : p;
    }
  },
});
