/** RAdam, the reference twin of native/kernels/radam.h (same formula, same order of operations). */
import { defineKernel } from '../kernel';

export const radamKernel = defineKernel({
  name: 'radam',
  slots: 4,
  stateSlots: 2,
  scalars: [
    'gradScale', 'l2', 'decay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasCorrection1', 'lr',
    'biasCorrection2Sqrt', 'eps', 'rect', 'rectified',
  ],
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], expAvg = b[base + 2], expAvgSq = b[base + 3];
    const gradScale = r(s.gradScale), l2 = r(s.l2), decay = r(s.decay), beta1 = r(s.beta1), oneMinusBeta1 = r(s.oneMinusBeta1);
    const beta2 = r(s.beta2), oneMinusBeta2 = r(s.oneMinusBeta2), biasCorrection1 = r(s.biasCorrection1), lr = r(s.lr);
    const biasCorrection2Sqrt = r(s.biasCorrection2Sqrt), eps = r(s.eps), rect = r(s.rect);
    const rectified = r(s.rectified) !== 0;
    for (let i = 0; i < param.length; i++) {
      const g = r(r(grad[i] * gradScale) + r(l2 * param[i]));
      const p = r(param[i] * decay);
      const m = r(r(beta1 * expAvg[i]) + r(oneMinusBeta1 * g));
      const v = r(r(beta2 * expAvgSq[i]) + r(r(oneMinusBeta2 * g) * g));
      expAvg[i] = m;
      expAvgSq[i] = v;
      const step = r(r(m / biasCorrection1) * lr);
      if (rectified) {
        const adaptive = r(biasCorrection2Sqrt / r(r(Math.sqrt(v)) + eps));
        param[i] = r(p - r(r(step * adaptive) * rect));
      } else {
        param[i] = r(p - step);
      }
    }
  },
});
