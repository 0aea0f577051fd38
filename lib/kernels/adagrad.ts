/** Adagrad, the reference twin of native/kernels/adagrad.h. */
import { defineKernel } from './kernel_def';

export const adagradKernel = defineKernel({
  name: 'adagrad',
  slots: 3,
  stateSlots: 1,
  scalars: ['gradScale', 'weightDecay', 'clr', 'eps'],
 
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], sum = b[base + 2];
    const gradScale = r(s.gradScale), weightDecay = r(s.weightDecay), clr = r(s.clr), eps = r(s.eps);
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(weightDecay * param[i]));
      const acc = r(sum[i] + r(g * g));
      sum[i] = acc;
      const std = r(r(Math.sqrt(acc)) + eps);
      param[i] = r(param[i] - r(clr * r(g / std)));
    }
  },
});
